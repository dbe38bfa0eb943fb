"""The Processes section: this process and its children, from /proc."""

from __future__ import annotations

import os
import re

from gurumeditation.sections.processes import parse_stat
from helpers import script

CHILDREN = script("process_tree")


def test_children_are_listed_recursively_with_user_and_state(service) -> None:
    svc = service(CHILDREN)
    kid = int(svc.ready_line.split()[1])
    svc.proc.wait(timeout=30)
    text = svc.stderr()
    body = text.split("====                           Processes                            ====\n")[
        1
    ]
    lines = [line for line in body.split("\n") if "Process " in line]
    me = svc.pid
    assert re.fullmatch(
        rf"Process {me} \(under {os.getpid()}\) \[ run by: \S+ \({os.getuid()}\), state: running \]",
        lines[0],
    ), lines[0]
    assert lines[1].startswith(f"    Process {kid} (under {me}) [ run by: ")
    assert lines[2].startswith("        Process ") and f"(under {kid})" in lines[2]
    assert "state: sleeping" in lines[1]


def test_stat_line_with_parentheses_in_the_command_name() -> None:
    comm, state, ppid = parse_stat("4242 (odd) name (x)) S 17 4242 4242 0 -1 4194560")
    assert (comm, state, ppid) == ("odd) name (x)", "S", 17)


def test_user_names_read_again_when_passwd_changes(tmp_path, monkeypatch) -> None:
    from gurumeditation.sections import processes

    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0::/root:/bin/sh\n")
    monkeypatch.setattr(processes, "PASSWD", str(passwd))
    assert processes.user_names() == {0: "root"}
    passwd.write_text("root:x:0:0::/root:/bin/sh\nsvc:x:1234:1234::/srv:/bin/sh\n")
    assert processes.user_names() == {0: "root", 1234: "svc"}
    passwd.unlink()
    assert processes.user_names() == {}

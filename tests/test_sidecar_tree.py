"""One sidecar per process tree (issue 16): a master and its forked children
share one helper process; a frozen child still gets its C-level dump within
1 s, written by that sidecar; a child that runs as another user gets a
sidecar of its own; a child that asks for another process is refused."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

from helpers import report_files, script, wait_for_reports

TREE = script("frozen_tree")


def sidecars() -> Dict[int, List[str]]:
    """Every sidecar process on the machine: pid -> its arguments."""
    found: Dict[int, List[str]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                argv = [a.decode("utf-8", "replace") for a in f.read().split(b"\0")]
        except OSError:
            continue
        if any("gurumeditation.triggers.sidecar" in a for a in argv):
            found[int(name)] = argv
    return found


def serving(pid: int) -> List[int]:
    """The sidecars started for ``pid`` (its pid among their arguments)."""
    return [p for p, argv in sidecars().items() if str(pid) in argv[6:]]


def euid(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("Uid:")).split()[2])


def dumps_of(log_dir: Path, pid: int) -> List[Path]:
    return [p for p in report_files(log_dir) if p.name.startswith(f"tree_{pid}_")]


def test_a_master_and_its_children_share_one_sidecar(service: Any, tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    svc = service(TREE, args=[str(log_dir), "4", "3"])
    children = [int(x) for x in svc.ready_line.split()[1:]]
    time.sleep(0.5)  # the children's adoptions are read
    ours = serving(svc.pid)
    assert len(ours) == 1, sidecars()
    assert all(serving(c) == [] for c in children), sidecars()
    (helper,) = ours

    # a frozen child: its native dump within 1 s, from the one sidecar
    frozen = children[2]
    (tmp_path / f"freeze-{frozen}").touch()
    time.sleep(0.5)  # frozen_here() has begun
    start = time.monotonic()
    os.kill(frozen, signal.SIGUSR2)
    deadline = start + 10
    while not dumps_of(log_dir, frozen) and time.monotonic() < deadline:
        time.sleep(0.01)
    took = time.monotonic() - start
    (dump,) = dumps_of(log_dir, frozen)
    print(f"native dump of a frozen child {took * 1000:.0f} ms after the signal")
    text = dump.read_text()
    assert f"written by the gurumeditation sidecar process {helper}" in text
    assert f"(pid {frozen})" in text
    assert took < 1.0
    # asked over its channel while still frozen: the shared sidecar answers for it
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "gurumeditation", "report", str(frozen), "--timeout", "5"],
        capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert f"written by the gurumeditation sidecar process {helper}" in out.stdout
    # the full report follows once it is back; the others answer as ever
    files = wait_for_reports(log_dir, 2, timeout=20)
    assert len(dumps_of(log_dir, frozen)) == 2, files
    os.kill(children[0], signal.SIGUSR2)
    wait_for_reports(log_dir, 3, timeout=20)
    (report,) = dumps_of(log_dir, children[0])
    assert "written by the gurumeditation sidecar" not in report.read_text()  # by itself

    # the sidecar lives while any process of the tree lives
    os.kill(svc.pid, signal.SIGKILL)
    svc.proc.wait(10)
    time.sleep(0.5)
    assert helper in sidecars()
    (tmp_path / f"freeze-{children[1]}").touch()
    time.sleep(0.5)
    os.kill(children[1], signal.SIGUSR2)
    deadline = time.monotonic() + 10
    while not dumps_of(log_dir, children[1]) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert f"sidecar process {helper}" in dumps_of(log_dir, children[1])[0].read_text()
    for child in children:
        os.kill(child, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while helper in sidecars() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert helper not in sidecars(), "the sidecar outlived its tree"


def test_a_child_asking_for_another_process_is_refused(service: Any, tmp_path: Path) -> None:
    """The forged adoption names a victim and SIGTERM as its dump signal: were
    it taken, the victim would be signalled once the forger's dump is not
    acknowledged."""
    victim = subprocess.Popen(["sleep", "60"])
    try:
        (tmp_path / "victim").write_text(str(victim.pid))
        log_dir = tmp_path / "logs"
        svc = service(TREE, args=[str(log_dir), "1", "3", "forge"])
        assert svc.readline().strip() == "FORGED"
        time.sleep(1.5)  # past the sidecar's wait for an acknowledgement
        assert victim.poll() is None, "the victim was signalled"
        assert report_files(log_dir) == []
        assert serving(victim.pid) == []
    finally:
        victim.kill()
        victim.wait()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to change a child's uid")
def test_a_child_that_drops_root_gets_a_sidecar_of_its_own(
    service: Any, tmp_path: Path
) -> None:
    """A root master's worker that becomes another user is handed to a sidecar
    that runs as that user; the tree's sidecar stays root for the rest."""
    import pwd

    nobody = pwd.getpwnam("nobody")
    code = (
        "import os, sys, time\n"
        "from gurumeditation import TextGuruMeditation, early\n"
        "TextGuruMeditation.setup_autorun('1.0', service_name='drops')\n"
        "early.ensure_loaded()\n"
        "kids = []\n"
        "for i in range(2):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        if i == 0:\n"
        "            time.sleep(0.5)\n"
        f"            os.setgid({nobody.pw_gid}); os.setuid({nobody.pw_uid})\n"
        "        while True:\n"
        "            time.sleep(0.05)\n"
        "    kids.append(pid)\n"
        "print('READY', *kids, flush=True)\n"
        "while True:\n"
        "    time.sleep(0.05)\n"
    )
    xdg = tmp_path / "xdg"
    xdg.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GURUMEDITATION")}
    env["XDG_RUNTIME_DIR"] = str(xdg)
    svc = service(code, env=env, name="drops")
    dropped, kept = (int(x) for x in svc.ready_line.split()[1:])
    time.sleep(1.0)
    (tree,) = serving(svc.pid)
    # asked as root: the child listens anew as nobody, and its sidecar follows
    out = subprocess.run(
        [os.sys.executable, "-m", "gurumeditation", "report", str(dropped)],  # type: ignore[attr-defined]
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert f"(pid {dropped})" in out.stdout or "Process" in out.stdout
    deadline = time.monotonic() + 10
    while len(serving(dropped)) != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    (own,) = serving(dropped)
    assert euid(own) == nobody.pw_uid
    assert euid(tree) == 0 and tree in sidecars()
    assert serving(kept) == []
    out = subprocess.run(
        [os.sys.executable, "-m", "gurumeditation", "report", str(kept)],  # type: ignore[attr-defined]
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert out.returncode == 0, out.stderr


def test_an_adoption_is_read_from_literal_messages() -> None:
    """What the sidecar takes of an adoption message: ten well-formed
    arguments, the descriptors and the kernel's word on the sender."""
    import array
    import socket

    from gurumeditation.triggers import sidecar_tree

    good = ["/var/log/x", "svc", "123", "SIGUSR2", "0.25", "0", "40", "99", "0", "-"]
    assert sidecar_tree.valid(good)
    assert not sidecar_tree.valid(good[:9])
    assert not sidecar_tree.valid([*good[:2], "-5", *good[3:]])
    assert not sidecar_tree.valid([*good[:4], "soon", *good[5:]])
    ints = array.array("i", [7, 8, 9, 10]).tobytes()
    cred = array.array("i", [123, 1000, 1000]).tobytes()
    fds, who = sidecar_tree.unpack(
        [(socket.SOL_SOCKET, socket.SCM_RIGHTS, ints), (socket.SOL_SOCKET, socket.SCM_CREDENTIALS, cred)]
    )
    assert (fds, who) == ([7, 8, 9, 10], (123, 1000))
    assert sidecar_tree.unpack([(socket.SOL_SOCKET, socket.SCM_RIGHTS, ints[:6])]) == ([7], None)
    # a message for another process than its sender is dropped (its descriptors closed)
    tree = sidecar_tree.Tree([])
    r, w = os.pipe()
    message = b"A" + b"\0".join(a.encode() for a in good)
    assert tree.adopt(message, [r, -1, -1, -1], (os.getpid(), 0)) is False
    assert tree.dropped == 1
    with pytest.raises(OSError):
        os.fstat(r)
    os.close(w)

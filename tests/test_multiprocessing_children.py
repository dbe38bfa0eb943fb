"""``multiprocessing`` children armed from outside the program: a fork, a
spawn and a forkserver ``Process`` and a ``ProcessPoolExecutor`` worker,
under ``GURUMEDITATION=1`` and under ``gurumeditation run`` (which passes the
arming on to spawned interpreters).  Every child is listed, answers
``report`` with its own pid and native id, writes one report on SIGUSR2
(its pid in the file name) and keeps running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

from helpers import script
from prefork_helpers import (
    alive,
    family_listing,
    gm,
    main_native_id,
    reports_of,
    stack_functions,
    wait_until,
)

pytestmark = pytest.mark.servers

METHODS = ("fork", "spawn", "forkserver", "pool")


@pytest.fixture(scope="module", params=["zero-code", "gurumeditation run"])
def children(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tuple[subprocess.Popen, List[int], Path, Path]]:  # type: ignore[type-arg]
    workdir = tmp_path_factory.mktemp("mp")
    log_dir = workdir / "reports"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GURUMEDITATION")}
    env["PYTHONWARNINGS"] = "ignore"
    program = [str(script("mp_children")), str(workdir)]
    if request.param == "zero-code":
        env.update(GURUMEDITATION="1", GURUMEDITATION_LOG_DIR=str(log_dir),
                   GURUMEDITATION_FORMAT="json")  # fmt: skip
        command = [sys.executable, *program]
    else:
        command = [sys.executable, "-m", "gurumeditation", "run", "--log-dir", str(log_dir),
                   "--format", "json", "--", *program]  # fmt: skip
    proc = subprocess.Popen(
        command, env=env, cwd=str(workdir), stdout=subprocess.PIPE, text=True,
        stderr=open(workdir / "stderr", "wb"), stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("READY"), (workdir / "stderr").read_text()
    pids = [int(p) for p in line.split()[1:]]
    try:
        yield proc, pids, log_dir, workdir
    finally:
        (workdir / "release").write_text("x")
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def test_every_child_is_armed_and_answers(children) -> None:  # type: ignore[no-untyped-def]
    proc, pids, log_dir, workdir = children
    wanted = {proc.pid, *pids}
    found = wait_until(
        "parent and children listed",
        lambda: (lambda f: f if wanted <= {e["pid"] for e in f} else [])(family_listing(proc.pid)),
    )
    by_pid = {e["pid"]: e for e in found}
    for method, pid in zip(METHODS, pids):
        entry = by_pid[pid]
        assert entry["answersTo"] == ["channel", "SIGUSR2"], (method, entry)
        assert entry["service"] == "mp_children", (method, entry)
        out = gm("report", str(pid), "-f", "json")
        assert out.returncode == 0, (method, out.stderr)
        doc = json.loads(out.stdout)
        assert doc["header"]["pid"] == pid
        assert main_native_id(doc) == pid, method
        assert "child_parked" in stack_functions(doc), method
    for pid in pids:
        os.kill(pid, signal.SIGUSR2)
    for method, pid in zip(METHODS, pids):
        (path,) = wait_until(f"{method} child's report", lambda pid=pid: reports_of(log_dir, pid))
        doc = json.loads(path.read_text())
        assert doc["header"]["pid"] == pid and main_native_id(doc) == pid, method
        assert "child_parked" in stack_functions(doc), method
    assert all(alive(pid) for pid in pids)
    assert proc.poll() is None
    # the parent forked: its reports carry its pid too, none was written
    assert reports_of(log_dir, proc.pid) == []
    assert len(list(log_dir.iterdir())) == len(pids)
    (workdir / "release").write_text("x")
    assert proc.wait(timeout=30) == 0

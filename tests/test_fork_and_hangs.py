"""A forked child re-arms and answers with its own report; a registered
section that hangs is abandoned after its budget; a thread holding the locks
an application may hold (logging, stderr, import) cannot stall a report."""

from __future__ import annotations

import re
import time
from pathlib import Path

from conftest import report_files, wait_for_reports
from helpers import script

FORK = script("forking")


def pid_of(text: str) -> int:
    match = re.search(r"^Report of svc \(pid (\d+)\)", text, re.M)
    assert match, text[:500]
    return int(match.group(1))


def test_forked_children_write_their_own_reports(service, tmp_path: Path) -> None:
    import os
    import signal

    log_dir = tmp_path / "logs"
    svc = service(FORK, args=[str(log_dir)])
    _, fork_pid, mp_pid, stuck_pid = svc.ready_line.split()
    children = [int(fork_pid), int(mp_pid)]
    time.sleep(0.5)
    try:
        for n, child in enumerate(children, 1):
            os.kill(child, signal.SIGUSR2)
            wait_for_reports(log_dir, n)
        texts = [p.read_text() for p in report_files(log_dir)]
        pids = sorted(pid_of(t) for t in texts)
        assert pids == sorted(children), pids
        for t in texts:
            assert "child-worker" in t  # the child's own threads
            assert "did not respond" not in t
        svc.signal()  # the parent still answers, in a file of its own
        files = wait_for_reports(log_dir, 3)
        assert len({p.name for p in files}) == 3
        assert sorted(pid_of(p.read_text()) for p in files) == sorted([*children, svc.pid])
        # several processes share the service: each file name carries its pid
        # (the parent's too: it forked), and says what the text says
        for p in files:
            assert p.name.startswith(f"svc_{pid_of(p.read_text())}_gurumeditation_"), p.name
        # MainThread's native id in a forked child is the child's pid
        for p in files:
            pid = pid_of(p.read_text())
            assert f"name: MainThread, native id: {pid}," in p.read_text()
        # a child whose main thread is stuck is answered by its own watcher
        os.kill(int(stuck_pid), signal.SIGUSR2)
        files = wait_for_reports(log_dir, 4)
        stuck = [p.read_text() for p in files if pid_of(p.read_text()) == int(stuck_pid)]
        assert len(stuck) == 1
        assert "main thread did not respond within 250 ms" in stuck[0]
        assert "in stuck_child" in stuck[0]
    finally:
        for child in [*children, int(stuck_pid)]:
            try:
                os.kill(child, signal.SIGKILL)
            except OSError:
                pass
    assert svc.stderr().strip() == ""


HANG = script("hanging_section")


def test_hanging_section_is_abandoned(service, tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    svc = service(HANG, args=[str(log_dir), "1"])
    start = time.monotonic()
    svc.signal()
    files = wait_for_reports(log_dir, 1)
    elapsed = time.monotonic() - start
    text = files[0].read_text()
    assert elapsed < 10
    assert "did not finish in 1 s" in text
    assert "in slow_section" in text  # where it hangs
    assert "fine = True" in text  # the next section is still collected
    assert "====                           Processes" in text
    # the hung one is not started again; the report still completes
    svc.signal()
    files = wait_for_reports(log_dir, 2)
    second = files[-1].read_text() if files[-1] != files[0] else files[0].read_text()
    assert "still running" in second or "did not finish" in second
    assert svc.alive()
    assert svc.stderr().strip() == ""

"""A frozen interpreter (a thread holds the GIL inside native code): the
C-level dump of every thread's Python stack appears within 1 s, the process
lives on, and the full report follows once the interpreter is back."""

from __future__ import annotations

import time
from pathlib import Path

from conftest import report_files, wait_for_reports
from helpers import script

FROZEN = script("frozen_interpreter")


def test_frozen_interpreter_gets_a_native_dump_within_1s(service, tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    svc = service(FROZEN, args=[str(log_dir), "5"])
    time.sleep(0.8)  # frozen_here() has begun: the whole interpreter is stuck
    start = time.monotonic()
    svc.signal()
    first = wait_for_reports(log_dir, 1, timeout=20)
    elapsed = time.monotonic() - start
    print(f"frozen interpreter: native dump after {elapsed * 1000:.0f} ms")
    assert elapsed < 1.0, f"dump after {elapsed:.3f} s"
    dump = first[0].read_text()
    assert "written by the gurumeditation sidecar process" in dump
    assert "the interpreter did not respond" in dump
    assert "Threads (native dump)" in dump
    assert " in frozen_here" in dump  # the main thread, where it holds the GIL
    assert "in parked_worker" in dump  # ... and every other thread
    assert "/gurumeditation/" not in dump  # but none of our own helper threads
    assert "helper threads of gurumeditation left out" in dump
    assert svc.alive()
    # the interpreter comes back: the full report follows (written by the main thread)
    assert svc.readline().strip() == "BACK"
    files = wait_for_reports(log_dir, 2, timeout=20)
    full = next(p.read_text() for p in files if p != first[0])
    assert "(main thread)" in full
    assert "====                           Processes" in full
    assert "did not respond" not in full
    assert svc.alive()
    assert "Traceback" not in svc.stderr()
    assert len(report_files(log_dir)) == 2


def test_frozen_parent_of_a_fork_names_its_dump_with_its_pid(service, tmp_path: Path) -> None:
    """The process forked after it was armed (its sidecar started before):
    the sidecar's dump and the full report both carry the pid in their names."""
    import os
    import signal

    log_dir = tmp_path / "logs"
    svc = service(FROZEN, args=[str(log_dir), "3", "fork"])
    child = int(svc.ready_line.split()[1])
    try:
        assert svc.readline().strip() == "FREEZING"
        time.sleep(0.5)  # frozen_here() has begun
        svc.signal()
        (dump,) = wait_for_reports(log_dir, 1, timeout=20)
        assert "written by the gurumeditation sidecar process" in dump.read_text()
        assert dump.name.startswith(f"svc_{svc.pid}_gurumeditation_"), dump.name
        assert svc.readline().strip() == "BACK"
        files = wait_for_reports(log_dir, 2, timeout=20)
        assert all(p.name.startswith(f"svc_{svc.pid}_gurumeditation_") for p in files), files
    finally:
        os.kill(child, signal.SIGKILL)

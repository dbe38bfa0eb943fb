"""A forked child re-arms and answers with its own report; a registered
section that hangs is abandoned after its budget; a thread holding the locks
an application may hold (logging, stderr, import) cannot stall a report."""

from __future__ import annotations

import re
import time
from pathlib import Path

from conftest import report_files, wait_for_reports

FORK = """
import ctypes, multiprocessing, os, sys, time, threading
from gurumeditation import TextGuruMeditation
TextGuruMeditation.setup_autorun('1.0', service_name='svc', log_dir=sys.argv[1])

def child_work():
    threading.Thread(target=time.sleep, args=(3600,), name='child-worker', daemon=True).start()
    while True:
        time.sleep(0.05)

pid = os.fork()
if pid == 0:
    child_work()
ctx = multiprocessing.get_context('fork')
proc = ctx.Process(target=child_work, daemon=True)
proc.start()

def stuck_child():
    libc = ctypes.CDLL(None)
    mutex = ctypes.create_string_buffer(64)
    libc.pthread_mutex_lock(mutex)
    libc.pthread_mutex_lock(mutex)  # the child's main thread is stuck for good

stuck = os.fork()
if stuck == 0:
    stuck_child()
print('READY', pid, proc.pid, stuck, flush=True)
while True:
    time.sleep(0.05)
"""


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


HANG = """
import _imp, logging, sys, threading, time
from gurumeditation import TextGuruMeditation
hang = threading.Event()
def slow_section():
    hang.wait()  # never set
def quick_section():
    return {'fine': True}
TextGuruMeditation.register_section('Slow', slow_section)
TextGuruMeditation.register_section('Quick', quick_section)
TextGuruMeditation.setup_autorun('1.0', service_name='svc', log_dir=sys.argv[1],
                                 section_timeout=float(sys.argv[2]))
logging.basicConfig()
handler = logging.getLogger().handlers[0]

def hog():
    # hold what an application thread may hold, for good
    _imp.acquire_lock()
    logging._lock.acquire()  # the module lock; _acquireLock() is gone in 3.13
    handler.acquire()
    threading.Event().wait()

threading.Thread(target=hog, name='lock-hog', daemon=True).start()
time.sleep(0.2)
print('READY', flush=True)
while True:
    time.sleep(0.05)
"""


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

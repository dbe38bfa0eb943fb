"""eventlet greenthreads waiting on held locks, armed for JSON + text into
``argv[1]``, ``track_locks`` on when ``argv[2]`` is ``track``: three wait on
an ``eventlet.semaphore.Semaphore`` held by the greenthread running
``hold_sem``, two on an ``eventlet.lock.Lock`` held by ``hold_lock``.

Started by tests/test_why.py."""

# ruff: noqa: E402 (imports after a warnings filter, on purpose)
import sys
import warnings

warnings.simplefilter("ignore")
import time

import eventlet
import eventlet.event
import eventlet.lock
import eventlet.semaphore

from gurumeditation import TextGuruMeditation

TextGuruMeditation.setup_autorun(
    "1.0",
    service_name="why-eventlet",
    log_dir=sys.argv[1],
    formats=("json", "text"),
    group=False,
    track_locks=len(sys.argv) > 2 and sys.argv[2] == "track",
)

never = eventlet.event.Event()
sem = eventlet.semaphore.Semaphore(1)
lock = eventlet.lock.Lock()


def hold_sem():
    with sem:
        never.wait()


def hold_lock():
    with lock:
        never.wait()


def wait_on(what):
    with what:
        pass


holders = [eventlet.spawn(hold_sem), eventlet.spawn(hold_lock)]
eventlet.sleep(0.05)
waiters = [eventlet.spawn(wait_on, sem) for _ in range(3)]
waiters += [eventlet.spawn(wait_on, lock) for _ in range(2)]
eventlet.sleep(0.05)
print("READY", flush=True)
while True:
    time.sleep(0.05)

"""gevent greenlets waiting on held locks, armed for JSON + text into
``argv[1]``, ``track_locks`` on when ``argv[2]`` is ``track``: three wait on
a ``gevent.lock.Semaphore`` held by the greenlet ``sem-holder``, two on a
``gevent.lock.RLock`` held by ``rlock-holder`` (an RLock records its owner).

Started by tests/test_why.py."""

# ruff: noqa: E402 (imports after a warnings filter, on purpose)
import sys
import warnings

warnings.simplefilter("ignore")
import time

import gevent
import gevent.event
import gevent.lock

from gurumeditation import TextGuruMeditation

TextGuruMeditation.setup_autorun(
    "1.0",
    service_name="why-gevent",
    log_dir=sys.argv[1],
    formats=("json", "text"),
    group=False,
    track_locks=len(sys.argv) > 2 and sys.argv[2] == "track",
)

never = gevent.event.Event()
sem = gevent.lock.Semaphore(1)
rlock = gevent.lock.RLock()


def hold(lock):
    with lock:
        never.wait()


def wait_on(lock):
    with lock:
        pass


sem_holder = gevent.spawn(hold, sem)
sem_holder.name = "sem-holder"
rlock_holder = gevent.spawn(hold, rlock)
rlock_holder.name = "rlock-holder"
gevent.sleep(0.05)
waiters = [gevent.spawn(wait_on, sem) for _ in range(3)]
waiters += [gevent.spawn(wait_on, rlock) for _ in range(2)]
for i, glet in enumerate(waiters):
    glet.name = f"waiter-{i}"
gevent.sleep(0.05)
print("READY", flush=True)
while True:
    time.sleep(0.05)

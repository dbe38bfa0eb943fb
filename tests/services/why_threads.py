"""Threads stuck in every way issue 14 names, armed for JSON + text into
``argv[1]``; ``argv[2]`` ``track`` turns ``track_locks`` on (before any lock
below is made).  Two threads deadlocked on two RLocks; a thread blocked on a
plain Lock held by another; Condition.wait, Queue.get, Queue.put (full),
Barrier.wait, Thread.join, Event.wait; an import deadlock (a thread importing
``why_slow_import`` waits on an RLock held by a thread that waits for that
import); a thread in a blocking socket recv (its peer on the READY line); a
busy thread.

Started by tests/test_why.py."""

import os
import queue
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gurumeditation import TextGuruMeditation

TextGuruMeditation.setup_autorun(
    "1.0",
    service_name="why",
    log_dir=sys.argv[1],
    formats=("json", "text"),
    group=False,
    track_locks=len(sys.argv) > 2 and sys.argv[2] == "track",
)

first = threading.RLock()
second = threading.RLock()
both_hold = threading.Barrier(2)


def dead_a() -> None:
    with first:
        both_hold.wait()
        with second:
            pass


def dead_b() -> None:
    with second:
        both_hold.wait()
        with first:
            pass


plain = threading.Lock()
plain_held = threading.Event()
never = threading.Event()


def plain_holder() -> None:
    with plain:
        plain_held.set()
        never.wait()


def plain_waiter() -> None:
    plain_held.wait()
    with plain:
        pass


cond = threading.Condition()


def cond_waiter() -> None:
    with cond:
        cond.wait()


jobs: "queue.Queue[int]" = queue.Queue()


def queue_getter() -> None:
    jobs.get()


full: "queue.Queue[int]" = queue.Queue(maxsize=1)
full.put(0)
three = threading.Barrier(3)


def queue_putter() -> None:
    full.put(1)


def barrier_waiter() -> None:
    three.wait()


def event_waiter() -> None:
    never.wait()


def joiner(target: threading.Thread) -> None:
    target.join()


import_lock = threading.RLock()
importing = threading.Event()


def import_holder() -> None:
    with import_lock:
        importing.wait()
        time.sleep(0.2)  # the importer is inside the module by now
        import why_slow_import  # noqa: F401


def importer() -> None:
    import why_slow_import  # noqa: F401


server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(1)
client = socket.create_connection(server.getsockname())
accepted, _ = server.accept()


def receiver() -> None:
    accepted.recv(10)


def busy() -> None:
    x = 0
    while True:
        x += 1


threads = {
    "dead-a": threading.Thread(target=dead_a, name="dead-a", daemon=True),
    "dead-b": threading.Thread(target=dead_b, name="dead-b", daemon=True),
    "plain-holder": threading.Thread(target=plain_holder, name="plain-holder", daemon=True),
    "plain-waiter": threading.Thread(target=plain_waiter, name="plain-waiter", daemon=True),
    "cond-waiter": threading.Thread(target=cond_waiter, name="cond-waiter", daemon=True),
    "queue-getter": threading.Thread(target=queue_getter, name="queue-getter", daemon=True),
    "event-waiter": threading.Thread(target=event_waiter, name="event-waiter", daemon=True),
    "queue-putter": threading.Thread(target=queue_putter, name="queue-putter", daemon=True),
    "barrier-waiter": threading.Thread(target=barrier_waiter, name="barrier-waiter", daemon=True),
    "import-holder": threading.Thread(target=import_holder, name="import-holder", daemon=True),
    "importer": threading.Thread(target=importer, name="importer", daemon=True),
    "receiver": threading.Thread(target=receiver, name="receiver", daemon=True),
    "busy": threading.Thread(target=busy, name="busy", daemon=True),
}
threads["joiner"] = threading.Thread(
    target=joiner, args=(threads["event-waiter"],), name="joiner", daemon=True
)
for thread in threads.values():
    thread.start()
host, port = client.getsockname()
time.sleep(1.0)  # every thread parked where it stays
print("READY", f"{host}:{port}", flush=True)  # the peer of the receiver's socket
while True:
    time.sleep(0.05)

"""12 gevent greenlets parked 3 calls deep and one named 'the-sleeper', beside real threads; with 'patch' in argv gevent monkey patches first.

Started by tests/test_green_threads.py."""

# ruff: noqa: E402 (imports after a warnings filter or monkey patching, on purpose)
import sys
import warnings

warnings.simplefilter("ignore")
import gevent

PATCH = "patch" in sys.argv
if PATCH:
    import gevent.monkey

    gevent.monkey.patch_all()

import threading
import time

import armed  # noqa: F401  (arms JSON + text reports into argv[1])
import gevent.event
import gevent.monkey

never = gevent.event.Event()


def park_green(level):
    if level > 1:
        return park_green(level - 1)
    never.wait()


workers = [gevent.spawn(park_green, 3) for _ in range(12)]
named = gevent.spawn(gevent.sleep, 1000)
named.name = "the-sleeper"
gevent.sleep(0.05)

if PATCH:
    start_real = gevent.monkey.get_original("_thread", "start_new_thread")
    real_lock = gevent.monkey.get_original("_thread", "allocate_lock")()
    real_lock.acquire()

    def real_worker():
        real_lock.acquire()

    start_real(real_worker, ())
    threading.Thread(target=gevent.sleep, args=(1000,), name="posing-as-thread").start()
    gevent.sleep(0.05)
pending = gevent.spawn_later(1000, gevent.sleep, 1)  # spawned, not started
print("READY", flush=True)
while True:
    time.sleep(0.05)  # under patch_all: the hub runs, the main greenlet waits

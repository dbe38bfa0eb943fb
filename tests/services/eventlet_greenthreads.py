"""25 eventlet greenthreads parked 4 calls deep, 3 napping, 1 not started yet, beside 4 real threads; with 'patch' in argv eventlet monkey patches first, and a threading.Thread then runs as a greenthread.

Started by tests/test_green_threads.py."""

# ruff: noqa: E402 (imports after a warnings filter or monkey patching, on purpose)
import sys
import warnings

warnings.simplefilter("ignore")
import eventlet

PATCH = "patch" in sys.argv
if PATCH:
    eventlet.monkey_patch()

import threading

import armed  # noqa: F401  (arms JSON + text reports into argv[1])
import eventlet.event
import eventlet.patcher

never = eventlet.event.Event()


def park_green(level):
    if level > 1:
        return park_green(level - 1)
    never.wait()


def nap_green():
    eventlet.sleep(1000)


for _ in range(25):
    eventlet.spawn(park_green, 4)
for _ in range(3):
    eventlet.spawn(nap_green)
later = eventlet.spawn_after(1000, nap_green)  # not started

real_threading = eventlet.patcher.original("threading") if PATCH else threading
stop = real_threading.Event()


def park_thread(level):
    if level > 1:
        return park_thread(level - 1)
    stop.wait()


for i in range(4):
    real_threading.Thread(target=park_thread, args=(3,), name=f"real-{i}", daemon=True).start()
if PATCH:
    # after monkey patching, threading.Thread makes a greenthread, not an OS thread
    threading.Thread(target=nap_green, name="posing-as-thread", daemon=True).start()
eventlet.sleep(0.1)
print("READY", flush=True)
while True:
    eventlet.sleep(0.05)

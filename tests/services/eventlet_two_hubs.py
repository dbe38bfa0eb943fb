"""Eventlet greenthreads in the main thread and in a second OS thread with its own hub, beside 6 parked real threads.

Started by tests/test_green_threads.py."""

# ruff: noqa: E402 (imports after a warnings filter or monkey patching, on purpose)

import threading
import time
import warnings

import armed  # noqa: F401  (arms JSON + text reports into argv[1])

warnings.simplefilter("ignore")
import eventlet
import eventlet.event
import eventlet.hubs

stop = threading.Event()


def park_thread():
    stop.wait()


for i in range(6):
    threading.Thread(target=park_thread, name=f"pool-{i}", daemon=True).start()

never = eventlet.event.Event()


def park_green():
    never.wait()


runner_ready = threading.Event()


def eventlet_thread():
    # a second OS thread with its own eventlet hub and greenthreads
    for _ in range(4):
        eventlet.spawn(park_green)
    eventlet.sleep(0.01)
    runner_ready.set()
    while True:
        eventlet.sleep(0.05)


threading.Thread(target=eventlet_thread, name="green-runner", daemon=True).start()
for _ in range(9):
    eventlet.spawn(park_green)
eventlet.sleep(0.1)
runner_ready.wait(30)
print("READY", flush=True)
while True:
    time.sleep(0.05)

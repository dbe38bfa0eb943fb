"""Greenthreads reported by a thread of the library's own (as the watcher is), where no greenlet is current: prints READY, then the report as JSON.

Started by tests/test_green_threads.py."""

# ruff: noqa: E402 (imports after a warnings filter or monkey patching, on purpose)
import json
import threading
import warnings

warnings.simplefilter("ignore")
import eventlet
import eventlet.event

from gurumeditation import TextGuruMeditation, unpatched

never = eventlet.event.Event()


def park_green():
    never.wait()


for _ in range(7):
    eventlet.spawn(park_green)
eventlet.sleep(0.05)


def helper():
    # a helper thread of the library (as the watcher is) writes the report
    unpatched.OWN_THREADS.add(threading.get_ident())
    doc = TextGuruMeditation("1").report()
    print("READY", flush=True)
    print(json.dumps(doc), flush=True)


threading.Thread(target=helper, daemon=True).start()
while True:
    eventlet.sleep(0.01)

"""The main thread blocks in native code while holding the GIL (for argv[2] seconds), so no Python code runs; a worker thread is parked beside it.
With argv[3] == "fork" it first forks a child that sleeps (its pid on the READY line): the
service is shared then, and its report files carry its pid; FREEZING is printed just before.
With argv[3] ``at-once`` it freezes right after arming, while our loader thread may still run.

Started by tests/test_frozen_interpreter.py and tests/test_arming_cost.py."""

import ctypes
import sys
import threading
import time

from gurumeditation import TextGuruMeditation, early

TextGuruMeditation.setup_autorun("1.0", service_name="svc", log_dir=sys.argv[1])
# armed in two steps: frozen once our loader thread is done, unless asked
# to freeze at once (the first step armed faulthandler and the sidecar)
if sys.argv[3:] != ["at-once"]:
    early.ensure_loaded()
libc = ctypes.CDLL(None)
pylib = ctypes.PyDLL(None)  # PyDLL: the GIL stays held during the call
mutex = ctypes.create_string_buffer(64)
libc.pthread_mutex_lock(mutex)


class timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def parked_worker():
    time.sleep(3600)


child = 0
if sys.argv[3:] == ["fork"]:
    import os

    child = os.fork()
    if child == 0:
        time.sleep(3600)
        os._exit(0)
threading.Thread(target=parked_worker, daemon=True).start()
print("READY", child, flush=True)
if sys.argv[3:] != ["at-once"]:
    time.sleep(0.3)


def frozen_here():
    until = timespec(int(time.time()) + int(sys.argv[2]), 0)
    pylib.pthread_mutex_timedlock(mutex, ctypes.byref(until))  # held: waits until then


if child:
    print("FREEZING", flush=True)
frozen_here()
print("BACK", flush=True)
while True:
    time.sleep(0.05)

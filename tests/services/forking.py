"""Forks three ways (os.fork, a multiprocessing child, a child whose main thread is stuck in a mutex): each child keeps the parent's arming; prints READY and the three child pids.

Started by tests/test_fork_and_hangs.py."""

import ctypes
import multiprocessing
import os
import sys
import threading
import time

from gurumeditation import TextGuruMeditation

TextGuruMeditation.setup_autorun("1.0", service_name="svc", log_dir=sys.argv[1])


def child_work():
    threading.Thread(target=time.sleep, args=(3600,), name="child-worker", daemon=True).start()
    while True:
        time.sleep(0.05)


pid = os.fork()
if pid == 0:
    child_work()
ctx = multiprocessing.get_context("fork")
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
print("READY", pid, proc.pid, stuck, flush=True)
while True:
    time.sleep(0.05)

"""The main thread blocks for good in native code (a mutex it already holds),
with the GIL released, so the signal handler never runs; argv[2] is
``eventlet`` or ``gevent`` to monkey patch first, ``plain`` not to.

Started by tests/test_stuck_main.py."""

import sys

if sys.argv[2] == "eventlet":
    import eventlet

    eventlet.monkey_patch()
elif sys.argv[2] == "gevent":
    from gevent import monkey

    monkey.patch_all()

import ctypes

from gurumeditation import TextGuruMeditation

TextGuruMeditation.setup_autorun("1.0", service_name="svc", log_dir=sys.argv[1])
libc = ctypes.CDLL(None)
mutex = ctypes.create_string_buffer(64)  # zeroed = PTHREAD_MUTEX_INITIALIZER
libc.pthread_mutex_lock(mutex)
print("READY", flush=True)


def stuck_here():
    libc.pthread_mutex_lock(mutex)  # already held: blocks for good, GIL released


stuck_here()

"""A registered section that never returns beside one that does, and a thread holding the import lock and logging's locks for good; the section time budget is argv[2].

Started by tests/test_fork_and_hangs.py."""

import _imp
import logging
import sys
import threading
import time

from gurumeditation import TextGuruMeditation

hang = threading.Event()


def slow_section():
    hang.wait()  # never set


def quick_section():
    return {"fine": True}


TextGuruMeditation.register_section("Slow", slow_section)
TextGuruMeditation.register_section("Quick", quick_section)
TextGuruMeditation.setup_autorun(
    "1.0", service_name="svc", log_dir=sys.argv[1], section_timeout=float(sys.argv[2])
)
logging.basicConfig()
handler = logging.getLogger().handlers[0]


def hog():
    # hold what an application thread may hold, for good
    _imp.acquire_lock()
    logging._lock.acquire()  # the module lock; _acquireLock() is gone in 3.13
    handler.acquire()
    threading.Event().wait()


threading.Thread(target=hog, name="lock-hog", daemon=True).start()
time.sleep(0.2)
print("READY", flush=True)
while True:
    time.sleep(0.05)

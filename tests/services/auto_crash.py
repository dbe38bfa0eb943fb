"""Reports by themselves, argv: LOG_DIR MODE [REPORT_ON].

MODE ``term``: waits for SIGTERM (default action); ``term-stuck``: its main
thread stuck for good in ``pthread_mutex_lock`` (our Python-level handler
cannot run: the SIGTERM guard must still end it); ``term-handler``: its own
SIGTERM handler exits with status 3; ``main-exc``: an uncaught exception in
the main thread; ``thread-exc``: in a thread (the process goes on and exits
0); ``task-exc``: an asyncio task exception never retrieved; ``segv``:
``ctypes.string_at(0)``; ``rss``: allocates 150 MiB past ``rss_limit`` (its
RSS at start + 100 MiB) with tracemalloc tracing, frees it, then allocates
again.  REPORT_ON default:
``term,exception,fatal,abort``.

Started by tests/test_automatic_reports.py."""

import asyncio
import ctypes
import gc
import signal
import sys
import threading
import time

from gurumeditation import TextGuruMeditation
from gurumeditation.triggers.watchdog import resident_bytes

MODE = sys.argv[2]
REPORT_ON = (sys.argv[3] if len(sys.argv) > 3 else "term,exception,fatal,abort").split(",")

if MODE == "term-handler":

    def on_term(signum, frame):
        print("APP HANDLER", flush=True)
        sys.exit(3)

    signal.signal(signal.SIGTERM, on_term)

extra = {}
if MODE == "rss":
    extra["rss_limit"] = (resident_bytes() or 0) + (100 << 20)
TextGuruMeditation.setup_autorun(
    "1.0",
    service_name="svc",
    log_dir=sys.argv[1],
    report_on=REPORT_ON,
    formats=("text", "json", "html"),
    **extra,
)
print("READY", flush=True)

PASSWORD = "hunter2-secret-value"


def fail(where: str) -> None:
    raise ValueError(f"{where} failed with password={PASSWORD}")


if MODE in ("term", "term-handler"):
    time.sleep(600)
elif MODE == "term-stuck":
    libc = ctypes.CDLL(None)
    mutex = ctypes.create_string_buffer(64)
    libc.pthread_mutex_lock(mutex)

    def stuck_here() -> None:
        libc.pthread_mutex_lock(mutex)  # held: blocks for good, GIL released

    stuck_here()
elif MODE == "main-exc":
    fail("main")
elif MODE == "thread-exc":
    t = threading.Thread(target=fail, args=("worker",), name="doomed-worker")
    t.start()
    t.join()
    print("AFTER THREAD", flush=True)
elif MODE == "task-exc":

    async def main() -> None:
        async def broken() -> None:
            fail("task")

        task = asyncio.get_running_loop().create_task(broken())
        await asyncio.sleep(0.1)
        del task  # never retrieved
        gc.collect()
        await asyncio.sleep(0.1)

    asyncio.run(main())
    print("AFTER LOOP", flush=True)
elif MODE == "segv":
    time.sleep(0.5)
    ctypes.string_at(0)
elif MODE == "rss":
    import tracemalloc

    tracemalloc.start()
    block = bytearray(150 << 20)  # zeroed pages: touch them so they are resident
    for i in range(0, len(block), 4096):
        block[i] = 1
    print(f"ABOVE {time.monotonic():.6f}", flush=True)
    time.sleep(3)
    del block
    gc.collect()
    time.sleep(2)
    print(f"BELOW {time.monotonic():.6f}", flush=True)
    again = bytearray(150 << 20)
    for i in range(0, len(again), 4096):
        again[i] = 1
    print(f"ABOVE {time.monotonic():.6f}", flush=True)
    time.sleep(3)
    print("DONE", flush=True)
    time.sleep(600)

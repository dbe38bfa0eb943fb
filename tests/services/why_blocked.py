"""The main thread and an event loop's thread blocked on an RLock held by the
thread ``holder``, armed for JSON + text into ``argv[1]``: the main thread
waits in ``with held:`` (the report signal interrupts that wait and the
handler runs in the main thread); the loop ``blocked-loop`` runs a task
that takes the same lock in a coroutine.

Started by tests/test_why.py."""

import asyncio
import sys
import threading
import time

import armed  # noqa: F401  (arms JSON + text reports into argv[1])

held = threading.RLock()
taken = threading.Event()
never = threading.Event()


def holder() -> None:
    with held:
        taken.set()
        never.wait()


async def blocking_task() -> None:
    with held:  # blocks the whole loop
        pass


def loop_thread() -> None:
    asyncio.run(blocking_task())


threading.Thread(target=holder, name="holder", daemon=True).start()
taken.wait()
threading.Thread(target=loop_thread, name="blocked-loop", daemon=True).start()


def ready() -> None:  # once the main thread waits below
    time.sleep(0.5)
    print("READY", flush=True)
    sys.stdout.flush()


threading.Thread(target=ready, name="ready", daemon=True).start()
with held:
    pass

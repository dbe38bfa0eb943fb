"""An asyncio service stuck in the ways issue 14 names, armed for JSON +
text into ``argv[1]`` with ``track_locks`` when ``argv[2]`` is ``track``:
three tasks wait on an ``asyncio.Lock`` held by the task ``lock-holder``;
the task ``offloaded`` awaits ``asyncio.to_thread`` of a function blocked on
an Event; the tasks ``ring-a`` and ``ring-b`` await each other; the task
``cross`` awaits ``to_thread`` of a function waiting on
``run_coroutine_threadsafe`` of a coroutine that awaits ``cross`` (a cycle
task -> thread -> task).  The loop
runs in the main thread.

Started by tests/test_why.py."""

import asyncio
import sys
import threading
from typing import Any, Dict

from gurumeditation import TextGuruMeditation

TextGuruMeditation.setup_autorun(
    "1.0",
    service_name="why-asyncio",
    log_dir=sys.argv[1],
    formats=("json", "text"),
    group=False,
    track_locks=len(sys.argv) > 2 and sys.argv[2] == "track",
)

never = threading.Event()
tasks: Dict[str, "asyncio.Task[Any]"] = {}


async def holder(lock: asyncio.Lock) -> None:
    async with lock:
        await asyncio.sleep(3600)


async def waiter(lock: asyncio.Lock) -> None:
    async with lock:
        pass


def blocking() -> None:
    never.wait()


async def offloaded() -> None:
    await asyncio.to_thread(blocking)


async def wait_for_cross() -> None:
    await tasks["cross"]


def cross_sync(loop: asyncio.AbstractEventLoop) -> None:
    # a thread waiting on a future that a task completes (the task awaits "cross")
    asyncio.run_coroutine_threadsafe(wait_for_cross(), loop).result()


async def cross() -> None:
    await asyncio.to_thread(cross_sync, asyncio.get_running_loop())


async def ring(other: str) -> None:
    await asyncio.sleep(0.05)
    await tasks[other]


async def main() -> None:
    lock = asyncio.Lock()
    tasks["lock-holder"] = asyncio.create_task(holder(lock), name="lock-holder")
    await asyncio.sleep(0.05)
    for i in range(3):
        tasks[f"lock-waiter-{i}"] = asyncio.create_task(waiter(lock), name=f"lock-waiter-{i}")
    tasks["offloaded"] = asyncio.create_task(offloaded(), name="offloaded")
    tasks["cross"] = asyncio.create_task(cross(), name="cross")
    tasks["ring-a"] = asyncio.create_task(ring("ring-b"), name="ring-a")
    tasks["ring-b"] = asyncio.create_task(ring("ring-a"), name="ring-b")
    await asyncio.sleep(0.5)  # every task parked where it stays
    print("READY", flush=True)
    await asyncio.sleep(3600)


asyncio.run(main())

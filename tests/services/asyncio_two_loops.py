"""Asyncio loops in two threads, each with tasks parked 6 coroutines deep, a task awaiting a task awaiting a future, and two tasks awaiting each other (a cycle).

Started by tests/test_asyncio_tasks.py."""

# ruff: noqa: RUF006 (the tasks are found through asyncio's own registries, as the report finds them)

import asyncio
import threading

import armed  # noqa: F401  (arms JSON + text reports into argv[1])


async def leaf(ev):
    await ev.wait()


async def deep(ev, n):
    if n:
        return await deep(ev, n - 1)
    return await leaf(ev)


async def on_future(fut):
    return await fut


async def on_task(task):
    return await task


async def ring_a(box):
    await box["b"]


async def ring_b(box):
    await box["a"]


async def main(tag, started):
    ev = asyncio.Event()
    for i in range(7):
        asyncio.create_task(deep(ev, 5), name=f"{tag}-deep{i}")
    fut = asyncio.get_running_loop().create_future()
    inner = asyncio.create_task(on_future(fut), name=f"{tag}-inner")
    asyncio.create_task(on_task(inner), name=f"{tag}-outer")
    box = {}
    box["a"] = asyncio.create_task(ring_a(box), name=f"{tag}-ring-a")
    box["b"] = asyncio.create_task(ring_b(box), name=f"{tag}-ring-b")
    await asyncio.sleep(0.05)
    started.set()
    await ev.wait()


a_started, b_started = threading.Event(), threading.Event()
threading.Thread(
    target=lambda: asyncio.run(main("B", b_started)), name="loop-b", daemon=True
).start()
b_started.wait()


async def first():
    task = asyncio.create_task(main("A", a_started), name="A-main")
    await asyncio.sleep(0.1)
    print("READY", flush=True)
    await task


asyncio.run(first())

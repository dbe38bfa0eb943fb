"""Six asyncio tasks parked at the same line, in debug mode (creation stacks recorded), reported through the API grouped and not: prints READY, then the reports as JSON.

Started by tests/test_asyncio_tasks.py."""

import asyncio
import json

from gurumeditation import TextGuruMeditation


async def same_place(ev):
    await ev.wait()


async def main():
    ev = asyncio.Event()
    tasks = []
    for i in range(6):
        tasks.append(asyncio.create_task(same_place(ev), name=f"same-{i}"))
    await asyncio.sleep(0.05)
    grouped = TextGuruMeditation("1").run()
    listed = TextGuruMeditation("1", group=False).run()
    doc = TextGuruMeditation("1", group=False).report()
    print("READY", flush=True)
    print(json.dumps({"grouped": grouped, "listed": listed, "doc": doc}), flush=True)
    ev.set()


asyncio.run(main(), debug=True)

"""A healthy asyncio loop next to one stuck thread, armed for JSON + text
into ``argv[1]``: the task ``main-loop`` re-awaits a new 0.1 s sleep every
time (as uvicorn's main loop does), the thread ``selector`` sits in an idle
``select``, and the thread ``stuck`` waits on a Lock no one releases.

Started by tests/test_why.py (two reports, compared by ``diff``)."""

import asyncio
import selectors
import socket
import sys
import threading

import armed  # noqa: F401  (arms JSON + text reports into argv[1])

held = threading.Lock()
held.acquire()


def stuck() -> None:
    with held:
        pass


left, right = socket.socketpair()


def selector() -> None:
    sel = selectors.DefaultSelector()
    sel.register(left, selectors.EVENT_READ)
    while True:
        sel.select(timeout=3600)


threading.Thread(target=stuck, name="stuck", daemon=True).start()
threading.Thread(target=selector, name="selector", daemon=True).start()


async def main_loop() -> None:
    ticks = 0
    while True:
        await asyncio.sleep(0.1)
        ticks += 1
        if ticks == 3:
            print("READY", flush=True)
            sys.stdout.flush()


async def main() -> None:
    await asyncio.create_task(main_loop(), name="main-loop")


asyncio.run(main())

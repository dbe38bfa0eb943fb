"""Stalls for the watchdog (``watchdog=1``), argv: LOG_DIR MODE.

MODE ``loop-block``: an asyncio loop (main thread) whose coroutine blocks it
in ``time.sleep(3)``; ``loop-thread``: the same in a second thread's loop;
``loop-busy``: a loop kept busy for 4 s by coroutines that each run briefly
and yield (progress: no stall); ``main-mutex``: the main thread stuck 3 s in
``pthread_mutex_lock`` (native code, GIL released, signals do not get it
out) until a thread unlocks it; ``main-wait``: the main thread idle 4 s in
``Event.wait()``, then ``time.sleep()``, ``select()`` and ``join()``;
``gevent-hub``: gevent's hub kept 3 s by a greenlet calling the unpatched
``time.sleep``; ``eventlet-hub``: the same under eventlet; ``loop-mutex``: a
coroutine of the main thread's loop stuck 3 s in ``pthread_mutex_lock`` (the
loop and the main thread stall together: one stall); ``main-hog``: the
main thread runs Python for 4 s with the switch interval raised past it (our
threads get no GIL: progress all the same, no stall, no frozen dump);
``main-pause``: the main thread in ``signal.pause()`` (prints ``PAUSE RETURNED`` if anything
wakes it).  Prints ``BLOCK <monotonic>`` when the stall begins,
``UNBLOCK <monotonic>`` when it ends (each with the wall-clock time after it), then ``DONE`` and waits for stdin to
close (or a signal).

Started by tests/test_automatic_reports.py."""

# ruff: noqa: E402 (imports after monkey patching, on purpose)
import sys

MODE = sys.argv[2]
if MODE == "gevent-hub":
    from gevent import monkey

    monkey.patch_all()
    import gevent

    gevent.sleep(0)  # the hub exists before arming

if MODE == "eventlet-hub":
    import eventlet

    eventlet.monkey_patch()
    eventlet.sleep(0)  # the hub exists before arming

import asyncio
import ctypes
import select
import signal
import threading
import time

from gurumeditation import TextGuruMeditation

TextGuruMeditation.setup_autorun(
    "1.0", service_name="svc", log_dir=sys.argv[1], watchdog=1, formats=("text", "json")
)


def say(word: str) -> None:
    print(f"{word} {time.monotonic():.6f} {time.time():.6f}", flush=True)


def rest() -> None:
    print("DONE", flush=True)
    time.sleep(600)


async def blocker() -> None:
    await asyncio.sleep(0.5)
    say("BLOCK")
    time.sleep(3)  # the mistake: a blocking call in a coroutine
    say("UNBLOCK")
    await asyncio.sleep(1.5)


async def busy() -> None:
    async def worker() -> None:
        end = time.monotonic() + 4
        while time.monotonic() < end:
            sum(range(2000))
            await asyncio.sleep(0)

    say("BLOCK")
    await asyncio.gather(*(worker() for _ in range(5)))
    say("UNBLOCK")


async def mutex_blocker() -> None:
    libc = ctypes.CDLL(None)
    mutex = ctypes.create_string_buffer(64)
    libc.pthread_mutex_lock(mutex)
    threading.Timer(3.5, libc.pthread_mutex_unlock, args=(mutex,)).start()
    await asyncio.sleep(0.5)
    say("BLOCK")
    libc.pthread_mutex_lock(mutex)  # held: the loop and the main thread stuck 3 s
    say("UNBLOCK")
    await asyncio.sleep(1.5)


print("READY", flush=True)
if MODE == "loop-block":
    asyncio.run(blocker())
elif MODE == "loop-thread":
    t = threading.Thread(target=asyncio.run, args=(blocker(),), name="loop-thread")
    t.start()
    t.join()
elif MODE == "loop-busy":
    asyncio.run(busy())
elif MODE == "main-mutex":
    libc = ctypes.CDLL(None)
    mutex = ctypes.create_string_buffer(64)
    libc.pthread_mutex_lock(mutex)
    threading.Timer(3.0, libc.pthread_mutex_unlock, args=(mutex,)).start()
    time.sleep(0.5)

    def stuck_here() -> None:
        libc.pthread_mutex_lock(mutex)  # held: blocks 3 s in native code

    say("BLOCK")
    stuck_here()
    say("UNBLOCK")
    time.sleep(1.5)
elif MODE == "main-wait":
    say("BLOCK")
    threading.Event().wait(2.5)
    time.sleep(2.5)
    select.select([], [], [], 2.5)
    t = threading.Thread(target=time.sleep, args=(2.5,))
    t.start()
    t.join()
    say("UNBLOCK")
elif MODE == "gevent-hub":
    original_sleep = monkey.get_original("time", "sleep")

    def hog() -> None:
        say("BLOCK")
        original_sleep(3)  # keeps the hub from its loop
        say("UNBLOCK")

    gevent.sleep(0.5)
    gevent.spawn(hog).join()
    gevent.sleep(1.5)
elif MODE == "eventlet-hub":
    from eventlet import patcher

    original_sleep = patcher.original("time").sleep

    def hog() -> None:
        say("BLOCK")
        original_sleep(3)  # keeps the hub from its loop
        say("UNBLOCK")

    eventlet.sleep(0.5)
    eventlet.spawn(hog).wait()
    eventlet.sleep(1.5)
elif MODE == "loop-mutex":
    asyncio.run(mutex_blocker())
elif MODE == "main-hog":
    # busy Python that keeps every other thread from the GIL for 4 s (the
    # switch interval raised past it): what a loop polling with a zero
    # timeout does to them on CPython 3.9/3.10, every time here
    time.sleep(0.5)
    sys.setswitchinterval(30)
    say("BLOCK")
    end = time.monotonic() + 4
    while time.monotonic() < end:
        pass
    sys.setswitchinterval(0.005)
    say("UNBLOCK")
elif MODE == "main-pause":
    say("BLOCK")
    signal.pause()
    print("PAUSE RETURNED", flush=True)
rest()

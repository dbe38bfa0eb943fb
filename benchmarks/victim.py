"""The victim: a service of a configurable shape, armed with one report tool.

Run by the driver (``benchmarks/driver.py``) as a separate process, in the
project's ``.venv`` (tool ``gm``, ``floor``, ``none``) or in the oslo.reports
virtual environment (tool ``oslo``)::

    victim.py --tool gm|oslo|floor|none --log-dir DIR [--threads N --depth D
              --green M --green-depth DG --tasks K --task-depth DT
              --options O --heap H --no-ticker]

Shape: N OS threads parked at stack depth D, M eventlet greenthreads parked at
depth DG (in the main thread's hub), K asyncio tasks whose await chains are DT
coroutines deep (in one event loop run by its own thread), O oslo.config
options on the global ``CONF`` (every tenth one ``secret=True``), H extra
GC-tracked heap objects.

The ticker thread wakes every millisecond and records the longest gap between
two wake-ups: the pause another thread of the application sees while a
report is written.  It also serves the driver's commands on stdin (one line
each): ``stats`` prints ``{"max_gap_ms": ...}`` as one JSON line on stdout and
starts a new window.  End of stdin (or SIGTERM) ends the victim, through
``SystemExit`` in the main thread so that ``atexit`` handlers run.

Tools, all armed on SIGUSR2 and all writing one file into ``--log-dir``:

* ``gm``: ``gurumeditation.TextGuruMeditation.setup_autorun(..., log_dir=DIR)``
* ``oslo``: ``oslo_reports.guru_meditation_report.TextGuruMeditation.setup_autorun``
* ``floor``: the cheapest pure-Python dump of the same stacks — for each
  thread ``sys._current_frames()`` + ``traceback.format_stack``, for each
  greenlet (found with ``gc.get_objects()``) ``format_stack(gr_frame)``, for
  each asyncio task its await chain (``cr_await``) formatted with
  ``traceback`` — written with a plain ``open()``.
* ``none``: nothing armed (a baseline for idle CPU).

The shape is built before the tool is armed, as a service would import its
libraries before calling ``setup_autorun``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import select
import signal
import sys
import threading
import time
import traceback
from typing import Any, Dict, List, Optional

SERVICE = "victim"

#: Parked OS threads wait on this forever.
STOP = threading.Event()

#: The event loop of the asyncio thread (the floor dump looks its tasks up there).
LOOP: Any = None

#: Extra heap objects (kept alive for the life of the process).
HEAP: List[Any] = []

#: Greenthreads (kept alive).
GREEN: List[Any] = []

#: asyncio tasks (kept alive).
TASKS: List[Any] = []


class Version:
    """A version object in the oslo.reports shape."""

    def vendor_string(self) -> str:
        return "Benchmarks"

    def product_string(self) -> str:
        return "victim"

    def version_string_with_package(self) -> str:
        return "1.0.0"


# -- shape ---------------------------------------------------------------------


def park_thread(depth: int) -> None:
    if depth > 1:
        park_thread(depth - 1)
        return
    STOP.wait()


def start_threads(count: int, depth: int) -> None:
    for i in range(count):
        thread = threading.Thread(
            target=park_thread, args=(depth,), name=f"worker-{i}", daemon=True
        )
        thread.start()


def start_greenthreads(count: int, depth: int) -> None:
    import eventlet
    import eventlet.event

    never = eventlet.event.Event()
    started = [0]

    def park_green(level: int) -> None:
        if level > 1:
            park_green(level - 1)
            return
        started[0] += 1
        never.wait()

    for _ in range(count):
        GREEN.append(eventlet.spawn(park_green, depth))
    while started[0] < count:
        eventlet.sleep(0.001)


def start_tasks(count: int, depth: int) -> None:
    import asyncio

    ready = threading.Event()

    def run_loop() -> None:
        global LOOP
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        LOOP = loop
        never = loop.create_future()

        async def park_task(level: int) -> None:
            if level > 1:
                await park_task(level - 1)
                return
            await never

        for i in range(count):
            TASKS.append(loop.create_task(park_task(depth), name=f"task-{i}"))
        loop.call_soon(loop.call_soon, ready.set)  # after every task's first step
        loop.run_forever()

    threading.Thread(target=run_loop, name="asyncio-loop", daemon=True).start()
    if not ready.wait(600):
        raise RuntimeError("the asyncio loop did not start its tasks")


def register_options(count: int) -> Any:
    from oslo_config import cfg

    conf = cfg.CONF
    per_group = 50
    for i in range(count):
        group = None if i < per_group else f"svc{i // per_group}"
        name = f"option_{i}"
        kind = i % 4
        secret = i % 10 == 3
        opt: Any
        if kind == 0:
            opt = cfg.StrOpt(name, default=f"value-{i}", secret=secret, help="a string")
        elif kind == 1:
            opt = cfg.IntOpt(name, default=i, secret=secret, help="a number")
        elif kind == 2:
            opt = cfg.BoolOpt(name, default=bool(i % 3), secret=secret, help="a flag")
        else:
            opt = cfg.ListOpt(name, default=["a", "b", str(i)], secret=secret, help="a list")
        conf.register_opt(opt, group=group)
    conf([], project="victim")
    return conf


def build_heap(count: int) -> None:
    HEAP.extend([i] for i in range(count))  # GC-tracked objects, as a real heap has


# -- ticker --------------------------------------------------------------------


class Ticker:
    def __init__(self) -> None:
        self.max_gap = 0.0
        self.native_id = 0
        self.ready = threading.Event()

    def run(self) -> None:
        self.native_id = threading.get_native_id()
        self.ready.set()
        fd = sys.stdin.fileno()
        pending = b""
        last = time.perf_counter()
        while True:
            readable, _, _ = select.select([fd], [], [], 0.001)
            now = time.perf_counter()
            gap = now - last
            last = now
            if gap > self.max_gap:
                self.max_gap = gap
            if not readable:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:  # the driver went away: exit through the main thread
                os.kill(os.getpid(), signal.SIGTERM)  # (atexit handlers run)
                return
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                if line.strip() == b"stats":
                    answer = {"max_gap_ms": round(self.max_gap * 1000.0, 3)}
                    os.write(1, (json.dumps(answer) + "\n").encode())
                    self.max_gap = 0.0
                    last = time.perf_counter()


# -- tools ---------------------------------------------------------------------


def arm_gm(log_dir: str, conf: Any) -> None:
    from gurumeditation import TextGuruMeditation

    TextGuruMeditation.setup_autorun(
        Version(), service_name=SERVICE, log_dir=log_dir, conf=conf, signum=signal.SIGUSR2
    )


def arm_oslo(log_dir: str, conf: Any) -> None:
    # oslo.reports reads the global cfg.CONF for its Configuration section.
    from oslo_reports import guru_meditation_report as gmr

    gmr.TextGuruMeditation.setup_autorun(
        Version(), service_name=SERVICE, log_dir=log_dir, signum=signal.SIGUSR2
    )


def await_chain(coro: Any) -> List[Any]:
    """Frames of a coroutine and of everything it awaits, outermost first."""
    frames = []
    seen = 0
    while coro is not None and seen < 1000:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            frames.append(frame)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
        seen += 1
    return frames


def floor_dump(log_dir: str) -> None:
    """The cheapest pure-Python dump of every stack, written to a file."""
    out: List[str] = []
    for ident, frame in sys._current_frames().items():
        out.append(f"Thread #{ident}\n")
        out.extend(traceback.format_stack(frame))
    greenlet_module = sys.modules.get("greenlet")
    if greenlet_module is not None:
        greenlet_type = greenlet_module.greenlet
        for obj in gc.get_objects():
            if isinstance(obj, greenlet_type):
                out.append("Green Thread\n")
                if obj.gr_frame is not None:
                    out.extend(traceback.format_stack(obj.gr_frame))
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None and LOOP is not None:
        for task in asyncio.all_tasks(LOOP):
            out.append(f"Task {task.get_name()}\n")
            frames = await_chain(task.get_coro())
            summary = traceback.StackSummary.extract((f, f.f_lineno) for f in frames)
            out.extend(summary.format())
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    path = os.path.join(log_dir, f"{SERVICE}_gurumeditation_{stamp}")
    suffix = 0
    while os.path.exists(path if not suffix else f"{path}.{suffix}"):
        suffix += 1
    with open(path if not suffix else f"{path}.{suffix}", "w") as f:
        f.write("".join(out))


def arm_floor(log_dir: str, conf: Any) -> None:
    signal.signal(signal.SIGUSR2, lambda signum, frame: floor_dump(log_dir))


ARM = {"gm": arm_gm, "oslo": arm_oslo, "floor": arm_floor, "none": lambda log_dir, conf: None}


def add_shape_arguments(parser: argparse.ArgumentParser) -> None:
    """The victim's shape, as command-line options (shared with profile_report.py)."""
    parser.add_argument("--threads", type=int, default=10)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--green", type=int, default=0)
    parser.add_argument("--green-depth", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=0)
    parser.add_argument("--task-depth", type=int, default=10)
    parser.add_argument("--options", type=int, default=0)
    parser.add_argument("--heap", type=int, default=0)


def build_shape(args: argparse.Namespace) -> Any:
    """Build the shape ``args`` asks for; returns the oslo.config CONF (or None)."""
    conf = register_options(args.options) if args.options else None
    build_heap(args.heap)
    start_threads(args.threads, args.depth)
    if args.green:
        start_greenthreads(args.green, args.green_depth)
    if args.tasks:
        start_tasks(args.tasks, args.task_depth)
    return conf


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tool", choices=sorted(ARM), required=True)
    parser.add_argument("--log-dir", required=True)
    add_shape_arguments(parser)
    parser.add_argument("--no-ticker", action="store_true")
    args = parser.parse_args(argv)

    # SIGTERM ends the victim through SystemExit in the main thread, so atexit
    # handlers run (gurumeditation removes its entry from the runtime directory
    # the `gurumeditation` command lists; a SIGKILLed victim would leave it)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    started = time.perf_counter()
    conf = build_shape(args)
    ticker = Ticker()
    if not args.no_ticker:
        threading.Thread(target=ticker.run, name="ticker", daemon=True).start()
        ticker.ready.wait()
    os.makedirs(args.log_dir, exist_ok=True)
    ARM[args.tool](args.log_dir, conf)
    gc.collect()  # start from a settled heap, whatever the tool

    ready: Dict[str, Any] = {
        "pid": os.getpid(),
        "ticker_tid": ticker.native_id,
        "threads": threading.active_count(),
        "setup_s": round(time.perf_counter() - started, 3),
        "python": sys.version.split()[0],
    }
    print("READY " + json.dumps(ready), flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()

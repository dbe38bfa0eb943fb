"""The service the golden report is made from: two named worker threads, a
pool of eventlet greenthreads (no monkey patching), an asyncio loop in its own
thread with tasks awaiting one another and a ``gather()``, an oslo.config
``CONF`` with a secret option, and a registered section.

Run as ``python golden_service.py LOG_DIR``: it arms JSON reports to
``LOG_DIR``, prints ``READY <pid>`` and runs until SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
import warnings
from typing import Any, List

warnings.filterwarnings("ignore")

import eventlet  # noqa: E402
from oslo_config import cfg  # noqa: E402

from gurumeditation import TextGuruMeditation  # noqa: E402


class Version:
    def vendor_string(self) -> str:
        return "Golden Vendor"

    def product_string(self) -> str:
        return "Golden Service"

    def version_string_with_package(self) -> str:
        return "4.5.6"


def make_conf() -> Any:
    conf = cfg.ConfigOpts()
    conf.register_opts(
        [
            cfg.StrOpt("host", default="golden-host"),
            cfg.IntOpt("workers", default=4),
            cfg.StrOpt("admin_password", default="G0ldenSecret!", secret=True),
        ]
    )
    conf.register_opts([cfg.IntOpt("max_retries", default=3)], group="database")
    conf([], project="golden", default_config_files=[])
    return conf


def worker(stop: threading.Event) -> None:
    while not stop.wait(0.5):
        pass


def green_worker(n: int) -> None:
    while True:
        eventlet.sleep(0.2 + n / 10)


async def leaf(n: int) -> None:
    await asyncio.sleep(3600 + n)


async def waits_for(task: asyncio.Task[None]) -> None:
    await task


async def gathers(tasks: List[asyncio.Task[None]]) -> None:
    await asyncio.gather(*tasks)


async def loop_main(ready: threading.Event) -> None:
    leaves = [asyncio.ensure_future(leaf(n)) for n in range(3)]
    for n, task in enumerate(leaves):
        task.set_name(f"leaf-{n}")
    chained = asyncio.ensure_future(waits_for(leaves[0]))
    chained.set_name("waiter")
    gathering = asyncio.ensure_future(gathers(leaves[1:]))
    gathering.set_name("gatherer")
    ready.set()
    await asyncio.sleep(3600)


def run_loop(ready: threading.Event) -> None:
    asyncio.run(loop_main(ready), debug=True)  # debug: creation stacks are recorded


def main() -> int:
    log_dir = sys.argv[1]
    served = {"requests_served": 42, "queues": ["q1", "q2"]}
    TextGuruMeditation.register_section("Golden Stats", lambda: served)
    TextGuruMeditation.setup_autorun(
        Version(), service_name="golden", log_dir=log_dir, conf=make_conf(), formats=["json"]
    )
    stop = threading.Event()
    for i in range(2):
        threading.Thread(target=worker, args=(stop,), name=f"worker-{i}", daemon=True).start()
    loop_ready = threading.Event()
    threading.Thread(target=run_loop, args=(loop_ready,), name="asyncio-loop", daemon=True).start()
    loop_ready.wait(30)
    pool = eventlet.GreenPool()
    for n in range(3):
        pool.spawn_n(green_worker, n)
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    eventlet.sleep(0.3)
    print("READY", flush=True)
    while not stop.is_set():
        eventlet.sleep(0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A small service to show a report on: named worker threads, a pool of
eventlet greenthreads (when eventlet is installed), a child process, an
oslo.config ``CONF`` (when oslo.config is installed) with a secret option, and
a registered section.

Run it as ``python -m gurumeditation.demo.service [--log-dir DIR]``; it prints
``READY <pid>`` once armed and runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
import warnings
from typing import Any, Dict, List, Optional

from gurumeditation import TextGuruMeditation


class DemoVersion:
    def vendor_string(self) -> str:
        return "Demo Vendor"

    def product_string(self) -> str:
        return "Demo Service"

    def version_string_with_package(self) -> str:
        return "1.2.3-0ubuntu1"


def make_conf(argv: List[str]) -> Any:
    try:
        from oslo_config import cfg
    except ImportError:
        return {
            "host": "demo-host-01",
            "workers": 8,
            "admin_password": "Sup3rSecret!",
            "database": {
                "connection": "mysql+pymysql://demo:DbPassw0rd@db/demo",
                "max_retries": 10,
            },
        }
    from gurumeditation import opts

    conf = cfg.ConfigOpts()
    conf.register_opts(
        [
            cfg.StrOpt("host", default="demo-host-01", help="Name of this host."),
            cfg.IntOpt("workers", default=8, help="Worker processes."),
            cfg.BoolOpt("debug_mode", default=False),
            cfg.ListOpt("enabled_backends", default=["ceph", "lvm"]),
            cfg.StrOpt("admin_password", default="Sup3rSecret!", secret=True),
            cfg.StrOpt("transport_url", default="rabbit://nova:RabbitPassw0rd@10.0.0.5:5672/"),
        ]
    )
    conf.register_opts(
        [
            cfg.StrOpt(
                "connection", default="mysql+pymysql://demo:DbPassw0rd@db/demo", secret=True
            ),
            cfg.StrOpt("api_key", default="k-123456", secret=True),
            cfg.IntOpt("max_retries", default=10),
            cfg.DictOpt("extra", default={"a": "1", "b": "2"}),
        ],
        group="database",
    )
    opts.set_defaults(conf)
    conf(argv, project="demo", default_config_files=[])
    return conf


def real_worker(stop: threading.Event) -> None:
    while not stop.wait(0.5):
        pass


def green_worker(n: int) -> None:
    import eventlet

    while True:
        eventlet.sleep(0.2 + n / 10)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log-dir", default=None, help="write reports here (default: stderr)")
    parser.add_argument("--no-eventlet", action="store_true", help="do not start greenthreads")
    args, rest = parser.parse_known_args(argv)

    conf = make_conf(rest)
    served: Dict[str, Any] = {"requests_served": 42, "queues": ["q1", "q2"]}
    TextGuruMeditation.register_section("Custom Stats", lambda: served)
    TextGuruMeditation.setup_autorun(
        DemoVersion(), service_name="demo", log_dir=args.log_dir, conf=conf
    )

    stop = threading.Event()
    workers = [
        threading.Thread(target=real_worker, args=(stop,), name=f"real-worker-{i}", daemon=True)
        for i in range(2)
    ]
    for t in workers:
        t.start()
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(3600)"], stdin=subprocess.DEVNULL
    )

    def stop_now(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, stop_now)
    signal.signal(signal.SIGINT, stop_now)

    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    try:
        import eventlet
    except ImportError:
        eventlet = None
    if args.no_eventlet:
        eventlet = None
    if eventlet is not None:
        pool = eventlet.GreenPool()
        for n in range(3):
            pool.spawn_n(green_worker, n)
    print(f"READY {__import__('os').getpid()}", flush=True)
    try:
        while not stop.is_set():
            if eventlet is not None:
                eventlet.sleep(0.1)
            else:
                stop.wait(0.1)
    finally:
        child.kill()
        child.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

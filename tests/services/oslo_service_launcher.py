"""An oslo.service ``ProcessLauncher`` service with 2 workers on eventlet,
``gc.freeze()`` before the workers are forked (as Nova and Neutron do), for
tests/test_oslo_service.py (started under ``GURUMEDITATION=1``).  Each
worker runs a green thread parked in ``slow_green_work`` (until the file
named by argv[1] exists); the parent prints ``READY``.
"""

import eventlet

eventlet.monkey_patch()

import gc  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

from oslo_config import cfg  # noqa: E402
from oslo_service import service  # noqa: E402

CONF = cfg.ConfigOpts()


def slow_green_work(release: str) -> None:
    while not os.path.exists(release):
        eventlet.sleep(0.05)


class Worker(service.Service):
    def start(self) -> None:
        super().start()
        self.tg.add_thread(slow_green_work, sys.argv[1])


def main() -> None:
    CONF([], project="oslo-service-test")
    launcher = service.ProcessLauncher(CONF, restart_method="mutate")
    gc.freeze()  # the parent's objects (and greenlets) go to the permanent generation
    launcher.launch_service(Worker(), workers=2)
    print("READY", flush=True)
    launcher.wait()


if __name__ == "__main__":
    main()

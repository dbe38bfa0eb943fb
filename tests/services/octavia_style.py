"""An OpenStack service written as octavia-api is, unmodified: it uses
oslo.reports' own API (``oslo_reports.guru_meditation_report``), calls
``setup_autorun`` with a version object and ``conf`` *before* the
configuration is parsed, registers a section, then parses a config file
whose ``[oslo_reports]`` names ``log_dir`` and ``file_event_handler``.
Started by tests/test_openstack.py under ``GURUMEDITATION=1``: argv[1] is
the config file.  A request stays in flight in ``slow_request``.  Prints
``READY <routed>`` (whether oslo.reports' facade is this library's).
"""

import sys
import threading
import time

from oslo_config import cfg
from oslo_reports import guru_meditation_report as gmr
from oslo_reports import opts as gmr_opts

CONF = cfg.ConfigOpts()
CONF.register_opts([cfg.StrOpt("api_listen", default="0.0.0.0")], group="api")


class Version:
    def vendor_string(self) -> str:
        return "OpenStack Foundation"

    def product_string(self) -> str:
        return "octavia-style"

    def version_string_with_package(self) -> str:
        return "19.0.0-1"


def plugins() -> str:
    return "amphora, noop"


def slow_request() -> None:
    threading.Event().wait()


def main() -> None:
    gmr_opts.set_defaults(CONF)
    gmr.TextGuruMeditation.register_section("Octavia Plugins", plugins)
    gmr.TextGuruMeditation.setup_autorun(Version(), conf=CONF)  # before CONF is parsed
    CONF(["--config-file", sys.argv[1]], project="octavia-style")
    threading.Thread(target=slow_request, name="api-request", daemon=True).start()
    from gurumeditation import guru_meditation_report as ours

    routed = gmr.TextGuruMeditation is ours.TextGuruMeditation
    print(f"READY {routed}", flush=True)
    while True:
        time.sleep(0.05)


if __name__ == "__main__":
    main()

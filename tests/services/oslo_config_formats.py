"""An oslo.config service whose [oslo_reports] options (in the file given as argv[1]) say where reports go and in which forms, with a secret option and a URL with a password.

Started by tests/test_report_format.py."""

import sys
import time

from oslo_config import cfg

from gurumeditation import TextGuruMeditation, opts

conf = cfg.ConfigOpts()
conf.register_opts(
    [
        cfg.StrOpt("db_password", default="hunter2", secret=True),
        cfg.StrOpt("url", default="http://u:pw@host/"),
    ]
)
opts.set_defaults(conf)
conf(["--config-file", sys.argv[1]], project="x")
TextGuruMeditation.setup_autorun("4.0", service_name="oslo-svc", conf=conf)
print("READY", flush=True)
while True:
    time.sleep(0.05)

"""The file trigger configured in oslo.config ([oslo_reports] file_event_handler, in the file argv[1]) while the main thread spins in a greenlet that never yields.

Started by tests/test_file_trigger.py."""

import sys

import greenlet
from oslo_config import cfg

from gurumeditation import TextGuruMeditation, opts

conf = cfg.ConfigOpts()
opts.set_defaults(conf)
conf(["--config-file", sys.argv[1]])
TextGuruMeditation.setup_autorun("1.0", service_name="svc", conf=conf, setup_signal=False)
print("READY", flush=True)


# a CPU-bound green thread that never yields: the trigger must not starve
def spin():
    while True:
        pass


greenlet.greenlet(spin).switch()

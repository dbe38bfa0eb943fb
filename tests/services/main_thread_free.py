"""Signals itself three times from the main thread and prints how many reports each signal wrote at once (WRITTEN n).

Started by tests/test_stuck_main.py."""

import glob
import os
import signal
import sys
import time

from gurumeditation import TextGuruMeditation

log_dir = sys.argv[1]
TextGuruMeditation.setup_autorun("1.0", service_name="svc", log_dir=log_dir)
for _ in range(3):
    before = len(glob.glob(os.path.join(log_dir, "svc_*")))
    os.kill(os.getpid(), signal.SIGUSR2)
    after = len(glob.glob(os.path.join(log_dir, "svc_*")))
    print("WRITTEN", after - before, flush=True)
print("READY", flush=True)
while True:
    time.sleep(0.05)

"""Starts a child that starts a grandchild, then writes a text report of itself to stderr.

Started by tests/test_processes.py."""

import subprocess
import sys
import time

from gurumeditation import TextGuruMeditation

kid = subprocess.Popen(
    [
        sys.executable,
        "-c",
        'import subprocess, sys, time; subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]); time.sleep(60)',
    ]
)
time.sleep(1.0)
print("READY", kid.pid, flush=True)
text = TextGuruMeditation("1").run()
sys.stderr.write(text)
kid.kill()

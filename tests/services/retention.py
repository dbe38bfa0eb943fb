"""Keeps at most argv[2] reports (text and JSON) in the log directory argv[1].

Started by tests/test_retention.py."""

import sys
import time

from gurumeditation import TextGuruMeditation

TextGuruMeditation.setup_autorun(
    "1.0",
    service_name="svc",
    log_dir=sys.argv[1],
    max_reports=int(sys.argv[2]),
    formats=("text", "json"),
)
print("READY", flush=True)
while True:
    time.sleep(0.05)

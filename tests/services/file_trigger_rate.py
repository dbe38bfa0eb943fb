"""Armed with a file trigger and a rate limit: argv[2] is the watched file, argv[3] the interval in seconds; prints READY.

Started by tests/test_file_trigger.py."""

import sys
import time

from gurumeditation import TextGuruMeditation

TextGuruMeditation.setup_autorun(
    "1.0",
    service_name="svc",
    log_dir=sys.argv[1],
    file_event_handler=sys.argv[2],
    file_event_handler_interval=float(sys.argv[3]),
)
print("READY", flush=True)
while True:
    time.sleep(0.05)

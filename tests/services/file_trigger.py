"""Armed with a file trigger: touching the file argv[2] asks for a report; prints READY and how the file is watched.

Started by tests/test_file_trigger.py."""

import sys
import time

from gurumeditation import TextGuruMeditation
from gurumeditation.arming import ARMED

TextGuruMeditation.setup_autorun(
    "1.0", service_name="svc", log_dir=sys.argv[1], file_event_handler=sys.argv[2]
)
print("READY", ARMED.file_trigger.mode, flush=True)
while True:
    time.sleep(0.05)

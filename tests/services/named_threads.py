"""Four named threads parked on an event and three registered sections (markup meant to break the page, plain text, one that raises), armed for text, JSON and HTML.

Started by tests/test_report_format.py."""

import sys
import threading
import time

from gurumeditation import TextGuruMeditation

stop = threading.Event()


def parked_worker():
    stop.wait()


for i in range(3):
    threading.Thread(target=parked_worker, name=f"pool-{i}", daemon=True).start()
threading.Thread(target=stop.wait, name="lonely", daemon=True).start()
TextGuruMeditation.register_section(
    "Hostile",
    lambda: {
        "name": "</script><script>alert(1)</script><img src=x onerror=alert(2)>&amp;\u2028\u2029",
        "n": [1, 2],
    },
)
TextGuruMeditation.register_section("Plain text", lambda: "line one\nline two")
TextGuruMeditation.register_section("Broken", lambda: 1 / 0)
TextGuruMeditation.setup_autorun(
    "1.0", service_name="threads-svc", log_dir=sys.argv[1], formats=("text", "json", "html")
)
print("READY", flush=True)
while True:
    time.sleep(0.05)

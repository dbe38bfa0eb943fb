"""Four eventlet greenthreads in a monkey-patched process, armed for JSON and text.

Started by tests/test_report_format.py."""

# ruff: noqa: E402 (imports after a warnings filter or monkey patching, on purpose)
import eventlet

eventlet.monkey_patch()
import sys

from gurumeditation import TextGuruMeditation


def green_worker(n):
    while True:
        eventlet.sleep(0.05)


pool = eventlet.GreenPool()
for i in range(4):
    pool.spawn(green_worker, i)
TextGuruMeditation.setup_autorun(
    "2.0", service_name="green-svc", log_dir=sys.argv[1], formats=["json", "text"]
)
eventlet.sleep(0.2)  # every worker started and parked
print("READY", flush=True)
while True:
    eventlet.sleep(0.05)

"""A registered section that counts how many reports run at once, so a storm of signals shows whether reports ever nest.

Started by tests/test_signal_storms.py."""

import sys
import threading
import time

from gurumeditation import TextGuruMeditation

state = {"active": 0, "max_active": 0, "calls": 0}


def probe():
    state["active"] += 1
    state["calls"] += 1
    state["max_active"] = max(state["max_active"], state["active"])
    try:
        time.sleep(0.002)  # give a nested report the chance to show up
        return dict(state)
    finally:
        state["active"] -= 1


TextGuruMeditation.register_section("Probe", probe)
TextGuruMeditation.setup_autorun("1.0", service_name="svc", log_dir=sys.argv[1], max_reports=0)
threading.Thread(target=threading.Event().wait, name="parked-worker", daemon=True).start()
print("READY", flush=True)
while True:
    time.sleep(0.05)

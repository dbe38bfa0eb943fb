"""A real service, a real SIGUSR2: the report lands on stderr or in log_dir and
the service keeps running."""

from __future__ import annotations

import stat
from pathlib import Path

from conftest import BANNER, wait_for_reports

SERVICE = """
import os, sys, threading, time
from gurumeditation import TextGuruMeditation
log_dir = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] != '-' else None
TextGuruMeditation.setup_autorun('9.9.9', service_name='svc', log_dir=log_dir)
stop = threading.Event()
threading.Thread(target=stop.wait, name='parked-worker', daemon=True).start()
print('READY', flush=True)
while True:
    time.sleep(0.05)
"""


def test_report_on_stderr_and_service_keeps_running(service) -> None:
    svc = service(SERVICE)
    svc.signal()
    text = svc.wait_stderr("parked-worker")
    assert "====                            Threads                             ====" in text
    assert "version = 9.9.9" in text
    assert svc.alive()
    svc.signal()
    svc.wait_stderr("parked-worker", count=2)
    assert svc.alive()


def test_report_in_log_dir_and_second_signal(service, tmp_path: Path) -> None:
    log_dir = tmp_path / "reports" / "nested"  # missing: created 0700
    svc = service(SERVICE, args=[str(log_dir)])
    svc.signal()
    first = wait_for_reports(log_dir, 1)
    assert stat.S_IMODE(log_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(first[0].stat().st_mode) == 0o600
    assert first[0].name.startswith("svc_gurumeditation_")
    assert first[0].read_text().startswith(BANNER)
    svc.signal()
    files = wait_for_reports(log_dir, 2)
    assert svc.alive()
    # same-second reports get .1, .2 ... never an overwrite
    names = [p.name for p in files]
    assert len(set(names)) == 2
    assert svc.stderr().strip() == ""

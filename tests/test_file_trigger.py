"""The file trigger: touching the watched file writes a report, whether the
file was missing at start, deleted and created again; the signal stays armed."""

from __future__ import annotations

import os
import time
from pathlib import Path

from conftest import report_files, wait_for_reports
from helpers import script

SERVICE = script("file_trigger")

CONF_SERVICE = script("file_trigger_conf")


def touch(path: Path) -> None:
    path.touch()
    os.utime(path)  # a new mtime even on a coarse-timestamp file system


def timed_report(log_dir: Path, count: int) -> float:
    start = time.monotonic()
    wait_for_reports(log_dir, count, timeout=20)
    return time.monotonic() - start


def test_touch_missing_deleted_recreated(service, tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    watched = tmp_path / "trigger" / "gmr"
    watched.parent.mkdir()
    svc = service(SERVICE, args=[str(log_dir), str(watched)])  # file missing at start
    assert svc.ready_line == "READY inotify"
    time.sleep(0.3)
    assert report_files(log_dir) == []
    touch(watched)  # created: that is a touch
    latency = timed_report(log_dir, 1)
    print(f"file trigger: report after {latency * 1000:.0f} ms")
    assert latency < 5
    time.sleep(0.3)
    touch(watched)
    timed_report(log_dir, 2)
    watched.unlink()
    time.sleep(0.3)
    assert len(report_files(log_dir)) == 2  # deleting writes nothing
    watched.write_text("again")  # re-created
    timed_report(log_dir, 3)
    time.sleep(0.3)
    touch(watched)  # and touched again
    timed_report(log_dir, 4)
    time.sleep(0.5)
    assert len(report_files(log_dir)) == 4
    text = report_files(log_dir)[-1].read_text()
    assert f"Trigger: file {watched}" in text
    # the signal handler is still installed
    svc.signal()
    wait_for_reports(log_dir, 5)
    assert svc.alive()
    assert svc.stderr().strip() == ""


def test_file_trigger_from_oslo_config_not_starved(service, tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    watched = tmp_path / "gmr-trigger"
    conf = tmp_path / "svc.conf"
    conf.write_text(
        f"[oslo_reports]\nlog_dir = {log_dir}\nfile_event_handler = {watched}\n"
        "file_event_handler_interval = 1\n"
    )
    svc = service(CONF_SERVICE, args=[str(conf)])
    time.sleep(0.3)
    touch(watched)
    latency = timed_report(log_dir, 1)
    assert latency < 5
    text = report_files(log_dir)[0].read_text()
    assert "in spin" in text  # the spinning green thread, caught in the act
    assert "written by thread gurumeditation-file-trigger" in text
    assert svc.alive()


RATE_SERVICE = script("file_trigger_rate")


def test_at_most_one_report_per_interval_however_often_touched(service, tmp_path: Path) -> None:
    """A touch storm costs one report now and one when the interval is over,
    for all the touches meanwhile (none is lost, none is doubled)."""
    log_dir = tmp_path / "logs"
    watched = tmp_path / "gmr"
    interval = 3.0
    svc = service(RATE_SERVICE, args=[str(log_dir), str(watched), str(interval)])
    touch(watched)
    (first,) = wait_for_reports(log_dir, 1)
    for _ in range(10):  # within the interval after the first report
        touch(watched)
        time.sleep(0.05)
    files = wait_for_reports(log_dir, 2, timeout=20)
    time.sleep(interval + 1)  # a third report would be written by now
    files = report_files(log_dir)
    assert len(files) == 2, [p.name for p in files]
    gap = files[1].stat().st_mtime - first.stat().st_mtime
    assert gap >= interval - 0.1, gap
    assert svc.alive()


WATCHER_ONLY = """
import sys, time
from gurumeditation import TextGuruMeditation
TextGuruMeditation.register_section('Plugins', lambda: {'loaded': 3})
TextGuruMeditation._setup_file_watcher(sys.argv[2], 1, '7.0', 'watched-svc', sys.argv[1])
print('READY', flush=True)
while True:
    time.sleep(0.05)
"""


def test_setup_file_watcher_alone_starts_the_file_trigger(service, tmp_path: Path) -> None:
    """oslo.reports' classmethod, called without setup_autorun: touching the
    file writes a report with its version, service name and log dir."""
    log_dir = tmp_path / "logs"
    watched = tmp_path / "gmr"
    svc = service(WATCHER_ONLY, args=[str(log_dir), str(watched)])
    touch(watched)
    (report,) = wait_for_reports(log_dir, 1)
    assert report.name.startswith("watched-svc_gurumeditation_")
    text = report.read_text()
    assert "version = 7.0" in text and "loaded = 3" in text
    assert f"Trigger: file {watched}" in text
    assert svc.alive()

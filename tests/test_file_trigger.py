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

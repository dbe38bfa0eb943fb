"""Retention: log_dir keeps at most ``max_reports`` reports per service,
oldest removed first; other services' files and foreign files stay."""

from __future__ import annotations

import os
import time
from pathlib import Path

from conftest import report_files, wait_for_reports
from gurumeditation.sinks import LogDirSink, prune
from helpers import script

SERVICE = script("retention")


def test_service_keeps_at_most_max_reports(service, tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    other = log_dir / "other_gurumeditation_20000101000000"
    other.write_text("another service's report")
    stray = log_dir / "notes.txt"
    stray.write_text("not a report")
    svc = service(SERVICE, args=[str(log_dir), "3"])
    written = []  # (mtime, text) of each report, in order
    for n in range(1, 7):
        newest = max((m for m, _ in written), default=0)
        svc.signal()
        deadline = time.monotonic() + 20
        fresh = []
        while time.monotonic() < deadline and not fresh:
            time.sleep(0.05)
            fresh = [
                (p.stat().st_mtime_ns, p.read_text())
                for p in report_files(log_dir)
                if p.name.startswith("svc_") and not p.name.endswith(".json")
            ]
            fresh = [f for f in fresh if f[0] > newest]
        assert len(fresh) == 1, f"signal {n}: {fresh}"
        written += fresh
        time.sleep(0.02)  # distinct modification times
        mine = [p for p in report_files(log_dir) if p.name.startswith("svc_")]
        assert len(mine) <= 2 * 3  # text and JSON of one report count as one
    mine = [p for p in report_files(log_dir) if p.name.startswith("svc_")]
    assert len(mine) == 6  # 3 reports x (text + json)
    # the oldest went first: the survivors are the last three written
    survivors = sorted(p.read_text() for p in mine if not p.name.endswith(".json"))
    assert survivors == sorted(text for _, text in written[-3:])
    assert other.exists() and stray.exists()
    assert svc.stderr().strip() == ""


def test_prune_oldest_first_and_unlimited(tmp_path: Path) -> None:
    sink = LogDirSink(str(tmp_path), "svc", max_reports=0)
    for i in range(5):
        sink.write({"": f"report {i}"})
        time.sleep(0.01)
    assert len(wait_for_reports(tmp_path, 5)) == 5  # 0 = unlimited
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        removed = prune(fd, "svc_gurumeditation_", 2)
    finally:
        os.close(fd)
    assert len(removed) == 3
    left = [p.read_text() for p in report_files(tmp_path)]
    assert sorted(left) == ["report 3", "report 4"]

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


def test_processes_sharing_a_service_share_its_budget(tmp_path: Path) -> None:
    """Workers name their reports with their pid; ``max_reports`` counts the
    reports of the whole service (every pid, and the pid-less name of a
    single process), never another service whose name merely starts alike."""
    lookalikes = ["svc_x_gurumeditation_20000101000000", "svcfoo_gurumeditation_20000101000000",
                  "svc_12_3_gurumeditation_20000101000000"]  # fmt: skip
    for name in lookalikes:
        (tmp_path / name).write_text("not svc's")
    single = LogDirSink(str(tmp_path), "svc", max_reports=4)
    assert single.write({"": "single"})[0].startswith(str(tmp_path / "svc_gurumeditation_"))
    time.sleep(0.01)
    for n, pid in enumerate([101, 102, 101, 103, 104]):
        (path,) = LogDirSink(str(tmp_path), "svc", max_reports=4, pid=pid).write({"": f"{pid}/{n}"})
        assert os.path.basename(path).startswith(f"svc_{pid}_gurumeditation_")
        time.sleep(0.01)
    left = sorted(p.read_text() for p in tmp_path.iterdir() if p.name not in lookalikes)
    # the oldest two of the service went (the single process's and 101's first)
    assert left == ["101/2", "102/1", "103/3", "104/4"]
    assert all((tmp_path / name).exists() for name in lookalikes)

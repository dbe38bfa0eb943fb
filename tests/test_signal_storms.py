"""Signal storms: 200 signals back to back and 200 signals 1 ms apart.  The
service survives, prints nothing, nests nothing, writes complete reports —
one in flight and at most one queued — and CPU stays bounded."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from typing import List, Optional

import pytest

from conftest import report_files
from helpers import script

STORM_SERVICE = script("signal_storm")

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def sidecar_of(pid: int) -> Optional[int]:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if any(b"gurumeditation.triggers.sidecar" in a for a in args) and str(pid).encode() in args:
            return int(entry)
    return None


def wait_quiet(log_dir: Path, settle: float = 1.0, timeout: float = 60) -> List[Path]:
    """Report files once no new one appeared for ``settle`` seconds."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        files = report_files(log_dir)
        if len(files) == last:
            return files
        last = len(files)
        time.sleep(settle)
    raise AssertionError("reports kept coming")


@pytest.mark.parametrize("pause", [0.0, 0.001], ids=["back-to-back", "1ms-apart"])
def test_signal_storm(service, tmp_path: Path, pause: float) -> None:
    log_dir = tmp_path / "logs"
    svc = service(STORM_SERVICE, args=[str(log_dir)])
    time.sleep(0.5)  # the sidecar is up
    sidecar = sidecar_of(svc.pid)
    assert sidecar is not None
    cpu0 = cpu_seconds(svc.pid) + cpu_seconds(sidecar)
    started = time.monotonic()
    for _ in range(200):
        os.kill(svc.pid, signal.SIGUSR2)
        if pause:
            time.sleep(pause)
    storm = time.monotonic() - started
    files = wait_quiet(log_dir)
    cpu = cpu_seconds(svc.pid) + cpu_seconds(sidecar) - cpu0
    print(
        f"storm ({pause * 1000:g} ms apart, {storm:.2f} s): {len(files)} reports, {cpu:.2f} s CPU"
    )
    assert svc.alive(), f"service died ({svc.proc.returncode}): {svc.stderr()}"
    assert svc.stderr().strip() == ""  # no traceback, no RecursionError, nothing
    assert files, "no report"
    texts = [p.read_text() for p in files]
    for text in texts:  # every report is complete
        assert "====                           Processes" in text
        assert "max_active = 1" in text  # nothing nested, one report in flight
        assert "did not respond" not in text  # the main thread answered
    calls = max(int(m) for t in texts for m in re.findall(r"^calls = (\d+)$", t, re.M))
    assert calls == len(files)
    # one in flight plus one queued: a storm shorter than a report folds into two
    if pause == 0.0:
        assert len(files) <= 3, [p.name for p in files]
    else:
        assert len(files) < 100
    assert cpu < 2.0  # oslo.reports: 3.4 s and 585 RecursionError tracebacks
    # still answering afterwards
    svc.signal()
    assert len(wait_quiet(log_dir)) == len(files) + 1

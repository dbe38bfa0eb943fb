"""Unmodified OpenStack services under ``GURUMEDITATION=1``: a service that
uses oslo.reports' own API (octavia-style, ``setup_autorun`` before ``CONF``
is parsed) gets this library's report — its registered section, version
object and conf — by signal, by its file trigger and over the channel; the
``[oslo_reports]`` log dir and file trigger of its config file count."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import time
from pathlib import Path

import pytest

from helpers import report_files, script, section_data, wait_for_reports
from test_cli import env_for, gm, listing

#: oslo.reports 3.9.0 (the version these tests run) needs Python >= 3.11; the
#: test extra installs it there only.
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("oslo_reports") is None,
    reason="oslo.reports is not installed (3.9.0 needs Python >= 3.11)",
)


@pytest.fixture
def xdg(tmp_path: Path) -> Path:
    path = tmp_path / "xdg"
    path.mkdir(mode=0o700)
    return path


def test_octavia_style_service_gets_our_report(service, xdg: Path, tmp_path: Path) -> None:
    log_dir = tmp_path / "reports"
    log_dir.mkdir(mode=0o700)
    trigger = tmp_path / "gmr.trigger"
    config = tmp_path / "octavia.conf"
    config.write_text(
        f"[api]\napi_listen = 127.0.0.1\n\n[oslo_reports]\nlog_dir = {log_dir}\n"
        f"file_event_handler = {trigger}\nfile_event_handler_interval = 1\n"
    )
    svc = service(script("octavia_style"), env=env_for(xdg, GURUMEDITATION="1"),
                  args=[str(config)])  # fmt: skip
    assert svc.ready_line == "READY True"  # oslo.reports' facade is ours
    (entry,) = [e for e in listing(xdg) if e["pid"] == svc.pid]
    assert entry["answersTo"] == ["channel", "SIGUSR2"]  # one handler, ours
    assert entry["logDir"] == str(log_dir)  # the conf parsed after setup_autorun

    svc.signal(signal.SIGUSR2)
    (first,) = wait_for_reports(log_dir, 1)
    text = first.read_text()
    assert "Octavia Plugins" in text and "amphora, noop" in text
    assert "vendor = OpenStack Foundation" in text and "product = octavia-style" in text
    assert "version = 19.0.0-1" in text
    assert "api_listen = 127.0.0.1" in text
    assert "slow_request" in text and "api-request" in text
    assert "Guru Meditation" not in svc.stderr()  # to the conf's log dir, not stderr

    # the file trigger named by the config file parsed after setup_autorun
    deadline = time.monotonic() + 10
    while len(report_files(log_dir)) < 2 and time.monotonic() < deadline:
        trigger.touch()
        time.sleep(0.5)
    files = report_files(log_dir)
    assert len(files) == 2, [p.name for p in files]
    assert "Trigger: file" in files[-1].read_text()

    out = gm(xdg, "report", str(svc.pid), "-f", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    titles = [s["title"] for s in doc["sections"]]
    assert "Octavia Plugins" in titles
    assert section_data(doc, "package")["product"] == "octavia-style"
    assert svc.alive() and doc["header"]["pid"] == svc.pid
    assert len(report_files(log_dir)) == 2  # the channel's report came to the command
    assert os.path.exists(f"/proc/{svc.pid}")

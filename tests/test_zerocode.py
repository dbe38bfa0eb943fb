"""Zero-code enable: ``GURUMEDITATION=1`` arms any Python process of this
environment through ``gurumeditation.pth`` (installed by the wheel, and by
the editable install ``make test`` uses)."""

from __future__ import annotations

import json
import os
import signal
import site
import subprocess
import sys
from pathlib import Path

from conftest import wait_for_reports
from gurumeditation import schema
from gurumeditation.options import parse_signal
from gurumeditation.options import service_name as program_name
from gurumeditation.zerocode import PTH_LINE
from test_cli import env_for, gm, listing

# knows nothing of gurumeditation
PROGRAM = """
import sys, threading, time
threading.Thread(target=threading.Event().wait, name='unaware-worker', daemon=True).start()
print('READY', 'gurumeditation' in sys.modules, flush=True)
while True:
    time.sleep(0.05)
"""

# arms itself too: must not be armed twice
SELF_ARMING = """
import signal, sys, time
from gurumeditation import TextGuruMeditation
from gurumeditation.arming import ARMED
before = ARMED.signal_trigger
TextGuruMeditation.setup_autorun('5.0', service_name='self-armed', log_dir=sys.argv[1])
trigger = ARMED.signal_trigger
assert trigger is before and trigger is not None, 'a second trigger was installed'
assert signal.getsignal(signal.SIGUSR2) == trigger.handle
assert trigger.previous in (None, signal.SIG_DFL), trigger.previous
print('READY', flush=True)
while True:
    time.sleep(0.05)
"""


def test_pth_file_is_installed() -> None:
    dirs = site.getsitepackages() + [site.getusersitepackages()]
    found = [
        Path(d) / "gurumeditation.pth" for d in dirs if (Path(d) / "gurumeditation.pth").exists()
    ]
    assert found, f"gurumeditation.pth in none of {dirs}"
    assert found[0].read_text().strip() == PTH_LINE


def test_unset_costs_no_import(tmp_path: Path) -> None:
    for value in (None, "", "0"):
        env = env_for(tmp_path)
        if value is not None:
            env["GURUMEDITATION"] = value
        out = subprocess.run(
            [sys.executable, "-c", "import sys; print('gurumeditation' in sys.modules)"],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        assert out.stdout.strip() == "False", (value, out.stderr)


def test_enabled_by_environment(service, tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    xdg.mkdir(mode=0o700)
    log_dir = tmp_path / "env-logs"
    env = env_for(
        xdg,
        GURUMEDITATION="1",
        GURUMEDITATION_LOG_DIR=str(log_dir),
        GURUMEDITATION_SIGNAL="USR1",
        GURUMEDITATION_FORMAT="json,text",
    )
    svc = service(PROGRAM, env=env, name="unaware")
    assert svc.ready_line == "READY True"
    (entry,) = listing(xdg)
    assert (entry["pid"], entry["service"], entry["signal"]) == (svc.pid, "unaware", "SIGUSR1")
    assert entry["logDir"] == str(log_dir) and entry["formats"] == ["json", "text"]
    svc.signal(signal.SIGUSR1)
    files = wait_for_reports(log_dir, 2)
    assert {p.suffix for p in files} == {".json", ""}
    report = json.loads(next(p for p in files if p.suffix == ".json").read_text())
    assert schema.errors(report) == []
    assert "unaware-worker" in json.dumps(report)
    out = gm(xdg, "report", str(svc.pid))
    assert out.returncode == 0 and "unaware-worker" in out.stdout
    assert svc.alive() and svc.stderr() == ""


def test_file_trigger_by_environment(service, tmp_path: Path) -> None:
    """GURUMEDITATION_FILE_EVENT_HANDLER: touching the file asks an unaware
    program (a gunicorn master whose signals are gunicorn's) for a report."""
    import time

    trigger = tmp_path / "touch-me"
    trigger.touch()
    log_dir = tmp_path / "logs"
    env = env_for(
        tmp_path,
        GURUMEDITATION="1",
        GURUMEDITATION_LOG_DIR=str(log_dir),
        GURUMEDITATION_FILE_EVENT_HANDLER=str(trigger),
        GURUMEDITATION_FORMAT="json",
    )
    svc = service(PROGRAM, env=env, name="unaware")
    time.sleep(1.0)  # armed in two steps: the loader starts the file trigger
    assert report_files_json(log_dir) == []
    os.utime(trigger)
    (report,) = wait_for_reports(log_dir, 1)
    trigger_facts = json.loads(report.read_text())["header"]["trigger"]
    assert trigger_facts["kind"] == "file", trigger_facts
    assert svc.alive()


def report_files_json(log_dir: Path) -> list:  # type: ignore[type-arg]
    return sorted(log_dir.glob("*.json")) if log_dir.exists() else []


def test_defaults_to_stderr_and_sigusr2(service, tmp_path: Path) -> None:
    svc = service(PROGRAM, env=env_for(tmp_path, GURUMEDITATION="1"), name="unaware")
    svc.signal()
    text = svc.wait_stderr("unaware-worker")
    assert "Report of unaware" in text


def test_service_that_arms_itself_is_armed_once(service, tmp_path: Path) -> None:
    log_dir = tmp_path / "own-logs"
    env = env_for(tmp_path, GURUMEDITATION="1")
    svc = service(SELF_ARMING, env=env, args=[str(log_dir)], name="selfarm")
    svc.signal()
    (report,) = wait_for_reports(log_dir, 1)
    assert "self-armed" in report.name
    # one signal, one report: none on stderr from the environment's arming
    svc.signal()
    wait_for_reports(log_dir, 2)
    assert len(os.listdir(log_dir)) == 2
    assert svc.stderr() == ""


def test_bad_settings_are_told_and_the_program_runs(tmp_path: Path) -> None:
    env = env_for(tmp_path, GURUMEDITATION="1", GURUMEDITATION_SIGNAL="NOPE",
                  GURUMEDITATION_FORMAT="pdf")  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-c", "import signal; print(signal.getsignal(signal.SIGUSR2))"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0
    assert "unknown signal 'NOPE'" in out.stderr and "unknown report format 'pdf'" in out.stderr
    assert "SignalTrigger.handle" in out.stdout  # armed with the defaults


def test_parsers() -> None:
    assert parse_signal("USR1") == parse_signal("SIGUSR1") == parse_signal("10") == 10
    assert program_name(["/srv/app/service.py", "x"]) == "service"
    assert program_name(["-c"]) == "python"


def test_enable_values_through_the_pth_hook(tmp_path: Path) -> None:
    """true/yes/on arm (any case); anything not on or off is one line on stderr."""
    probe = "import signal; print(signal.getsignal(signal.SIGUSR2))"
    for value, armed in (("TRUE", True), ("on", True), ("off", False), ("maybe", False)):
        env = env_for(tmp_path, GURUMEDITATION=value)
        out = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60
        )
        assert out.returncode == 0, out.stderr
        assert ("SignalTrigger.handle" in out.stdout) is armed, (value, out.stdout)
        if value == "maybe":
            assert out.stderr.count("\n") == 1 and "GURUMEDITATION='maybe'" in out.stderr
        else:
            assert out.stderr == "", (value, out.stderr)

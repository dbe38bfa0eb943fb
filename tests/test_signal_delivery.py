"""A real service, a real SIGUSR2: the report lands on stderr or in log_dir and
the service keeps running."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

from conftest import BANNER, wait_for_reports, without_about
from gurumeditation.triggers.signal import MainThreadRequired

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


def test_planted_symlink_at_the_report_name_is_not_followed(service, tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    now = time.time()
    for delta in range(-1, 8):
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(now + delta))
        (log_dir / f"svc_gurumeditation_{stamp}").symlink_to(victim)
    svc = service(SERVICE, args=[str(log_dir)])
    svc.signal()
    deadline = time.time() + 20
    while time.time() < deadline:
        real = [p for p in log_dir.iterdir() if not p.is_symlink() and not p.name.startswith(".")]
        if real:
            break
        time.sleep(0.05)
    assert real, svc.stderr()
    assert real[0].read_text().startswith(BANNER)
    assert victim.read_text() == "precious\n"
    assert real[0].name.split("_gurumeditation_")[1].count(".") == 1  # got a .N suffix


def test_unwritable_log_dir_falls_back_to_stderr(service, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    svc = service(SERVICE, args=[str(blocker / "logs")])
    svc.signal()
    text = svc.wait_stderr("parked-worker")
    first = text.splitlines()[0]
    assert first.startswith(f"gurumeditation: cannot write the report to {blocker / 'logs'}")
    assert "writing it to stderr instead" in first
    assert BANNER in text
    assert svc.alive()


CLOSED_STDERR = """
import os, signal, sys, time
from gurumeditation import TextGuruMeditation
TextGuruMeditation.setup_autorun('1', service_name='svc')
os.close(2)
os.kill(os.getpid(), signal.SIGUSR2)
print('READY', flush=True)
for line in sys.stdin if False else []:
    pass
while True:
    time.sleep(0.05)
    if os.path.exists('go'):
        os.kill(os.getpid(), signal.SIGUSR2)
        os.unlink('go')
        print('STILL-ALIVE', flush=True)
"""


def test_closed_stderr_does_not_disturb_the_service(service, tmp_path: Path) -> None:
    svc = service(CLOSED_STDERR)
    (tmp_path / "go").write_text("")
    assert svc.readline().strip() == "STILL-ALIVE"
    assert svc.alive()


def test_broken_pipe_on_stderr_does_not_disturb_the_service(tmp_path: Path) -> None:
    script = tmp_path / "svc.py"
    script.write_text(SERVICE)
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline().strip() == "READY"
        proc.stderr.close()  # nobody reads stderr any more: writes get EPIPE
        for _ in range(3):
            os.kill(proc.pid, signal.SIGUSR2)
            time.sleep(0.3)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]


REPLACED_STDERR = """
import io, os, signal, sys, time
from gurumeditation import TextGuruMeditation
TextGuruMeditation.setup_autorun('1', service_name='svc')
captured = io.StringIO()
sys.stderr = captured
os.kill(os.getpid(), signal.SIGUSR2)
sys.stderr = sys.__stderr__
print('READY', 'captured' if 'Guru Meditation' in captured.getvalue() else 'missed', flush=True)
time.sleep(60)
"""


def test_replaced_sys_stderr_receives_the_report(service) -> None:
    svc = service(REPLACED_STDERR)
    assert svc.ready_line == "READY captured"
    assert "Guru Meditation" not in svc.stderr()


CHAINED = """
import os, signal, sys, time
calls = []
signal.signal(signal.SIGUSR2, lambda s, f: calls.append(s))
from gurumeditation import TextGuruMeditation
TextGuruMeditation.setup_autorun('1', service_name='svc')
os.kill(os.getpid(), signal.SIGUSR2)
os.kill(os.getpid(), signal.SIGUSR2)
print('READY', len(calls), flush=True)
time.sleep(60)
"""


def test_previous_handler_is_chained(service) -> None:
    svc = service(CHAINED)
    assert svc.ready_line == "READY 2"
    assert svc.stderr().count("Guru Meditation") == 2


FROM_A_THREAD = """
import threading
from gurumeditation import TextGuruMeditation
result = []
def arm():
    try:
        TextGuruMeditation.setup_autorun('1')
    except Exception as exc:
        result.append(f'{type(exc).__name__}|{exc}')
t = threading.Thread(target=arm)
t.start(); t.join()
print('READY', result[0], flush=True)
"""


def test_setup_from_a_thread_fails_with_a_clear_message(service) -> None:
    svc = service(FROM_A_THREAD)
    kind, message = svc.ready_line[len("READY ") :].split("|", 1)
    assert kind == "MainThreadRequired"
    assert issubclass(MainThreadRequired, RuntimeError)
    assert "main thread" in message and "setup_signal=False" in message


SELF_SIGNAL = """
import os, signal, sys, time
from gurumeditation import TextGuruMeditation
TextGuruMeditation.setup_autorun('1', log_dir=sys.argv[1])
# at once: the machinery is still being imported by our loader thread, the
# handler waits for it (this thread is in no import)
os.kill(os.getpid(), signal.SIGUSR2)
written = [n for n in os.listdir(sys.argv[1]) if '_gurumeditation_' in n and not n.startswith('.')]
# once it is there, a report imports nothing
before = set(sys.modules)
os.kill(os.getpid(), signal.SIGUSR2)
count = len([n for n in os.listdir(sys.argv[1]) if '_gurumeditation_' in n and not n.startswith('.')])
new = sorted(set(sys.modules) - before)
print('READY', ','.join(written), '|', ','.join(new), '|', count, flush=True)
time.sleep(60)
"""


def test_self_signal_writes_before_kill_returns_with_program_name_and_no_new_imports(
    service, tmp_path: Path
) -> None:
    log_dir = tmp_path / "logs"
    svc = service(SELF_SIGNAL, args=[str(log_dir)], name="my_daemon")
    written, new_modules, count = svc.ready_line[len("READY ") :].split("|")
    assert written.strip().startswith("my_daemon_gurumeditation_"), svc.ready_line
    assert new_modules.strip() == "", f"imported while reporting: {new_modules}"
    assert count.strip() == "2", svc.ready_line


HANDLE_SIGNAL = """
import sys, time
from gurumeditation import guru_meditation_report as gmr
gmr.TextGuruMeditation.handle_signal('7.0', 'apisvc', sys.argv[1], sys._getframe())
print('READY', flush=True)
time.sleep(60)
"""


def test_handle_signal_api(service, tmp_path: Path) -> None:
    log_dir = tmp_path / "api"
    service(HANDLE_SIGNAL, args=[str(log_dir)])
    [path] = wait_for_reports(log_dir, 1)
    assert path.name.startswith("apisvc_gurumeditation_")
    assert "version = 7.0" in path.read_text()


SLOW_SECTION = """
import os, signal, sys, time
from gurumeditation import TextGuruMeditation
TextGuruMeditation.register_section('Slow', lambda: time.sleep(0.5) or 'slow done')
TextGuruMeditation.setup_autorun('1', log_dir=sys.argv[1])
# armed in two steps: signals before the second is done fold into the one
# report that follows it; this test is about signals during a report
from gurumeditation import early
early.ensure_loaded()
print('READY', flush=True)
while True:
    time.sleep(0.01)
"""


def test_signals_during_a_report_fold_into_one_follow_up(service, tmp_path: Path) -> None:
    log_dir = tmp_path / "fold"
    svc = service(SLOW_SECTION, args=[str(log_dir)])
    for _ in range(5):
        svc.signal()
        time.sleep(0.05)
    files = wait_for_reports(log_dir, 2)
    time.sleep(1.5)  # a third report would have been written by now
    files = [p for p in log_dir.iterdir() if not p.name.startswith(".")]
    assert len(files) == 2, [p.name for p in files]
    for path in files:
        assert without_about(path.read_text()).endswith("slow done")
    assert svc.alive()
    assert "Traceback" not in svc.stderr()

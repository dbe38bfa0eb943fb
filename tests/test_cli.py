"""The ``gurumeditation`` command end to end: real services in subprocesses,
the command in subprocesses, real signals, real files.  Each test gets its
own ``XDG_RUNTIME_DIR`` so the listings of parallel tests never mix."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import pytest

from conftest import wait_for_reports
from gurumeditation import discovery, schema
from gurumeditation.render import render

STDERR_SERVICE = """
import threading, time
from gurumeditation import TextGuruMeditation
threading.Thread(target=threading.Event().wait, name='parked-worker', daemon=True).start()
TextGuruMeditation.setup_autorun('1.0', service_name='stderr-svc')
# armed in two steps: the sidecar (which answers for a stopped process) is
# started by our loader thread right after; READY once it is there
from gurumeditation import early
early.ensure_loaded()
print('READY', flush=True)
while True:
    time.sleep(0.05)
"""

LOG_DIR_SERVICE = """
import sys, threading, time
from gurumeditation import TextGuruMeditation
threading.Thread(target=threading.Event().wait, name='parked-worker', daemon=True).start()
TextGuruMeditation.setup_autorun('1.0', service_name='logdir-svc', log_dir=sys.argv[1],
                                 formats=('text', 'json'))
print('READY', flush=True)
while True:
    time.sleep(0.05)
"""

# one thread stuck for good, one that moves on when told (a file appears),
# one that ends then and one that starts then
DIFF_SERVICE = """
import os, sys, threading, time
from gurumeditation import TextGuruMeditation
flag = sys.argv[1]
def stuck_forever():
    threading.Event().wait()
def stage_one():
    while not os.path.exists(flag):
        time.sleep(0.01)
def stage_two():
    while True:
        time.sleep(0.01)
def busy():
    stage_one()
    stage_two()
def short_lived():
    while not os.path.exists(flag):
        time.sleep(0.01)
threading.Thread(target=stuck_forever, name='stuck', daemon=True).start()
threading.Thread(target=busy, name='busy', daemon=True).start()
leaving = threading.Thread(target=short_lived, name='leaving', daemon=True)
leaving.start()
TextGuruMeditation.setup_autorun('1.0', service_name='diff-svc')
print('READY', flush=True)
while not os.path.exists(flag):
    time.sleep(0.01)
leaving.join()
threading.Thread(target=threading.Event().wait, name='newcomer', daemon=True).start()
time.sleep(0.1)
print('MOVED', flush=True)
while True:
    time.sleep(0.05)
"""

PLAIN_PROGRAM = """
import sys, threading, time
print('ARGV', sys.argv, __name__, flush=True)
threading.Thread(target=threading.Event().wait, name='run-worker', daemon=True).start()
print('READY', flush=True)
deadline = time.monotonic() + float(sys.argv[1])
while time.monotonic() < deadline:
    time.sleep(0.05)
sys.exit(int(sys.argv[2]))
"""


@pytest.fixture
def xdg(tmp_path: Path) -> Path:
    path = tmp_path / "xdg"
    path.mkdir(mode=0o700)
    return path


def env_for(xdg: Path, **extra: str) -> Dict[str, str]:
    env = dict(os.environ)
    env["XDG_RUNTIME_DIR"] = str(xdg)
    for key in [k for k in env if k.startswith("GURUMEDITATION")]:
        del env[key]
    env.update(extra)
    return env


def gm(xdg: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    return subprocess.run(
        [sys.executable, "-m", "gurumeditation", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env_for(xdg),
        stdin=subprocess.DEVNULL,
    )


def listing(xdg: Path) -> List[dict]:  # type: ignore[type-arg]
    """The armed processes this test run started (children and their forks):
    root's listing shows every armed process of the host."""
    out = gm(xdg, "list", "--json")
    assert out.returncode == 0, out.stderr
    me = os.getpid()
    return [
        e
        for e in json.loads(out.stdout)
        if me in (e.get("ppid"), discovery.process_ppid(int(e.get("ppid") or 0)))
    ]


def test_list_and_report_every_format_from_a_stderr_service(service, xdg: Path) -> None:
    svc = service(STDERR_SERVICE, env=env_for(xdg))
    (entry,) = listing(xdg)
    assert entry["pid"] == svc.pid and entry["service"] == "stderr-svc"
    assert entry["signal"] == "SIGUSR2" and entry["logDir"] is None
    table = gm(xdg, "list").stdout.splitlines()
    assert table[0].split() == [
        "PID", "PPID", "SERVICE", "ROLE", "UPTIME", "ANSWERS", "TO", "COMMAND", "REPORTS", "GO",
        "TO",
    ]  # fmt: skip
    (row,) = [line for line in table[1:] if line.split()[0] == str(svc.pid)]
    assert row.split()[:4] == [str(svc.pid), str(os.getpid()), "stderr-svc", "-"]
    assert row.split()[5] == "channel,SIGUSR2"
    assert row.endswith("stderr (text)")

    text = gm(xdg, "report", str(svc.pid))
    assert text.returncode == 0, text.stderr
    assert "====                            Threads                             ====" in text.stdout
    assert "parked-worker" in text.stdout
    assert "Trigger: cli gurumeditation report" in text.stdout

    out = gm(xdg, "report", str(svc.pid), "--format", "json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert schema.errors(report) == []
    assert report["header"]["pid"] == svc.pid
    assert report["header"]["trigger"] == {"kind": "cli", "detail": "gurumeditation report"}

    page = gm(xdg, "report", str(svc.pid), "-f", "html")
    assert page.returncode == 0, page.stderr
    assert page.stdout.startswith("<!DOCTYPE html>") and "parked-worker" in page.stdout

    # the reports came to the command, not to the service's stderr
    assert "Guru Meditation" not in svc.stderr()
    assert svc.alive()


def test_report_from_a_log_dir_service_to_a_file(service, xdg: Path, tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    svc = service(LOG_DIR_SERVICE, env=env_for(xdg), args=[str(log_dir)])
    (entry,) = listing(xdg)
    assert entry["logDir"] == str(log_dir) and entry["formats"] == ["text", "json"]
    assert f"{log_dir} (text,json)" in gm(xdg, "list").stdout
    target = tmp_path / "asked.json"
    out = gm(xdg, "report", str(svc.pid), "-f", "json", "-o", str(target), "--timeout", "30")
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""
    report = json.loads(target.read_text())
    assert schema.errors(report) == []
    # show renders the saved report as the service would have
    shown = gm(xdg, "show", str(target))
    assert shown.stdout.rstrip("\n") == render(report, "text").rstrip("\n")
    # the service still writes its own reports on a plain signal
    svc.signal()
    files = wait_for_reports(log_dir, 2)
    assert {p.suffix for p in files} == {"", ".json"}
    assert svc.alive()


def test_error_cases_have_their_exit_codes(service, xdg: Path, tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    out = gm(xdg, "report", str(gone.pid))
    assert (out.returncode, "no such process") == (3, out.stderr.split(": ")[1])

    plain = service("import time\nprint('READY', flush=True)\ntime.sleep(600)\n", name="plain")
    out = gm(xdg, "report", str(plain.pid))
    assert out.returncode == 4 and "not enabled" in out.stderr

    # armed, but it cannot answer: stopped (SIGSTOP), whatever thread would handle the signal
    blocked = service(STDERR_SERVICE, env=env_for(xdg), name="stopped")
    os.kill(blocked.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        out = gm(xdg, "report", str(blocked.pid), "--timeout", "10")
        # its sidecar (not stopped) says so, after its hand-off time (0.5 s)
        assert out.returncode == 6 and "is stopped" in out.stderr, out.stderr
        assert time.monotonic() - started < 30
    finally:
        os.kill(blocked.pid, signal.SIGCONT)

    assert gm(xdg, "report", "not-a-pid").returncode == 2
    assert gm(xdg, "report", str(plain.pid), "--format", "pdf").returncode == 2
    assert gm(xdg, "nonsense").returncode == 2

    # another user may not ask a root service
    out = as_nobody(xdg, "report", str(blocked.pid))
    assert out.returncode == 5, out.stderr
    assert "permission denied" in out.stderr


def as_nobody(xdg: Path, *args: str) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    """The command run by user ``nobody`` (a system Python, this source tree):
    the venv's interpreter may live where ``nobody`` cannot read."""
    system_python = "/usr/bin/python3"
    if os.getuid() != 0 or not os.path.exists(system_python):
        pytest.skip("needs root and /usr/bin/python3 to act as another user")
    import gurumeditation

    source = str(Path(gurumeditation.__file__).resolve().parent.parent)
    env = env_for(xdg, PYTHONPATH=source)
    env.pop("XDG_RUNTIME_DIR")
    out = subprocess.run(
        [system_python, "-m", "gurumeditation", *args],
        capture_output=True, text=True, timeout=60, env=env, cwd="/",
        preexec_fn=lambda: (os.setgid(65534), os.setuid(65534)),  # type: ignore[func-returns-value]
    )  # fmt: skip
    if "No module named gurumeditation" in out.stderr or "Permission denied: '/" in out.stderr:
        pytest.skip(f"user nobody cannot read this source tree: {out.stderr.strip()}")
    return out


def test_channel_gone_at_exit(service, xdg: Path) -> None:
    code = (
        "from gurumeditation import TextGuruMeditation, discovery\n"
        "TextGuruMeditation.setup_autorun('1', service_name='brief')\n"
        "print(discovery.channel_name())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env_for(xdg), timeout=60
    )
    assert out.returncode == 0, out.stderr
    name = out.stdout.strip()
    assert name.startswith("@gurumeditation/")  # it had a channel while it ran
    assert name not in Path("/proc/net/unix").read_text()
    assert os.listdir(xdg) == []  # and wrote nothing anywhere


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to make a directory of another user")
def test_runtime_dir_of_another_user_does_not_matter(service, xdg: Path) -> None:
    """Audit (low): another user pre-creating the runtime directory denied
    list/report; nothing uses one any more."""
    directory = xdg / "gurumeditation"
    directory.mkdir(mode=0o700)
    os.chown(directory, 65534, 65534)
    svc = service(STDERR_SERVICE, env=env_for(xdg))
    assert "refusing" not in svc.stderr()
    assert [e["pid"] for e in listing(xdg)] == [svc.pid]
    assert gm(xdg, "report", str(svc.pid)).returncode == 0
    assert os.listdir(directory) == []


def test_diff_tells_stuck_from_moving(service, xdg: Path, tmp_path: Path) -> None:
    flag = tmp_path / "move-on"
    svc = service(DIFF_SERVICE, env=env_for(xdg), args=[str(flag)])
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    assert gm(xdg, "report", str(svc.pid), "-f", "json", "-o", str(old)).returncode == 0
    flag.touch()
    assert svc.readline().strip() == "MOVED"
    assert gm(xdg, "report", str(svc.pid), "-f", "json", "-o", str(new)).returncode == 0

    out = gm(xdg, "diff", str(old), str(new))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()

    def line_of(kind: str, name: str) -> str:
        found = [x for x in lines if x.startswith(f"  {kind} ") and f"({name})" in x]
        assert len(found) == 1, (kind, name, out.stdout)
        return found[0]

    assert " in stuck_forever (" in line_of("same  ", "stuck")
    moved = line_of("moved ", "busy")
    assert "stage_one" in moved.split("->")[0] and "stage_two" in moved.split("->")[1]
    line_of("new   ", "newcomer")
    line_of("gone  ", "leaving")
    # the main thread moved on too (it started the newcomer)
    assert "Threads: 1 same stack (likely stuck), 2 moved, 1 new, 1 gone" in lines

    data = json.loads(gm(xdg, "diff", "--json", str(old), str(new)).stdout)
    threads = next(s for s in data["sections"] if s["id"] == "threads")
    assert sorted(m["unit"].split("(")[-1] for m in threads["moved"]) == ["MainThread)", "busy)"]
    assert [m["unit"].split("(")[-1] for m in threads["same"]] == ["stuck)"]


def test_run_a_script_with_reports_enabled(xdg: Path, tmp_path: Path) -> None:
    script = tmp_path / "program.py"
    script.write_text(PLAIN_PROGRAM)
    log_dir = tmp_path / "run-logs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gurumeditation", "run", "--log-dir", str(log_dir),
         "--signal", "USR1", "--format", "json,html", "--", str(script), "30", "7"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(xdg),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        argv_line = proc.stdout.readline()
        assert argv_line.strip() == f"ARGV {[str(script), '30', '7']!r} __main__"
        assert proc.stdout.readline().strip() == "READY"
        (entry,) = listing(xdg)
        assert (entry["pid"], entry["service"], entry["signal"]) == (proc.pid, "program", "SIGUSR1")
        os.kill(proc.pid, signal.SIGUSR1)
        files = wait_for_reports(log_dir, 2)
        assert {p.suffix for p in files} == {".json", ".html"}
        report = json.loads(next(p for p in files if p.suffix == ".json").read_text())
        assert "run-worker" in json.dumps(report)
        out = gm(xdg, "report", str(proc.pid))
        assert out.returncode == 0 and "run-worker" in out.stdout
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    # the program's own exit status comes through
    done = subprocess.run(
        [sys.executable, "-m", "gurumeditation", "run", str(script), "0", "7"],
        capture_output=True, text=True, env=env_for(xdg), timeout=60,
    )  # fmt: skip
    assert done.returncode == 7, done.stderr
    mod_dir = tmp_path / "pkgdir"
    mod_dir.mkdir()
    (mod_dir / "mymod.py").write_text(PLAIN_PROGRAM)
    done = subprocess.run(
        [sys.executable, "-m", "gurumeditation", "run", "-m", "mymod", "0", "3"],
        capture_output=True, text=True, env=env_for(xdg), timeout=60, cwd=str(mod_dir),
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    # as with python -m: argv[0] is the module's file
    assert done.stdout.startswith(f"ARGV {[str(mod_dir / 'mymod.py'), '0', '3']!r} __main__")
    assert gm(xdg, "run").returncode == 2


def test_help_and_version() -> None:
    for args in ([], ["demo"], ["show"], ["list"], ["report"], ["diff"], ["run"]):
        out = subprocess.run(
            [sys.executable, "-m", "gurumeditation", *args, "--help"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.returncode == 0 and out.stdout.startswith("usage: gurumeditation"), args
    out = subprocess.run(
        [sys.executable, "-m", "gurumeditation", "--version"], capture_output=True, text=True
    )
    from gurumeditation import __version__

    assert out.stdout.strip() == f"gurumeditation {__version__}"


FORKING_SERVICE = """
import os, threading, time
from gurumeditation import TextGuruMeditation
TextGuruMeditation.setup_autorun('1.0', service_name='forker')
child = os.fork()
if child == 0:
    threading.Thread(target=threading.Event().wait, name='child-worker', daemon=True).start()
    while True:
        time.sleep(0.05)
print('READY', child, flush=True)
while True:
    time.sleep(0.05)
"""


def test_forked_child_is_listed_and_answers(service, xdg: Path) -> None:
    svc = service(FORKING_SERVICE, env=env_for(xdg))
    child = int(svc.ready_line.split()[1])
    try:
        deadline = time.monotonic() + 20
        while len(listing(xdg)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(e["pid"] for e in listing(xdg)) == sorted([svc.pid, child])
        out = gm(xdg, "report", str(child), "-f", "json")
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout)
        assert report["header"]["pid"] == child and report["header"]["ppid"] == svc.pid
        assert "child-worker" in out.stdout
    finally:
        os.kill(child, signal.SIGKILL)


def test_root_asks_another_users_process(tmp_path: Path) -> None:
    """Root reaches a service of user ``nobody`` over its channel, without a
    file in any directory of nobody's."""
    system_python = "/usr/bin/python3"
    if os.getuid() != 0 or not os.path.exists(system_python):
        pytest.skip("needs root and /usr/bin/python3 to start a service as another user")
    import gurumeditation

    source = str(Path(gurumeditation.__file__).resolve().parent.parent)
    # a temp dir nobody can reach (pytest's tmp_path is under a 0700 directory of root's)
    nobody_tmp = Path(tempfile.mkdtemp(prefix="gm-nobody-"))
    os.chmod(nobody_tmp, 0o755)
    os.chown(nobody_tmp, 65534, 65534)
    env = env_for(tmp_path, PYTHONPATH=source, TMPDIR=str(nobody_tmp))
    env.pop("XDG_RUNTIME_DIR")
    proc = subprocess.Popen(
        [system_python, "-c", STDERR_SERVICE],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd="/",
        preexec_fn=lambda: (os.setgid(65534), os.setuid(65534)),  # type: ignore[func-returns-value]
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("READY"):
            proc.kill()
            pytest.skip(f"user nobody cannot run this source tree: {proc.communicate()[1][-300:]}")
        out = subprocess.run(
            [sys.executable, "-m", "gurumeditation", "report", str(proc.pid), "-f", "json"],
            capture_output=True, text=True, timeout=60, env=env_for(tmp_path, TMPDIR=str(nobody_tmp)),
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["header"]["pid"] == proc.pid
        # nothing at all in nobody's directory: no entry, no request, no answer
        assert os.listdir(nobody_tmp) == []
    finally:
        proc.kill()
        proc.communicate(timeout=30)
        shutil.rmtree(nobody_tmp, ignore_errors=True)


STUCK_MAIN_SERVICE = """
import ctypes, threading
from gurumeditation import TextGuruMeditation
TextGuruMeditation.setup_autorun('1.0', service_name='stuck-main')
libc = ctypes.CDLL(None)
mutex = ctypes.create_string_buffer(64)  # zeroed: PTHREAD_MUTEX_INITIALIZER
libc.pthread_mutex_lock(mutex)
print('READY', flush=True)

def stuck_in_native_code():
    libc.pthread_mutex_lock(mutex)  # already held: blocks for good, GIL released

stuck_in_native_code()
"""


def test_report_from_a_process_whose_main_thread_is_stuck(service, xdg: Path) -> None:
    """The request is answered by whichever thread writes the report (here
    not the main thread, stuck in native code)."""
    svc = service(STUCK_MAIN_SERVICE, env=env_for(xdg))
    time.sleep(0.3)  # let the main thread block
    out = gm(xdg, "report", str(svc.pid), "-f", "json", "--timeout", "30")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["header"]["trigger"]["kind"] == "cli"
    assert report["header"]["producer"]["main"] is False
    assert "stuck_in_native_code" in out.stdout
    assert "Guru Meditation" not in svc.stderr()


DIES_WHILE_ANSWERING = """
import os, time
from gurumeditation import TextGuruMeditation, early
def last_words():
    os._exit(7)  # the process ends in the middle of its report
TextGuruMeditation.register_section('Last Words', last_words)
TextGuruMeditation.setup_autorun('1.0', service_name='dies-answering')
early.ensure_loaded()
print('READY', flush=True)
while True:
    time.sleep(0.05)
"""


def test_a_process_that_dies_while_answering_is_not_a_refusal(service, xdg: Path) -> None:
    svc = service(DIES_WHILE_ANSWERING, env=env_for(xdg), name="dies")
    out = gm(xdg, "report", str(svc.pid), "--timeout", "10")
    assert svc.proc.wait(timeout=10) == 7
    assert out.returncode == 3, out.stderr
    assert "exited while answering" in out.stderr, out.stderr
    assert "permission denied" not in out.stderr

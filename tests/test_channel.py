"""The request channel and the audit of issue 11, as real attacks: real
processes, real users (created here with ``useradd``; the tests that need
them are skipped only when not root), the real kernel checks."""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

import gurumeditation
from conftest import wait_for_reports
from gurumeditation import channel_client, discovery

SOURCE = str(Path(gurumeditation.__file__).resolve().parent.parent)
SYSTEM_PYTHON = "/usr/bin/python3"
needs_root = pytest.mark.skipif(
    os.getuid() != 0 or not os.path.exists(SYSTEM_PYTHON),
    reason="needs root (to create users) and /usr/bin/python3 (a Python other users may run)",
)


@dataclass
class User:
    name: str
    uid: int
    gid: int

    def prefix(self) -> List[str]:
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups"]


@pytest.fixture(scope="module")
def users() -> Iterator[Dict[str, User]]:
    if os.getuid() != 0 or not os.path.exists(SYSTEM_PYTHON):
        pytest.skip("needs root (to create users) and /usr/bin/python3")
    made: Dict[str, User] = {}
    try:
        for role in ("victim", "attacker"):
            name = f"gm{role[:3]}{secrets.token_hex(4)}"
            subprocess.run(
                ["useradd", "-M", "-r", "-s", "/usr/sbin/nologin", name],
                check=True, capture_output=True,
            )  # fmt: skip
            entry = pwd.getpwnam(name)
            made[role] = User(name, entry.pw_uid, entry.pw_gid)
        yield made
    finally:
        for user in made.values():
            subprocess.run(["userdel", user.name], capture_output=True)


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory every user can read (pytest's tmp_path is root's, 0700)."""
    path = Path(tempfile.mkdtemp(prefix="gm-channel-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def clean_env(**extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GURUMEDITATION")}
    env.update(PYTHONWARNINGS="ignore", **extra)
    return env


class Proc:
    """A script started (as ``user`` when given) that prints READY."""

    def __init__(
        self, code: str, where: Path, user: Optional[User] = None, args: Optional[List[str]] = None,
        env: Optional[Dict[str, str]] = None,
    ) -> None:  # fmt: skip
        script = where / f"s{secrets.token_hex(4)}.py"
        script.write_text(textwrap.dedent(code))
        os.chmod(script, 0o644)
        if user is None:
            command = [sys.executable, str(script)]
        else:
            command = [*user.prefix(), SYSTEM_PYTHON, str(script)]
        self.err_path = where / f"{script.stem}.err"
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(
            [*command, *(args or [])], stdout=subprocess.PIPE, stderr=self._err,
            stdin=subprocess.DEVNULL, text=True, cwd=str(where),
            env=env or clean_env(PYTHONPATH=SOURCE, HOME="/"),
        )  # fmt: skip
        self.pid = self.proc.pid
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("READY"), self.err_path.read_text()
        self.ready = line.split()[1:]

    def readline(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline()

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        self._err.close()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def procs() -> Iterator[List[Proc]]:
    started: List[Proc] = []
    yield started
    for proc in started:
        proc.stop()


def gm(*args: str, user: Optional[User] = None, timeout: float = 60) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    if user is None:
        command = [sys.executable, "-m", "gurumeditation", *args]
    else:
        command = [*user.prefix(), SYSTEM_PYTHON, "-m", "gurumeditation", *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        env=clean_env(PYTHONPATH=SOURCE, HOME="/"), cwd="/",
    )  # fmt: skip


SERVICE = """
import sys, threading, time
from gurumeditation import TextGuruMeditation
threading.Thread(target=threading.Event().wait, name='parked-worker', daemon=True).start()
TextGuruMeditation.setup_autorun('1.0', service_name='victim-svc', setup_signal='nosig' not in sys.argv)
print('READY', flush=True)
while True:
    time.sleep(0.05)
"""

# binds a channel name (for its own pid, or the pid given: a squatter) and
# misbehaves as told
FAKE_PEER = """
import json, os, socket, sys, time
mode, pid = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else os.getpid()
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.bind(b"\\0gurumeditation/%d/%s" % (pid, os.urandom(16).hex().encode()))
sock.listen(8)
print('READY', flush=True)
if mode == 'never-accept':
    time.sleep(3600)
def serve(conn):
    if mode == 'stall':
        time.sleep(3600)
    elif mode == 'endless-header':
        try:
            while True:
                conn.sendall(b'x' * 65536)
        except OSError:
            pass
    elif mode == 'endless-body':
        conn.sendall(json.dumps({'ok': True, 'pid': pid, 'size': 50 << 20}).encode() + b'\\n')
        try:
            while True:
                conn.sendall(b'\\0' * 16)
                time.sleep(0.05)
        except OSError:
            pass
    elif mode == 'huge':
        conn.sendall(json.dumps({'ok': True, 'pid': pid, 'size': 1 << 40}).encode() + b'\\n')
    elif mode == 'forged':
        body = b'FORGED REPORT \\x1b]0;owned\\x07'
        conn.sendall(json.dumps({'ok': True, 'pid': pid, 'format': 'text', 'size': len(body)}).encode() + b'\\n' + body)
    elif mode == 'error':
        conn.sendall(json.dumps({'ok': False, 'pid': pid, 'error': '\\x1b[2Jcleared\\rFORGED'}).encode() + b'\\n')
while True:
    conn, _ = sock.accept()
    try:
        serve(conn)
    except OSError:
        pass
    conn.close()
"""


# -- the round trips -------------------------------------------------------------

STUCK = """
import ctypes, threading
from gurumeditation import TextGuruMeditation
TextGuruMeditation.setup_autorun('1.0', service_name='stuck-main')
libc = ctypes.CDLL(None)
mutex = ctypes.create_string_buffer(64)
libc.pthread_mutex_lock(mutex)
print('READY', flush=True)
def stuck_in_native_code():
    libc.pthread_mutex_lock(mutex)  # held: blocks for good, GIL released, no signal ends it
stuck_in_native_code()
"""

FROZEN = """
import ctypes, sys, threading, time
from gurumeditation import TextGuruMeditation
TextGuruMeditation.setup_autorun('1.0', service_name='frozen')
# armed in two steps: frozen only once the loader has started the sidecar
from gurumeditation import early
early.ensure_loaded()
libc = ctypes.CDLL(None)
pylib = ctypes.PyDLL(None)  # PyDLL: the GIL stays held during the call
mutex = ctypes.create_string_buffer(64)
libc.pthread_mutex_lock(mutex)
class timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]
def parked_worker():
    time.sleep(3600)
threading.Thread(target=parked_worker, daemon=True).start()
print('READY', flush=True)
time.sleep(0.3)
def frozen_here():
    until = timespec(int(time.time()) + int(sys.argv[1]), 0)
    pylib.pthread_mutex_timedlock(mutex, ctypes.byref(until))
frozen_here()
print('BACK', flush=True)
while True:
    time.sleep(0.05)
"""


def round_trip(pid: int, fmt: str = "text") -> tuple:  # type: ignore[type-arg]
    started = time.monotonic()
    header, body = channel_client.ask(
        pid, {"op": "report", "format": fmt}, time.monotonic() + 20
    )
    return time.monotonic() - started, header, body.decode()


def test_round_trips_free_stuck_frozen(procs: List[Proc], tmp_path: Path) -> None:
    free = Proc(SERVICE, tmp_path)
    stuck = Proc(STUCK, tmp_path)
    frozen = Proc(FROZEN, tmp_path, args=["6"])
    procs += [free, stuck, frozen]
    time.sleep(0.8)  # the stuck main thread blocks, frozen_here() holds the GIL
    took_frozen, header, body = round_trip(frozen.pid)
    assert header["answeredBy"] == "sidecar" and header["nativeDump"] is True
    assert " in frozen_here" in body and "in parked_worker" in body
    assert "Trigger: cli gurumeditation report" in body
    assert "triggers/channel.py" not in body  # our channel thread is left out too
    took_free, header, body = round_trip(free.pid)
    assert header["answeredBy"] == "service" and "parked-worker" in body
    assert "Trigger: cli gurumeditation report; written by thread gurumeditation-channel" in body
    took_stuck, header, body = round_trip(stuck.pid, "json")
    report = json.loads(body)
    assert report["header"]["producer"]["main"] is False
    assert "stuck_in_native_code" in body
    print(
        f"round trips: free {took_free * 1000:.0f} ms, stuck main {took_stuck * 1000:.0f} ms, "
        f"frozen {took_frozen * 1000:.0f} ms"
    )
    assert took_stuck < 1.0 and took_frozen < 1.0
    # no signal was used: nothing was written to the services' stderr
    assert "Guru Meditation" not in free.stderr() + stuck.stderr() + frozen.stderr()
    # the interpreter comes back: the service answers again itself, and the
    # late claim of the frozen-time request wrote nothing anywhere
    assert frozen.readline().strip() == "BACK"
    _, header, body = round_trip(frozen.pid)
    assert header["answeredBy"] == "service" and "(main thread)" not in body
    assert "Traceback" not in frozen.stderr() and "Guru Meditation" not in frozen.stderr()


# -- the signal is not ours --------------------------------------------------------

TAKEN_OVER = """
import signal, time
from gurumeditation import TextGuruMeditation
TextGuruMeditation.setup_autorun('1.0', service_name='taken')
class Arbiter:
    def handle_usr2(self, signum, frame):
        print('APP HANDLER RAN', flush=True)
signal.signal(signal.SIGUSR2, Arbiter().handle_usr2)  # the application takes the signal
print('READY', flush=True)
while True:
    time.sleep(0.05)
"""


def test_signal_taken_over_answers_over_the_channel(procs: List[Proc], tmp_path: Path) -> None:
    svc = Proc(TAKEN_OVER, tmp_path)
    procs.append(svc)
    (entry,) = [e for e in json.loads(gm("list", "--json").stdout) if e["pid"] == svc.pid]
    assert entry["answersTo"] == ["channel"] and entry["signalOurs"] is False
    assert entry["signalTakenOverBy"] == "__main__.Arbiter.handle_usr2"
    row = next(x for x in gm("list").stdout.splitlines() if x.startswith(str(svc.pid)))
    assert "channel (SIGUSR2 taken over)" in row
    out = gm("report", str(svc.pid))
    assert out.returncode == 0, out.stderr
    assert (
        f"signal SIGUSR2 of process {svc.pid} was taken over by __main__.Arbiter.handle_usr2; "
        "asked over the channel" in out.stderr
    )
    assert (
        "Signal: SIGUSR2 was taken over by __main__.Arbiter.handle_usr2; this process "
        "answers 'gurumeditation report' over its channel" in out.stdout
    )
    report = json.loads(gm("report", str(svc.pid), "-f", "json").stdout)
    assert report["header"]["signal"] == {
        "name": "SIGUSR2", "ours": False, "takenOverBy": "__main__.Arbiter.handle_usr2",
    }  # fmt: skip
    # the Diagnosis, first in the document, says so too
    assert report["sections"][0]["id"] == "diagnosis"
    told = [f["summary"] for f in report["sections"][0]["data"]["findings"] if f["kind"] == "signal"]
    assert told == [
        "Signal SIGUSR2 was taken over by __main__.Arbiter.handle_usr2: ask for reports over "
        "the channel (gurumeditation report)"
    ]
    # --signal is refused, and says why
    out = gm("report", "--signal", str(svc.pid))
    assert out.returncode == 4
    assert "SIGUSR2 of process" in out.stderr and "taken over by __main__.Arbiter" in out.stderr
    time.sleep(0.2)
    assert svc.proc.poll() is None
    # the application's handler never ran: nobody sent the signal
    import select as _select

    assert svc.proc.stdout is not None
    assert _select.select([svc.proc.stdout], [], [], 0.1)[0] == []


PREFORK = """
import os, signal, time
from gurumeditation import TextGuruMeditation
TextGuruMeditation.setup_autorun('1.0', service_name='prefork')
worker = os.fork()
if worker == 0:
    signal.signal(signal.SIGUSR2, signal.SIG_DFL)  # as gunicorn's workers do
    while True:
        time.sleep(0.05)
print('READY', worker, flush=True)
while True:
    time.sleep(0.05)
"""


def test_a_worker_that_reset_the_signal_is_not_killed(procs: List[Proc], tmp_path: Path) -> None:
    """gunicorn resets SIGUSR2 to the default action in every worker: a
    signal would kill it.  The channel asks instead; --signal refuses."""
    master = Proc(PREFORK, tmp_path)
    procs.append(master)
    worker = int(master.ready[0])
    try:
        deadline = time.monotonic() + 20
        while not channel_client.channels_of(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        listed = {e["pid"]: e for e in json.loads(gm("list", "--json").stdout)}
        assert listed[worker]["ppid"] == master.pid
        assert listed[worker]["signalTakenOverBy"] == "the default action (SIG_DFL)"
        assert listed[master.pid]["answersTo"] == ["channel", "SIGUSR2"]
        out = gm("report", str(worker))
        assert out.returncode == 0, out.stderr
        assert f"(pid {worker})" in out.stdout
        assert "taken over by the default action (SIG_DFL)" in out.stdout
        out = gm("report", "--signal", str(worker))
        assert out.returncode == 4 and "not sent" in out.stderr
        time.sleep(0.3)
        from gurumeditation.triggers.sidecar import process_state

        assert process_state(worker) in ("S", "R")  # alive, not a zombie
        assert discovery.process_ppid(worker) == master.pid
    finally:
        os.kill(worker, signal.SIGKILL)


def test_report_signal_flag_when_the_signal_is_ours(procs: List[Proc], tmp_path: Path) -> None:
    svc = Proc(SERVICE.replace("service_name='victim-svc'", "service_name='own', log_dir=sys.argv[1]"),
               tmp_path, args=[str(tmp_path / "logs")])  # fmt: skip
    procs.append(svc)
    (entry,) = [e for e in json.loads(gm("list", "--json").stdout) if e["pid"] == svc.pid]
    assert entry["answersTo"] == ["channel", "SIGUSR2"] and entry["signalOurs"] is True
    out = gm("report", "--signal", str(svc.pid))
    assert out.returncode == 0, out.stderr
    assert "sent SIGUSR2" in out.stderr
    (written,) = wait_for_reports(tmp_path / "logs", 1)
    assert "Trigger: signal SIGUSR2" in written.read_text()


# -- bounded in size and time ------------------------------------------------------


@pytest.mark.parametrize("mode", ["never-accept", "stall", "endless-body"])
def test_timeout_holds_against_a_peer_that_never_answers(
    procs: List[Proc], tmp_path: Path, mode: str
) -> None:
    peer = Proc(FAKE_PEER, tmp_path, args=[mode])
    procs.append(peer)
    started = time.monotonic()
    out = gm("report", str(peer.pid), "--timeout", "1.5")
    took = time.monotonic() - started
    assert out.returncode == 6, out.stderr
    assert "timed out" in out.stderr
    # 1.5 s and the interpreter's start-up, not more
    assert took < 1.5 + 5, took


@pytest.mark.parametrize("mode", ["endless-header", "huge"])
def test_unbounded_answers_are_refused(procs: List[Proc], tmp_path: Path, mode: str) -> None:
    peer = Proc(FAKE_PEER, tmp_path, args=[mode])
    procs.append(peer)
    out = gm("report", str(peer.pid), "--timeout", "20")
    assert out.returncode == 1, out.stderr
    assert ("over 65536 bytes" if mode == "endless-header" else "refused") in out.stderr


def test_error_messages_from_the_process_are_escaped(procs: List[Proc], tmp_path: Path) -> None:
    peer = Proc(FAKE_PEER, tmp_path, args=["error"])
    procs.append(peer)
    out = gm("report", str(peer.pid))
    assert out.returncode == 1
    assert "\x1b" not in out.stderr and "\r" not in out.stderr
    assert "\\x1b[2Jcleared\\x0dFORGED" in out.stderr


def test_pid_zero_or_negative_is_a_usage_error() -> None:
    for pid in ("0", "-1", "-4242"):
        out = gm("report", "--", pid)
        assert out.returncode == 2, (pid, out.stderr)
        assert "not a process id" in out.stderr


# -- control characters ------------------------------------------------------------

HOSTILE_NAMES = """
import sys, threading, time
from gurumeditation import TextGuruMeditation
threading.Thread(target=threading.Event().wait, daemon=True,
                 name='evil\\x1b]0;retitled\\x07\\x1b[2J').start()
TextGuruMeditation.register_section('Plugins', lambda: {
    'clipboard': '\\x1b]52;c;ZXZpbA==\\x07', 'forged': 'ok\\rFORGED LINE',
    'multi': 'line one\\nline two'})
TextGuruMeditation.setup_autorun('1.0', service_name='svc\\x1b[1m', log_dir=sys.argv[1])
print('READY', flush=True)
while True:
    time.sleep(0.05)
"""


def strings_of(value: object) -> List[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_of(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_of(v)]
    return []


def test_control_characters_are_escaped_in_text_and_kept_in_json(
    procs: List[Proc], tmp_path: Path
) -> None:
    log_dir = tmp_path / "logs"
    svc = Proc(HOSTILE_NAMES, tmp_path, args=[str(log_dir)])
    procs.append(svc)
    text = gm("report", str(svc.pid))
    assert text.returncode == 0, text.stderr
    for raw in ("\x1b", "\x07", "\r"):
        assert raw not in text.stdout
    assert "evil\\x1b]0;retitled\\x07\\x1b[2J" in text.stdout
    assert "\\x1b]52;c;ZXZpbA==\\x07" in text.stdout
    assert "ok\\x0dFORGED LINE" in text.stdout
    assert "Report of svc\\x1b[1m" in text.stdout
    assert "line one\n" in text.stdout  # multi-line values keep their lines
    # the text report file the service writes itself
    os.kill(svc.pid, signal.SIGUSR2)
    (written,) = wait_for_reports(log_dir, 1)
    assert "\x1b" not in written.read_text() and "evil\\x1b]0;" in written.read_text()
    # JSON keeps the real strings (escaped by json.dumps, never raw on the terminal)
    out = gm("report", str(svc.pid), "-f", "json")
    assert "\x1b" not in out.stdout
    report = json.loads(out.stdout)
    assert report["header"]["service"] == "svc\x1b[1m"
    assert "evil\x1b]0;retitled\x07\x1b[2J" in strings_of(report)
    assert "ok\rFORGED LINE" in strings_of(report)
    # the listing
    listed = gm("list")
    assert "\x1b" not in listed.stdout and "svc\\x1b[1m" in listed.stdout
    assert "\x1b" not in gm("list", "--json").stdout


# -- squatters, other users, root --------------------------------------------------


@needs_root
def test_squatted_channel_name_is_refused_and_named(
    users: Dict[str, User], shared: Path, procs: List[Proc]
) -> None:
    victim, attacker = users["victim"], users["attacker"]
    armed = Proc(SERVICE, shared, user=victim)
    plain = Proc("import time\nprint('READY', flush=True)\ntime.sleep(600)\n", shared, user=victim)
    procs += [armed, plain]
    squat_armed = Proc(FAKE_PEER, shared, user=attacker, args=["forged", str(armed.pid)])
    squat_plain = Proc(FAKE_PEER, shared, user=attacker, args=["forged", str(plain.pid)])
    procs += [squat_armed, squat_plain]
    assert len(channel_client.channels_of(armed.pid)) == 2  # both names are there
    # the armed victim still answers on its own name; the squatter's is refused
    out = gm("report", str(armed.pid))
    assert out.returncode == 0, out.stderr
    assert "FORGED" not in out.stdout and "Report of victim-svc" in out.stdout
    # a process with only a squatted name: refused, and the squatter named
    out = gm("report", str(plain.pid))
    assert out.returncode == 4, out.stderr
    assert f"held by pid {squat_plain.pid} (uid {attacker.uid}), not by process {plain.pid}" in out.stderr
    assert "FORGED" not in out.stdout + out.stderr
    listed = gm("list", "--json")
    pids = [e["pid"] for e in json.loads(listed.stdout)]
    assert armed.pid in pids and plain.pid not in pids
    assert f"held by pid {squat_plain.pid}" in listed.stderr


@needs_root
def test_only_the_same_user_or_root_may_ask(
    users: Dict[str, User], shared: Path, procs: List[Proc]
) -> None:
    victim, attacker = users["victim"], users["attacker"]
    with_sidecar = Proc(SERVICE, shared, user=victim)
    without = Proc(SERVICE, shared, user=victim, args=["nosig"])
    procs += [with_sidecar, without]
    for svc in (with_sidecar, without):
        # the attacker's command says no before it connects ...
        out = gm("report", str(svc.pid), user=attacker)
        assert out.returncode == 5 and "permission denied" in out.stderr, out.stderr
        assert svc.pid not in [e["pid"] for e in json.loads(gm("list", "--json", user=attacker).stdout)]
        # ... and a raw connection of the attacker's gets nothing: SO_PEERCRED refused it
        (name,) = channel_client.channels_of(svc.pid)
        raw = f"""
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(b"\\0{name}")
try:
    s.sendall(b'{{"op": "report", "format": "text"}}\\n')
except BrokenPipeError:  # closed before we even asked: refused
    pass
data = b''
while True:
    try:
        more = s.recv(65536)
    except ConnectionResetError:  # closed unread: refused
        break
    if not more:
        break
    data += more
print(repr(data))
"""
        got = subprocess.run(
            [*attacker.prefix(), SYSTEM_PYTHON, "-c", raw],
            capture_output=True, text=True, timeout=30, cwd="/",
        )  # fmt: skip
        assert got.returncode == 0, got.stderr
        assert got.stdout.strip() == "b''"
        # the victim itself and root may
        out = gm("report", str(svc.pid), user=victim)
        assert out.returncode == 0 and "parked-worker" in out.stdout, out.stderr
        out = gm("report", str(svc.pid))
        assert out.returncode == 0 and "parked-worker" in out.stdout, out.stderr


@needs_root
def test_root_touches_nothing_in_the_users_directories(
    users: Dict[str, User], shared: Path, procs: List[Proc]
) -> None:
    """The old design's runtime directory, request and answer paths, filled
    by the victim with symlinks to root's files, FIFOs and /dev/zero: root's
    command never looks there, so nothing happens to them."""
    victim = users["victim"]
    runtime = shared / "run"
    runtime.mkdir()
    secret = shared / "root-only"
    secret.write_text("root's secret\n")
    os.chmod(secret, 0o600)
    trap = runtime / "gurumeditation"
    trap.mkdir()
    old_tmp = shared / f"gurumeditation-{victim.uid}"
    old_tmp.mkdir()
    env = clean_env(PYTHONPATH=SOURCE, HOME="/", XDG_RUNTIME_DIR=str(runtime), TMPDIR=str(shared))
    svc = Proc(SERVICE, shared, user=victim, env=env)
    procs.append(svc)
    for directory in (trap, old_tmp):
        os.mkfifo(directory / f"{svc.pid}.json")
        (directory / ".answer-x").symlink_to(secret)
        (directory / f"{svc.pid}.request.1-1.json").symlink_to(secret)
        (directory / "report.txt").symlink_to("/dev/zero")
        os.mkfifo(directory / "report.json")
    for path in (runtime, trap, old_tmp):
        for root, dirs, files in os.walk(path):
            for name in dirs + files + [""]:
                os.lchown(os.path.join(root, name), victim.uid, victim.gid)
    before = {p: os.lstat(p) for p in [secret, *trap.iterdir(), *old_tmp.iterdir()]}
    started = time.monotonic()
    out = gm("report", str(svc.pid), "--timeout", "10")
    assert out.returncode == 0, out.stderr
    assert "parked-worker" in out.stdout and "root's secret" not in out.stdout
    assert gm("list").returncode == 0
    assert time.monotonic() - started < 30
    after = {p: os.lstat(p) for p in before}
    for path, st in before.items():
        was = after[path]
        assert (was.st_uid, was.st_gid, was.st_mode, was.st_ino) == (
            st.st_uid, st.st_gid, st.st_mode, st.st_ino,
        ), path  # fmt: skip
    assert secret.read_text() == "root's secret\n" and os.stat(secret).st_uid == 0
    assert sorted(p.name for p in trap.iterdir()) == sorted(p.name for p in old_tmp.iterdir())
    assert len(list(trap.iterdir())) == 5  # nothing added, nothing removed


@needs_root
def test_a_recreated_runtime_dir_with_a_request_file_writes_nothing(
    users: Dict[str, User], shared: Path, procs: List[Proc]
) -> None:
    """A tmp cleaner removed the runtime dir and another user re-created it
    with a request aiming at a file of the victim's: a plain signal (or any
    report) must not write there — no request files are read any more."""
    victim, attacker = users["victim"], users["attacker"]
    target = shared / "victim-file"
    target.write_text("precious\n")
    os.chown(target, victim.uid, victim.gid)
    env = clean_env(PYTHONPATH=SOURCE, HOME="/", TMPDIR=str(shared))
    svc = Proc(SERVICE, shared, user=victim, env=env)
    procs.append(svc)
    planted = shared / f"gurumeditation-{victim.uid}"
    planted.mkdir(exist_ok=True)
    request = {"pid": svc.pid, "format": "text", "output": str(target), "at": time.time()}
    (planted / f"{svc.pid}.request.9-9.json").write_text(json.dumps(request))
    for path in (planted, *planted.iterdir()):
        os.chown(path, attacker.uid, attacker.gid)
    os.kill(svc.pid, signal.SIGUSR2)
    out = gm("report", str(svc.pid))
    assert out.returncode == 0, out.stderr
    time.sleep(0.5)
    assert target.read_text() == "precious\n"
    assert "Guru Meditation" in svc.stderr()  # the signal's report went to stderr, as it should


# -- fork, uid change, fleet -------------------------------------------------------

SETUID_SERVICE = """
import os, sys, time
from gurumeditation import TextGuruMeditation
TextGuruMeditation.setup_autorun('1.0', service_name='dropper')
os.setgroups([])
os.setgid(int(sys.argv[2]))
os.setuid(int(sys.argv[1]))  # drops root after arming, as daemons do
print('READY', flush=True)
while True:
    time.sleep(0.05)
"""


def sidecar_of(pid: int) -> Optional[int]:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            words = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"triggers.sidecar" in w for w in words) and str(pid).encode() in words:
            return int(entry)
    return None


@needs_root
def test_after_a_uid_change_the_channel_and_the_sidecar_follow(
    users: Dict[str, User], shared: Path, procs: List[Proc]
) -> None:
    victim = users["victim"]
    svc = Proc(SETUID_SERVICE, shared, args=[str(victim.uid), str(victim.gid)],
               env=clean_env(PYTHONPATH=SOURCE, HOME="/"))  # fmt: skip
    procs.append(svc)
    assert discovery.process_owner(svc.pid) == victim.uid
    # the victim's own command reaches it (the channel listens anew under the new uid)
    out = gm("report", str(svc.pid), user=victim)
    assert out.returncode == 0, out.stderr
    assert "Report of dropper" in out.stdout
    (entry,) = [e for e in json.loads(gm("list", "--json", user=victim).stdout) if e["pid"] == svc.pid]
    assert entry["uid"] == victim.uid
    sidecar = sidecar_of(svc.pid)
    assert sidecar is not None
    assert discovery.process_owner(sidecar) == victim.uid


FORKING = """
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


def test_forked_child_answers_under_its_own_pid(procs: List[Proc], tmp_path: Path) -> None:
    svc = Proc(FORKING, tmp_path)
    procs.append(svc)
    child = int(svc.ready[0])
    try:
        deadline = time.monotonic() + 20
        while not channel_client.channels_of(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(channel_client.channels_of(child)) == 1
        assert len(channel_client.channels_of(svc.pid)) == 1
        _, _header, body = round_trip(child, "json")
        report = json.loads(body)
        assert report["header"]["pid"] == child and report["header"]["ppid"] == svc.pid
        assert "child-worker" in body
        _, _header, body = round_trip(svc.pid, "json")
        assert json.loads(body)["header"]["pid"] == svc.pid and "child-worker" not in body
    finally:
        os.kill(child, signal.SIGKILL)


@needs_root
def test_report_all_writes_one_file_per_process(
    users: Dict[str, User], shared: Path, procs: List[Proc], tmp_path: Path
) -> None:
    victim = users["victim"]
    one = Proc(SERVICE, shared, user=victim)
    two = Proc(SERVICE.replace("victim-svc", "other/svc"), shared, user=victim)
    procs += [one, two]
    home = shared / "home"
    home.mkdir()
    os.chown(home, victim.uid, victim.gid)
    out_dir = home / "fleet"
    # the user's own fleet: exactly their processes, DIR made by them
    out = gm("report", "--all", "-o", str(out_dir), "-f", "json", user=victim)
    assert out.returncode == 0, out.stderr
    lines = {int(x.split()[0]): x for x in out.stdout.splitlines()}
    assert sorted(lines) == sorted([one.pid, two.pid])
    assert out_dir.stat().st_uid == victim.uid
    for proc, service in ((one, "victim-svc"), (two, "other_svc")):
        assert lines[proc.pid].split()[1:3] == [service.replace("_", "/"), "ok"], out.stdout
        (path,) = out_dir.glob(f"{service}_{proc.pid}_gurumeditation_*Z.json")
        assert json.loads(path.read_text())["header"]["pid"] == proc.pid
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.stat().st_uid == victim.uid
    # root's: every user's (others' processes may be armed on this host too)
    out = gm("report", "--all", "-o", str(tmp_path / "root-fleet"))
    lines = {int(x.split()[0]): x for x in out.stdout.splitlines()}
    assert " ok " in lines[one.pid] and " ok " in lines[two.pid], out.stdout
    assert len(list((tmp_path / "root-fleet").glob(f"victim-svc_{one.pid}_*Z.txt"))) == 1
    # one that cannot answer (stopped): its line says so, the exit status too
    os.kill(two.pid, signal.SIGSTOP)
    try:
        out = gm("report", "--all", "-o", str(out_dir), "--timeout", "10", user=victim)
    finally:
        os.kill(two.pid, signal.SIGCONT)
    assert out.returncode == 1
    lines = {int(x.split()[0]): x for x in out.stdout.splitlines()}
    assert " FAILED did not answer: process" in lines[two.pid] and "is stopped" in lines[two.pid]
    assert " ok " in lines[one.pid]
    assert len(list(out_dir.glob(f"victim-svc_{one.pid}_gurumeditation_*Z.txt"))) == 1


def test_no_file_is_written_for_discovery(procs: List[Proc], tmp_path: Path) -> None:
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700)
    env = clean_env(PYTHONPATH=SOURCE, HOME="/", XDG_RUNTIME_DIR=str(runtime), TMPDIR=str(runtime))
    svc = Proc(SERVICE, tmp_path, env=env)
    procs.append(svc)
    assert channel_client.channels_of(svc.pid)
    assert gm("report", str(svc.pid)).returncode == 0
    assert list(runtime.iterdir()) == []
    # a killed process leaves nothing behind: its socket is gone with it
    svc.proc.kill()
    svc.proc.wait()
    deadline = time.monotonic() + 10
    while channel_client.channels_of(svc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert channel_client.channels_of(svc.pid) == []
    assert gm("report", str(svc.pid)).returncode == 3


def raw_exchange(name: str, payload: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(20)
        sock.connect(b"\0" + name.encode())
        sock.sendall(payload)
        data = b""
        while True:
            try:
                more = sock.recv(65536)
            except ConnectionResetError:  # closed with our bytes unread
                return data
            if not more:
                return data
            data += more


@pytest.mark.parametrize("front", ["sidecar", "service thread"])
def test_bad_requests_are_refused_one_by_one(
    procs: List[Proc], tmp_path: Path, front: str
) -> None:
    svc = Proc(SERVICE, tmp_path, args=["nosig"] if front == "service thread" else [])
    procs.append(svc)
    (name,) = channel_client.channels_of(svc.pid)
    for payload, problem in (
        (b"\xff\xfe not json\n", "not a JSON line"),
        (b"[1, 2]\n", "not a JSON object"),
        (b'{"op": "format-disk"}\n', "op must be one of info, report"),
        (b'{"op": "report", "format": "pdf"}\n', "format must be one of text, json, html"),
        (b'{"op": "report", "at": "not-a-number", "format": 7}\n', "format must be one of"),
    ):
        header = json.loads(raw_exchange(name, payload).split(b"\n")[0])
        assert header["ok"] is False and problem in header["error"], (payload, header)
    # a request line that never ends is cut off, the connection closed
    assert raw_exchange(name, b"x" * 5000) == b""
    # and the next good one is answered
    _, header, body = round_trip(svc.pid)
    assert header["ok"] is True and "parked-worker" in body
    assert svc.proc.poll() is None


COUNTS_SIGNALS = """
import signal, time
signal.signal(signal.SIGUSR1, lambda s, f: print('GOT SIGUSR1', flush=True))
print('READY', flush=True)
while True:
    time.sleep(0.05)
"""


def test_sidecar_signals_only_the_process_that_started_then(procs: List[Proc], tmp_path: Path) -> None:
    """The sidecar's dump signal goes to its service only while the pid's
    start time is the one recorded (a recycled pid gets nothing)."""
    from gurumeditation.triggers import sidecar

    target = Proc(COUNTS_SIGNALS, tmp_path)
    procs.append(target)
    read_end, write_end = os.pipe()
    try:
        ticks = discovery.start_ticks(target.pid)
        assert ticks
        assert sidecar.all_threads_dump(read_end, target.pid, signal.SIGUSR1, ticks + 1) == b""
        assert sidecar.all_threads_dump(read_end, target.pid, signal.SIGUSR1, 0) == b""
        sidecar.all_threads_dump(read_end, target.pid, signal.SIGUSR1, ticks)
        assert target.readline().strip() == "GOT SIGUSR1"  # only the verified one arrived
    finally:
        os.close(read_end)
        os.close(write_end)

"""uWSGI built by pip, armed zero-code on the master (``GURUMEDITATION=1``):
master and both workers listed and answering over the channel, no signal
taken or advertised (uWSGI owns SIGUSR2), ``SIGUSR2`` to a worker is uWSGI's
own (a C backtrace, the worker lives), no spurious report from the master,
the in-flight request's stack shown, main threads in C said to be so.
Default prefork, ``--lazy-apps`` and ``--py-call-osafterfork``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Dict, List

import pytest

from gurumeditation import discovery
from helpers import SERVICES, members, section_data
from test_cli import env_for, gm, listing

UWSGI = shutil.which("uwsgi", path=os.path.dirname(sys.executable))
pytestmark = [
    pytest.mark.servers,
    pytest.mark.skipif(UWSGI is None, reason="uwsgi is not installed (pip install uwsgi)"),
]


@pytest.fixture
def xdg(tmp_path: Path) -> Path:
    path = tmp_path / "xdg"
    path.mkdir(mode=0o700)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_server(proc: subprocess.Popen[bytes], signum: int) -> None:
    """Stop a server started with ``start_new_session=True`` the way it is
    meant to be stopped, then kill whatever of its process group is left (a
    worker a failed test left hanging must not outlive it)."""
    try:
        proc.send_signal(signum)
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def wait_listed(xdg: Path, count: int, timeout: float = 30) -> List[Dict]:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while True:
        found = listing(xdg)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def thread_members(doc: Dict) -> List[Dict]:  # type: ignore[type-arg]
    return [dict(m, stack=[f["function"] for f in e["stack"]])
            for m, e in members(section_data(doc, "threads"))]  # fmt: skip


@pytest.mark.parametrize("mode", ["prefork", "lazy-apps", "py-call-osafterfork"])
def test_uwsgi_master_and_workers(xdg: Path, tmp_path: Path, mode: str) -> None:
    port = free_port()
    release = tmp_path / "release"
    env = env_for(xdg, GURUMEDITATION="1", SLOW_RELEASE=str(release), PYTHONPATH=str(SERVICES),
                  APP_THREAD="1")  # fmt: skip
    extra = [] if mode == "prefork" else [f"--{mode}"]
    log = open(tmp_path / "uwsgi.log", "wb")
    proc = subprocess.Popen(
        [UWSGI, "--http-socket", f"127.0.0.1:{port}", "--module", "wsgi_slow_app:application",
         "--master", "--processes", "2", "--enable-threads", *extra],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(tmp_path), env=env,
        start_new_session=True,
    )  # fmt: skip
    answers: List[bytes] = []

    def slow() -> None:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/slow", timeout=60) as r:
            answers.append(r.read())

    requester = threading.Thread(target=slow, daemon=True)
    try:
        entries = wait_listed(xdg, 3)
        pids = sorted(e["pid"] for e in entries)
        assert len(pids) == 3, (entries, (tmp_path / "uwsgi.log").read_text())
        workers = sorted(p for p in pids if p != proc.pid)
        assert proc.pid in pids and all(discovery.process_ppid(w) == proc.pid for w in workers)
        for entry in entries:
            assert entry["answersTo"] == ["channel"] and entry["signal"] == ""
            assert entry["service"] == "wsgi_slow_app"
        roles = {e["pid"]: e.get("role") for e in entries}
        assert roles[proc.pid] == "uwsgi master" or mode == "lazy-apps", roles
        assert sorted(roles[w] for w in workers) == ["uwsgi worker 1", "uwsgi worker 2"], roles
        requester.start()
        deadline = time.monotonic() + 20
        docs: Dict[int, Dict] = {}  # type: ignore[type-arg]
        while time.monotonic() < deadline:  # until a worker is in the slow request
            for pid in pids:
                out = gm(xdg, "report", str(pid), "-f", "json")
                assert out.returncode == 0, out.stderr
                docs[pid] = json.loads(out.stdout)
                assert docs[pid]["header"]["pid"] == pid
            stacks = [m["stack"] for w in workers for m in thread_members(docs[w])]
            if any("slow_request" in s for s in stacks):
                break
            time.sleep(0.2)
        # the master's main thread runs uWSGI's C loop: no Python frame, said so
        (main,) = [m for m in thread_members(docs[proc.pid]) if m.get("main")]
        assert main.get("no_python_frame") is True and main["stack"] == []
        busy = [w for w in workers if any("slow_request" in m["stack"]
                                          for m in thread_members(docs[w]))]  # fmt: skip
        assert len(busy) == 1, [thread_members(docs[w]) for w in workers]
        (idle,) = set(workers) - set(busy)
        (idle_main,) = [m for m in thread_members(docs[idle]) if m.get("main")]
        assert idle_main.get("no_python_frame") is True
        # a worker shows its own threads only: not the master's (ours, or the
        # application's started in the master: gone at the fork), and walking
        # the thread states the fork left behind does not crash it
        for w in workers:
            others = sorted(m.get("name", "") for m in thread_members(docs[w]) if not m.get("main"))
            assert others == (["app-metrics"] if mode == "lazy-apps" else []), others
        master_others = [m.get("name") for m in thread_members(docs[proc.pid]) if not m.get("main")]
        assert master_others == ([] if mode == "lazy-apps" else ["app-metrics"])
        text = gm(xdg, "report", str(idle)).stdout
        assert "In native code, no Python frame." in text

        # SIGUSR2 is uWSGI's in a worker (its C backtrace): the worker lives,
        # and no report of anyone is written
        for w in workers:
            os.kill(w, signal.SIGUSR2)
        time.sleep(1.0)
        for pid in pids:
            assert discovery.pid_alive(pid) and discovery.process_state(pid) != "Z"
        release.touch()
        requester.join(30)
        assert answers and answers[0].startswith(b"pid ")
        assert sorted(e["pid"] for e in listing(xdg)) == pids  # same pids, none respawned
        server_log = (tmp_path / "uwsgi.log").read_text(errors="replace")
        assert "backtrace of" in server_log and "Guru Meditation" not in server_log
        assert "DAMN" not in server_log and "segmentation fault" not in server_log.lower()

        # a worker replaced later (here: killed, respawned by the master) is armed too
        os.kill(idle, signal.SIGKILL)
        deadline = time.monotonic() + 20
        new: List[int] = []
        while not new and time.monotonic() < deadline:
            time.sleep(0.1)
            new = [e["pid"] for e in listing(xdg) if e["pid"] not in pids]
        assert len(new) == 1 and discovery.process_ppid(new[0]) == proc.pid, new
        out = gm(xdg, "report", str(new[0]), "-f", "json")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["header"]["pid"] == new[0]
    finally:
        stop_server(proc, signal.SIGINT)
        log.close()


def test_uwsgi_armed_in_code(xdg: Path, tmp_path: Path) -> None:
    """``setup_autorun(signum=SIGUSR2)`` in the application under uWSGI: no
    signal taken (said once on stderr), the name given kept, workers armed."""
    port = free_port()
    env = env_for(xdg, PYTHONPATH=str(SERVICES))
    log = open(tmp_path / "uwsgi.log", "wb")
    proc = subprocess.Popen(
        [UWSGI, "--http-socket", f"127.0.0.1:{port}", "--module", "uwsgi_incode_app:application",
         "--master", "--processes", "2"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(tmp_path), env=env,
        start_new_session=True,
    )  # fmt: skip
    try:
        entries = wait_listed(xdg, 3)
        assert len(entries) == 3, (tmp_path / "uwsgi.log").read_text()
        for entry in entries:
            assert entry["service"] == "incode-svc" and entry["answersTo"] == ["channel"]
            out = gm(xdg, "report", str(entry["pid"]), "-f", "json")
            assert out.returncode == 0, out.stderr
            assert json.loads(out.stdout)["sections"][0]["data"]["version"] == "2.0"
        server_log = (tmp_path / "uwsgi.log").read_text(errors="replace")
        assert server_log.count("under uWSGI no signal is taken") == 1
    finally:
        stop_server(proc, signal.SIGINT)
        log.close()

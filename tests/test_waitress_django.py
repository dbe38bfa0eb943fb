"""Django ``runserver`` (the autoreloader parent and the serving child) and
waitress, armed zero-code (``GURUMEDITATION=1``): every process listed,
``gurumeditation report`` answers from each, ``SIGUSR2`` writes each one's
report, the in-flight request's stack is shown, every process lives on with
its pid and the request completes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Dict, List

import pytest

from helpers import SERVICES, members, report_files, section_data, text_lines
from test_cli import env_for, gm, listing
from test_uwsgi import free_port, stop_server, wait_listed

pytestmark = pytest.mark.servers


@pytest.fixture
def xdg(tmp_path: Path) -> Path:
    path = tmp_path / "xdg"
    path.mkdir(mode=0o700)
    return path


def functions_of(doc: Dict) -> List[str]:  # type: ignore[type-arg]
    return [f["function"] for _m, e in members(section_data(doc, "threads")) for f in e["stack"]]


def check_server(xdg: Path, tmp_path: Path, argv: List[str], processes: int, url_path: str,
                 in_flight: str) -> None:  # fmt: skip
    port = free_port()
    log_dir = tmp_path / "reports"
    log_dir.mkdir(mode=0o700)
    release = tmp_path / "release"
    env = env_for(xdg, GURUMEDITATION="1", GURUMEDITATION_LOG_DIR=str(log_dir),
                  SLOW_RELEASE=str(release), PYTHONPATH=str(SERVICES))  # fmt: skip
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, *argv, f"127.0.0.1:{port}" if "runserver" in argv else str(port)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(tmp_path), env=env,
        start_new_session=True,
    )  # fmt: skip
    answers: List[bytes] = []

    def request() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{url_path}", timeout=60) as r:
                    answers.append(r.read())
                return
            except OSError:
                time.sleep(0.1)  # not listening yet

    requester = threading.Thread(target=request, daemon=True)
    try:
        entries = wait_listed(xdg, processes)
        pids = sorted(e["pid"] for e in entries)
        assert len(pids) == processes, (entries, (tmp_path / "server.log").read_text())
        requester.start()
        docs: Dict[int, Dict] = {}  # type: ignore[type-arg]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for pid in pids:
                out = gm(xdg, "report", str(pid), "-f", "json")
                assert out.returncode == 0, out.stderr
                docs[pid] = json.loads(out.stdout)
                assert docs[pid]["header"]["pid"] == pid
            if any(in_flight in functions_of(d) for d in docs.values()):
                break
            time.sleep(0.2)
        assert sum(in_flight in functions_of(d) for d in docs.values()) == 1, docs.keys()
        for n, pid in enumerate(pids, 1):
            os.kill(pid, signal.SIGUSR2)
            deadline = time.monotonic() + 20
            while len(report_files(log_dir)) < n and time.monotonic() < deadline:
                time.sleep(0.05)
        files = report_files(log_dir)
        assert len(files) == processes, [p.name for p in files]
        texts = [p.read_text() for p in files]
        # one report per process, each written by that process
        own = sorted(int(text_lines(t, "Processes")[0].split()[1]) for t in texts)
        assert own == pids
        assert sum(in_flight in t for t in texts) == 1
        release.touch()
        requester.join(30)
        assert answers and answers[0].startswith(b"pid ")
        assert sorted(e["pid"] for e in listing(xdg)) == pids  # alive, same pids
    finally:
        stop_server(proc, signal.SIGINT)
        log.close()


def test_waitress(xdg: Path, tmp_path: Path) -> None:
    pytest.importorskip("waitress", reason="the servers extra is not installed")
    check_server(xdg, tmp_path, [str(SERVICES / "wsgi_slow_app.py")], 1, "/slow", "slow_request")


def test_django_runserver(xdg: Path, tmp_path: Path) -> None:
    pytest.importorskip("django", reason="the servers extra is not installed")
    check_server(xdg, tmp_path, [str(SERVICES / "django_site.py"), "runserver"], 2, "/slow",
                 "slow_view")  # fmt: skip

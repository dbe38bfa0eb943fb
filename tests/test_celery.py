"""Celery prefork (``--concurrency 2``) with a real broker — a redis-server
the test starts on a free port in its tmp directory — armed zero-code on
the worker's main process: the main process and both pool children listed
and answering over the channel, the running task's stack shown in the child
that runs it, ``SIGUSR2`` to each child writes its report and the child
lives on (same pid) and finishes the task; the child ``--max-tasks-per-child
1`` replaces it with is armed and answers; no Green Threads section (there
is no green thread)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

from helpers import SERVICES, find, members, report_files, section_data, text_lines
from test_cli import env_for, gm, listing
from test_uwsgi import free_port, stop_server, wait_listed

pytest.importorskip("celery", reason="the servers extra is not installed")
pytest.importorskip("redis", reason="the servers extra is not installed")
REDIS = shutil.which("redis-server")
pytestmark = [
    pytest.mark.servers,
    pytest.mark.skipif(REDIS is None, reason="redis-server is not installed (apt-get install redis-server)"),
]


@pytest.fixture
def xdg(tmp_path: Path) -> Path:
    path = tmp_path / "xdg"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[str]:
    assert REDIS is not None
    port = free_port()
    data = tmp_path / "redis"
    data.mkdir()
    proc = subprocess.Popen(
        [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(data)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        import socket

        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def functions_of(doc: Dict) -> List[str]:  # type: ignore[type-arg]
    return [f["function"] for _m, e in members(section_data(doc, "threads")) for f in e["stack"]]


def test_celery_prefork_children(xdg: Path, tmp_path: Path, broker: str) -> None:
    log_dir = tmp_path / "reports"
    log_dir.mkdir(mode=0o700)
    release = tmp_path / "release"
    env = env_for(xdg, GURUMEDITATION="1", GURUMEDITATION_LOG_DIR=str(log_dir),
                  CELERY_BROKER=broker, PYTHONPATH=str(SERVICES))  # fmt: skip
    log = open(tmp_path / "celery.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_app", "worker", "--concurrency", "2",
         "--pool", "prefork", "--max-tasks-per-child", "1", "-l", "info", "--without-heartbeat", "--without-mingle",
         "--without-gossip"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(tmp_path), env=env,
        start_new_session=True,
    )  # fmt: skip
    try:
        entries = wait_listed(xdg, 3)
        pids = sorted(e["pid"] for e in entries)
        assert len(pids) == 3 and proc.pid in pids, (entries, (tmp_path / "celery.log").read_text())
        children = [p for p in pids if p != proc.pid]
        subprocess.run(
            [sys.executable, "-c", f"import celery_app; celery_app.slow_task.delay({str(release)!r})"],
            env=env, check=True, timeout=60, capture_output=True,
        )  # fmt: skip
        docs: Dict[int, Dict] = {}  # type: ignore[type-arg]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for pid in pids:
                out = gm(xdg, "report", str(pid), "-f", "json")
                assert out.returncode == 0, out.stderr
                docs[pid] = json.loads(out.stdout)
                assert docs[pid]["header"]["pid"] == pid
            if any("slow_work" in functions_of(docs[c]) for c in children):
                break
            time.sleep(0.2)
        running = [c for c in children if "slow_work" in functions_of(docs[c])]
        assert len(running) == 1, {c: functions_of(docs[c]) for c in children}
        for doc in docs.values():
            assert find(doc, "green_threads") is None  # no green thread to show
        # the advertised signal to every child: one report each, all alive
        for entry in listing(xdg):
            if entry["pid"] in children:
                assert "SIGUSR2" in entry["answersTo"]
        for n, child in enumerate(children, 1):
            os.kill(child, signal.SIGUSR2)
            deadline = time.monotonic() + 20
            while len(report_files(log_dir)) < n and time.monotonic() < deadline:
                time.sleep(0.05)
        files = report_files(log_dir)
        assert len(files) == 2, [p.name for p in files]
        texts = [p.read_text() for p in files]
        assert sum("slow_work" in t for t in texts) == 1
        # one report of each child, written by that child
        assert sorted(int(text_lines(t, "Processes")[0].split()[1]) for t in texts) == children
        time.sleep(0.5)
        assert sorted(e["pid"] for e in listing(xdg)) == pids  # alive, same pids
        release.touch()
        # the task finishes in the child that was signalled; --max-tasks-per-child 1
        # then replaces that child: the new child is armed, listed and answers
        deadline = time.monotonic() + 30
        new: List[int] = []
        while not new and time.monotonic() < deadline:
            time.sleep(0.2)
            new = [e["pid"] for e in listing(xdg) if e["pid"] not in pids]
        assert len(new) == 1, listing(xdg)
        out = gm(xdg, "report", str(new[0]), "-f", "json")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["header"]["ppid"] == proc.pid
        log_text = (tmp_path / "celery.log").read_text(errors="replace")
        assert "succeeded" in log_text  # the signalled child finished its task
        assert "WorkerLostError" not in log_text and "Traceback" not in log_text, log_text
    finally:
        stop_server(proc, signal.SIGTERM)
        log.close()


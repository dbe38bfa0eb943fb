"""Pre-fork servers armed zero-code on the master (``GURUMEDITATION=1``):
real gunicorn (sync, gthread, gevent workers; eventlet workers with an older
gunicorn in a venv of its own), uvicorn and hypercorn ``--workers 2``, real requests in
flight, the real ``gurumeditation`` command, real signals.

For each server one start serves every assertion, in order: master and
workers listed (role, what each answers to), ``report`` on every process
(right pid and native id, the in-flight request's stack), SIGUSR2 to every
worker (one report file each, named with its pid; the worker keeps its pid
and finishes its request), never SIGUSR2 to a master that owns it, and a
worker started later (gunicorn ``max_requests``) armed too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from helpers import SERVICES
from prefork_helpers import (
    Request,
    alive,
    family_listing,
    free_port,
    get,
    gm,
    main_native_id,
    reports_of,
    stack_functions,
    wait_until,
)

pytestmark = pytest.mark.servers

#: gunicorn dropped its eventlet worker in 24; the last with it, and the
#: eventlet this suite uses
OLD_GUNICORN = "23.0.0"


class Server:
    """A server process tree started for the tests of one module param."""

    def __init__(
        self,
        kind: str,
        command: List[str],
        workdir: Path,
        workers: int = 2,
        worker_role: str = "",
        master_role: str = "",
        env: Dict[str, str] | None = None,
        zero_code: bool = True,
    ) -> None:
        self.kind = kind
        self.workdir = workdir
        self.log_dir = workdir / "reports"
        self.port = free_port()
        self.workers_wanted = workers
        self.worker_role = worker_role
        self.master_role = master_role
        full = {k: v for k, v in os.environ.items() if not k.startswith("GURUMEDITATION")}
        if zero_code:
            full.update(
                GURUMEDITATION="1",
                GURUMEDITATION_LOG_DIR=str(self.log_dir),
                GURUMEDITATION_FORMAT="text,json",
            )
        full.update(
            APP_DIR=str(workdir),
            PYTHONPATH=str(SERVICES),
            PYTHONWARNINGS="ignore",
        )
        full.update(env or {})
        self.stderr_path = workdir / "server.stderr"
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [arg.replace("{port}", str(self.port)) for arg in command],
            cwd=str(workdir),
            env=full,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            stdin=subprocess.DEVNULL,
        )
        self.pid = self.proc.pid

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def listing(self) -> List[Dict[str, Any]]:
        assert self.proc.poll() is None, f"server exited:\n{self.stderr()}"
        return family_listing(self.pid)

    def ready_listing(self) -> List[Dict[str, Any]]:
        """The listing once the master and every worker say who they are."""

        def ready() -> List[Dict[str, Any]]:
            found = self.listing()
            workers = [e for e in found if e.get("role") == self.worker_role]
            if len(workers) == self.workers_wanted and any(e["pid"] == self.pid for e in found):
                return found
            return []

        return wait_until(f"{self.kind}: master and workers listed", ready, 90)  # type: ignore[no-any-return]

    def worker_pids(self) -> List[int]:
        return sorted(e["pid"] for e in self.ready_listing() if e.get("role") == self.worker_role)

    def inflight(self) -> Dict[int, int]:
        """pid -> requests in flight there (by the markers the app writes)."""
        found: Dict[int, int] = {}
        for path in self.workdir.glob("inflight-*"):
            pid = int(path.name.split("-")[1])
            found[pid] = found.get(pid, 0) + 1
        return found

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()


def old_gunicorn_python() -> Path:
    """A venv with gunicorn 23 (eventlet workers), eventlet as this suite
    has it, and this checkout armed zero-code (our two .pth lines); built
    once per test venv (pip from the package index), reused after."""
    from importlib.metadata import version

    eventlet_version = version("eventlet")
    root = Path(sys.prefix) / "gurumeditation-test-envs" / f"gunicorn-{OLD_GUNICORN}"
    python = root / "bin" / "python"
    stamp = root / ".ready"
    src = Path(__file__).resolve().parent.parent / "src"
    if not stamp.exists():
        made = subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(root)], capture_output=True, text=True
        )
        if made.returncode != 0:
            pytest.skip(f"cannot create a venv for gunicorn {OLD_GUNICORN}: {made.stderr[-500:]}")
        pip = subprocess.run(
            [
                str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                f"gunicorn=={OLD_GUNICORN}", f"eventlet=={eventlet_version}",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )  # fmt: skip
        if pip.returncode != 0:
            pytest.skip(f"cannot install gunicorn {OLD_GUNICORN} + eventlet: {pip.stderr[-500:]}")
        stamp.write_text("ok")
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    pth = (src / "gurumeditation.pth").read_text()
    (Path(site) / "gurumeditation_checkout.pth").write_text(str(src) + "\n")
    (Path(site) / "gurumeditation.pth").write_text(pth)
    return python


GUNICORN_KINDS = ["sync", "gthread", "gevent", "eventlet"]


@pytest.fixture(scope="module", params=GUNICORN_KINDS)
def gunicorn(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    kind = request.param
    workdir = tmp_path_factory.mktemp(f"gunicorn-{kind}")
    python = Path(sys.executable)
    if kind == "eventlet":
        python = old_gunicorn_python()
    extra = ["--threads", "2"] if kind == "gthread" else []
    command = [
        str(python), "-m", "gunicorn", "-w", "2", "-k", kind, *extra,
        "-b", "127.0.0.1:{port}", "--max-requests", "6", "--graceful-timeout", "5",
        "gunicorn_app:app",
    ]  # fmt: skip
    cls = {"sync": "SyncWorker", "gthread": "ThreadWorker", "gevent": "GeventWorker",
           "eventlet": "EventletWorker"}[kind]  # fmt: skip
    server = Server(
        f"gunicorn {kind}", command, workdir,
        worker_role=f"gunicorn worker ({cls})", master_role="gunicorn master",
    )  # fmt: skip
    server.state = {}  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        (workdir / "release").write_text("x")
        server.stop()


def test_gunicorn_master_and_workers_listed(gunicorn: Server) -> None:
    found = gunicorn.ready_listing()
    by_pid = {e["pid"]: e for e in found}
    master = by_pid[gunicorn.pid]
    assert master["role"] == "gunicorn master"
    # the master's SIGUSR2 is gunicorn's binary upgrade: never advertised
    assert master["answersTo"] == ["channel"], master
    assert master["signalOurs"] is False
    assert "Arbiter" in master["signalTakenOverBy"]
    workers = [e for e in found if e.get("role") == gunicorn.worker_role]
    assert len(workers) == 2
    for worker in workers:
        assert worker["ppid"] == gunicorn.pid
        assert worker["answersTo"] == ["channel", "SIGUSR2"], worker
        assert worker["service"] == master["service"] == "gunicorn"
    table = gm("list").stdout
    assert "gunicorn master" in table and "channel (SIGUSR2 taken over)" in table
    # `report --signal` never sends the master gunicorn's binary-upgrade signal
    refused = gm("report", "--signal", str(gunicorn.pid))
    assert refused.returncode == 4 and "taken over by gunicorn.arbiter" in refused.stderr


def test_gunicorn_report_on_every_process(gunicorn: Server) -> None:
    workers = gunicorn.worker_pids()
    # two slow requests in flight (sync workers take one each)
    requests = [Request(gunicorn.port, "/slow") for _ in range(2)]
    gunicorn.state["requests"] = requests  # type: ignore[attr-defined]
    inflight = wait_until(
        "two requests in flight",
        lambda: sum(gunicorn.inflight().values()) == 2 and gunicorn.inflight(),
    )
    assert set(inflight) <= set(workers)
    for pid in [gunicorn.pid, *workers]:
        out = gm("report", str(pid), "--format", "json")
        assert out.returncode == 0, (pid, out.stderr)
        doc = json.loads(out.stdout)
        assert doc["header"]["pid"] == pid
        assert main_native_id(doc) == pid, (pid, "MainThread native id")
        package = next(s for s in doc["sections"] if s["id"] == "package")["data"]
        assert package["product"] == "gunicorn" and package["version"], package
        if pid in inflight:
            assert "slow_request_in_flight" in stack_functions(doc), pid
        if pid == gunicorn.pid:
            assert "signal SIGUSR2 of process" in out.stderr  # told: taken over, asked by channel
    assert gunicorn.worker_pids() == workers


def test_gunicorn_sigusr2_to_every_worker(gunicorn: Server) -> None:
    workers = gunicorn.worker_pids()
    inflight = gunicorn.inflight()
    for pid in workers:
        os.kill(pid, signal.SIGUSR2)
    for pid in workers:
        files = wait_until(
            f"report of worker {pid}",
            lambda pid=pid: (
                len(reports_of(gunicorn.log_dir, pid)) == 2 and reports_of(gunicorn.log_dir, pid)
            ),
        )
        doc = json.loads(next(p for p in files if p.name.endswith(".json")).read_text())
        assert doc["header"]["pid"] == pid
        assert main_native_id(doc) == pid
        if pid in inflight:
            assert "slow_request_in_flight" in stack_functions(doc)
        text = next(p for p in files if not p.name.endswith(".json")).read_text()
        assert "did not respond" not in text
    # every worker alive with the same pid; nothing reported for the master
    assert all(alive(pid) for pid in workers)
    assert gunicorn.worker_pids() == workers
    assert reports_of(gunicorn.log_dir, gunicorn.pid) == []
    names = sorted(p.name for p in gunicorn.log_dir.iterdir())
    assert len(names) == 2 * len(workers), names  # one report (text + json) per worker
    # the requests in flight finish, answered by the workers that held them
    (gunicorn.workdir / "release").write_text("x")
    for request in gunicorn.state["requests"]:  # type: ignore[attr-defined]
        request.join(60)
        assert request.status == 200, (request.error, gunicorn.stderr()[-2000:])
        assert int(request.body) in workers
    log = gunicorn.stderr()
    assert "was sent SIGUSR2" not in log and "race condition" not in log, log[-3000:]
    assert log.count("Booting worker") == 2, log[-3000:]


def test_gunicorn_replaced_worker_is_armed(gunicorn: Server) -> None:
    before = set(gunicorn.worker_pids())
    # --max-requests 6: a worker that served 6 requests is replaced
    for _ in range(30):
        get(gunicorn.port)
        found = gunicorn.listing()
        fresh = [
            e for e in found if e.get("role") == gunicorn.worker_role and e["pid"] not in before
        ]
        if fresh:
            break
    else:
        raise AssertionError(f"no worker replaced after 30 requests:\n{gunicorn.stderr()[-2000:]}")
    (entry,) = fresh[:1]
    assert entry["answersTo"] == ["channel", "SIGUSR2"]
    pid = entry["pid"]
    os.kill(pid, signal.SIGUSR2)
    files = wait_until("report of the replacement", lambda: reports_of(gunicorn.log_dir, pid))
    assert files and alive(pid)
    doc = json.loads(gm("report", str(pid), "-f", "json").stdout)
    assert main_native_id(doc) == pid


# -- uvicorn ---------------------------------------------------------------------------


ASGI = ["uvicorn zero-code", "uvicorn by gurumeditation run", "hypercorn zero-code"]


@pytest.fixture(scope="module", params=ASGI)
def asgi(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    how = request.param
    server_name = how.split()[0]
    pytest.importorskip(server_name)
    workdir = tmp_path_factory.mktemp(server_name)
    if server_name == "uvicorn":
        args = ["--workers", "2", "--port", "{port}", "--host", "127.0.0.1",
                "--app-dir", str(SERVICES), "asgi_slow_app:app"]  # fmt: skip
    else:
        args = ["--workers", "2", "--bind", "127.0.0.1:{port}", "asgi_slow_app:app"]
    if "zero-code" in how:
        command = [sys.executable, "-m", server_name, *args]
    else:  # the command arms itself and passes it on to the spawned workers
        command = [sys.executable, "-m", "gurumeditation", "run", "--log-dir",
                   str(workdir / "reports"), "--format", "text,json", "-m", server_name, *args]  # fmt: skip
    server = Server(
        how, command, workdir,
        worker_role=f"{server_name} worker", master_role=f"{server_name} supervisor",
        zero_code="zero-code" in how,
    )  # fmt: skip
    try:
        yield server
    finally:
        (workdir / "release").write_text("x")
        server.stop()


def test_asgi_supervisor_and_spawned_workers(asgi: Server) -> None:
    found = asgi.ready_listing()
    by_pid = {e["pid"]: e for e in found}
    supervisor = by_pid[asgi.pid]
    server_name = asgi.kind.split()[0]
    assert supervisor["role"] == asgi.master_role
    if server_name == "uvicorn":
        assert supervisor["answersTo"] == ["channel"]  # its SIGUSR2 is uvicorn's
    else:
        assert supervisor["answersTo"] == ["channel", "SIGUSR2"]  # hypercorn leaves it to us
    workers = sorted(e["pid"] for e in found if e.get("role") == asgi.worker_role)
    for pid in workers:
        assert by_pid[pid]["answersTo"] == ["channel", "SIGUSR2"]
        assert by_pid[pid]["service"] == server_name
    requests = [Request(asgi.port, "/slow") for _ in range(2)]
    inflight = wait_until(
        "requests in flight", lambda: sum(asgi.inflight().values()) == 2 and asgi.inflight()
    )
    for pid in [asgi.pid, *workers]:
        out = gm("report", str(pid), "-f", "json")
        assert out.returncode == 0, out.stderr
        doc = json.loads(out.stdout)
        assert doc["header"]["pid"] == pid and main_native_id(doc) == pid
        package = next(s for s in doc["sections"] if s["id"] == "package")["data"]
        assert package["product"].lower() == server_name and package["version"]
        if pid in inflight:
            assert "slow_request_in_flight" in stack_functions(doc)
    signalled = [*workers, *([asgi.pid] if server_name == "hypercorn" else [])]
    for pid in signalled:
        os.kill(pid, signal.SIGUSR2)
    for pid in signalled:
        files = wait_until(
            f"report of {pid}",
            lambda pid=pid: (
                len(reports_of(asgi.log_dir, pid)) == 2 and reports_of(asgi.log_dir, pid)
            ),
        )
        doc = json.loads(next(p for p in files if p.name.endswith(".json")).read_text())
        assert doc["header"]["pid"] == pid
        if pid in inflight:
            assert "slow_request_in_flight" in stack_functions(doc)
    assert all(alive(pid) for pid in [asgi.pid, *workers])
    assert len(list(asgi.log_dir.iterdir())) == 2 * len(signalled)
    (asgi.workdir / "release").write_text("x")
    for request in requests:
        request.join(60)
        assert request.status == 200, request.error
    after = sorted(e["pid"] for e in asgi.listing() if e.get("role") == asgi.worker_role)
    assert after == workers


# -- armed twice, or armed by the app ---------------------------------------------------


@pytest.mark.parametrize(
    "how", ["env and setup_autorun in each worker", "setup_autorun with --preload"]
)
def test_gunicorn_app_that_arms_itself(how: str, tmp_path: Path) -> None:
    """``setup_autorun`` in the app as well as (or instead of) the
    environment: no "Signal 12 ignored due to race condition", no false
    "main thread did not respond", the worker survives its signal."""
    preload = "preload" in how
    command = [
        sys.executable, "-m", "gunicorn", "-w", "2", "-k", "gthread", "-b", "127.0.0.1:{port}",
        *(["--preload"] if preload else []), "gunicorn_app:app",
    ]  # fmt: skip
    server = Server(
        how, command, tmp_path, worker_role="gunicorn worker (ThreadWorker)",
        env={"APP_ARMS": "1", "APP_LOG_DIR": str(tmp_path / "reports")}, zero_code=not preload,
    )  # fmt: skip
    try:
        workers = server.worker_pids()
        by_pid = {e["pid"]: e for e in server.listing()}
        assert by_pid[server.pid]["answersTo"] == ["channel"]
        request = Request(server.port, "/slow")
        wait_until("in flight", server.inflight)
        for pid in workers:
            assert by_pid[pid]["service"] == "gunicorn-app"
            assert by_pid[pid]["answersTo"] == ["channel", "SIGUSR2"]
            os.kill(pid, signal.SIGUSR2)
        for pid in workers:
            files = wait_until(
                f"report of {pid}",
                lambda pid=pid: (
                    len(reports_of(server.log_dir, pid)) == 2 and reports_of(server.log_dir, pid)
                ),
            )
            text = next(p for p in files if not p.name.endswith(".json")).read_text()
            assert "did not respond" not in text and "Trigger: signal SIGUSR2" in text
            assert f"native id: {pid}," in text
        assert all(alive(pid) for pid in workers) and server.worker_pids() == workers
        (tmp_path / "release").write_text("x")
        request.join(60)
        assert request.status == 200
        log = server.stderr()
        assert "race condition" not in log and "was sent SIGUSR2" not in log, log[-3000:]
        assert log.count("Booting worker") == 2
    finally:
        (tmp_path / "release").write_text("x")
        server.stop()

"""Shared helpers: real services in real subprocesses, real signals, real files."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

# Services started by the tests register themselves for the `gurumeditation`
# command; give the whole run its own runtime directory so that the entries of
# services killed by a test never pile up in this user's real one.
_RUNTIME_DIR = tempfile.mkdtemp(prefix="gurumeditation-tests-")
os.environ["XDG_RUNTIME_DIR"] = _RUNTIME_DIR
atexit.register(shutil.rmtree, _RUNTIME_DIR, True)

REPORT_MARKER = "_gurumeditation_"
BANNER = "=" * 72


class Service:
    """A Python script started as a child process.  The script prints ``READY``
    on stdout once it is armed; its stderr goes to a file the test can read."""

    def __init__(
        self,
        script: Path,
        workdir: Path,
        env: Optional[Dict[str, str]] = None,
        args: Optional[List[str]] = None,
        ready: bool = True,
        timeout: float = 60,
    ) -> None:
        self.workdir = workdir
        self.stderr_path = workdir / f"{script.stem}.stderr"
        self._stderr = open(self.stderr_path, "wb")
        full_env = dict(os.environ)
        full_env["PYTHONWARNINGS"] = "ignore"
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [sys.executable, str(script), *(args or [])],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            stdin=subprocess.DEVNULL,
            cwd=str(workdir),
            env=full_env,
            text=True,
        )
        self.pid = self.proc.pid
        self.ready_line = ""
        if ready:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"service exited before READY:\n{self.stderr()}")
            if line.startswith("READY"):
                self.ready_line = line.strip()
                return self.ready_line
        raise AssertionError(f"service not READY within {timeout} s:\n{self.stderr()}")

    def readline(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline()

    def signal(self, signum: int = signal.SIGUSR2) -> None:
        os.kill(self.pid, signum)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def wait_stderr(self, needle: str, count: int = 1, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.stderr()
            if text.count(needle) >= count:
                return text
            time.sleep(0.05)
        raise AssertionError(
            f"{needle!r} x{count} not on stderr within {timeout} s:\n{self.stderr()}"
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()


def report_files(log_dir: Path) -> List[Path]:
    if not log_dir.is_dir():
        return []
    return sorted(
        p for p in log_dir.iterdir() if REPORT_MARKER in p.name and not p.name.startswith(".")
    )


def wait_for_reports(log_dir: Path, count: int = 1, timeout: float = 20) -> List[Path]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = report_files(log_dir)
        if len(files) >= count:
            return files
        time.sleep(0.05)
    raise AssertionError(
        f"{count} report(s) not written to {log_dir} within {timeout} s: "
        f"{[p.name for p in report_files(log_dir)]}"
    )


@pytest.fixture
def service(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    """``service(code, env=..., args=...)`` starts ``code`` (dedented) as a script."""
    started: List[Service] = []

    def start(
        code: str,
        env: Optional[Dict[str, str]] = None,
        args: Optional[List[str]] = None,
        ready: bool = True,
        name: str = "svc",
    ) -> Service:
        script = tmp_path / f"{name}.py"
        script.write_text(textwrap.dedent(code))
        svc = Service(script, tmp_path, env=env, args=args, ready=ready)
        started.append(svc)
        return svc

    yield start
    for svc in started:
        svc.stop()

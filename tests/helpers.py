"""What the tests share: starting a service script (a real file under
``tests/services/`` or a string written to one) as a real process, reading
the reports it writes, and finding sections and units in a report.

Every test that starts a process goes through :class:`Service`; every test
that looks a section up goes through :func:`section_data` (JSON) or
:func:`text_body` (classic text).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

#: The service scripts the tests run (each says what it is for).
SERVICES = Path(__file__).parent / "services"

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
        name: Optional[str] = None,
    ) -> None:
        self.workdir = workdir
        self.stderr_path = workdir / f"{name or script.stem}.stderr"
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
            # its own process group: stop() ends the children it started too
            start_new_session=True,
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
        try:  # what the service started and left behind (its sidecar has a session of its own)
            os.killpg(self.pid, signal.SIGKILL)
        except OSError:
            pass
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


def script(name: str) -> Path:
    """The service script ``tests/services/<name>.py``."""
    path = SERVICES / f"{name}.py"
    assert path.is_file(), f"no service script {path}"
    return path


def signal_and_read(svc: Any, log_dir: Path, count: int = 1) -> Tuple[Dict[str, Any], str]:
    """Signal ``svc`` (armed for JSON + text, see ``services/armed.py``), wait
    for the ``count``-th report, return (JSON, text)."""
    svc.signal()
    files = wait_for_reports(log_dir, 2 * count, timeout=60)
    json_files = [p for p in files if p.name.endswith(".json")]
    text_files = [p for p in files if not p.name.endswith(".json")]
    doc = json.loads(json_files[-1].read_text())
    return doc, text_files[-1].read_text()


# -- finding sections and units ---------------------------------------------------


def find(doc: Dict[str, Any], sid: str) -> Optional[Dict[str, Any]]:
    """The section ``sid`` of a report document, or ``None``."""
    for sec in doc["sections"]:
        if sec["id"] == sid:
            return sec  # type: ignore[no-any-return]
    return None


def section(doc: Dict[str, Any], sid: str) -> Dict[str, Any]:
    """The section ``sid``, which must be there."""
    sec = find(doc, sid)
    assert sec is not None, f"no section {sid}: {[s['id'] for s in doc['sections']]}"
    return sec


def section_data(doc: Dict[str, Any], sid: str) -> Dict[str, Any]:
    """The data of section ``sid``, which must be there without an error."""
    sec = section(doc, sid)
    assert "error" not in sec, sec.get("error")
    return sec["data"]  # type: ignore[no-any-return]


def stack_sections(doc: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """The data of every stack section, by id."""
    return {
        s["id"]: s["data"]
        for s in doc["sections"]
        if "data" in s and isinstance(s["data"], dict) and "entries" in s["data"]
    }


def text_lines(text: str, title: str) -> List[str]:
    """The body of the section titled ``title`` in a classic text report, by
    line (from the line after its banner to the next section's banner)."""
    lines = text.split("\n")
    start = lines.index("====" + title.center(64) + "====") + 2
    end = start
    while end < len(lines) and lines[end] != BANNER:
        end += 1
    return lines[start:end]


def text_body(text: str, title: str) -> str:
    """:func:`text_lines` joined."""
    return "\n".join(text_lines(text, title))


def members(data: Dict[str, Any]) -> List[Tuple[Dict[str, Any], Dict[str, Any]]]:
    """(member facts, entry) for every listed member of a stack section."""
    return [(m, e) for e in data["entries"] for m in e["members"]]


def innermost(entry: Dict[str, Any]) -> str:
    """``function:code`` of an entry's innermost frame."""
    frame = entry["stack"][-1]
    return f"{frame['function']}:{frame['code']}"


def functions(entry: Dict[str, Any]) -> List[str]:
    """The functions of an entry's stack, outermost first."""
    return [f["function"] for f in entry["stack"]]

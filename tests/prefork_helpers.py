"""What the tests of pre-fork servers and process pools share: the
``gurumeditation`` command run as a user would (its own process, this run's
runtime directory), the listing of one process family, free ports, plain
HTTP requests in threads, and waiting for files."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Set

from gurumeditation import discovery, procstat


def cli_env(**extra: str) -> Dict[str, str]:
    """The environment of the command itself: not armed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GURUMEDITATION")}
    env.update(extra)
    return env


def gm(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    return subprocess.run(
        [sys.executable, "-m", "gurumeditation", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(),
        stdin=subprocess.DEVNULL,
    )


def descendants(root: int) -> Set[int]:
    """``root`` and every process below it (from ``/proc``)."""
    return procstat.descendants(root)


def family_listing(root: int) -> List[Dict[str, Any]]:
    """``gurumeditation list --json``, only ``root`` and its descendants
    (root's listing shows the whole host)."""
    out = gm("list", "--json")
    assert out.returncode == 0, out.stderr
    family = descendants(root)
    return [e for e in json.loads(out.stdout) if e["pid"] in family]


def wait_until(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Request(threading.Thread):
    """``GET path`` in a thread of its own; ``status`` and ``body`` once done."""

    def __init__(self, port: int, path: str, timeout: float = 120) -> None:
        super().__init__(daemon=True)
        self.port, self.path, self.timeout = port, path, timeout
        self.status: Optional[int] = None
        self.body = ""
        self.error: Optional[BaseException] = None
        self.start()

    def run(self) -> None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            conn.request("GET", self.path)
            response = conn.getresponse()
            self.status, self.body = response.status, response.read().decode()
            conn.close()
        except BaseException as exc:
            self.error = exc


def get(port: int, path: str = "/") -> str:
    request = Request(port, path, timeout=30)
    request.join(35)
    assert request.status == 200, request.error
    return request.body


def reports_of(log_dir: Path, pid: int) -> List[Path]:
    """Report files whose name carries ``pid``."""
    if not log_dir.is_dir():
        return []
    return sorted(p for p in log_dir.iterdir() if f"_{pid}_gurumeditation_" in p.name)


def stack_functions(doc: Dict[str, Any]) -> Set[str]:
    """Every function in every stack of every stack section of a report."""
    names: Set[str] = set()
    for sec in doc["sections"]:
        data = sec.get("data")
        if isinstance(data, dict):
            for entry in data.get("entries", []):
                names.update(f["function"] for f in entry.get("stack", []))
    return names


def main_native_id(doc: Dict[str, Any]) -> Optional[int]:
    for sec in doc["sections"]:
        if sec["id"] == "threads":
            for entry in sec["data"]["entries"]:
                for member in entry["members"]:
                    if member.get("main"):
                        return member.get("native_id")  # type: ignore[no-any-return]
    return None


def alive(pid: int) -> bool:
    return discovery.pid_alive(pid) and discovery.process_state(pid) not in ("Z", "X", "?")

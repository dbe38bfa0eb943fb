"""The driver: start a victim, send it the real signal, measure the report.

One *sample* = one fresh victim process, one SIGUSR2, one report:

* ``latency_ms``: from just before ``os.kill`` to the moment the report file
  is complete, seen through inotify (no polling):

  - gurumeditation writes a hidden temporary file and ``os.link``-s it to its
    final name only when it is complete and closed, so the ``IN_CREATE`` of
    the final (non-hidden) name is the moment it is complete;
  - oslo.reports and the floor write the final name with ``open()`` /
    ``write()`` / ``close()``, so the ``IN_CLOSE_WRITE`` of that name is the
    moment it is complete (the file exists, empty, from the start).

* ``cpu_ms``: CPU time of the victim for the report: the sum of the run time
  (``/proc/PID/task/*/schedstat``, nanoseconds) of every thread except the
  ticker, read just before the signal and again when the file is complete.
* ``max_gap_ms``: the ticker thread's longest gap between two 1 ms wake-ups
  over the window from the signal until ``settle`` seconds after the file was
  complete (any garbage collection the report sets off afterwards counts).
* ``reports``: report files written for the one signal (counted ``settle``
  seconds after the first one was complete).
* ``bytes``: size of the report file; ``shown``: units shown per section,
  counted in the text (a ``(xN identical)`` banner counts N).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
VICTIM = os.path.join(HERE, "victim.py")
REPORT_MARKER = "_gurumeditation_"

IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
_EVENT = struct.Struct("iIII")

#: Which inotify event says "the report file is complete" for each tool.
COMPLETE_ON = {
    "gm": IN_CREATE | IN_MOVED_TO,  # linked into place only when complete
    "oslo": IN_CLOSE_WRITE,  # open(final name, "w") ... close()
    "floor": IN_CLOSE_WRITE,
}


class DirWatch:
    """inotify on one directory (ctypes; Linux only)."""

    def __init__(self, path: str) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        mask = IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE
        if libc.inotify_add_watch(self.fd, path.encode(), mask) < 0:
            os.close(self.fd)
            raise OSError(ctypes.get_errno(), f"inotify_add_watch({path}) failed")

    def events(self, timeout: float) -> List[tuple]:  # type: ignore[type-arg]
        """(mask, name) of the events that arrive within ``timeout`` seconds
        (returns as soon as there is at least one)."""
        readable, _, _ = select.select([self.fd], [], [], max(timeout, 0.0))
        if not readable:
            return []
        data = os.read(self.fd, 1 << 16)
        out = []
        offset = 0
        while offset < len(data):
            _, mask, _, length = _EVENT.unpack_from(data, offset)
            offset += _EVENT.size
            name = data[offset : offset + length].rstrip(b"\0").decode()
            offset += length
            out.append((mask, name))
        return out

    def close(self) -> None:
        os.close(self.fd)


def task_cpu_ns(pid: int, exclude: Sequence[int] = ()) -> int:
    """Run time of every thread of ``pid`` but ``exclude``, in nanoseconds."""
    total = 0
    base = f"/proc/{pid}/task"
    for tid in os.listdir(base):
        if int(tid) in exclude:
            continue
        try:
            with open(f"{base}/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # the thread ended while we looked
    return total


def proc_ticks(pid: int) -> int:
    """utime + stime of the whole process, in clock ticks (``/proc/PID/stat``)."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])


_GROUP = re.compile(r"\(x(\d+) identical\)")


def units_shown(text: str) -> Dict[str, int]:
    """Units shown per stack section of a classic text report: every
    ``------ ... ------`` banner counts one, a ``(xN identical)`` banner N."""
    counts: Dict[str, int] = {}
    section = ""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("====") and line.endswith("===="):
            if line != "=" * 72 and i > 0 and lines[i - 1] == "=" * 72:
                section = line.strip("= ").strip()
            continue
        if line.startswith("------") and line.endswith("------"):
            match = _GROUP.search(line)
            counts[section] = counts.get(section, 0) + (int(match.group(1)) if match else 1)
    return counts


def floor_shown(text: str) -> Dict[str, int]:
    counts = {"Threads": 0, "Green Threads": 0, "Asyncio Tasks": 0}
    for line in text.split("\n"):
        if line.startswith("Thread #"):
            counts["Threads"] += 1
        elif line == "Green Thread":
            counts["Green Threads"] += 1
        elif line.startswith("Task "):
            counts["Asyncio Tasks"] += 1
    return counts


@dataclass
class Victim:
    """A running victim process."""

    proc: subprocess.Popen  # type: ignore[type-arg]
    ready: Dict[str, Any]
    log_dir: str
    stderr_path: str

    @property
    def pid(self) -> int:
        return int(self.ready["pid"])

    def command(self, line: str, timeout: float = 60.0) -> Dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        readable, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not readable:
            raise TimeoutError(f"victim did not answer {line!r}")
        answer = self.proc.stdout.readline()
        if not answer:
            raise RuntimeError(f"victim exited:\n{self.stderr_tail()}")
        return json.loads(answer)  # type: ignore[no-any-return]

    def stderr_tail(self) -> str:
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """End the victim cleanly (SIGTERM: its atexit handlers run), or kill it."""
        for send in (self.proc.terminate, self.proc.kill):
            if self.proc.poll() is not None:
                break
            try:
                send()
                self.proc.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.proc.wait(timeout=30)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass


def start_victim(
    python: str,
    tool: str,
    shape: Dict[str, Any],
    log_dir: str,
    ticker: bool = True,
    timeout: float = 600.0,
    wrap: Sequence[str] = (),
) -> Victim:
    """``wrap``: a command that execs the victim (``unshare --net``)."""
    shutil.rmtree(log_dir, ignore_errors=True)
    os.makedirs(log_dir)
    args = [*wrap, python, VICTIM, "--tool", tool, "--log-dir", log_dir]
    for key, value in shape.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    if not ticker:
        args.append("--no-ticker")
    stderr_path = log_dir.rstrip("/") + ".stderr"
    env = dict(os.environ)
    env["PYTHONWARNINGS"] = "ignore"
    env.pop("PYTHONPATH", None)
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=env,
            cwd=HERE,
        )
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while True:
        readable, _, _ = select.select([proc.stdout], [], [], max(deadline - time.monotonic(), 0))
        line = proc.stdout.readline() if readable else ""
        if line.startswith("READY "):
            return Victim(proc, json.loads(line[6:]), log_dir, stderr_path)
        if not line or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            with open(stderr_path, errors="replace") as f:
                tail = f.read()[-4000:]
            raise RuntimeError(f"victim ({tool}) did not get ready:\n{tail}")


@dataclass
class Sample:
    tool: str
    latency_ms: float
    cpu_ms: float
    max_gap_ms: float
    reports: int
    bytes: int
    shown: Dict[str, int] = field(default_factory=dict)
    setup_s: float = 0.0
    path: str = ""


def measure(
    python: str,
    tool: str,
    shape: Dict[str, Any],
    log_dir: str,
    settle: float = 1.0,
    timeout: float = 600.0,
    keep: bool = False,
) -> Sample:
    """One sample: fresh victim, one SIGUSR2, the report's figures."""
    victim = start_victim(python, tool, shape, log_dir, timeout=timeout)
    watch = DirWatch(log_dir)
    try:
        time.sleep(0.3)  # let the start-up settle
        ticker_tid = int(victim.ready["ticker_tid"])
        victim.command("stats")  # opens a fresh gap window
        cpu_before = task_cpu_ns(victim.pid, exclude=(ticker_tid,))
        started = time.perf_counter()
        os.kill(victim.pid, signal.SIGUSR2)
        done_at: Optional[float] = None
        first = ""
        wanted = COMPLETE_ON[tool]
        deadline = started + timeout
        while done_at is None:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(
                    f"{tool}: no complete report within {timeout} s\n{victim.stderr_tail()}"
                )
            for mask, name in watch.events(remaining):
                if mask & wanted and REPORT_MARKER in name and not name.startswith("."):
                    done_at = time.perf_counter()
                    first = name
                    break
        cpu_after = task_cpu_ns(victim.pid, exclude=(ticker_tid,))
        time.sleep(settle)
        gap = victim.command("stats")["max_gap_ms"]
        names = [n for n in os.listdir(log_dir) if REPORT_MARKER in n and not n.startswith(".")]
        path = os.path.join(log_dir, first)
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        shown = floor_shown(text) if tool == "floor" else units_shown(text)
        sample = Sample(
            tool=tool,
            latency_ms=(done_at - started) * 1000.0,
            cpu_ms=(cpu_after - cpu_before) / 1e6,
            max_gap_ms=float(gap),
            reports=len(names),
            bytes=os.path.getsize(path),
            shown={k: v for k, v in shown.items() if k in STACK_SECTIONS},
            setup_s=float(victim.ready.get("setup_s", 0.0)),
            path=path,
        )
    finally:
        watch.close()
        victim.stop()
    if not keep:
        shutil.rmtree(log_dir, ignore_errors=True)
    return sample


STACK_SECTIONS = ("Threads", "Green Threads", "Asyncio Tasks")

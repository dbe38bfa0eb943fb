"""Where a finished report goes: standard error, or a new file in a log directory.

A sink takes rendered text and knows nothing of sections.  Writing never
raises into the application: a closed or broken stderr is given up on
quietly, an unwritable log directory falls back to stderr with one line that
says why.
"""

from __future__ import annotations

import errno
import os
import re
import select
import sys
import time
from typing import Dict, List, Optional, Sequence

#: ``<service>_gurumeditation_<UTC YYYYmmddHHMMSS>`` as in oslo.reports.
TIMESTAMP_FORMAT = "%Y%m%d%H%M%S"
FILE_MARKER = "_gurumeditation_"

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")
MAX_SERVICE_NAME = 100


def safe_service_name(name: str) -> str:
    """A service name that can only ever name a file inside the log directory:
    path separators, NUL and other odd characters become ``_``, leading dots
    are dropped, the length is bounded."""
    cleaned = _UNSAFE.sub("_", name or "").lstrip(".")
    cleaned = cleaned[:MAX_SERVICE_NAME]
    return cleaned or "python"


# -- standard error ----------------------------------------------------------


def write_fd(fd: int, data: bytes, timeout: float = 5.0) -> bool:
    """Write all of ``data`` to ``fd`` without any Python-level buffer or
    lock; ``False`` when the descriptor is closed, broken, or stays full for
    ``timeout`` seconds."""
    view = memoryview(data)
    deadline = time.monotonic() + timeout
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                select.select([], [fd], [], min(remaining, 0.5))
            except (OSError, ValueError):
                return False
            continue
        except OSError:  # EPIPE, EBADF, EIO...: nobody is listening
            return False
        view = view[written:]
    return True


def write_stderr(text: str) -> bool:
    """Write ``text`` to standard error: to ``sys.stderr`` as it is now when the
    application replaced it (some services route it into their logging),
    otherwise straight to file descriptor 2 (no buffer lock, so a signal that
    interrupted a write to stderr cannot deadlock or raise "reentrant call")."""
    if not text.endswith("\n"):
        text += "\n"
    stream = sys.stderr
    if stream is not None and stream is not sys.__stderr__:
        try:
            stream.write(text)
            stream.flush()
            return True
        except Exception:
            pass  # the replacement is broken: try the real descriptor
    return write_fd(2, text.encode("utf-8", "replace"))


class StderrSink:
    """Reports to standard error."""

    description = "stderr"

    def write(self, contents: Dict[str, str]) -> List[str]:
        """Write each rendered form (keyed by file suffix) to stderr."""
        for text in contents.values():
            write_stderr(text)
        return ["<stderr>"]


# -- files in a log directory -------------------------------------------------


class LogDirSink:
    """Reports as new files in ``log_dir``.

    Each report gets a fresh name (a report in the same second as the previous
    gets ``.1``, ``.2``... — never an overwrite); it is written under a
    temporary name, created 0600 without following a symlink, and linked to
    its final name only when complete.  A missing directory is created 0700.
    """

    def __init__(self, log_dir: str, service_name: str) -> None:
        self.log_dir = os.path.abspath(log_dir)
        self.service = safe_service_name(service_name)
        self.description = self.log_dir

    def prefix(self) -> str:
        return self.service + FILE_MARKER

    def base_name(self, when: Optional[float] = None) -> str:
        stamp = time.strftime(TIMESTAMP_FORMAT, time.gmtime(time.time() if when is None else when))
        return self.prefix() + stamp

    def ensure_dir(self) -> None:
        if not os.path.isdir(self.log_dir):
            os.makedirs(self.log_dir, mode=0o700, exist_ok=True)

    def _write_temp(self, data: bytes) -> str:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        flags |= getattr(os, "O_CLOEXEC", 0)
        for attempt in range(100):
            tmp = os.path.join(
                self.log_dir, f".{self.service}.{os.getpid()}.{time.monotonic_ns()}.{attempt}.tmp"
            )
            try:
                fd = os.open(tmp, flags, 0o600)
            except FileExistsError:
                continue
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            except BaseException:
                os.close(fd)
                _unlink_quietly(tmp)
                raise
            os.close(fd)
            return tmp
        raise OSError(errno.EEXIST, "could not create a temporary report file", self.log_dir)

    def write(self, contents: Dict[str, str]) -> List[str]:
        """Write every rendered form (keyed by suffix, ``""`` for the classic
        text file) under one fresh base name; returns the paths written."""
        self.ensure_dir()
        temps = {
            suffix: self._write_temp(text.encode("utf-8", "replace"))
            for suffix, text in contents.items()
        }
        try:
            return self._publish(temps)
        finally:
            for tmp in temps.values():
                _unlink_quietly(tmp)

    def _publish(self, temps: Dict[str, str]) -> List[str]:
        base = self.base_name()
        for seq in range(10000):
            name = base if seq == 0 else f"{base}.{seq}"
            linked: List[str] = []
            try:
                for suffix, tmp in temps.items():
                    final = os.path.join(self.log_dir, name + suffix)
                    os.link(tmp, final)  # fails on any existing entry, symlinks included
                    linked.append(final)
            except FileExistsError:
                for path in linked:
                    _unlink_quietly(path)
                continue
            return linked
        raise OSError(errno.EEXIST, "no free report file name", self.log_dir)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def deliver(sink: object, contents: Dict[str, str]) -> List[str]:
    """Write ``contents`` through ``sink``; a log directory that cannot be
    written sends the report to stderr instead, after one line saying why."""
    try:
        return sink.write(contents)  # type: ignore[attr-defined, no-any-return]
    except Exception as exc:
        where = getattr(sink, "description", "?")
        write_stderr(
            f"gurumeditation: cannot write the report to {where}: "
            f"{type(exc).__name__}: {exc}; writing it to stderr instead"
        )
        return StderrSink().write(contents)


def report_files(log_dir: str, service_name: str) -> Sequence[str]:
    """Report files of ``service_name`` in ``log_dir``, oldest first."""
    prefix = safe_service_name(service_name) + FILE_MARKER
    try:
        names = [n for n in os.listdir(log_dir) if n.startswith(prefix)]
    except OSError:
        return []
    return sorted(os.path.join(log_dir, n) for n in names)

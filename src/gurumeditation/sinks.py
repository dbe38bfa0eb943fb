"""Where a finished report goes: standard error, or a new file in a log directory.

A sink takes rendered text and knows nothing of sections.  Writing never
raises into the application: a closed or broken stderr is given up on
quietly, an unwritable log directory falls back to stderr with one line that
says why.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import select
import stat
import sys
import time
from typing import Dict, List, Optional, Pattern, Protocol, Sequence, Tuple, Union

from . import unpatched
from .options import TIMESTAMP_FORMAT

#: ``<service>_gurumeditation_<UTC YYYYmmddHHMMSS>`` as in oslo.reports.
FILE_MARKER = "_gurumeditation_"


class Sink(Protocol):
    """Where a report goes: ``write`` takes the rendered forms keyed by file
    suffix (``""`` for text, ``.json``, ``.html``) and returns where they
    went (paths, or ``<stderr>``); it may raise (see :func:`deliver`)."""

    def write(self, contents: Dict[str, str]) -> List[str]: ...


def utc_stamp(fmt: str = TIMESTAMP_FORMAT) -> str:
    """The UTC time now in ``fmt``; from ``oslo_utils.timeutils.utcnow()``
    when the process has loaded it (as oslo.reports does: a service or test
    that fixes that clock fixes the file names too), never importing it."""
    timeutils = sys.modules.get("oslo_utils.timeutils")
    if timeutils is not None:
        try:
            return str(timeutils.utcnow().strftime(fmt))
        except Exception:
            pass
    return time.strftime(fmt, time.gmtime())


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

_DIR_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_FILE_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
TEMP_SUFFIX = ".tmp"
_TEMP_SUFFIX = TEMP_SUFFIX
_MAX_SYMLINKS = 40


def _trusted(st: os.stat_result) -> bool:
    """Made by this process's user or by root."""
    return st.st_uid in (0, os.geteuid())


def resolve_log_dir(path: str) -> str:
    """The real path of ``path``, following a symbolic link on the way (the
    directory itself or any directory above it) only when root or this
    process's user owns the link: a link planted by another user (in ``/tmp``,
    say) raises ``PermissionError`` instead of being followed.  The path need
    not exist yet."""
    pending = [p for p in os.path.abspath(path).split(os.sep) if p]
    resolved = os.sep
    hops = 0
    while pending:
        part = pending.pop(0)
        if part == ".":
            continue
        if part == "..":
            resolved = os.path.dirname(resolved)
            continue
        candidate = os.path.join(resolved, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            return os.path.normpath(os.path.join(candidate, *pending))
        if stat.S_ISLNK(st.st_mode):
            if not _trusted(st):
                raise PermissionError(
                    errno.EPERM,
                    f"refusing to follow the symbolic link {candidate!r}, owned by "
                    f"uid {st.st_uid} (neither root nor this process's user)",
                )
            hops += 1
            if hops > _MAX_SYMLINKS:
                raise OSError(errno.ELOOP, "too many symbolic links", path)
            target = os.readlink(candidate)
            if target.startswith(os.sep):
                resolved = os.sep
            pending = [p for p in target.split(os.sep) if p] + pending
            continue
        resolved = candidate
    return resolved


def open_dir(real_path: str) -> int:
    """A descriptor of the directory ``real_path``, opened one component at a
    time from ``/`` without following any symbolic link (one that appeared
    since :func:`resolve_log_dir` looked is an error, not a detour); missing
    directories are created 0700."""
    fd = unpatched.get().open(os.sep, _DIR_FLAGS)
    try:
        for part in [p for p in real_path.split(os.sep) if p]:
            try:
                next_fd = unpatched.get().open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                try:
                    os.mkdir(part, 0o700, dir_fd=fd)
                    created = True
                except FileExistsError:
                    created = False
                next_fd = unpatched.get().open(part, _DIR_FLAGS, dir_fd=fd)
                if created:
                    os.fchmod(next_fd, 0o700)  # whatever the umask
            os.close(fd)
            fd = next_fd
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_temp(dir_fd: int, data: bytes, prefix: str) -> str:
    """A new file ``<prefix><pid>.<ns>.<n>.tmp`` in the directory ``dir_fd``
    holding ``data``: created 0600 (whatever the umask) with ``O_EXCL`` and
    ``O_NOFOLLOW`` (never through or over anything already there); removed
    again when writing fails.  Returns its name."""
    for attempt in range(100):
        tmp = f"{prefix}{os.getpid()}.{time.monotonic_ns()}.{attempt}{TEMP_SUFFIX}"
        try:
            fd = unpatched.get().open(tmp, _FILE_FLAGS, 0o600, dir_fd=dir_fd)
        except FileExistsError:
            continue
        try:
            os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:
            os.close(fd)
            _unlink_quietly(tmp, dir_fd)
            raise
        os.close(fd)
        return tmp
    raise OSError(errno.EEXIST, "could not create a temporary file")


def atomic_write(
    dir_fd: int, name: str, data: bytes, prefix: str = ".gurumeditation.", replace: bool = False
) -> None:
    """Write ``data`` as the file ``name`` of the directory ``dir_fd`` so that
    nobody ever sees it partial: a 0600 temporary (:func:`write_temp`) is
    linked to ``name`` — never replacing or following anything there
    (``FileExistsError``) — or, with ``replace=True``, renamed over it.  On any
    failure nothing is left behind."""
    tmp = write_temp(dir_fd, data, prefix)
    try:
        if replace:
            if os.sep in name or name in ("", ".", ".."):
                raise ValueError(f"not a plain file name: {name!r}")
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        else:
            link_new(tmp, name, dir_fd)
    finally:
        _unlink_quietly(tmp, dir_fd)


def check_shared(fd: int, path: str) -> None:
    """``PermissionError`` when the directory ``fd`` can be written by users
    other than its owner (group or other write) — another user could swap or
    fill the reports there — unless it is a sticky directory of ours (like
    ``/tmp`` for root: others cannot touch our files there)."""
    st = os.fstat(fd)
    if not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return
    if st.st_mode & stat.S_ISVTX and st.st_uid == os.geteuid():
        return
    raise PermissionError(
        errno.EPERM,
        f"{path} can be written by other users (mode {stat.S_IMODE(st.st_mode):04o}) and is "
        "not a sticky directory of ours: refusing it",
    )


class LogDirSink:
    """Reports as new files in ``log_dir``.

    Each report gets a fresh name (a report in the same second as the previous
    gets ``.1``, ``.2``... — never an overwrite).  It is written complete under
    a temporary name (created 0600, never through a symbolic link), then linked
    to its final name, which never replaces or follows anything already there;
    a crash mid-write leaves only a hidden ``.tmp`` file, swept by the next
    report.  Every file operation is relative to one descriptor of the
    directory, so nothing can be redirected outside it once it is open, and no
    name can leave it (:func:`safe_service_name`).  A missing directory is
    created 0700; a symbolic link on the way to it is followed only when owned
    by root or by this process's user (:func:`resolve_log_dir`).
    With ``max_reports`` > 0, the oldest reports of the service beyond that
    many are removed after each write (all files of one report together).

    ``pid``: where several processes share the service name (pre-fork
    workers, forked or spawned children, their parent), each report name
    carries the pid of the process it describes:
    ``<service>_<pid>_gurumeditation_<stamp>``; a single un-forked process
    keeps oslo.reports' exact ``<service>_gurumeditation_<stamp>``.
    Retention counts per service either way: the reports of every process
    of the service (with or without a pid) share the ``max_reports`` budget,
    so workers replaced over time never pile up.
    """

    #: Writes a local file and waits on nobody (see :func:`..pipeline.run`).
    prompt = True

    def __init__(
        self,
        log_dir: str,
        service_name: str,
        max_reports: int = 0,
        timestamp_fmt: str = TIMESTAMP_FORMAT,
        pid: Optional[int] = None,
    ) -> None:
        self.log_dir = os.path.abspath(log_dir)
        self.service = safe_service_name(service_name)
        self.description = self.log_dir
        self.max_reports = max_reports
        self.timestamp_fmt = timestamp_fmt
        self.pid = pid if pid and pid > 0 else None

    def prefix(self) -> str:
        if self.pid is not None:
            return f"{self.service}_{self.pid}{FILE_MARKER}"
        return self.service + FILE_MARKER

    def base_name(self, when: Optional[float] = None) -> str:
        if when is None:
            return self.prefix() + utc_stamp(self.timestamp_fmt)
        return self.prefix() + time.strftime(self.timestamp_fmt, time.gmtime(when))

    def open(self) -> int:
        """A descriptor of the log directory (created when missing); refused
        when other users may write there (:func:`check_shared`)."""
        fd = open_dir(resolve_log_dir(self.log_dir))
        try:
            check_shared(fd, self.log_dir)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def ensure_dir(self) -> None:
        os.close(self.open())

    def prepare(self) -> None:
        """At setup: what writing a report needs that does not touch the
        directory (the pattern retention matches the reports by)."""
        if self.max_reports > 0:
            service_reports(self.service)

    def _temp_prefix(self) -> str:
        return f".{self.service}."

    def _write_temp(self, dir_fd: int, data: bytes) -> str:
        return write_temp(dir_fd, data, self._temp_prefix())

    def write(self, contents: Dict[str, str]) -> List[str]:
        """Write every rendered form (keyed by suffix, ``""`` for the classic
        text file) under one fresh base name; returns the paths written."""
        dir_fd = self.open()
        try:
            self._sweep_stale_temps(dir_fd)
            temps: Dict[str, str] = {}
            try:
                for suffix, text in contents.items():
                    temps[suffix] = self._write_temp(dir_fd, text.encode("utf-8", "replace"))
                names = self._publish(dir_fd, temps)
            finally:
                for tmp in temps.values():
                    _unlink_quietly(tmp, dir_fd)
            if self.max_reports > 0:
                try:
                    prune(dir_fd, service_reports(self.service), self.max_reports)
                except OSError:
                    pass  # retention must never cost the report just written
        finally:
            os.close(dir_fd)
        return [os.path.join(self.log_dir, name) for name in names]

    def _publish(self, dir_fd: int, temps: Dict[str, str]) -> List[str]:
        base = self.base_name()
        for seq in range(10000):
            name = base if seq == 0 else f"{base}.{seq}"
            linked: List[str] = []
            try:
                for suffix, tmp in temps.items():
                    final = name + suffix
                    link_new(tmp, final, dir_fd)
                    linked.append(final)
            except FileExistsError:
                for final in linked:
                    _unlink_quietly(final, dir_fd)
                continue
            return linked
        raise OSError(errno.EEXIST, "no free report file name", self.log_dir)

    def _sweep_stale_temps(self, dir_fd: int) -> None:
        """Remove temporary files this service left when a process died while
        writing a report (its pid is gone)."""
        prefix = self._temp_prefix()
        try:
            names = os.listdir(dir_fd)
        except OSError:
            return
        for name in names:
            if not (name.startswith(prefix) and name.endswith(_TEMP_SUFFIX)):
                continue
            fields = name[len(prefix) :].split(".")
            if len(fields) != 4 or not fields[0].isdigit():
                continue
            pid = int(fields[0])
            if pid == os.getpid() or _alive(pid):
                continue
            try:
                st = os.lstat(name, dir_fd=dir_fd)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid():
                _unlink_quietly(name, dir_fd)


_FORMAT_SUFFIX = re.compile(r"\.[A-Za-z][A-Za-z0-9]*$")


def report_key(name: str) -> str:
    """The name shared by every file of one report: the file name without a
    format suffix (``.json``, ``.html``; a ``.1`` sequence number stays)."""
    return _FORMAT_SUFFIX.sub("", name)


@functools.lru_cache(maxsize=64)  # compiled once, at setup for the armed service
def service_reports(service: str) -> Pattern[str]:
    """The names of the reports of ``service`` (already made safe), of every
    process: ``<service>_gurumeditation_...`` and
    ``<service>_<pid>_gurumeditation_...``."""
    return re.compile(re.escape(service) + "(?:_[0-9]+)?" + re.escape(FILE_MARKER))


def prune(dir_fd: int, prefix: Union[str, Pattern[str]], keep: int) -> List[str]:
    """Remove the oldest reports named ``prefix...`` (a string, or a pattern
    matched at the start) in the directory
    ``dir_fd`` so that ``keep`` remain; returns the names removed.  Oldest =
    earliest modification time (names only break ties); only regular files
    of this user are considered, and a file that vanished meanwhile (another
    process of the same service pruning too) is no error."""
    reports: Dict[str, List[Tuple[int, str]]] = {}
    uid = os.geteuid()
    for name in os.listdir(dir_fd):
        if isinstance(prefix, str):
            if not name.startswith(prefix):
                continue
        elif not prefix.match(name):
            continue
        try:
            st = os.lstat(name, dir_fd=dir_fd)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or st.st_uid != uid:
            continue
        reports.setdefault(report_key(name), []).append((st.st_mtime_ns, name))
    if len(reports) <= keep:
        return []
    order = sorted(reports, key=lambda key: (min(m for m, _ in reports[key]), key))
    removed: List[str] = []
    for key in order[: len(order) - keep]:
        for _, name in reports[key]:
            _unlink_quietly(name, dir_fd)
            removed.append(name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: someone else's process
        return True
    return True


def link_new(tmp: str, final: str, dir_fd: int) -> None:
    """Give the complete file ``tmp`` the new name ``final`` in the directory
    ``dir_fd``; ``FileExistsError`` when ``final`` exists in any form (a file,
    a symbolic link, dangling or not), which is never followed nor replaced."""
    if os.sep in final or final in ("", ".", ".."):
        raise ValueError(f"not a plain file name: {final!r}")
    try:
        os.link(tmp, final, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
        return
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
    # a file system without hard links: claim the name with a new empty file
    # (fails on anything already there), then rename over our own claim
    fd = unpatched.get().open(final, _FILE_FLAGS, 0o600, dir_fd=dir_fd)
    os.close(fd)
    os.rename(tmp, final, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def _unlink_quietly(name: str, dir_fd: Optional[int] = None) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
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

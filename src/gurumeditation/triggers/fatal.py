"""``report_on=("fatal",)``: the C-level dump of a fatal signal as a report file.

SIGSEGV, SIGBUS, SIGFPE, SIGILL (and SIGABRT, unless ``"abort"`` writes a
full report for it) leave no room for Python: CPython's ``faulthandler``
writes every thread's Python stack from its C handler, then the signal
takes its usual course — the process dies as it would have.  It writes into
a file of ours opened at setup (:func:`arm`), hidden in ``log_dir`` as
``.<service>.fatal.<pid>`` (0600, never through a symbolic link), because
nothing can be created or named once the process is crashing.

After the crash the dump becomes a report named like the others
(``<service>_gurumeditation_<UTC>``, with the classic opening and an About
This Report section), by :func:`finalize`: the sidecar calls it when the
service is gone, and the next process of the service that arms ``fatal``
adopts what a dead one left (:func:`adopt_orphans`).  A file left empty (no
crash) is removed.  Without ``log_dir`` the dump goes to standard error, as
``faulthandler.enable()`` does by itself.
"""

from __future__ import annotations

import os
import stat
import time
from typing import List, Optional, Set

MARK = ".fatal."


def hidden_name(service: str, pid: int) -> str:
    return f".{service}{MARK}{pid}"


def arm(log_dir: Optional[str], service: str) -> Optional[str]:
    """Enable faulthandler for the fatal signals into a file of ours in
    ``log_dir`` (returns its path), or into standard error without one
    (returns ``None``).  ``OSError`` when ``log_dir`` cannot be used."""
    import faulthandler

    from ..sinks import LogDirSink, safe_service_name

    if not log_dir:
        faulthandler.enable(all_threads=True)
        return None
    sink = LogDirSink(log_dir, service)
    dir_fd = sink.open()
    try:
        name = hidden_name(safe_service_name(service), os.getpid())
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(name, flags | getattr(os, "O_CLOEXEC", 0), 0o600, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    _replace_fd(fd)
    faulthandler.enable(file=fd, all_threads=True)
    path = os.path.join(sink.log_dir, name)
    _at_exit(path)
    return path


def _at_exit(path: str) -> None:
    """A clean exit leaves no empty file behind (only this process's own)."""
    import atexit

    pid = os.getpid()

    def remove() -> None:
        if os.getpid() == pid:
            _remove_if_empty(path)

    atexit.register(remove)


_FD = -1


def _replace_fd(fd: int) -> None:
    global _FD
    old, _FD = _FD, fd
    if old >= 0:
        try:
            os.close(old)
        except OSError:
            pass


def disarm(path: Optional[str]) -> None:
    """Stop writing fatal dumps into ``path`` and remove it when empty."""
    import faulthandler

    try:
        faulthandler.disable()
    except Exception:
        pass
    _replace_fd(-1)
    if path:
        _remove_if_empty(path)


def _remove_if_empty(path: str) -> None:
    try:
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode) and st.st_size == 0:
            os.unlink(path)
    except OSError:
        pass


def dump_report(dump: str, service: str, pid: int, when: float, dropped: int = 0) -> str:
    """The dump in the classic layout: opening, the stacks, About This Report."""
    from ..render.text import ABOUT_TITLE, prefix_lines
    from ..render.text_layout import section_banner
    from ..terminal import escape

    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)) + "Z"
    first = next((line for line in dump.splitlines() if line.strip()), "")
    lines = prefix_lines() + section_banner("Threads (native dump)")
    lines.append(escape(dump.rstrip("\n")))
    if dropped:
        lines.append(f"[{dropped} helper threads of gurumeditation left out]")
    lines += section_banner(ABOUT_TITLE)
    lines.append(f"Report of {escape(service)} (pid {pid}) at {stamp} (about when it died)")
    lines.append(f"Trigger: fatal {escape(first.strip())}")
    lines.append(
        "Note: the process died of a fatal signal; above is CPython's faulthandler dump "
        "of every thread, written from its C handler as it crashed."
    )
    return "\n".join(lines) + "\n"


def finalize(
    path: str,
    service: str,
    max_reports: int = 0,
    own: Optional[Set[int]] = None,
    file_pid: int = 0,
) -> List[str]:
    """Turn the dump a dead process left in ``path`` into a report file next
    to it; an empty one is removed.  ``file_pid``: the pid to put in the
    file's name (0: none; several processes share the service name).
    Returns the paths written."""
    from ..sinks import LogDirSink, deliver

    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            return []
        if st.st_size == 0:
            os.unlink(path)
            return []
        with open(path, "rb") as f:
            dump = f.read(1 << 20).decode("utf-8", "replace")
    except OSError:
        return []
    pid_text = os.path.basename(path).rsplit(".", 1)[-1]
    pid = int(pid_text) if pid_text.isdigit() else 0
    dropped = 0
    if own:  # the helper threads of gurumeditation the sidecar was told of
        from .sidecar import without_threads

        dump, dropped = without_threads(dump, own)
    text = dump_report(dump, service, pid, st.st_mtime, dropped)
    sink = LogDirSink(os.path.dirname(path), service, max_reports, pid=file_pid or None)
    written = deliver(sink, {"": text})
    if written:
        try:
            os.unlink(path)
        except OSError:
            pass
    return written


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def adopt_orphans(log_dir: str, service: str, max_reports: int = 0) -> List[str]:
    """Finalize the dumps that dead processes of ``service`` left in ``log_dir``."""
    from ..sinks import safe_service_name

    prefix = f".{safe_service_name(service)}{MARK}"
    written: List[str] = []
    try:
        names = os.listdir(log_dir)
    except OSError:
        return written
    for name in names:
        pid_text = name[len(prefix) :]
        if not name.startswith(prefix) or not pid_text.isdigit():
            continue
        pid = int(pid_text)
        if pid == os.getpid() or _alive(pid):
            continue
        written += finalize(os.path.join(log_dir, name), service, max_reports)
    return written

"""Whether this process is one of several that share its service name.

Pre-fork servers (gunicorn, uvicorn's supervisor and workers), forked or
spawned children of an armed process (``os.fork``, ``multiprocessing``,
``ProcessPoolExecutor``) and the parents that forked them all share one
service name and usually one ``log_dir``: their report files then carry the
pid (see :class:`gurumeditation.sinks.LogDirSink`).  A single process that
never forked keeps oslo.reports' exact file name.

Told by what this process saw (our at-fork hooks: :func:`note_fork`) and by
what it has loaded (``multiprocessing``'s parent, a server's role); nothing
here imports anything the process has not.
"""

from __future__ import annotations

import os
import sys
from typing import List, Optional

#: pids of this process that forked an armed child, or are one
_forked: List[int] = []


def note_fork() -> None:
    """At-fork hook, in the parent and in the child alike."""
    pid = os.getpid()
    if pid not in _forked:
        _forked.append(pid)


_spawned: List[bool] = []


def spawned_by_multiprocessing() -> bool:
    """Started as ``python -c 'from multiprocessing.spawn import spawn_main…'
    --multiprocessing-fork`` (a spawn child, before ``multiprocessing`` is
    even imported: the ``.pth`` hook arms it that early); read once."""
    if not _spawned:
        try:
            with open("/proc/self/cmdline", "rb") as f:
                words = f.read(8192).split(b"\0")
            _spawned.append(b"--multiprocessing-fork" in words)
        except OSError:
            _spawned.append(False)
    return _spawned[0]


def multiprocessing_child() -> bool:
    """A child started by ``multiprocessing`` (fork, spawn or forkserver)."""
    multiprocessing = sys.modules.get("multiprocessing")
    if multiprocessing is None:
        return spawned_by_multiprocessing()
    try:
        return multiprocessing.parent_process() is not None or spawned_by_multiprocessing()
    except Exception:
        return False


def shares_service_name() -> bool:
    if os.getpid() in _forked or multiprocessing_child():
        return True
    from . import servers

    return bool(servers.present()) and servers.role() is not None


def file_pid() -> Optional[int]:
    """The pid to put in report file names (``None``: oslo.reports' name)."""
    try:
        return os.getpid() if shares_service_name() else None
    except Exception:
        return None

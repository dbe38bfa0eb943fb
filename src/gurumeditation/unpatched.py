"""The real OS primitives, also under eventlet or gevent monkey patching.

Our helper threads must be real OS threads that block in real system calls:
a green ``time.sleep``, ``os.read`` or ``select.select`` called from a real
thread would wait on a hub that nothing runs, and a green lock would hand the
thread over to the hub.  This module takes the originals from
``eventlet.patcher.original`` or ``gevent.monkey.get_original`` when either
library is loaded (only then: nothing is imported here that the process has
not imported already), else the functions as they are.

Call :func:`load` at setup, never while a report is being written (it may
import).
"""

from __future__ import annotations

import _thread
import os
import select
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Tuple

_NAMES = {
    "_thread": ("start_new_thread", "allocate_lock", "get_ident"),
    "time": ("sleep",),
    "os": ("read", "write", "waitpid", "close"),
    "select": ("select",),
}


@dataclass(frozen=True)
class Primitives:
    """Unpatched functions, named as in the standard library."""

    start_new_thread: Callable[..., int]
    allocate_lock: Callable[[], Any]
    get_ident: Callable[[], int]
    sleep: Callable[[float], None]
    read: Callable[[int, int], bytes]
    write: Callable[[int, Any], int]
    waitpid: Callable[[int, int], Tuple[int, int]]
    close: Callable[[int], None]
    select: Callable[..., Any]


_EVENTLET_NAMES = {"_thread": "thread", "time": "time", "os": "os", "select": "select"}


def _eventlet_original(module: str, name: str) -> Optional[Any]:
    patcher = sys.modules.get("eventlet.patcher")
    if patcher is None:
        return None
    try:
        if not patcher.is_monkey_patched(_EVENTLET_NAMES[module]):
            return None
        return getattr(patcher.original(module), name)
    except Exception:
        return None


def _gevent_original(module: str, name: str) -> Optional[Any]:
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None:
        return None
    try:
        return monkey.get_original(module, name)
    except Exception:
        return None


_MODULES = {"_thread": _thread, "time": time, "os": os, "select": select}

_loaded: Optional[Primitives] = None

#: Thread idents of this library's own helper threads: never shown in a report.
OWN_THREADS: set[int] = set()


def load() -> Primitives:
    """The unpatched primitives (looked up once; call again after
    ``monkey_patch()`` to refresh)."""
    global _loaded
    found = {}
    for module, names in _NAMES.items():
        for name in names:
            value = _eventlet_original(module, name) or _gevent_original(module, name)
            if value is None:
                value = getattr(_MODULES[module], name)
            found[name] = value
    _loaded = Primitives(**found)
    return _loaded


def get() -> Primitives:
    """What :func:`load` found last (loading now if it never ran)."""
    return _loaded if _loaded is not None else load()


def real_thread(target: Callable[[], None], own: Optional[set[int]] = None) -> int:
    """Start ``target`` in a new real OS thread whose ident is added to
    ``own`` (default :data:`OWN_THREADS`: threads hidden from reports) for as
    long as it runs; returns the ident."""
    if own is None:
        own = OWN_THREADS
    prims = get()
    started = prims.allocate_lock()
    started.acquire()
    holder: dict[str, int] = {}

    def bootstrap() -> None:
        ident = prims.get_ident()
        own.add(ident)
        holder["ident"] = ident
        started.release()
        try:
            target()
        except BaseException:
            pass  # a helper thread never prints a traceback into the service
        finally:
            own.discard(ident)

    prims.start_new_thread(bootstrap, ())
    started.acquire()
    return holder["ident"]


class Runner:
    """A real OS thread that runs one job at a time and sleeps on an
    unpatched lock in between (no CPU while idle).

    Kept alive across reports: starting and ending a thread for every job
    would race with faulthandler's C-level dump, which walks the thread
    states without a lock (a thread ending during a dump can crash the
    process)."""

    def __init__(self) -> None:
        prims = get()
        self._wake = prims.allocate_lock()
        self._wake.acquire()
        self._job: Optional[Callable[[], None]] = None
        self.busy = False
        self.retired = False
        self.ident = real_thread(self._loop)

    def _loop(self) -> None:
        while True:
            self._wake.acquire()
            job, self._job = self._job, None
            if job is None:
                return
            try:
                job()
            except BaseException:
                pass
            finally:
                self.busy = False
            if self.retired:
                return

    def post(self, job: Callable[[], None]) -> bool:
        """Hand ``job`` to the thread; ``False`` when it is still busy."""
        if self.busy:
            return False
        self.busy = True
        self._job = job
        self._wake.release()
        return True

    def retire(self) -> None:
        """Let the thread end after its current job (or now, when idle)."""
        self.retired = True
        if not self.busy:
            self.busy = True
            self._wake.release()

    def alive(self) -> bool:
        return self.ident in OWN_THREADS

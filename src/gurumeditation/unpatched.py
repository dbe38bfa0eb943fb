"""The real OS threads and primitives of the process, under eventlet or gevent
monkey patching or not.

*Which threads are real.*  ``eventlet.monkey_patch()`` and
``gevent.monkey.patch_all()`` make ``threading`` speak of greenlets:
``threading.get_ident()`` returns a greenlet's id, threads started after
patching are greenlets, and gevent even re-keys the main thread.
``sys._current_frames()`` is never patched: its keys are the idents of the
real OS threads.  :func:`thread_objects` maps those idents to the ``Thread``
objects that describe them (in the patched ``threading`` and in the unpatched
twin the libraries keep), :func:`this_thread_ident` and :func:`main_ident`
find the real idents without asking a patched function.

*Which primitives are real.*  Our helper threads must be real OS threads that
block in real system calls: a green ``time.sleep``, ``os.read`` or
``select.select`` called from a real thread would wait on a hub that nothing
runs, and a green lock would hand the thread over to the hub.  :func:`load`
takes the originals eventlet or gevent kept (see :mod:`.glue.eventlet` and
:mod:`.glue.gevent`) when either library is loaded, else the functions as they
are; :func:`real_thread` and :class:`Runner` start our threads with them.

Nothing here imports eventlet or gevent: only what the process loaded is read.
Call :func:`load` at setup, never while a report is being written (it may
import).
"""

from __future__ import annotations

import _thread
import os
import select
import sys
import threading
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from . import early as _early
from .glue import eventlet as _eventlet
from .glue import gevent as _gevent

# -- the real threads -----------------------------------------------------------


def threading_modules() -> List[Any]:
    """``threading`` and its unpatched twins the greenlet libraries keep."""
    modules: List[Any] = []
    for name in ("threading", "__original_module_threading"):
        module = sys.modules.get(name)
        if module is not None and module not in modules:
            modules.append(module)
    return modules


def this_thread_ident(frames: Optional[Mapping[int, FrameType]] = None) -> int:
    """The real ident of the calling thread: the key under which
    ``sys._current_frames()`` holds the caller's own frame."""
    me = sys._getframe(1) if frames is not None else sys._getframe()
    if frames is None:
        frames = sys._current_frames()
    for ident, frame in frames.items():
        if frame is me:
            return ident
    return threading.get_ident()  # not reached in CPython


def producer_ident(wanted: int, frames: Mapping[int, FrameType]) -> int:
    """The real ident of the thread producing the report: ``wanted`` when it
    names a real thread in ``frames``, else the caller's real ident (under
    monkey patching ``threading.get_ident()`` gives a greenlet's id).  Call it
    from the function that took ``frames`` (its frame is looked for there)."""
    if wanted in frames:
        return wanted
    me = sys._getframe(1)
    for ident, frame in frames.items():
        if frame is me:
            return ident
    return this_thread_ident()


#: The real ident of the main thread, remembered when this module is first
#: imported in the main thread (that is where setup usually happens).
_MAIN_IDENT: Optional[int] = None


def remember_main_ident() -> None:
    """Record the main thread's real ident if the caller is the main thread."""
    global _MAIN_IDENT
    try:
        if threading.current_thread() is threading.main_thread():
            _MAIN_IDENT = this_thread_ident()
    except Exception:
        pass


remember_main_ident()


def main_ident(frames: Mapping[int, FrameType]) -> Optional[int]:
    """The real ident of the main thread among ``frames`` (``None`` if it is
    gone or cannot be told)."""
    candidates = [getattr(threading.main_thread(), "ident", None), _MAIN_IDENT]
    candidates.append(_gevent.main_thread_ident())
    for ident in candidates:
        if ident is not None and ident in frames:
            return ident
    return None


def threads_posing(frames: Mapping[int, FrameType]) -> Dict[int, Any]:
    """``threading.Thread`` objects that monkey patching made greenlets: the
    patched ``threading`` keys them by the greenlet's id (not in ``frames``)."""
    active = getattr(sys.modules.get("threading"), "_active", None)
    if not isinstance(active, dict):
        return {}
    try:
        return {ident: t for ident, t in list(active.items()) if ident not in frames}
    except Exception:
        return {}


def thread_objects(frames: Mapping[int, FrameType]) -> Dict[int, Any]:
    """``Thread`` objects of the real threads in ``frames``, by real ident.

    Threads started after monkey patching are greenlets: their keys in
    ``_active`` are greenlet ids, not in ``frames``, so they are not taken.
    """
    found: Dict[int, Any] = {}
    for module in threading_modules():
        active = getattr(module, "_active", None)
        if not isinstance(active, dict):
            continue
        try:
            items = list(active.items())
        except Exception:
            continue
        for ident, thread in items:
            if ident in frames and ident not in found:
                found[ident] = thread
    main = main_ident(frames)
    if main is not None and main not in found:
        found[main] = threading.main_thread()
    return found


# -- the real primitives ---------------------------------------------------------

_NAMES = {
    "_thread": ("start_new_thread", "allocate_lock", "get_ident"),
    "time": ("sleep",),
    "os": ("read", "write", "waitpid", "close", "open"),
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
    #: eventlet's green ``os.open`` tells the calling thread's hub (making
    #: one in a thread of ours, which then shows as a green thread)
    open: Callable[..., int]
    select: Callable[..., Any]


_MODULES = {"_thread": _thread, "time": time, "os": os, "select": select}

_loaded: Optional[Primitives] = None

#: Thread idents of this library's own helper threads: never shown in a report.
OWN_THREADS = _early.OWN_THREADS
#: Their native thread ids, by ident (uWSGI's glue waits for them to park).
OWN_NATIVE_IDS: Dict[int, int] = {}

#: (pid, real ident) of the thread that forked this process (it is the
#: child's only thread then; ``(0, 0)``: not a child we saw forked).
_FORKED_BY = [(0, 0)]


def forked() -> None:
    """In a forked child (at-fork hook): our helper threads are gone, and the
    thread that forked — the only one left — is now the kernel's thread
    group leader, whose native id is the pid.  CPython does not refresh
    ``Thread.native_id`` after ``fork()``: :func:`native_id` corrects it."""
    OWN_THREADS.clear()
    _FORKED_BY[0] = (os.getpid(), get().get_ident())


def native_id(ident: int, thread: Any) -> Optional[int]:
    """The native (kernel) id of the real thread ``ident`` described by the
    ``Thread`` object ``thread``: the pid for the thread that forked this
    child, else ``thread.native_id``."""
    pid, forker = _FORKED_BY[0]
    if forker and ident == forker and pid == os.getpid():
        return pid
    native = getattr(thread, "native_id", None)
    return native if isinstance(native, int) else None


def load() -> Primitives:
    """The unpatched primitives (looked up once; call again after
    ``monkey_patch()`` to refresh)."""
    global _loaded
    found = {}
    for module, names in _NAMES.items():
        for name in names:
            value = _eventlet.original(module, name) or _gevent.original(module, name)
            if value is None:
                value = getattr(_MODULES[module], name)
            found[name] = value
    _loaded = Primitives(**found)
    return _loaded


def get() -> Primitives:
    """What :func:`load` found last (loading now if it never ran)."""
    return _loaded if _loaded is not None else load()


#: Signals the kernel raises in the thread that faulted: never blocked.
_SYNCHRONOUS = ("SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL", "SIGTRAP", "SIGSYS", "SIGABRT")


def quiet_signals() -> None:
    """Block every asynchronous signal in the calling thread (one of ours):
    a signal sent to the process then goes to a thread of the application,
    as if we were not there — never to a helper thread of ours, which
    would meet a signal the application blocks for a moment (gunicorn's
    worker start-up, see :mod:`gurumeditation.servers.gunicorn`) or run a
    C-level handler meant for another thread."""
    import signal

    try:
        valid = set(signal.valid_signals())
        for name in _SYNCHRONOUS:
            valid.discard(getattr(signal, name, 0))
        signal.pthread_sigmask(signal.SIG_BLOCK, valid)
    except (AttributeError, ValueError, OSError):
        pass


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
        quiet_signals()
        ident = prims.get_ident()
        own.add(ident)
        holder["ident"] = ident
        try:
            OWN_NATIVE_IDS[ident] = _thread.get_native_id()
        except Exception:
            pass
        started.release()
        try:
            target()
        except BaseException:
            pass  # a helper thread never prints a traceback into the service
        finally:
            own.discard(ident)
            OWN_NATIVE_IDS.pop(ident, None)

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

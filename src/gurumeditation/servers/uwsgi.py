"""uWSGI: armed on the master, every worker armed, listed and answering — over
the channel only.

What uWSGI does that matters here:

* **It owns the signals.**  The master reloads on ``SIGHUP``/``SIGTERM``,
  prints statistics on ``SIGUSR1`` and worker status on ``SIGUSR2``; every
  worker installs its own C handler for ``SIGUSR2`` (it prints a C
  backtrace).  And the master's main thread never runs Python (a C loop), so
  a Python-level handler there would never run.  Under uWSGI we therefore
  take no signal and advertise none: reports are asked for with
  ``gurumeditation report PID`` (the channel, answered by a real thread of
  ours), in the master and in each worker alike.  A signal asked for anyway
  (``GURUMEDITATION_SIGNAL``, ``signum=``) is refused with one line on
  stderr.
* **It forks in C.**  Python's at-fork hooks run in a worker only with
  ``--py-call-osafterfork`` (or ``--py-call-uwsgi-fork-hooks``); otherwise
  the fork is invisible to Python.  So we also set ``uwsgi.post_fork_hook``
  (chaining the one that was there, and joining ``uwsgidecorators``'
  ``postfork_chain`` when that module replaces the hook), which uWSGI calls
  in every worker after the fork.  Whichever runs first re-arms the worker
  (its own channel under its own pid, no faulthandler registration or pipe
  of the master's: :meth:`gurumeditation.arming.Armed.after_fork_in_child`);
  the other sees the pid already re-armed and does nothing.
* **It creates the ``uwsgi`` module late** (after the interpreter started,
  when ``.pth`` files have already run — ``sys.argv`` is ``['']`` then too),
  with ``PyImport_AddModule``, not through the import system.  Zero-code
  arming therefore leaves a finder on ``sys.meta_path`` that looks, at each
  import, whether the module is there yet; the first import after that
  (the application's own, in the master, or in the worker with
  ``--lazy-apps``) installs the fork hook and names the service from
  ``uwsgi.opt``.
* Without ``--py-call-osafterfork`` a worker also keeps the master's Python
  thread states (CPython never learnt of the fork) — at least our own
  answering thread's.  Their C stacks are reused by the worker's next
  threads, and walking those states (``sys._current_frames()``, which every
  report does) then crashes the worker.  So where the worker lists more
  than its own thread state, the fork hook runs CPython's own clean-up of a
  forked child (``PyOS_AfterFork_Child``, exactly what
  ``--py-call-osafterfork`` does; the at-fork hooks of the application's
  libraries run then too, as they do after ``os.fork()``).

The master's main thread and an idle worker's (waiting in ``accept()``) run
no Python frame: the Threads section says so (see
:mod:`gurumeditation.sections.threads`).  Python threads run under uWSGI
only with threads enabled (``--enable-threads``, or ``--threads N``; uWSGI
2.0.31 on Python 3 enables them by default): without them our answering
thread never runs, which is told on stderr at arming.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any, Callable, List, Optional, Sequence

from .. import unpatched
from ..options import ReportOptions

#: The options that name the application, in the order they are looked at.
_MODULE_OPTS = ("module", "wsgi", "w", "callable-module")
_FILE_OPTS = ("wsgi-file", "file", "mount", "ini", "yaml", "json", "xml")


class _State:
    def __init__(self) -> None:
        #: the pid whose fork hook has run (re-armed, or the master itself)
        self.pid = 0
        self.finder: Optional[_Finder] = None
        self.hooked = False  # uwsgi.post_fork_hook is ours (or chained)
        self.named = False
        #: the service name :func:`adapt` chose (``""``: one was given)
        self.chosen_name = ""
        self.told_threads = False


_STATE = _State()


def module() -> Optional[Any]:
    """The embedded ``uwsgi`` module, once uWSGI made it."""
    return sys.modules.get("uwsgi")


def in_process() -> bool:
    """This interpreter is embedded by uWSGI (checked without importing it)."""
    return "uwsgi" in sys.modules or os.path.basename(
        getattr(sys, "executable", "") or ""
    ).startswith("uwsgi")


def _text(value: Any) -> str:
    if isinstance(value, list):
        value = value[-1] if value else ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value) if value is not None else ""


def name_from(opt: Any) -> Optional[str]:
    """The service's name from uWSGI's options (``uwsgi.opt``, or the
    command line as pairs): the application module (``--module app:application``
    gives ``app``), else the stem of the WSGI file or of the config file."""
    try:
        for key in _MODULE_OPTS:
            value = _text(opt.get(key)) if key in opt else ""
            if value:
                return value.split(":", 1)[0].strip() or None
        for key in _FILE_OPTS:
            value = _text(opt.get(key)) if key in opt else ""
            if value:
                value = value.split("=", 1)[-1]  # --mount /app=file.py
                base = os.path.basename(value.rstrip("/"))
                stem = base.rsplit(".", 1)[0] if "." in base else base
                if stem:
                    return stem
    except Exception:
        pass
    return None


def command_line_options(argv: Sequence[str]) -> dict[str, str]:
    """``--name value``, ``--name=value`` and ``-w value`` of a uWSGI command line."""
    found: dict[str, str] = {}
    i = 1
    while i < len(argv):
        word = argv[i]
        if word.startswith("--") and "=" in word:
            key, value = word[2:].split("=", 1)
            found[key] = value
        elif word.startswith("-") and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            found[word.lstrip("-")] = argv[i + 1]
            i += 1
        i += 1
    return found


def service_name() -> str:
    """The service's name: from ``uwsgi.opt`` once the module exists, else
    from ``/proc/self/cmdline``; ``uwsgi`` when neither names an application."""
    mod = module()
    opt = getattr(mod, "opt", None)
    if isinstance(opt, dict):
        name = name_from(opt)
        if name:
            return name
    try:
        with open("/proc/self/cmdline", "rb") as f:
            argv = f.read().decode("utf-8", "replace").rstrip("\0").split("\0")
        name = name_from(command_line_options(argv))
        if name:
            return name
    except OSError:
        pass
    return "uwsgi"


def adapt_options(
    options: ReportOptions, asked: bool, tell: Callable[[str], None]
) -> ReportOptions:
    """``options`` for a process under uWSGI: no signal (uWSGI owns them),
    the service named after the application unless a name was given.
    ``asked``: the caller named a signal itself (told once on stderr)."""
    if asked and options.setup_signal:
        tell(
            "gurumeditation: under uWSGI no signal is taken (uWSGI owns SIGUSR2 and its "
            "master's signals); ask with `gurumeditation report PID` (the channel)"
        )
    changes: dict[str, Any] = {"setup_signal": False}
    if not options.service_name or options.service_name == "python":
        changes["service_name"] = _STATE.chosen_name = service_name()
    threads = threads_enabled()
    if threads is False and not _STATE.told_threads:
        _STATE.told_threads = True
        tell(
            "gurumeditation: uWSGI runs without Python threads: reports cannot be "
            "answered; start uWSGI with --enable-threads"
        )
    return dataclasses.replace(options, **changes)


def threads_enabled() -> Optional[bool]:
    """Whether uWSGI lets Python threads run (``None``: not known yet)."""
    mod = module()
    if mod is None:
        return None
    value = getattr(mod, "has_threads", None)
    return None if value is None else bool(value)


def _waiting_off_cpu(tid: str) -> bool:
    """Thread ``tid`` of this process sleeps in a system call other than a
    futex wait (the GIL is waited for with one)."""
    try:
        with open(f"/proc/self/task/{tid}/wchan", encoding="ascii", errors="replace") as f:
            wchan = f.read().strip()
    except OSError:
        return True  # gone
    return wchan not in ("", "0") and "futex" not in wchan


def settle(timeout: float = 3.0) -> bool:
    """Wait until our own threads (the channel's) are parked in their system
    call, the GIL released.  uWSGI forks in C without
    taking the GIL: a worker forked while one of our threads held it would
    wait for it for ever.  Our threads take the GIL again only to answer a
    request (``--py-call-uwsgi-fork-hooks`` makes uWSGI take it before every
    fork: safe even then).  ``False`` when not settled in ``timeout``."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        ours = [str(tid) for tid in list(unpatched.OWN_NATIVE_IDS.values())]
        if all(_waiting_off_cpu(t) for t in ours):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.002)  # lets them run to their system call


# -- the fork hook --------------------------------------------------------------


def install() -> None:
    """Arrange for every worker to re-arm after uWSGI forks it: now when the
    ``uwsgi`` module exists, else at the first import after it appears."""
    _STATE.pid = os.getpid()
    settle()
    if module() is not None:
        _hook_module()
    if _STATE.finder is None:
        finder = _Finder()
        sys.meta_path.insert(0, finder)
        _STATE.finder = finder


def _hook_module() -> None:
    mod = module()
    if mod is None:
        return
    current = getattr(mod, "post_fork_hook", None)
    if getattr(current, "_gurumeditation", False):
        _STATE.hooked = True
    else:
        previous = current

        def post_fork_hook() -> None:
            after_fork()
            if previous is not None:
                previous()

        post_fork_hook._gurumeditation = True  # type: ignore[attr-defined]
        try:
            mod.post_fork_hook = post_fork_hook
            _STATE.hooked = True
        except Exception:
            pass
    _join_decorators()
    _name_service()


def _join_decorators() -> None:
    """``uwsgidecorators`` replaces ``uwsgi.post_fork_hook`` with its chain
    when imported: join the chain then."""
    decorators = sys.modules.get("uwsgidecorators")
    chain = getattr(decorators, "postfork_chain", None)
    if isinstance(chain, list) and after_fork not in chain:
        mod = module()
        if not getattr(getattr(mod, "post_fork_hook", None), "_gurumeditation", False):
            chain.insert(0, after_fork)


def _name_service() -> None:
    """Name the armed service from ``uwsgi.opt`` (zero-code armed before the
    module existed) unless a name was given."""
    if _STATE.named:
        return
    _STATE.named = True
    from ..arming import ARMED

    armed = ARMED.options
    if armed is None or not _STATE.chosen_name or armed.service_name != _STATE.chosen_name:
        return  # a name was given: kept
    name = service_name()
    if name and name != armed.service_name:
        ARMED.options = dataclasses.replace(armed, service_name=name)
        _announce()


def _announce() -> None:
    from ..arming import ARMED
    from ..guru_meditation_report import announce

    armed = ARMED.options
    if armed is None:
        return
    try:
        resolved = armed.resolved()
        if resolved.discoverable:
            announce(resolved)
    except Exception:
        pass


def role() -> Optional[str]:
    """``uwsgi master`` or ``uwsgi worker N`` (``None`` before uWSGI made its
    module): shown by ``gurumeditation list`` (see :mod:`gurumeditation.servers`)."""
    mod = module()
    if mod is None:
        return None
    try:
        wid = int(mod.worker_id())
    except Exception:
        wid = 0
    return f"uwsgi worker {wid}" if wid > 0 else "uwsgi master"


def thread_state_count() -> int:
    """How many Python thread states the interpreter lists (0: unknown)."""
    try:
        import ctypes

        api = ctypes.pythonapi
        api.PyInterpreterState_Get.restype = ctypes.c_void_p
        api.PyInterpreterState_ThreadHead.restype = ctypes.c_void_p
        api.PyInterpreterState_ThreadHead.argtypes = [ctypes.c_void_p]
        api.PyThreadState_Next.restype = ctypes.c_void_p
        api.PyThreadState_Next.argtypes = [ctypes.c_void_p]
        count = 0
        state = api.PyInterpreterState_ThreadHead(api.PyInterpreterState_Get())
        while state and count < 100_000:
            count += 1
            state = api.PyThreadState_Next(state)
        return count
    except Exception:
        return 0


def python_after_fork() -> bool:
    """CPython's own clean-up of a forked child (``PyOS_AfterFork_Child``:
    what ``--py-call-osafterfork`` does), run from the worker's main thread:
    forgets the thread states of the master's threads and runs the at-fork
    hooks (ours re-arm the worker).  Without it the worker's list of thread
    states names threads that do not exist, whose C stacks glibc hands to
    the next threads it starts: ``sys._current_frames()`` (any report, or
    faulthandler) then reads garbage and the worker dies of SIGSEGV.  Done
    only where such stale states exist.  Called inside an import (a
    ``--lazy-apps`` worker) the import lock the caller holds is taken back."""
    import _imp
    import ctypes

    held = _imp.lock_held()
    try:
        ctypes.pythonapi.PyOS_AfterFork_Child()
    except Exception:
        return False
    finally:
        if held and not _imp.lock_held():
            _imp.acquire_lock()
    return True


def after_fork() -> None:
    """In a worker (``uwsgi.post_fork_hook``, or the first import there with
    ``--lazy-apps``): re-arm for this pid unless the at-fork hooks did."""
    pid = os.getpid()
    if _STATE.pid == pid:
        return
    _STATE.pid = pid
    try:
        from .. import discovery
        from ..arming import ARMED

        if ARMED.pid != pid and thread_state_count() > 1:
            python_after_fork()  # runs our at-fork hooks too
        if ARMED.pid != pid:
            # the master's helper threads, if CPython still lists them
            ghosts = set(unpatched.OWN_THREADS)
            ARMED.after_fork_in_child()
            discovery._after_fork_in_child()
            if thread_state_count() > 1:
                unpatched.OWN_THREADS.update(ghosts)
    except Exception:
        pass


class _Finder:
    """Finds nothing: looks, at each import, whether the ``uwsgi`` module
    appeared (the master, or a ``--lazy-apps`` worker) or ``uwsgidecorators``
    replaced the fork hook."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        try:
            if module() is None:
                return None
            if os.getpid() != _STATE.pid:
                after_fork()  # a worker that no fork hook reached (--lazy-apps)
            if not _STATE.hooked:
                _hook_module()
            elif "uwsgidecorators" in sys.modules:
                _join_decorators()
        except Exception:
            pass
        return None

    def invalidate_caches(self) -> None:
        pass


__all__: List[str] = [
    "adapt_options",
    "after_fork",
    "in_process",
    "install",
    "role",
    "service_name",
]

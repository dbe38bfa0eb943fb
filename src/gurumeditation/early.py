"""Arming in two steps: cheap in the calling thread, the rest right after in
a thread of ours.

``setup_autorun(version)`` from a bare interpreter must cost a few
milliseconds, yet everything a report needs must be imported and prepared
before a report is asked for (an import while a report is written could
wait forever on an import lock the interrupted main thread holds).  So, when
what is armed needs nothing heavy to be checked (no ``conf``, none of our
own keyword arguments, the default signal, no setting in the environment
that could be wrong), :func:`arm` only does what must happen in the main
thread — the Python-level signal handler and the main thread's larger
alternate signal stack — with modules a bare interpreter has, and starts
the *loader*: a real OS thread that imports the report machinery, builds
the options and arms the rest exactly as a heavy ``setup_autorun`` would
(the native dump, the sidecar, the watcher, the listing), then ends.

A signal that arrives while the loader runs waits for it only when the
interrupted main thread is not inside an import (it may hold a module lock
the loader needs: waiting could never end); else it is noted, and the
loader sends it again to the main thread once everything is ready, so that
report is made as every later one is.  A fork
while the loader runs waits for it first (a module lock held by a thread
the child does not have would stay locked there); anything else that needs
the machinery (another ``setup_autorun``, the API) waits for it through
:func:`ensure_loaded`.

Nothing here imports a module a bare interpreter does not have: ``_signal``
and ``_thread`` are built in, ``os`` and ``sys`` are there already.
"""

from __future__ import annotations

import _thread
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    import signal as _signal
    from typing import Any, Callable, Dict, List, Optional, Sequence

    from .triggers.signal import SignalTrigger
else:
    import _signal

#: Environment variables (the options that read them are in
#: :mod:`gurumeditation.options`).
ENV_ENABLE = "GURUMEDITATION"
ENV_LOG_DIR = "GURUMEDITATION_LOG_DIR"
ENV_SIGNAL = "GURUMEDITATION_SIGNAL"
ENV_FORMAT = "GURUMEDITATION_FORMAT"
ENV_SERVICE = "GURUMEDITATION_SERVICE"

#: GURUMEDITATION values that arm / leave the process alone (case-insensitive).
ENABLE_ON = ("1", "true", "yes", "on")
ENABLE_OFF = ("", "0", "false", "no", "off")

#: The report signal when none is given.
DEFAULT_SIGNUM = int(_signal.SIGUSR2)

#: Reports kept per service in a log directory when nothing else is said.
DEFAULT_MAX_REPORTS = 50

#: ``oslo.reports``' file-name time format: ``<service>_gurumeditation_<UTC>``.
TIMESTAMP_FORMAT = "%Y%m%d%H%M%S"

#: Thread idents of this library's own helper threads: never shown in a report.
OWN_THREADS: set[int] = set()

#: Names of the request channels' sockets: ``\0<prefix><pid>/<nonce>``
#: (see :mod:`gurumeditation.triggers.channel`).
CHANNEL_PREFIX = "gurumeditation/"

#: How long a fork or :func:`ensure_loaded` waits for the loader at most
#: (seconds) before going on without it.
LOAD_WAIT = 30.0


class _State:
    def __init__(self) -> None:
        #: The signal trigger armed in the first step (adopted by ``arming``).
        self.trigger: Optional[SignalTrigger] = None
        #: ``True`` while the loader runs.
        self.loading = False
        #: Released when the loader is done (held while it runs).
        self.done = _thread.allocate_lock()
        #: Signals that arrived while loading (each sent again once ready).
        self.pending: List[int] = []
        #: Signals sent again by the loader, not chained a second time.
        self.resent = 0
        #: The armed handler's ``on_signal`` once the machinery is there.
        self.forward: Optional[Callable[[int, Any], None]] = None
        self.main_ident = 0
        #: What the loader failed on (``""``: nothing).
        self.failure = ""
        self.fork_hook = False
        #: Called by the loader as it ends (see :func:`ready`).
        self.after_load: Optional[Callable[[], None]] = None
        #: When the handler last ran before the machinery was there.
        self.entered = 0.0
        #: The channel's listening socket, made in the first step: the process
        #: is listed at once, requests wait in its backlog until the loader's
        #: channel (pid, socket, name).
        self.listener: Optional[tuple[int, Any, str, int]] = None
        #: ``True`` once the interpreter exits: the loader gives up.
        self.exiting = False
        self.exit_hook = False
        self.loader_ident = 0
        #: ``True`` while the signal handler waits for the loader.
        self.waiting = False


STATE = _State()


def service_name(argv: Optional[Sequence[str]] = None) -> str:
    """The program's name: ``python -m pkg.mod`` gives ``pkg.mod``, ``python
    -m pkg`` gives ``pkg`` (from
    ``__main__.__spec__``, or ``/proc/self/cmdline`` when this runs before
    ``__main__`` is set up), ``python /srv/app/service.py`` gives ``service``;
    else ``python``.  With ``argv``: the name of the program ``argv`` runs."""
    if argv is None:
        main = sys.modules.get("__main__")
        name = getattr(getattr(main, "__spec__", None), "name", None)
        if name and name not in ("__main__", "__mp_main__"):
            return str(name)[: -len(".__main__")] if name.endswith(".__main__") else str(name)
        argv = sys.argv if getattr(sys, "argv", None) else []
    argv0 = argv[0] if argv else ""
    if argv0 == "-m":
        try:
            with open("/proc/self/cmdline", "rb") as f:
                args = f.read().decode("utf-8", "replace").split("\0")
            return args[args.index("-m") + 1] or "python"
        except (OSError, ValueError, IndexError):
            return "python"
    if argv0 and argv0 not in ("-c", "-"):
        base = os.path.basename(argv0.rstrip("/"))
        if base == "__main__.py":  # python -m pkg: pkg/__main__.py
            base = os.path.basename(os.path.dirname(argv0)) or base
        if base.endswith(".py"):
            base = base[:-3]
        if base:
            return base
    return "python"


def installed_trigger() -> Optional[SignalTrigger]:
    """The signal trigger the first step installed (``None``: none)."""
    return STATE.trigger


def is_light(conf: Any, signum: Any, setup_signal: bool, options: Dict[str, Any]) -> bool:
    """Whether ``setup_autorun`` may arm in two steps: nothing it was given
    can be wrong in a way only the heavy machinery can tell (then the call
    raises at once, as always), it arms the signal (so it runs in the main
    thread), the process is not monkey patched (our loader must be a real
    thread), and nothing was armed before."""
    if conf is not None or signum is not None or options or not setup_signal:
        return False
    if STATE.trigger is not None or STATE.loading or STATE.forward is not None:
        return False
    if __package__ + ".arming" in sys.modules:
        return False  # the machinery is here already (the API was used): arm at once
    if "eventlet" in sys.modules or "gevent" in sys.modules:
        return False
    if "uwsgi" in sys.modules or os.path.basename(sys.executable or "").startswith("uwsgi"):
        return False  # uWSGI owns the signals (see servers/uwsgi.py): no early handler
    for name, value in os.environ.items():
        if not name.startswith(ENV_ENABLE + "_"):
            continue
        if name == ENV_SERVICE or (name == ENV_LOG_DIR and (not value or os.path.isabs(value))):
            continue  # cannot be wrong
        return False  # a value that may be wrong is told (or raised) now
    return True


def arm(finish: Callable[[], None], service: Optional[str], log_dir: Optional[str]) -> None:
    """The first step, in the main thread: the signal handler, the native
    dump (faulthandler, the main thread's alternate stack, the sidecar: with
    ``service`` and ``log_dir`` as given, else as the environment or the
    defaults say) and the channel's socket; then the loader runs ``finish``
    (the heavy ``setup_autorun``), which takes them over."""
    from .triggers import native_dump
    from .triggers.signal import SignalTrigger

    trigger = SignalTrigger(DEFAULT_SIGNUM, on_signal)
    trigger.install()  # raises here when not in the main thread
    STATE.main_ident = _thread.get_ident()
    STATE.trigger = trigger
    # ``threading`` takes the thread that first imports it for the main
    # thread: that must not be the loader
    import threading  # noqa: F401

    # what the native dump needs of the main thread (its alternate stack),
    # and faulthandler on top of our handler and the sidecar at once: a
    # signal the main thread cannot answer while the loader runs is still
    # answered (the loader arrives at the same settings: it takes them over)
    service = service or os.environ.get(ENV_SERVICE, "") or service_name()
    log_dir = log_dir or os.environ.get(ENV_LOG_DIR, "") or None
    native_dump.prearm(DEFAULT_SIGNUM, service, log_dir, DEFAULT_MAX_REPORTS)
    STATE.listener = _listen()
    if not STATE.fork_hook and hasattr(os, "register_at_fork"):
        os.register_at_fork(before=_before_fork)
        STATE.fork_hook = True
    STATE.done.acquire()
    STATE.loading = True
    _hold_identity_changes()
    if not STATE.exit_hook:
        import atexit  # built in

        atexit.register(_at_exit)
        STATE.exit_hook = True
    sys.meta_path.insert(0, _ExitGuard)
    try:
        ident = _thread.start_new_thread(_load, (finish,))
    except BaseException:
        _loaded()
        raise
    STATE.loader_ident = ident
    OWN_THREADS.add(ident)
    native_dump.announce_prearmed(OWN_THREADS)  # a dump meanwhile leaves the loader out


#: What changes who the process is or what files it sees: a daemon drops
#: root or chroots right after arming, and the loader (and the sidecar it
#: starts) might then not read the interpreter's files any more.
IDENTITY_CHANGES = (
    "setuid",
    "setgid",
    "seteuid",
    "setegid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setgroups",
    "initgroups",
    "chroot",
)

_held: Dict[str, Any] = {}


def _hold_identity_changes() -> None:
    """While the loader runs, these ``os`` functions wait for it first (as a
    fork does); they are put back as they were once it is done."""
    for name in IDENTITY_CHANGES:
        original = getattr(os, name, None)
        if original is None or name in _held:
            continue

        def waiting(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            ensure_loaded()
            return _original(*args, **kwargs)

        waiting.__name__ = waiting.__qualname__ = name
        waiting.__doc__ = original.__doc__
        _held[name] = (original, waiting)
        setattr(os, name, waiting)


def _release_identity_changes() -> None:
    for name, (original, waiting) in list(_held.items()):
        if getattr(os, name, None) is waiting:  # nobody wrapped it since
            setattr(os, name, original)
        del _held[name]


def channel_socket() -> tuple[Any, str]:
    """A new listening socket of the request channel and its abstract name
    (``gurumeditation/<pid>/<nonce>``); raises ``OSError`` where it cannot be
    made.  The first step and the channel itself make it this one way."""
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        name = f"{CHANNEL_PREFIX}{os.getpid()}/{os.urandom(16).hex()}"
        sock.bind(b"\0" + name.encode("ascii"))
        sock.listen(64)
    except BaseException:
        sock.close()
        raise
    return sock, name


def _listen() -> Optional[tuple[int, Any, str, int]]:
    """The request channel's socket, listening (``None`` where it cannot be
    made: the loader tells why when it tries again)."""
    try:
        sock, name = channel_socket()
    except (OSError, ImportError):
        return None
    return os.getpid(), sock, name, os.geteuid()


def take_listener() -> Optional[tuple[Any, str, int]]:
    """The socket the first step listens on, its name and the uid it was
    made under, for the channel to answer on (``None``: none, or made by
    another process before a fork)."""
    early, STATE.listener = STATE.listener, None
    if early is None:
        return None
    pid, sock, name, uid = early
    if pid != os.getpid():
        sock.close()
        return None
    return sock, name, uid


def close_listener() -> None:
    """Not discoverable after all: stop listening."""
    early = take_listener()
    if early is not None:
        early[0].close()


class _Abandon(BaseException):
    """The interpreter exits while the loader imports: it stops there."""


class _ExitGuard:
    """First on ``sys.meta_path`` while the loader runs: once the interpreter
    exits, the loader's next import stops it (a thread still importing while
    the interpreter finalizes can crash it)."""

    @staticmethod
    def find_spec(name: str, path: Any = None, target: Any = None) -> None:
        if STATE.exiting and _thread.get_ident() == STATE.loader_ident:
            raise _Abandon(name)
        return None


def _at_exit() -> None:
    """At interpreter exit (``atexit``): the loader stops at its next import;
    wait that long (a process that exits at once pays no more of it)."""
    if STATE.loading:
        STATE.exiting = True
        if STATE.done.acquire(True, 5.0):
            STATE.done.release()


def _load(finish: Callable[[], None]) -> None:
    """The loader thread: import and arm everything, then send again what
    was asked meanwhile."""
    OWN_THREADS.add(_thread.get_ident())
    try:
        finish()
    except _Abandon:
        pass  # the interpreter exits
    except BaseException as exc:  # told on stderr; the signal handler stays
        STATE.failure = f"{type(exc).__name__}: {exc}"
        try:
            os.write(2, f"gurumeditation: arming failed: {STATE.failure}\n".encode())
        except OSError:
            pass
    finally:
        OWN_THREADS.discard(_thread.get_ident())
        after, STATE.after_load = STATE.after_load, None
        if after is not None and not STATE.exiting:
            try:
                after()  # e.g. tell the sidecar our threads: this one is gone
            except Exception:
                pass
        _loaded()


def _loaded() -> None:
    try:
        sys.meta_path.remove(_ExitGuard)
    except ValueError:
        pass
    _release_identity_changes()
    STATE.loading = False
    try:
        STATE.done.release()
    except RuntimeError:
        pass
    _resend()


def _resend() -> None:
    """Send the main thread the signal it got while loading (once, however
    many came): its handler now makes the report as it always does."""
    pending = STATE.pending
    if STATE.exiting or STATE.forward is None:
        # exiting: the handler may be gone (never the default action);
        # no forward: the loader failed, nothing could make the report
        pending.clear()
        return
    signums = []
    while pending:
        try:
            signums.append(pending.pop())
        except IndexError:
            break
    for signum in set(signums):
        STATE.resent += 1
        try:
            _signal.pthread_kill(STATE.main_ident, signum)
        except (OSError, ValueError, AttributeError):
            STATE.resent -= 1


def on_signal(signum: int, frame: Any) -> bool:
    """The armed handler's callback (main thread).  Before the machinery is
    there, the handler waits for the loader when that cannot deadlock (the
    interrupted thread is not inside an import: it holds no module lock the
    loader may need), else notes the signal and returns at once; the loader
    sends it again when ready.  Returns ``True`` when the handler must not
    chain to the handler from before (a signal we sent again: it was chained
    when it first came)."""
    resent = False
    if STATE.resent:
        STATE.resent -= 1
        resent = True
    forward = STATE.forward
    if forward is None:
        STATE.entered = time.monotonic()  # the watcher reads it (answered)
    if STATE.waiting:
        # the handler this one interrupted waits for the loader: its report
        # starts after this signal came, so it answers this one too
        return resent
    if forward is None and STATE.loading and not in_import(frame):
        STATE.waiting = True
        try:
            ensure_loaded(SIGNAL_WAIT)
        finally:
            STATE.waiting = False
        forward = STATE.forward
    if forward is None:
        if not STATE.loading:
            return resent  # the loader failed (it said why on stderr): no report
        STATE.pending.append(signum)
        if STATE.forward is not None:
            _resend()  # the loader finished meanwhile: do not lose it
        return resent
    forward(signum, frame)
    return resent


#: How long the signal handler waits for the loader at most (seconds).
SIGNAL_WAIT = 10.0


def in_import(frame: Any) -> bool:
    """Whether ``frame`` runs inside an import (a frame of ``importlib``'s
    bootstrap is below it: the thread may hold module locks)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def answered_at() -> float:
    """When the main thread last answered a signal before the machinery was
    there (now, while its handler waits for the loader: it is answering)."""
    return time.monotonic() if STATE.waiting else STATE.entered


def ready(
    forward: Callable[[int, Any], None], after_load: Optional[Callable[[], None]] = None
) -> None:
    """Called by the loader when everything is armed: signals go to
    ``forward`` (the armed ``on_signal``) from now on; ``after_load`` is
    called once the loader no longer counts among our threads (a thread
    started later may get its ident)."""
    STATE.forward = forward
    if STATE.loading:
        STATE.after_load = after_load


def ensure_loaded(timeout: float = LOAD_WAIT) -> bool:
    """Wait for the loader (never call it from a signal handler).  ``True``
    when nothing is loading any more."""
    if not STATE.loading:
        return True
    if _thread.get_ident() in OWN_THREADS:
        return True  # the loader itself
    got = STATE.done.acquire(True, timeout)
    if got:
        STATE.done.release()
    return got


def _before_fork() -> None:
    if STATE.loading and _thread.get_ident() not in OWN_THREADS:
        ensure_loaded()

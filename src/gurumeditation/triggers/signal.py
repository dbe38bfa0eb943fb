"""The signal trigger: a report on ``kill -USR2 <pid>``.

The handler runs in the main thread (Python runs signal handlers nowhere
else) and passes the request on; folding a storm into one report in flight
and one queued is the :class:`~gurumeditation.triggers.gate.ReportGate`'s
job, stepping in for a stuck main thread the
:mod:`~gurumeditation.triggers.watcher`'s.  A handler that was
installed for the signal before is not dropped: it is called after the
report (chained) — unless it was the default action or ``SIG_IGN``.
"""

from __future__ import annotations

# ``_signal``, not ``signal``: this module is imported when a bare
# interpreter arms (see :mod:`gurumeditation.early`), and ``signal`` costs
# ``enum``; ``typing`` only for the type checker.
TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    import signal
    from types import FrameType
    from typing import Any, Callable, Dict, Optional

    #: Called with the signal and frame; ``True`` back: do not chain this time.
    OnSignal = Callable[[int, Optional[FrameType]], Optional[bool]]
else:
    import _signal as signal


#: Signals that stop, kill, or already mean something to a process (job
#: control, child exits, timers, broken pipes, terminal resizes): never a
#: report signal, whatever the service asks.
REFUSED = tuple(
    getattr(signal, name)
    for name in (
        "SIGTERM",
        "SIGINT",
        "SIGQUIT",
        "SIGHUP",
        "SIGKILL",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGCONT",
        "SIGABRT",
        "SIGSEGV",
        "SIGBUS",
        "SIGFPE",
        "SIGILL",
        "SIGTRAP",
        "SIGSYS",
        "SIGCHLD",
        "SIGPIPE",
        "SIGALRM",
        "SIGVTALRM",
        "SIGPROF",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGWINCH",
        "SIGURG",
        "SIGIO",
    )
    if hasattr(signal, name)
)


def check_report_signal(signum: int) -> int:
    """``signum`` when it can ask for reports (``SIGUSR1``, ``SIGUSR2``, a
    real-time signal...); ``ValueError`` for an unknown one or one of
    :data:`REFUSED` (taking ``SIGTERM`` or ``SIGCHLD`` over would change how
    the service stops or reaps its children)."""
    valid = getattr(signal, "valid_signals", lambda: range(1, 65))()
    if signum not in valid:
        raise ValueError(f"unknown signal {signum}")
    if signum in REFUSED:
        raise ValueError(
            f"{signal_name(signum)} cannot be the report signal: it stops, kills or already "
            "means something to the process; use SIGUSR2 (the default), SIGUSR1 or a "
            "real-time signal"
        )
    return signum


def _names() -> Dict[int, str]:
    # as ``signal.Signals`` names them: of two names of one number, the
    # first in alphabetical order (SIGABRT, not SIGIOT)
    names: Dict[int, str] = {}
    for name in sorted(dir(signal)):
        if name.isupper() and name.startswith("SIG") and not name.startswith("SIG_"):
            names.setdefault(int(getattr(signal, name)), name)
    return names


_NAMES = _names()


def signal_name(signum: int) -> str:
    """``SIGUSR2`` for 12, as ``signal.Signals(signum).name``; ``signal N``
    for a number without a name."""
    return _NAMES.get(signum) or f"signal {signum}"


class MainThreadRequired(RuntimeError):
    """``setup_autorun`` was called where Python cannot install a signal handler."""


class SignalTrigger:
    def __init__(self, signum: int, on_signal: OnSignal) -> None:
        self.signum = signum
        self.on_signal = on_signal
        self.previous: Any = None
        self.installed = False

    def install(self) -> None:
        try:
            self.previous = signal.signal(self.signum, self.handle)
        except ValueError as exc:
            raise MainThreadRequired(
                f"gurumeditation could not install its {signal_name(self.signum)} handler: "
                f"{exc}. Python lets only the main thread of the main interpreter set signal "
                "handlers: call setup_autorun() from the main thread (e.g. before starting "
                "worker threads), or pass setup_signal=False and use the file trigger or the API."
            ) from exc
        if self.previous is self.handle:
            self.previous = None
        self.installed = True

    def uninstall(self) -> None:
        if not self.installed:
            return
        try:
            if signal.getsignal(self.signum) == self.handle:
                previous = self.previous
                if previous is None:
                    previous = signal.SIG_DFL
                signal.signal(self.signum, previous)
        except ValueError:
            pass
        self.installed = False

    def handle(self, signum: int, frame: Optional[FrameType]) -> None:
        """The Python-level handler (runs in the main thread)."""
        skip = False
        try:
            skip = bool(self.on_signal(signum, frame))
        finally:
            if not skip:
                self.chain(signum, frame)

    def chain(self, signum: int, frame: Optional[FrameType]) -> None:
        previous = self.previous
        if callable(previous):
            previous(signum, frame)

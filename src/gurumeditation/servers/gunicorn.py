"""gunicorn: arm every worker, never take the master's signal.

*Workers.*  A worker starts in a forked child of the master (the arbiter):
our at-fork hook re-arms there, and then gunicorn's ``Worker.init_signals``
resets every signal it knows — SIGUSR2 included — to the default action.
Left so, ``kill -USR2 WORKER`` would kill the worker and drop its requests.
:func:`adapt` wraps ``Worker.init_signals`` (in the class the process has
loaded, once) so that right after it our handler, and faulthandler on top,
are put back (:meth:`gurumeditation.arming.Armed.rearm_signal`): the signal
is the application's in a worker — gunicorn uses only SIGUSR1 (reopen
logs), SIGQUIT/SIGINT/SIGTERM, SIGWINCH and SIGABRT there.  A report signal
gunicorn handles itself in a worker (``GURUMEDITATION_SIGNAL=USR1``) is left
to gunicorn: the listing says it was taken over, the channel answers.  Workers the
master starts later (``max_requests``, a crashed worker) go the same way.

*The master.*  There SIGUSR2 is gunicorn's binary upgrade (a new master and
new workers are started): the arbiter's ``init_signals`` takes it after we
armed, and we leave it so — ``gurumeditation list`` says the signal was
taken over and answers on the channel only; ``gurumeditation report PID``
is the way to ask the master.

Nothing here imports gunicorn: only the modules the process loaded are read.
"""

from __future__ import annotations

import functools
import signal
import sys
from typing import Any, Callable, Optional

#: Set on our wrapper (so a class is wrapped once).
_MARK = "_gurumeditation_rearms"


def adapt(armed: Any) -> None:
    base = sys.modules.get("gunicorn.workers.base")
    worker_cls = getattr(base, "Worker", None)
    if worker_cls is None:
        return
    original = worker_cls.__dict__.get("init_signals")
    if original is None or getattr(original, _MARK, False):
        return
    worker_cls.init_signals = _rearming(original, armed)


def _rearming(original: Callable[..., Any], armed: Any) -> Callable[..., Any]:
    @functools.wraps(original)
    def init_signals(self: Any, *args: Any, **kwargs: Any) -> Any:
        trigger = armed.signal_trigger
        # blocked while gunicorn has it at the default action: a report
        # signal arriving then waits for our handler instead of killing
        blocked = _block(trigger.signum if trigger is not None else 0)
        try:
            result = original(self, *args, **kwargs)
            try:
                # only a signal gunicorn left at the default action is the
                # application's: one it handles itself (SIGUSR1 reopens the
                # logs) stays gunicorn's, and the listing says so
                if trigger is not None and signal.getsignal(trigger.signum) == signal.SIG_DFL:
                    armed.rearm_signal()
            except Exception:
                pass
        finally:
            if blocked is not None:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return result

    setattr(init_signals, _MARK, True)
    return init_signals


def _block(signum: int) -> Optional[Any]:
    """Block ``signum`` in this thread; the mask before (``None``: not blocked)."""
    if not signum or not hasattr(signal, "pthread_sigmask"):
        return None
    try:
        return signal.pthread_sigmask(signal.SIG_BLOCK, {signum})
    except (ValueError, OSError):
        return None


def role() -> Optional[str]:
    """``gunicorn master`` or ``gunicorn worker``, told by who handles
    SIGTERM now (the arbiter or a worker object); ``None`` before either
    set its signals up."""
    try:
        handler = signal.getsignal(signal.SIGTERM)
    except (ValueError, OSError):
        return None
    owner = getattr(handler, "__self__", None)
    if owner is None:
        return None
    base = sys.modules.get("gunicorn.workers.base")
    arbiter = sys.modules.get("gunicorn.arbiter")
    worker_cls = getattr(base, "Worker", None)
    arbiter_cls = getattr(arbiter, "Arbiter", None)
    if worker_cls is not None and isinstance(owner, worker_cls):
        kind = type(owner).__name__
        return f"gunicorn worker ({kind})"
    if arbiter_cls is not None and isinstance(owner, arbiter_cls):
        return "gunicorn master"
    return None

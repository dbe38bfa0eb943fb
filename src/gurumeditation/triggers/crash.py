"""``report_on``: reports before a kill, at a stop, on an uncaught exception.

* ``abort``: SIGABRT — what gunicorn's arbiter sends a worker whose request
  outlived ``--timeout`` — writes a full report, then the handler that was
  there runs (gunicorn's own: the worker exits) or, at the default action,
  the signal is raised again with it: the process dies as it would have.
* ``term``: SIGTERM and SIGINT write a report, then the application's
  handler (Python's ``KeyboardInterrupt`` for SIGINT) or the default action
  goes on unchanged, with the same exit status.  A signal the process
  ignores (``SIG_IGN``) is left alone.
* ``exception``: ``sys.excepthook``, ``threading.excepthook`` and asyncio's
  ``call_exception_handler`` (a task exception never retrieved, a callback
  that raised) write a report carrying the exception and its traceback, then
  call the hook that was there: the traceback on stderr and the exit status
  stay as they were.  ``KeyboardInterrupt`` and ``SystemExit`` are no crash.

Handlers are Python-level (they run in the main thread, between bytecodes):
a main thread stuck in native code runs them when it returns.  Every report
is a :class:`~gurumeditation.pipeline.ReportRequest` handed to ``submit``
(the armed gate); a signal that ends the process waits (at most
:data:`FLUSH_WAIT`) for a report in flight and the one queued.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
from types import FrameType, TracebackType
from typing import Any, Callable, Dict, List, Optional, Tuple

from .. import unpatched
from ..pipeline import ReportRequest
from .signal import signal_name

Submit = Callable[[ReportRequest], None]

#: How long a signal that ends the process waits for the reports in the gate.
FLUSH_WAIT = 10.0


def exception_facts(
    exc_type: Any, value: Any, tb: Optional[TracebackType], **where: str
) -> Dict[str, str]:
    try:
        text = "".join(traceback.format_exception(exc_type, value, tb))
    except Exception:
        text = ""
    try:
        message = str(value)
    except Exception:
        message = "<unprintable>"
    facts = {"type": getattr(exc_type, "__name__", str(exc_type)), "message": message}
    facts["traceback"] = text
    facts.update({k: v for k, v in where.items() if v})
    return facts


class CrashHooks:
    """The ``report_on`` events armed in this process (one instance, in arming)."""

    def __init__(self, submit: Submit, busy: Callable[[], bool]) -> None:
        self.submit = submit
        self.busy = busy
        self.events: Tuple[str, ...] = ()
        self.previous: Dict[int, Any] = {}
        self.old_excepthook: Any = None
        self.old_threading_hook: Any = None
        self.asyncio_undo: Optional[Callable[[], None]] = None
        #: reports written for exceptions (tests read it)
        self.exceptions = 0
        #: monotonic time the main thread last entered :meth:`handle`
        self.entered = 0.0
        self.guard: Optional[TermGuard] = None

    # -- arming ---------------------------------------------------------------
    def install(self, events: Tuple[str, ...]) -> List[str]:
        """Arm ``events``; returns what could not be armed, and why (a signal
        handler outside the main thread)."""
        self.uninstall()
        problems: List[str] = []
        self.events = events
        signums: List[int] = []
        if "term" in events:
            signums += [int(signal.SIGTERM), int(signal.SIGINT)]
        if "abort" in events:
            signums.append(int(signal.SIGABRT))
        for signum in signums:
            current = signal.getsignal(signum)
            if current == signal.SIG_IGN:
                continue  # ignored: it stops nothing, so it reports nothing
            try:
                signal.signal(signum, self.handle)
            except ValueError as exc:
                problems.append(f"{signal_name(signum)}: {exc}")
                continue
            self.previous[signum] = current
        sigterm = int(signal.SIGTERM)
        if self.previous.get(sigterm, 0) in (signal.SIG_DFL, None) and sigterm in self.previous:
            self.guard = TermGuard(self)
            if not self.guard.arm():
                self.guard = None
        if "exception" in events:
            self.old_excepthook = sys.excepthook
            sys.excepthook = self.excepthook
            self.old_threading_hook = threading.excepthook
            threading.excepthook = self.threading_hook
            self.hook_asyncio()
        return problems

    def hook_asyncio(self) -> None:
        """Wrap asyncio's ``call_exception_handler`` when asyncio is loaded."""
        if self.asyncio_undo is not None:
            return
        from ..glue import asyncio as _asyncio_glue

        self.asyncio_undo = _asyncio_glue.wrap_exception_handler(self.asyncio_exception)

    def uninstall(self) -> None:
        guard, self.guard = self.guard, None
        if guard is not None:
            guard.disarm()
        for signum, previous in self.previous.items():
            try:
                if signal.getsignal(signum) == self.handle:
                    signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
            except (ValueError, TypeError):
                pass
        self.previous = {}
        if self.old_excepthook is not None and sys.excepthook == self.excepthook:
            sys.excepthook = self.old_excepthook
        if self.old_threading_hook is not None and threading.excepthook == self.threading_hook:
            threading.excepthook = self.old_threading_hook
        self.old_excepthook = self.old_threading_hook = None
        if self.asyncio_undo is not None:
            self.asyncio_undo()
            self.asyncio_undo = None
        self.events = ()

    # -- signals ----------------------------------------------------------------
    def handle(self, signum: int, frame: Optional[FrameType]) -> None:
        self.entered = time.monotonic()
        kind = "abort" if signum == signal.SIGABRT else "term"
        previous = self.previous.get(signum)
        try:
            self.submit(ReportRequest(kind, signal_name(signum), frame))
            self.flush()
        finally:
            if callable(previous):
                previous(signum, frame)  # the application's own (or KeyboardInterrupt)
            else:  # the default action, exactly as it would have been
                signal.signal(signum, signal.SIG_DFL)
                signal.raise_signal(signum)

    def flush(self) -> None:
        """Wait for a report in flight (it writes ours, queued, after it)."""
        sleep = unpatched.get().sleep  # a green sleep would switch away in a handler
        deadline = time.monotonic() + FLUSH_WAIT
        while self.busy() and time.monotonic() < deadline:
            sleep(0.02)

    # -- exceptions --------------------------------------------------------------
    def report_exception(self, facts: Dict[str, str]) -> None:
        self.exceptions += 1
        detail = f"{facts.get('type')} in {facts.get('thread') or facts.get('hook')}"
        try:
            self.submit(ReportRequest("exception", detail, facts={"exception": facts}))
        except Exception:
            pass

    def excepthook(self, exc_type: Any, value: Any, tb: Optional[TracebackType]) -> None:
        try:
            if not issubclass(exc_type, (KeyboardInterrupt, SystemExit)):
                self.report_exception(
                    exception_facts(
                        exc_type,
                        value,
                        tb,
                        hook="sys.excepthook",
                        thread=threading.current_thread().name,
                    )
                )
        finally:
            (self.old_excepthook or sys.__excepthook__)(exc_type, value, tb)

    def threading_hook(self, args: Any) -> None:
        try:
            if not issubclass(args.exc_type, (KeyboardInterrupt, SystemExit)):
                thread = getattr(args.thread, "name", "") if args.thread is not None else ""
                self.report_exception(
                    exception_facts(
                        args.exc_type,
                        args.exc_value,
                        args.exc_traceback,
                        hook="threading.excepthook",
                        thread=str(thread),
                    )
                )
        finally:
            (self.old_threading_hook or threading.__excepthook__)(args)

    def asyncio_exception(self, context: Dict[str, Any]) -> None:
        exc = context.get("exception")
        if not isinstance(exc, BaseException) or isinstance(exc, (KeyboardInterrupt, SystemExit)):
            return
        self.report_exception(
            exception_facts(
                type(exc),
                exc,
                exc.__traceback__,
                hook="asyncio",
                thread=threading.current_thread().name,
                context=str(context.get("message") or ""),
            )
        )


#: How long the main thread gets to enter the SIGTERM handler before the
#: guard writes the report and ends the process itself.
TERM_DEADLINE = 0.25


class TermGuard:
    """SIGTERM at the default action must still end a process whose main
    thread is stuck in native code (where our Python-level handler cannot
    run).  faulthandler, registered on SIGTERM on top of Python's handler
    (chained), tells a real thread of ours at C level that the signal came;
    if the main thread has not entered the handler :data:`TERM_DEADLINE`
    later, this thread writes the report (the main thread shown where it is
    stuck), puts the default action back with a C call (``signal.signal``
    works only in the main thread) and raises SIGTERM again: the process dies
    of it, as it would have without us."""

    def __init__(self, hooks: CrashHooks) -> None:
        self.hooks = hooks
        self.read_fd = self.write_fd = -1
        self.armed = False
        self.main_ident = 0
        self.probe = 0

    def arm(self) -> bool:
        """Call from the main thread (the probe's handler is installed here)."""
        import faulthandler

        from . import watchdog

        if not hasattr(faulthandler, "register") or not hasattr(signal, "pthread_kill"):
            return False
        self.main_ident = unpatched.this_thread_ident()
        self.probe = watchdog.claim_probe()
        if not self.probe:
            return False
        try:
            import ctypes

            self.libc = ctypes.CDLL(None, use_errno=True)
            self.read_fd, self.write_fd = os.pipe()
            os.set_blocking(self.write_fd, False)
            faulthandler.register(
                int(signal.SIGTERM), file=self.write_fd, all_threads=False, chain=True
            )
        except Exception:
            self._close()
            return False
        self.armed = True
        unpatched.real_thread(self.run)
        return True

    def disarm(self) -> None:
        if self.armed:
            try:
                import faulthandler

                faulthandler.unregister(int(signal.SIGTERM))
            except Exception:
                pass
            self.armed = False
        self._close()  # the thread sees end of file, or a closed descriptor, and ends

    def forget_after_fork(self) -> None:
        """A forked child: the reading end belongs to the parent's thread."""
        if self.read_fd >= 0:
            try:
                os.close(self.read_fd)
            except OSError:
                pass
        self.read_fd = -1

    def _close(self) -> None:
        for fd in (self.write_fd,):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.write_fd = -1

    def run(self) -> None:
        prims = unpatched.get()
        fd = self.read_fd
        try:
            while True:
                try:
                    ready = prims.select([fd], [], [], None)[0]
                    data = prims.read(fd, 65536) if ready else b"?"
                except InterruptedError:
                    continue
                except (OSError, ValueError):
                    return
                if not data:
                    return
                came = time.monotonic()
                prims.sleep(TERM_DEADLINE)
                if self.hooks.entered >= came - TERM_DEADLINE or not self.armed:
                    continue  # the main thread answers: its handler does the rest
                if self.main_answers():
                    continue  # free, so the signal was not ours (a forked child's?)
                self.stand_in()
        finally:
            try:
                os.close(fd)
            except OSError:
                pass

    def main_answers(self) -> bool:
        """Whether the main thread runs a handler when signalled (the
        watchdog's probe): a free main thread that did not enter ours got no
        SIGTERM — the notification came through a pipe a forked child shares."""
        from . import watchdog

        sent = time.monotonic()
        try:
            signal.pthread_kill(self.main_ident, self.probe)
        except (OSError, ValueError):
            return True  # the main thread is gone: leave it to the interpreter
        unpatched.get().sleep(TERM_DEADLINE)
        return watchdog.ANSWERED[0] >= sent

    def stand_in(self) -> None:
        request = ReportRequest(
            "term",
            "SIGTERM",
            reason=f"main thread did not respond within {round(TERM_DEADLINE * 1000)} ms",
            producer_name="gurumeditation-term-guard",
        )
        try:
            self.hooks.submit(request)
            self.hooks.flush()
        finally:
            # the default action, as without us: SIG_DFL by a C call, then the signal again
            self.libc.signal(int(signal.SIGTERM), 0)
            os.kill(os.getpid(), int(signal.SIGTERM))

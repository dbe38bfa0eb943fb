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

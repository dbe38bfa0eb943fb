"""Arming a process: the triggers ``setup_autorun`` installs, and the gate
their requests pass through.

Every trigger — the signal handler, the watcher thread that answers for a
stuck main thread, the file trigger — describes its request as a
:class:`~gurumeditation.pipeline.ReportRequest` and submits it here
(:meth:`Armed.submit`): one gate (one report in flight, at most one queued),
then :func:`gurumeditation.pipeline.run` with the armed options and the armed
facade class.  The native dump (faulthandler + sidecar) sits on top of the
Python-level signal handler; a forked child re-arms all of it for itself.

This module keeps what is armed, and knows nothing of sections, renderers or
sinks.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from types import FrameType
from typing import Optional

from . import early, pipeline, unpatched
from . import report as _report
from .options import ReportOptions
from .pipeline import Maker, ReportRequest
from .triggers.file import FileTrigger
from .triggers.gate import ReportGate
from .triggers.native_dump import NativeDump
from .triggers.signal import SignalTrigger, signal_name
from .triggers.watcher import Watcher


class Armed:
    """What is armed in this process (one instance: :data:`ARMED`)."""

    def __init__(self) -> None:
        # the trigger a two-step arming installed first (see early), if any
        self.signal_trigger: Optional[SignalTrigger] = early.installed_trigger()
        self.native_dump: Optional[NativeDump] = None
        self.watcher: Optional[Watcher] = None
        self.file_trigger: Optional[FileTrigger] = None
        self.gate: Optional[ReportGate] = None
        self.stuck_runner: Optional[unpatched.Runner] = None
        self.fork_hook = False
        #: The options file-triggered reports are made with (``None``: the armed ones).
        self.file_options: Optional[ReportOptions] = None
        #: The options armed by ``setup_autorun`` (``None`` before) and the
        #: facade class that makes the reports.
        self.options: Optional[ReportOptions] = None
        self.maker: Optional[Maker] = None

    # -- arming -----------------------------------------------------------
    def arm(self, options: ReportOptions, maker: Optional[Maker] = None) -> None:
        """Install the signal trigger (and the native dump on top) when
        ``options`` ask for it; reports are made by ``maker`` (the facade
        class's ``for_request``).  The file trigger is started apart
        (:meth:`setup_file_trigger`)."""
        self.options = options
        self.maker = maker
        prims = unpatched.load()
        if self.gate is None:
            self.gate = ReportGate(prims.allocate_lock)
        _report.prepare()
        if options.setup_signal:
            self.setup_signal(options.signum)
        if not self.fork_hook and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self.after_fork_in_child)
            self.fork_hook = True

    def setup_signal(self, signum: int) -> None:
        old = self.signal_trigger
        if old is None or old.signum != signum or not old.installed:
            self.disarm_native()
            if old is not None:
                old.uninstall()
            trigger = SignalTrigger(signum, self.on_signal)
            trigger.install()
            self.signal_trigger = trigger
        # faulthandler goes on top of our Python-level handler (never over the
        # default action) and is re-armed so the sidecar writes where the
        # settings say
        self.disarm_native()
        self.arm_native()

    def arm_native(self) -> None:
        armed = self.options
        gate = self.gate
        if armed is None or gate is None:
            return
        settings = armed.resolved()
        dump = NativeDump(
            settings.signum, settings.service_name, settings.log_dir, settings.max_reports
        )
        try:
            if not dump.arm():
                return
        except Exception:
            return
        trigger = self.signal_trigger
        if trigger is not None:
            handler = trigger.handle
            dump.still_ours = lambda: bool(signal.getsignal(dump.signum) == handler)
        gate.on_flight = lambda writing: dump.pause(writing)
        self.native_dump = dump
        if self.stuck_runner is None or not self.stuck_runner.alive():
            self.stuck_runner = unpatched.Runner()
        watcher = Watcher(dump, gate, self.on_stuck_main_thread)
        self.watcher = watcher
        watcher.start()

    def disarm_native(self) -> None:
        dump, self.native_dump = self.native_dump, None
        self.watcher = None
        if self.gate is not None:
            self.gate.on_flight = None
        if dump is not None:
            dump.disarm()

    def setup_file_trigger(self, options: ReportOptions, own: bool = False) -> None:
        """(Re)start the file trigger on ``options.file_event_handler`` (none:
        stop it).  ``own``: its reports are made with ``options`` rather than
        with whatever is armed when the file is touched."""
        old, self.file_trigger = self.file_trigger, None
        if old is not None:
            old.stop()
        if self.gate is None:
            self.gate = ReportGate(unpatched.load().allocate_lock)
        resolved = options.resolved()
        if not resolved.file_event_handler:
            return
        self.file_options = options if own else None
        trigger = FileTrigger(
            resolved.file_event_handler,
            self.on_file_touched,
            resolved.file_event_handler_interval or 1.0,
        )
        trigger.start()
        self.file_trigger = trigger
        if self.watcher is not None:
            self.watcher.announce()  # its thread is ours too

    def after_fork_in_child(self) -> None:
        """A forked child re-arms: our helper threads did not survive the
        fork, the parent's pipes and sidecar are the parent's."""
        try:
            unpatched.OWN_THREADS.clear()
            _report.forget_after_fork()
            _report.prepare()
            self.stuck_runner = None
            if self.options is None and self.file_trigger is None:
                return
            prims = unpatched.get()
            self.gate = ReportGate(prims.allocate_lock)
            dump, self.native_dump = self.native_dump, None
            self.watcher = None
            if dump is not None:
                if dump.armed:
                    import faulthandler

                    faulthandler.unregister(dump.signum)
                dump.close()
                self.arm_native()
            old, self.file_trigger = self.file_trigger, None
            if old is not None:
                old.forget_after_fork()
                self.file_trigger = old.restarted()
            if self.watcher is not None:
                self.watcher.announce()
        except Exception:
            pass

    # -- requests ---------------------------------------------------------
    def submit(self, request: ReportRequest) -> None:
        """Ask the gate for a report; it runs in this thread unless one is in
        flight (then it is queued, and the thread in flight writes it).  The
        frame, reason and producer name of a request belong to the thread
        that asked: the thread in flight writing a queued request drops them."""
        gate = self.gate
        prims = unpatched.get()
        asked_by = prims.get_ident()

        def job() -> None:
            me = prims.get_ident()
            current = request
            if me != asked_by:
                current = dataclasses.replace(
                    request, frame=None, reason="", producer_ident=me, producer_name=""
                )
            elif not current.producer_ident:
                current = dataclasses.replace(current, producer_ident=me)
            pipeline.run(current, self.options, self.maker)

        if gate is None:
            job()
        else:
            gate.submit(job)

    def on_signal(self, signum: int, frame: Optional[FrameType]) -> None:
        gate = self.gate
        if gate is not None:
            gate.main_entered = time.monotonic()
        self.submit(ReportRequest("signal", signal_name(signum), frame))

    def on_stuck_main_thread(self, deadline: float) -> None:
        """The watcher saw a signal the main thread did not answer in time:
        write the report from a real thread of ours (the watcher stays free
        to answer the sidecar)."""
        armed = self.options
        if armed is None:
            return
        request = ReportRequest(
            "signal",
            signal_name(armed.signum),
            reason=f"main thread did not respond within {round(deadline * 1000)} ms",
            producer_name="gurumeditation-watcher",
        )
        runner = self.stuck_runner
        if runner is None or not runner.alive():
            runner = self.stuck_runner = unpatched.Runner()
        runner.post(lambda: self.submit(request))  # busy: a report from it is on its way

    def on_file_touched(self, path: str) -> None:
        self.submit(
            ReportRequest(
                "file",
                path,
                producer_name="gurumeditation-file-trigger",
                options=self.file_options,
            )
        )


#: The triggers armed in this process.
ARMED = Armed()

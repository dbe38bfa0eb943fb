"""Arming a process: the triggers ``setup_autorun`` installs, and how a
trigger's request becomes a report.

Every trigger — the signal handler, the watcher thread that answers for a
stuck main thread, the file trigger — submits to one gate (one report in
flight, at most one queued), and the report is made by the facade's
``produce``.  The native dump (faulthandler + sidecar) sits on top of the
Python-level signal handler; a forked child re-arms all of it for itself.

The facade keeps what the service asked for (its ``Settings``); this module
keeps what is armed, and knows nothing of sections, renderers or sinks.
"""

from __future__ import annotations

import os
import signal
import time
from types import FrameType
from typing import Any, Callable, Dict, Optional

from . import report as _report
from . import unpatched
from .triggers.file import FileTrigger
from .triggers.gate import ReportGate
from .triggers.native_dump import NativeDump
from .triggers.signal import SignalTrigger, signal_name
from .triggers.watcher import Watcher

#: ``produce(settings, frame=, trigger=, reason=, producer_ident=, producer_name=)``
Produce = Callable[..., Any]


class Armed:
    """What is armed in this process (one instance: :data:`ARMED`)."""

    def __init__(self) -> None:
        self.signal_trigger: Optional[SignalTrigger] = None
        self.native_dump: Optional[NativeDump] = None
        self.watcher: Optional[Watcher] = None
        self.file_trigger: Optional[FileTrigger] = None
        self.gate: Optional[ReportGate] = None
        self.stuck_runner: Optional[unpatched.Runner] = None
        self.fork_hook = False
        #: The facade's current settings (``None`` before setup) and report maker.
        self.settings: Callable[[], Any] = lambda: None
        self.produce: Optional[Produce] = None

    # -- arming -----------------------------------------------------------
    def arm(self, settings: Callable[[], Any], produce: Produce) -> None:
        """Install every trigger the current settings ask for."""
        self.settings = settings
        self.produce = produce
        current = settings()
        prims = unpatched.load()
        if self.gate is None:
            self.gate = ReportGate(prims.allocate_lock)
        _report.prepare()
        if current.setup_signal:
            self.setup_signal(current.signum)
        self.setup_file_trigger()
        if self.watcher is not None:
            self.watcher.announce()  # the file trigger's thread too
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
        settings = self.settings()
        gate = self.gate
        if settings is None or gate is None:
            return
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

    def setup_file_trigger(self) -> None:
        settings = self.settings()
        old, self.file_trigger = self.file_trigger, None
        if old is not None:
            old.stop()
        if settings is None or not settings.file_event_handler:
            return
        trigger = FileTrigger(
            settings.file_event_handler,
            self.on_file_touched,
            settings.file_event_handler_interval,
        )
        trigger.start()
        self.file_trigger = trigger

    def after_fork_in_child(self) -> None:
        """A forked child re-arms: our helper threads did not survive the
        fork, the parent's pipes and sidecar are the parent's."""
        try:
            unpatched.OWN_THREADS.clear()
            _report.forget_after_fork()
            _report.prepare()
            self.stuck_runner = None
            if self.settings() is None:
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
                self.setup_file_trigger()
            if self.watcher is not None:
                self.watcher.announce()
        except Exception:
            pass

    # -- requests ---------------------------------------------------------
    def submit(
        self,
        trigger: Dict[str, str],
        frame: Optional[FrameType] = None,
        reason: str = "",
        producer_name: str = "",
        sink: Any = None,
        formats: Any = None,
    ) -> None:
        """Ask the gate for a report; it runs in this thread unless one is in
        flight (then it is queued, and the thread in flight writes it).
        ``sink``/``formats``: where and how instead of the settings' (the channel)."""
        gate = self.gate
        prims = unpatched.get()
        asked_by = prims.get_ident()

        def job() -> None:
            settings = self.settings()
            produce = self.produce
            if settings is None or produce is None:
                return
            me = prims.get_ident()
            here = me == asked_by
            produce(
                settings,
                frame=frame if here else None,
                trigger=trigger,
                reason=reason if here else "",
                producer_ident=me,
                producer_name=producer_name if here else "",
                sink=sink,
                formats=formats,
            )

        if gate is None:
            job()
        else:
            gate.submit(job)

    def on_signal(self, signum: int, frame: Optional[FrameType]) -> None:
        gate = self.gate
        if gate is not None:
            gate.main_entered = time.monotonic()
        self.submit({"kind": "signal", "detail": signal_name(signum)}, frame)

    def on_stuck_main_thread(self, deadline: float) -> None:
        """The watcher saw a signal the main thread did not answer in time:
        write the report from a real thread of ours (the watcher stays free
        to answer the sidecar)."""
        settings = self.settings()
        if settings is None:
            return
        trigger = {"kind": "signal", "detail": signal_name(settings.signum)}
        reason = f"main thread did not respond within {round(deadline * 1000)} ms"

        def write() -> None:
            self.submit(trigger, None, reason, "gurumeditation-watcher")

        runner = self.stuck_runner
        if runner is None or not runner.alive():
            runner = self.stuck_runner = unpatched.Runner()
        runner.post(write)  # busy: a report from it is on its way already

    def on_file_touched(self, path: str) -> None:
        self.submit({"kind": "file", "detail": path}, None, "", "gurumeditation-file-trigger")


#: The triggers armed in this process.
ARMED = Armed()

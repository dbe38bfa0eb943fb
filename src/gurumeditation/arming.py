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

import _thread
import dataclasses
import os
import signal
import time
from types import FrameType
from typing import Optional

from . import early, family, pipeline, servers, unpatched
from . import report as _report
from .options import ReportOptions
from .pipeline import Maker, ReportRequest
from .sinks import write_stderr
from .triggers import fatal as _fatal
from .triggers.crash import CrashHooks
from .triggers.file import FileTrigger
from .triggers.gate import ReportGate
from .triggers.native_dump import NativeDump
from .triggers.signal import SignalTrigger, signal_name
from .triggers.watchdog import Watchdog
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
        #: The pid armed (or re-armed after a fork) last: a second fork hook
        #: of the same child (uWSGI's and Python's) does nothing.
        self.pid = 0
        #: A thread waits for a not yet parsed conf to name a file trigger.
        self.conf_watch = False
        #: The options file-triggered reports are made with (``None``: the armed ones).
        self.file_options: Optional[ReportOptions] = None
        #: The options armed by ``setup_autorun`` (``None`` before) and the
        #: facade class that makes the reports.
        self.options: Optional[ReportOptions] = None
        self.maker: Optional[Maker] = None
        #: report_on's signal and exception hooks; the stall/memory watchdog;
        #: the file faulthandler writes a fatal dump into (``None``: none)
        self.crash: Optional[CrashHooks] = None
        self.watchdog: Optional[Watchdog] = None
        self.auto_runner: Optional[unpatched.Runner] = None
        self.fatal_path: Optional[str] = None
        self.fatal_armed = False

    # -- arming -----------------------------------------------------------
    def arm(self, options: ReportOptions, maker: Optional[Maker] = None) -> None:
        """Install the signal trigger (and the native dump on top) when
        ``options`` ask for it; reports are made by ``maker`` (the facade
        class's ``for_request``).  The file trigger is started apart
        (:meth:`setup_file_trigger`)."""
        self.options = options
        self.maker = maker
        self.pid = os.getpid()
        prims = unpatched.load()
        if self.gate is None:
            self.gate = ReportGate(prims.allocate_lock)
        _report.prepare()
        resolved = options.resolved()
        self.arm_fatal(resolved)
        track_locks(options)
        if options.setup_signal:
            self.setup_signal(options.signum)
        self.arm_automatic(resolved)
        if not self.fork_hook and hasattr(os, "register_at_fork"):
            os.register_at_fork(
                after_in_child=self.after_fork_in_child, after_in_parent=self.after_fork_in_parent
            )
            self.fork_hook = True
        servers.adapt(self)

    def signal_is_ours(self, signum: Optional[int] = None) -> bool:
        """Whether the Python-level handler of the report signal (or of
        ``signum``) is ours right now — asked of ``signal.getsignal``, never
        of a flag: a server may have reset it since (gunicorn's workers do)."""
        trigger = self.signal_trigger
        if trigger is None or not trigger.installed:
            return False
        if signum is not None and signum != trigger.signum:
            return False
        try:
            return bool(signal.getsignal(trigger.signum) == trigger.handle)
        except (ValueError, OSError):
            return False

    # -- reports that come by themselves (report_on, watchdog, rss_limit) -----
    def arm_fatal(self, resolved: ReportOptions) -> None:
        """``report_on`` "fatal": faulthandler into a file of ours (before the
        native dump starts its sidecar, which names the file after a crash)."""
        wanted = "fatal" in (resolved.report_on or ())
        if self.fatal_armed:
            _fatal.disarm(self.fatal_path)
            self.fatal_path, self.fatal_armed = None, False
        if not wanted:
            return
        try:
            if resolved.log_dir:
                _fatal.adopt_orphans(resolved.log_dir, resolved.service_name, resolved.max_reports)
            self.fatal_path = _fatal.arm(resolved.log_dir, resolved.service_name)
            self.fatal_armed = True
        except OSError as exc:
            write_stderr(f"gurumeditation: report_on fatal not armed: {exc}")

    def arm_automatic(self, resolved: ReportOptions) -> None:
        """``report_on`` signals and hooks, the watchdog and the memory threshold."""
        if self.crash is None:
            self.crash = CrashHooks(
                self.submit, lambda: bool(self.gate is not None and self.gate.busy)
            )
        events = tuple(e for e in (resolved.report_on or ()) if e != "fatal")
        for problem in self.crash.install(events):  # not the main thread: no signal handler
            write_stderr(f"gurumeditation: report_on not armed for {problem}")
        old, self.watchdog = self.watchdog, None
        if old is not None:
            old.stop()
        seconds = float(resolved.watchdog or 0)
        rss_limit = int(resolved.rss_limit or 0)
        if seconds <= 0 and rss_limit <= 0:
            return
        if self.auto_runner is None or not self.auto_runner.alive():
            self.auto_runner = unpatched.Runner()
        dog = Watchdog(seconds, rss_limit, self.on_stall, self.on_rss, write_stderr)
        taken = (self.native_dump.dump_signal,) if self.native_dump is not None else ()
        try:
            dog.arm_main(taken)
        except ValueError:
            pass  # not the main thread: loops and hubs only
        dog.arm_hub()
        watcher = self.watcher
        if watcher is not None:
            dog.heartbeat = watcher.heartbeat  # a frozen interpreter: the sidecar dumps
        dog.start()
        self.watchdog = dog
        if self.watcher is not None:
            self.watcher.announce()  # its threads are ours too

    def post_auto(self, request: ReportRequest) -> bool:
        runner = self.auto_runner
        if runner is None or not runner.alive():
            runner = self.auto_runner = unpatched.Runner()
        return runner.post(lambda: self.submit(request))

    def on_stall(self, what: str, seconds: float, where: str) -> bool:
        """The watchdog saw a stall: its report, from a thread of ours."""
        stall = {"what": what, "seconds": round(seconds, 3), "where": where}
        return self.post_auto(
            ReportRequest(
                "watchdog",
                f"{what} made no progress for {seconds:.1f} s",
                producer_name="gurumeditation-watchdog",
                facts={"stall": stall},
            )
        )

    def on_rss(self, rss: int, limit: int) -> bool:
        return self.post_auto(
            ReportRequest(
                "rss",
                f"resident memory {rss} bytes above rss_limit {limit}",
                producer_name="gurumeditation-watchdog",
                facts={"memory": {"rss_bytes": rss, "limit_bytes": limit}},
            )
        )

    def setup_signal(self, signum: int) -> None:
        old = self.signal_trigger
        if not self.signal_is_ours(signum) and not self._taken_while_loading(old, signum):
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

    @staticmethod
    def _taken_while_loading(old: Optional[SignalTrigger], signum: int) -> bool:
        """Armed in two steps, the application took the signal between the
        first step and this (the loader, not the main thread): it stays
        theirs (the listing and the header say so), and only the main thread
        could take it back anyway."""
        main = early.STATE.main_ident
        return bool(
            old is not None
            and old.signum == signum
            and main
            and _thread.get_ident() != main
        )

    def arm_native(self, adopt: Optional[int] = None) -> None:
        """The native dump, its sidecar and the watcher; ``adopt``: the
        adoption socket of the sidecar of our tree (a forked child)."""
        armed = self.options
        gate = self.gate
        if armed is None or gate is None:
            if adopt is not None:
                os.close(adopt)
            return
        settings = armed.resolved()
        dump = NativeDump(
            settings.signum, settings.service_name, settings.log_dir, settings.max_reports
        )
        dump.inherited_adopt = adopt
        dump.file_pid = family.file_pid()
        dump.fatal_path = self.fatal_path or ""
        try:
            if not dump.arm(on_signal=self.signal_is_ours(settings.signum)):
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

    def rearm_signal(self) -> bool:
        """Take the report signal back where a server reset it after we armed
        (a gunicorn worker's start-up): our Python-level handler again, and
        faulthandler on top of it (the sidecar and watcher are kept).  Only
        a server module that knows the signal is the application's calls
        this; returns whether anything was done."""
        armed = self.options
        trigger = self.signal_trigger
        if armed is None or trigger is None or not armed.setup_signal:
            return False
        if self.signal_is_ours():
            return False
        dump = self.native_dump
        if dump is not None and dump.armed:
            dump.unregister()  # faulthandler's saved handler is stale now
        trigger.uninstall()
        fresh = SignalTrigger(trigger.signum, self.on_signal)
        fresh.install()
        self.signal_trigger = fresh
        if dump is not None and dump.dump_fd is not None and dump.signum == fresh.signum:
            handler = fresh.handle
            dump.still_ours = lambda: bool(signal.getsignal(dump.signum) == handler)
            dump.reregister()
        else:
            self.disarm_native()
            self.arm_native()
        return True

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

    def after_fork_in_parent(self) -> None:
        """This process forked: it shares its service name now (its report
        files carry its pid from now on; the sidecar is told so too)."""
        try:
            family.note_fork()
            dump, watcher = self.native_dump, self.watcher
            if dump is not None and watcher is not None and not dump.file_pid:
                dump.file_pid = os.getpid()
                watcher.announce()
        except Exception:
            pass

    def watch_conf(self, options: ReportOptions, poll: float = 1.0) -> None:
        """``options.conf`` is not parsed yet (octavia calls ``setup_autorun``
        before ``CONF(...)``): its ``[oslo_reports] file_event_handler`` may
        name a file only later.  A real thread of ours looks every ``poll``
        seconds until the conf is parsed (then once more), and starts the
        file trigger when it names one; the log dir and the rest are read at
        report time anyway."""
        conf = options.conf
        if conf is None or self.conf_watch:
            return
        self.conf_watch = True
        prims = unpatched.get()

        def run() -> None:
            try:
                while True:
                    parsed = getattr(conf, "_namespace", True) is not None
                    armed = self.options
                    if armed is None or armed.conf is not conf or self.file_trigger is not None:
                        return
                    try:
                        resolved = armed.resolved()
                    except Exception:
                        resolved = None
                    if resolved is not None and resolved.file_event_handler:
                        self.setup_file_trigger(armed)
                        return
                    if parsed:
                        return
                    prims.sleep(poll)
            finally:
                self.conf_watch = False

        unpatched.real_thread(run)

    def after_fork_in_child(self) -> None:
        """A forked child re-arms: our helper threads did not survive the
        fork, the parent's pipes and sidecar are the parent's.  Once per
        child (a server's own fork hook may call it after Python's did)."""
        if self.pid == os.getpid():
            return
        self.pid = os.getpid()
        try:
            unpatched.forked()
            family.note_fork()
            unpatched.OWN_NATIVE_IDS.clear()
            _report.forget_after_fork()
            _report.prepare()
            self.stuck_runner = None
            self.auto_runner = None
            if self.options is None and self.file_trigger is None:
                return
            prims = unpatched.get()
            self.gate = ReportGate(prims.allocate_lock)
            if self.fatal_armed:  # our own file: a crash of the child is the child's
                self.fatal_path = None  # the parent's file stays the parent's, even when empty
                self.arm_fatal(self.options.resolved() if self.options else ReportOptions())
            dump, self.native_dump = self.native_dump, None
            self.watcher = None
            if dump is not None:
                dump.unregister()
                adopt = dump.take_adopt()  # our parent's sidecar serves us too
                dump.close()
                self.arm_native(adopt)
            old, self.file_trigger = self.file_trigger, None
            if old is not None:
                old.forget_after_fork()
                self.file_trigger = old.restarted()
            if self.conf_watch and self.options is not None:
                self.conf_watch = False  # its thread did not survive the fork
                self.watch_conf(self.options)
            crash = self.crash
            if crash is not None and crash.guard is not None:
                crash.guard.forget_after_fork()  # its thread is the parent's
                crash.install(crash.events)  # the SIGTERM guard's pipe: the child's own
            dog = self.watchdog
            if dog is not None:
                dog.forget_after_fork()
                dog.heartbeat = self.watcher.heartbeat if self.watcher is not None else None
                dog.start()
            if self.watcher is not None:
                self.watcher.announce()
            servers.adapt(self)
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
            dog = self.watchdog
            recovered = dog.take_recovered() if dog is not None else None
            if recovered:
                facts = dict(current.facts or {})
                facts["recovered"] = recovered
                current = dataclasses.replace(current, facts=facts)
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
        if armed is None or not self.signal_is_ours():
            # faulthandler was still registered on top of a handler that is
            # not ours (a server took the signal): it never was a request
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


def track_locks(options: ReportOptions) -> None:
    """Owner tracking (:mod:`.why.tracking`) when ``track_locks`` asks for it
    (imported only then); a report run installs it again for libraries
    loaded since."""
    try:
        wanted = options.resolved().track_locks
    except Exception:
        return
    if wanted:
        from .why import tracking

        tracking.install()

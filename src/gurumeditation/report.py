"""One report run: collect every section into a :class:`~gurumeditation.model.Report`.

The run isolates failures: a section that raises is replaced by its error
(type, message, traceback) and the next section is collected; the run itself
never raises into the application.  A *timed* section (every registered one)
runs in a helper thread under a time budget: when it does not finish in time
it is abandoned, noted with the stack where it hangs, and the run goes on.
"""

from __future__ import annotations

import gc
import os
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Callable, Dict, List, Optional, Sequence

from . import unpatched
from .model import REPORT_VERSION, Header, PythonFacts, Report, Section, Trigger, error_of
from .options import ReportOptions
from .redact import Redactor
from .runstate import RunState


@dataclass
class Context:
    """What a report run knows about its request: who asked, what the
    interrupted frame was, and the :class:`~gurumeditation.options.ReportOptions`
    it is made with (``ctx.options``; the properties below are shorthand)."""

    options: ReportOptions = field(default_factory=ReportOptions)
    #: The frame the signal interrupted (shown for the thread that handles it).
    frame: Optional[FrameType] = None
    trigger: Trigger = field(default_factory=lambda: Trigger(kind="api", detail="run()"))
    #: Why this thread, not the usual one, produced the report ("" when usual).
    reason: str = ""
    redactor: Redactor = field(default_factory=Redactor)
    #: Idents of threads that belong to this library (never shown).
    own_threads: frozenset = frozenset()  # type: ignore[type-arg]
    #: ``threading.get_ident()`` of the thread running the report.
    producer_ident: int = 0
    #: What this run learns once and its sections share (typed, see RunState).
    state: RunState = field(default_factory=RunState)
    #: Name of the producing thread when ``threading`` does not know it.
    producer_name: str = ""

    # shorthand for ``ctx.options.<name>`` (the names sections have always read)
    @property
    def version(self) -> Any:
        return self.options.version

    @property
    def service(self) -> str:
        return self.options.service_name

    @property
    def conf(self) -> Any:
        return self.options.conf

    @property
    def group(self) -> bool:
        return self.options.group

    @property
    def include_env(self) -> bool:
        return self.options.include_env

    @property
    def max_fds(self) -> int:
        return self.options.max_fds

    @property
    def gc_scan(self) -> bool:
        return self.options.gc_scan

    @property
    def section_timeout(self) -> float:
        return self.options.section_timeout


Collector = Callable[[Context], Any]


@dataclass(frozen=True)
class SectionSpec:
    """A section: a stable ``id`` (used as JSON key and by renderers), the
    classic ``title``, and the collector returning its plain data — or ``None``
    when it has nothing to show (the section is then left out).

    ``redacted``: the collector passes every application value through
    ``ctx.redactor`` itself.  Otherwise the run passes the section's data
    through it (every string searched for credentials, values of secret-named
    keys masked; ``stack`` lists are left alone: their source lines are
    redacted when read)."""

    id: str
    title: str
    collect: Collector
    redacted: bool = False
    #: Run in a helper thread under :attr:`Context.section_timeout` (sections
    #: running application code, which may hang).
    timed: bool = False
    #: Collected after every other section (it reads what they found, and
    #: which of them failed, from ``ctx.state``) and placed first.
    first: bool = False


def _producer_name(ident: int) -> str:
    thread = threading._active.get(ident)  # type: ignore[attr-defined]
    if thread is None:  # monkey patched: look among the real threads' objects
        thread = unpatched.thread_objects(sys._current_frames()).get(ident)
    if thread is not None:
        try:
            return str(thread.name)
        except Exception:
            pass
    return f"Thread-{ident}"


def stdlib_dir() -> str:
    """Where this interpreter's standard library is (``""`` when unknown):
    the renderers tell its frames from the application's by it."""
    found = getattr(sys, "_stdlib_dir", None)  # 3.11+
    if not found:
        os_file = getattr(os, "__file__", None)
        found = os.path.dirname(os_file) if os_file else ""
    return str(found)


def python_facts(text: Callable[[str], str] = str) -> PythonFacts:
    """The interpreter; ``text`` is the redactor's for the paths it names."""
    facts: PythonFacts = {
        "implementation": sys.implementation.name,
        "version": sys.version.split()[0],
        "executable": sys.executable or "",
    }
    stdlib = stdlib_dir()
    if stdlib:
        facts["stdlib"] = text(stdlib)
    return facts


def build_header(ctx: Context) -> Header:
    argv = [str(a) for a in getattr(sys, "argv", [])]
    now = time.time()
    header: Header = {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        + f".{int(now % 1 * 1e6):06d}Z",
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "hostname": socket.gethostname(),
        "service": ctx.service,
        "python": python_facts(ctx.redactor.text),
        "argv": ctx.redactor.argv(argv),
        "trigger": trigger_facts(ctx),
        "producer": {
            "thread": ctx.producer_name or _producer_name(ctx.producer_ident),
            "ident": ctx.producer_ident,
            "main": ctx.producer_ident
            in (threading.main_thread().ident, unpatched.main_ident(sys._current_frames())),
            "reason": ctx.reason,
        },
    }
    signal_header(header)
    return header


def trigger_facts(ctx: Context) -> Trigger:
    """The request's trigger; the text of an exception it carries passes the
    redactor (the application's message and source lines may hold secrets)."""
    trigger: Trigger = dict(ctx.trigger)  # type: ignore[assignment]
    exc = trigger.get("exception")
    if exc:
        exc = dict(exc)  # type: ignore[assignment]
        for key in ("message", "traceback", "context"):
            if key in exc:
                exc[key] = ctx.redactor.text(str(exc[key]))
        trigger["exception"] = exc
    return trigger


def signal_header(header: Header) -> None:
    """Whether the report signal is still ours, and who took it (additive)."""
    try:
        from .discovery import signal_state

        state = signal_state()
    except Exception:
        state = None
    if state is not None:
        header["signal"] = state


#: Keys whose values the run does not search for credentials: stacks (their
#: source lines are redacted when read, file names are not secrets) and a
#: unit's ``wait`` and ``os`` facts (this library's words, ids and file:line;
#: the names and descriptions in them are redacted where they are made,
#: :meth:`..why.graph.WhyState.wait_data`, ``sections/threads.py``).
_NOT_SCANNED = frozenset({"stack", "wait", "os"})


def collect_section(spec: SectionSpec, ctx: Context) -> Optional[Section]:
    """Run one collector; its exception becomes the section's content (with
    credentials in its message and traceback masked)."""
    try:
        data = spec.collect(ctx)
        if data is not None and not spec.redacted:
            data = ctx.redactor.data(data, _NOT_SCANNED)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        error = error_of(exc, traceback.format_exc())
        try:
            error["message"] = ctx.redactor.text(error["message"])
            error["traceback"] = ctx.redactor.text(error["traceback"])
        except Exception:  # never show an error the redactor could not read
            error["message"] = "<hidden: the redactor failed on it>"
            error["traceback"] = ""
        return {"id": spec.id, "title": spec.title, "error": error}
    if data is None:
        return None
    return {"id": spec.id, "title": spec.title, "data": data}


#: Section id -> ident of its helper thread that is still running from an
#: earlier report (a hung section is not started a second time).
_HUNG: Dict[str, int] = {}


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _timeout_section(spec: SectionSpec, ctx: Context, message: str, ident: int) -> Section:
    """The section's place in the report: where its thread hangs."""
    frame = sys._current_frames().get(ident)
    try:
        where = "".join(traceback.format_stack(frame)) if frame is not None else ""
        where = ctx.redactor.text(where)
    except Exception:
        where = ""
    del frame
    return {
        "id": spec.id,
        "title": spec.title,
        "error": {"type": "SectionTimeout", "message": message, "traceback": where},
    }


_RUNNER: Optional[unpatched.Runner] = None


def prepare() -> None:
    """Start the thread that runs timed sections (at setup, not during a
    report; again in a forked child)."""
    global _RUNNER
    if _RUNNER is None or not _RUNNER.alive():
        _RUNNER = unpatched.Runner()


def forget_after_fork() -> None:
    global _RUNNER
    _RUNNER = None
    _HUNG.clear()
    GCPaused.after_fork()


def collect_timed(spec: SectionSpec, ctx: Context) -> Optional[Section]:
    """Run one section in our helper thread and wait at most
    ``ctx.section_timeout`` for it.  Waiting uses an unpatched lock of our
    own: nothing the application may hold.  A section that does not finish
    keeps that thread (it ends when the section returns); the next one gets
    a new thread."""
    global _RUNNER
    budget = ctx.section_timeout
    if budget <= 0:
        return collect_section(spec, ctx)
    hung = _HUNG.get(spec.id)
    if hung is not None and hung in unpatched.OWN_THREADS:
        return _timeout_section(
            spec,
            ctx,
            f"did not finish in {_seconds(budget)} in an earlier report and is still "
            "running; not started again",
            hung,
        )
    _HUNG.pop(spec.id, None)
    prepare()
    runner = _RUNNER
    assert runner is not None
    done = unpatched.get().allocate_lock()
    done.acquire()
    box: Dict[str, Optional[Section]] = {}

    def work() -> None:
        try:
            box["section"] = collect_section(spec, ctx)
        finally:
            done.release()

    if not runner.post(work):
        return collect_section(spec, ctx)  # cannot happen: a busy runner is retired
    if done.acquire(True, budget):
        return box.get("section")
    _HUNG[spec.id] = runner.ident
    runner.retire()
    _RUNNER = None
    return _timeout_section(
        spec, ctx, f"did not finish in {_seconds(budget)}; abandoned (it was here:)", runner.ident
    )


class GCPaused:
    """Keep the cyclic collector off while a report allocates: a collection
    set off by the report's own garbage would pause every thread.  Nested
    pauses (the pipeline's around collect, render and delivery; the run's
    around collecting) turn it back on once, when the outermost ends, and
    only if it was on before it; :meth:`enabled_before` tells what it was."""

    _depth = 0
    _was_enabled = False

    def __enter__(self) -> None:
        if GCPaused._depth == 0:
            GCPaused._was_enabled = gc.isenabled()
            if GCPaused._was_enabled:
                gc.disable()
        GCPaused._depth += 1

    def __exit__(self, *exc: object) -> None:
        if GCPaused._depth == 0:  # reset by after_fork meanwhile
            return
        GCPaused._depth -= 1
        if GCPaused._depth == 0 and GCPaused._was_enabled:
            gc.enable()

    @staticmethod
    def after_fork() -> None:
        """In a child forked while a report ran (by another thread): that
        report does not go on here, so the collector is turned back on."""
        if GCPaused._depth:
            GCPaused._depth = 0
            if GCPaused._was_enabled:
                gc.enable()

    @staticmethod
    def enabled_before() -> bool:
        """Whether the collector was on before the outermost pause (now,
        when none is under way)."""
        return GCPaused._was_enabled if GCPaused._depth else gc.isenabled()


def run_report(ctx: Context, specs: Sequence[SectionSpec]) -> Report:
    """Collect ``specs`` in order into a report.  Never raises except on
    ``KeyboardInterrupt``/``SystemExit``."""
    started = time.perf_counter()
    if not ctx.producer_ident:
        ctx.producer_ident = unpatched.this_thread_ident()
    # shown by Memory and GC as they were before the report paused and allocated
    ctx.state.gc_was_enabled = GCPaused.enabled_before()
    ctx.state.gc_counts = gc.get_count()
    with GCPaused():
        try:
            header = build_header(ctx)
        except Exception as exc:  # the header must not cost the sections
            header = {"pid": os.getpid(), "service": ctx.service, "error": str(exc)}
        sections: List[Section] = []
        for spec in specs:
            if spec.first:
                continue
            section = collect_timed(spec, ctx) if spec.timed else collect_section(spec, ctx)
            if section is not None:
                sections.append(section)
        leading: List[Section] = []
        firsts = [spec for spec in specs if spec.first]
        if firsts:
            ctx.state.failed = [
                (s["id"], s["title"], f"{s['error']['type']}: {s['error']['message']}")
                for s in sections
                if "error" in s
            ]
        for spec in firsts:
            section = collect_timed(spec, ctx) if spec.timed else collect_section(spec, ctx)
            if section is not None:
                leading.append(section)
        sections[:0] = leading
        header["durationMs"] = round((time.perf_counter() - started) * 1000.0, 3)
        header["redactedCount"] = ctx.redactor.count
    return {"reportVersion": REPORT_VERSION, "header": header, "sections": sections}

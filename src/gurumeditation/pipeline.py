"""One report, start to end: request → collect → render → deliver.

Every trigger — the signal handler, the watcher standing in for a stuck main
thread, the file trigger, the facade's ``handle_signal`` — describes what it
wants as a :class:`ReportRequest` and submits it through the gate
(:meth:`gurumeditation.arming.Armed.submit`), which calls :func:`run`.  The
trigger decides its own identity (``kind``/``detail``): nothing downstream
rewrites it.  A trigger that brings its own destination passes a ``sink``
(anything with ``write(contents) -> paths``) and, if it wants, ``formats``.

Text is produced by the public ``run()`` of the armed facade class (a service
or a test may patch it, as with oslo.reports); JSON and HTML are rendered
from the same document.  :func:`run` never raises: a failure as a whole is
told on stderr (its traceback, then ``Unable to run Guru Meditation Report!``).
"""

from __future__ import annotations

import traceback as _traceback
from dataclasses import dataclass
from types import FrameType
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from . import render as _render
from . import sections as _sections
from . import unpatched
from .meditation import Meditation
from .model import Report, Trigger
from .options import FORMATS, ReportOptions
from .report import Context, GCPaused, SectionSpec, run_report
from .sections import registered as _registered
from .sinks import LogDirSink, Sink, StderrSink, deliver, write_stderr

#: The line that closes a failed report on stderr (oslo.reports' words).
FAILED = "Unable to run Guru Meditation Report!"


@dataclass(frozen=True)
class ReportRequest:
    """What a trigger asks for.

    ``kind``/``detail``: the trigger, as the report's header shows it
    (``signal``/``SIGUSR2``, ``file``/the path, ``api``/``handle_signal()``).
    ``frame``: the frame the request interrupted (shown for the thread that
    writes the report).  ``reason``: why a thread other than the usual one
    writes it.  ``producer_ident``/``producer_name``: that thread, when it is
    not the one running :func:`run` (0/"": the running thread).  ``sink``:
    where the report goes instead of the armed log directory or stderr;
    ``formats``: instead of the armed formats; ``options``: instead of the
    armed options (the facade's ``handle_signal(version, service, log_dir)``).
    ``facts``: what an automatic trigger adds to the header's ``trigger``
    (``stall``, ``exception``, ``memory``, ``recovered``: see
    :class:`~gurumeditation.model.Trigger`); ``None``: nothing.
    """

    kind: str
    detail: str = ""
    frame: Optional[FrameType] = None
    reason: str = ""
    producer_ident: int = 0
    producer_name: str = ""
    sink: Optional[Sink] = None
    formats: Optional[Tuple[str, ...]] = None
    options: Optional[ReportOptions] = None
    facts: Optional[Mapping[str, Any]] = None

    @property
    def trigger(self) -> Trigger:
        trigger: Dict[str, Any] = {"kind": self.kind, "detail": self.detail}
        if self.facts:
            trigger.update(self.facts)
        return trigger  # type: ignore[return-value]


#: Makes the object whose ``report()``/``run()`` a pipeline run uses (the
#: armed facade class's ``for_request``).
Maker = Callable[[ReportRequest, ReportOptions], Meditation]


def section_specs(registered: Sequence[Tuple[str, Callable[[], Any]]]) -> List[SectionSpec]:
    return list(_sections.BUILTIN) + _registered.specs(list(registered))


def context(request: ReportRequest, options: ReportOptions) -> Context:
    """What the sections of one report run read."""
    return Context(
        options=options,
        frame=request.frame,
        trigger=request.trigger,
        reason=request.reason,
        redactor=options.redactor(),
        own_threads=frozenset(unpatched.OWN_THREADS),
        producer_ident=request.producer_ident or unpatched.this_thread_ident(),
        producer_name=request.producer_name,
    )


def collect(
    request: ReportRequest,
    options: ReportOptions,
    registered: Sequence[Tuple[str, Callable[[], Any]]] = (),
) -> Report:
    """Collect every section into the report document (never raises except
    on ``KeyboardInterrupt``/``SystemExit``)."""
    return run_report(context(request, options), section_specs(registered))


def sink_for(options: ReportOptions) -> Sink:
    """Where the armed options send a report: new files in ``log_dir``, else
    stderr."""
    if options.log_dir:
        from .family import file_pid

        return LogDirSink(
            options.log_dir,
            options.service_name,
            options.max_reports,
            options.timestamp_fmt,
            pid=file_pid(),
        )
    return StderrSink()


def prepare(options: ReportOptions) -> None:
    """At setup: what delivering a report to the armed destination needs
    made ahead of time (see :meth:`~gurumeditation.sinks.LogDirSink.prepare`)."""
    sink = sink_for(options)
    if isinstance(sink, LogDirSink):
        sink.prepare()


def rendered(meditation: Meditation, formats: Sequence[str]) -> Dict[str, str]:
    """Each format of ``formats`` keyed by its file suffix; text through the
    meditation's (patchable) ``run``."""
    return {FORMATS[fmt]: _text_or(meditation, fmt) for fmt in formats}


def _text_or(meditation: Meditation, fmt: str) -> str:
    return meditation.run() if fmt == "text" else _render.render(meditation.report(), fmt)


def run(
    request: ReportRequest,
    options: Optional[ReportOptions] = None,
    maker: Optional[Maker] = None,
) -> List[str]:
    """Make the report ``request`` asks for and deliver it; returns where it
    went.  ``options``: the armed ones (``request.options`` wins); ``maker``:
    the armed facade class's ``for_request`` (default: a plain
    :class:`Meditation`, no registered sections).  Never raises: a failure is
    told on stderr."""
    try:
        # the collector stays off until the report is rendered, and through
        # its delivery to a sink that waits on nobody (``prompt``: a file of
        # the log directory, the channel's buffer): what it owes for the
        # report's allocations is then collected after the file is complete
        with GCPaused():
            chosen = (request.options or options or ReportOptions.build()).resolved()
            meditation = (maker or Meditation)(request, chosen)
            meditation.document = meditation.report()  # collected once, rendered in each format
            try:
                contents = rendered(meditation, request.formats or chosen.formats or ("text",))
            finally:
                meditation.document = None
            sink = request.sink or sink_for(chosen)
            if getattr(sink, "prompt", False):
                return deliver(sink, contents)
        return deliver(sink, contents)  # stderr may be a pipe nobody reads
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:
        try:
            write_stderr(_traceback.format_exc() + FAILED)
        except BaseException:
            pass
        return []

"""The oslo.reports-compatible facade.

OpenStack services switch from oslo.reports by changing one import::

    from gurumeditation import guru_meditation_report as gmr
    gmr.TextGuruMeditation.register_section('Plugins', show_plugins)
    gmr.TextGuruMeditation.setup_autorun(version, conf=CONF, log_dir='/var/log/mysvc')

then ``kill -USR2 <pid>`` writes a report to stderr, or to a new file in
``log_dir``, and the process keeps running.

Names and signatures are those of oslo.reports; keyword arguments after them
are this library's own options (:class:`gurumeditation.options.ReportOptions`:
one definition each, an unknown one is a ``TypeError``).  This module only
maps those names onto the options, the gate (:mod:`gurumeditation.arming`)
and the pipeline (:mod:`gurumeditation.pipeline`).

Importing it is cheap (a bare interpreter's modules and a few of ours):
the report machinery is imported by ``setup_autorun`` — at once when what it
is given must be checked, else by a thread of ours right after it returned
(see :mod:`gurumeditation.early`) — and by the other methods when they run.
"""

from __future__ import annotations

import os
import sys

from . import early
from .early import OWN_THREADS, TIMESTAMP_FORMAT
from .meditation import Meditation

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from types import FrameType
    from typing import Any, Callable, ClassVar, List, Optional, Sequence, Tuple

    from .options import ReportOptions
    from .pipeline import ReportRequest

    Generator = Callable[[], Any]

__all__ = ["OWN_THREADS", "GuruMeditation", "TextGuruMeditation", "default_service_name"]


def default_service_name(argv: Optional[Sequence[str]] = None) -> str:
    """oslo.reports' name of the program-name default
    (:func:`gurumeditation.options.service_name`)."""
    from .options import service_name

    return service_name(argv)


class GuruMeditation(Meditation):
    """A Guru Meditation Report of this process.

    ``GuruMeditation(version_obj, sig_handler_tb=None, **options)``:
    ``version_obj`` describes the service (see the Package section);
    ``sig_handler_tb`` is the frame a signal interrupted, shown for the thread
    that produces the report; ``options`` (``conf=``, ``group=``,
    ``include_env=``... any :class:`~gurumeditation.options.ReportOptions`
    field) override what :meth:`setup_autorun` armed.
    """

    #: strftime format of the UTC time in report file names (a subclass may
    #: change it before ``setup_autorun``).
    timestamp_fmt: ClassVar[str] = TIMESTAMP_FORMAT
    #: Registered sections, shared by every report: [title, generator].
    persistent_sections: ClassVar[List[List[Any]]] = []
    #: The report format :meth:`run` returns.
    output_format: ClassVar[str] = "text"

    def __init__(
        self,
        version_obj: Any,
        sig_handler_tb: Optional[FrameType] = None,
        *args: Any,
        **options: Any,
    ) -> None:
        # *args: oslo.reports' subclasses pass their report title here
        early.ensure_loaded()
        import dataclasses

        from .arming import ARMED
        from .options import ReportOptions
        from .pipeline import ReportRequest

        built = ReportOptions.build(ARMED.options, where=f"{type(self).__name__}()", **options)
        built = dataclasses.replace(built, version=version_obj)
        request = ReportRequest("api", f"{type(self).__name__}.run()", sig_handler_tb)
        super().__init__(request, built)
        self.version_obj = version_obj
        self.traceback = sig_handler_tb

    @classmethod
    def for_request(cls, request: ReportRequest, options: ReportOptions) -> GuruMeditation:
        """The report a pipeline run makes for ``request`` (the armed class's
        ``report()`` and ``run()`` are used, so a patched ``run`` counts)."""
        meditation = cls.__new__(cls)
        Meditation.__init__(meditation, request, options)
        meditation.version_obj = options.version
        meditation.traceback = request.frame
        return meditation

    # -- sections ---------------------------------------------------------
    @classmethod
    def register_section(cls, section_title: str, generator: Generator) -> None:
        """Add a section to every report: ``generator()`` is called each time a
        report is made and may return a str, a mapping or sequence, or any
        object (see :mod:`gurumeditation.sections.registered`)."""
        cls.persistent_sections.append([section_title, generator])

    def registered_sections(self) -> Sequence[Tuple[str, Generator]]:
        return [(title, gen) for title, gen in type(self).persistent_sections]

    # -- autorun ----------------------------------------------------------
    @classmethod
    def setup_autorun(
        cls,
        version: Any,
        service_name: Optional[str] = None,
        log_dir: Optional[str] = None,
        signum: Optional[int] = None,
        conf: Any = None,
        setup_signal: bool = True,
        **options: Any,
    ) -> None:
        """Arm the process: from now on ``signum`` (default SIGUSR2) writes a
        report to ``log_dir`` (or stderr), and the process keeps running.

        ``log_dir`` defaults to ``conf.oslo_reports.log_dir`` (read when a
        report is made: a configuration parsed later counts), ``formats`` (any
        of ``text``, ``json``, ``html``; one file each) to
        ``conf.oslo_reports.formats``, else text only.  ``redact={'keys':
        [...], 'values': [...], 'allow': [...]}`` adds secret key words,
        credential patterns and keys to show anyway (see
        :class:`gurumeditation.redact.Redactor`), joined with ``[oslo_reports]
        redact_keys / redact_values / redact_allow``; a bad regular expression
        raises ``ValueError`` here, as does a signal that stops or kills.
        ``include_env=False`` leaves the Environment section out.  A handler
        already installed for the signal is called after each report.  Must
        be called from the main thread unless ``setup_signal=False``.

        ``max_fds`` caps the Open Files list; ``gc_scan=True`` lets Memory and
        GC count every object the collector tracks (a walk of the whole heap).
        ``discoverable=False`` keeps the process out of ``gurumeditation list``
        and ``gurumeditation report``.

        ``max_reports``: reports kept per service in ``log_dir`` (0: all).
        ``section_timeout``: seconds a registered section may take before it
        is abandoned (0: no budget).  ``file_event_handler`` (default
        ``conf.oslo_reports.file_event_handler``): a file whose touch writes a
        report, at most one per ``file_event_handler_interval`` seconds
        (default 1; the signal stays armed too, unless ``setup_signal=False``).
        Reports that come by themselves (all off by default):
        ``watchdog=SECONDS`` writes one report per stall of the main thread,
        an asyncio loop or the eventlet/gevent hub; ``report_on=("abort",
        "term", "exception", "fatal")`` before gunicorn's SIGABRT kill, at
        SIGTERM/SIGINT, on an uncaught exception, on a fatal signal (C-level
        dump); ``rss_limit=BYTES`` (or ``"2G"``) once RSS goes above it (see
        :mod:`gurumeditation.triggers.watchdog` and
        :mod:`gurumeditation.triggers.crash`).
        Every option: :class:`gurumeditation.options.ReportOptions`; an
        unknown one raises ``TypeError``.
        """
        if early.is_light(conf, signum, setup_signal, options):
            # nothing to check that needs the machinery: arm the signal now,
            # the rest from a thread of ours right after (see early)
            if log_dir:
                log_dir = os.path.abspath(log_dir)  # before any chdir
            early.arm(
                lambda: cls._setup_autorun(version, service_name, log_dir, None, None, True),
                service_name,
                log_dir,
            )
            return
        early.ensure_loaded()
        cls._setup_autorun(version, service_name, log_dir, signum, conf, setup_signal, **options)

    @classmethod
    def _setup_autorun(
        cls,
        version: Any,
        service_name: Optional[str],
        log_dir: Optional[str],
        signum: Optional[int],
        conf: Any,
        setup_signal: bool,
        **options: Any,
    ) -> None:
        import dataclasses

        from . import pipeline as _pipeline
        from . import sections as _sections
        from .arming import ARMED
        from .options import ReportOptions

        if not setup_signal:
            options["setup_signal"] = False
        built = ReportOptions.build(
            where="setup_autorun()",
            service_name=service_name,
            log_dir=log_dir,
            signum=signum,
            conf=conf,
            timestamp_fmt=cls.timestamp_fmt,
            **options,
        )
        built = dataclasses.replace(built, version=version)
        uwsgi_glue = _server_glue_uwsgi()
        if uwsgi_glue is not None:  # uWSGI owns the signals: the channel only
            from .options import ENV_SIGNAL
            from .sinks import write_stderr

            asked = signum is not None or bool(os.environ.get(ENV_SIGNAL))
            built = uwsgi_glue.adapt_options(built, asked, write_stderr)
        resolved = built.resolved(strict=True)  # a mistake in conf shows now
        try:  # index installed packages now, so that a report stays cheap
            _sections.prepare(resolved)
            _pipeline.prepare(resolved)
        except Exception:
            pass
        if ARMED.signal_trigger is None:  # armed by the first step (see early)
            ARMED.signal_trigger = early.installed_trigger()
        ARMED.arm(built, cls.for_request)
        if ARMED.gate is not None:  # a signal answered before the gate existed
            ARMED.gate.main_entered = max(ARMED.gate.main_entered, early.answered_at())
        early.ready(ARMED.on_signal, _announce_threads)
        if resolved.file_event_handler:
            cls._setup_file_watcher(
                resolved.file_event_handler,
                resolved.file_event_handler_interval,
                version,
                service_name,
                resolved.log_dir,
            )
        elif ARMED.file_trigger is not None:
            ARMED.setup_file_trigger(resolved)  # no longer asked for: stopped
        elif conf is not None and getattr(conf, "_namespace", True) is None:
            ARMED.watch_conf(built)  # not parsed yet: it may name a file later
        if resolved.discoverable:
            announce(resolved)
        if uwsgi_glue is not None:
            uwsgi_glue.install()
        if not resolved.discoverable:
            early.close_listener()

    @classmethod
    def _setup_file_watcher(
        cls,
        file_path: str,
        interval: Any,
        version: Any,
        service_name: Optional[str],
        log_dir: Optional[str],
    ) -> None:
        """Start the file trigger (oslo.reports' name and arguments): touching
        ``file_path`` writes a report with ``version``, ``service_name`` and
        ``log_dir``, at most one per ``interval`` seconds.  The file need not
        exist yet."""
        early.ensure_loaded()
        import dataclasses

        from .arming import ARMED
        from .options import ReportOptions

        armed = ARMED.options
        if ARMED.maker is None:  # called without setup_autorun: this class makes the reports
            ARMED.maker = cls.for_request
        given = {"version": version, "service_name": service_name, "log_dir": log_dir}
        if armed is not None:
            current = armed.resolved()
            if all(v is None or v == getattr(current, k) for k, v in given.items()):
                # what setup_autorun armed: follow it (and conf read at report time)
                ARMED.setup_file_trigger(
                    dataclasses.replace(
                        armed, file_event_handler=file_path, file_event_handler_interval=interval
                    )
                )
                return
        options = ReportOptions.build(
            armed,
            where="_setup_file_watcher()",
            file_event_handler=file_path,
            file_event_handler_interval=interval,
            **given,
        )
        ARMED.setup_file_trigger(options, own=True)

    @classmethod
    def handle_signal(
        cls,
        version: Any,
        service_name: Optional[str],
        log_dir: Optional[str],
        frame: Optional[FrameType],
    ) -> None:
        """Write one report now, as the signal handler does (oslo.reports API)."""
        early.ensure_loaded()
        import dataclasses

        from .arming import ARMED
        from .options import ReportOptions
        from .pipeline import ReportRequest
        from .pipeline import run as _run

        options = ReportOptions.build(
            ARMED.options, where="handle_signal()", service_name=service_name, log_dir=log_dir
        )
        options = dataclasses.replace(options, version=version)
        if not log_dir:  # oslo.reports: no log_dir is stderr
            options = dataclasses.replace(options, log_dir="")
        request = ReportRequest("api", "handle_signal()", frame, options=options)
        _run(request, maker=cls.for_request)


def _server_glue_uwsgi() -> Any:
    """:mod:`gurumeditation.servers.uwsgi` when uWSGI embeds this interpreter
    (looked at without importing anything), else ``None``."""
    if "uwsgi" in sys.modules or os.path.basename(
        getattr(sys, "executable", "") or ""
    ).startswith("uwsgi"):
        from .servers import uwsgi

        return uwsgi
    return None


def _announce_threads() -> None:
    """Tell the sidecar which threads are ours (the loader is no more)."""
    from .arming import ARMED

    watcher = ARMED.watcher
    if watcher is not None:
        watcher.announce()


def announce(options: ReportOptions) -> None:
    """List this process for ``gurumeditation list`` and ``report``; a runtime
    directory that cannot be used costs one line on stderr, never the service."""
    from . import discovery
    from .sinks import write_stderr
    from .triggers.signal import signal_name

    signum = options.signum if options.setup_signal else 0
    try:
        discovery.register(
            options.service_name,
            signum,
            signal_name(signum) if signum else "",
            options.log_dir,
            options.formats or ("text",),
        )
    except OSError as exc:
        write_stderr(f"gurumeditation: not listed for the gurumeditation command: {exc}")


class TextGuruMeditation(GuruMeditation):
    """A Guru Meditation Report in the classic text layout.

    ``TextGuruMeditation(version_obj, traceback=None).run()`` returns the text.
    """

    output_format: ClassVar[str] = "text"

    def __init__(
        self, version_obj: Any, traceback: Optional[FrameType] = None, **options: Any
    ) -> None:
        super().__init__(version_obj, traceback, **options)

"""The oslo.reports-compatible facade.

OpenStack services switch from oslo.reports by changing one import::

    from gurumeditation import guru_meditation_report as gmr
    gmr.TextGuruMeditation.register_section('Plugins', show_plugins)
    gmr.TextGuruMeditation.setup_autorun(version, conf=CONF, log_dir='/var/log/mysvc')

then ``kill -USR2 <pid>`` writes a report to stderr, or to a new file in
``log_dir``, and the process keeps running.

Names and signatures are those of oslo.reports; keyword-only arguments after
them are this library's own additions.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import traceback as _traceback
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Callable, ClassVar, Dict, List, Optional, Sequence, Tuple

from . import discovery as _discovery
from . import render as _render
from . import sections as _sections
from . import unpatched
from .autorun import ARMED
from .model import Report
from .redact import Redactor, check_options
from .report import Context, SectionSpec, run_report
from .sections import registered as _registered
from .sinks import LogDirSink, StderrSink, deliver, write_stderr
from .triggers.file import poll_interval
from .triggers.signal import signal_name
from .unpatched import this_thread_ident

Generator = Callable[[], Any]

#: Thread idents of this library's own helper threads: never shown in a report.
OWN_THREADS = unpatched.OWN_THREADS


def default_service_name() -> str:
    """The program's name: ``python -m pkg.mod`` gives ``pkg.mod``, ``python
    /srv/app/service.py`` gives ``service``."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    name = getattr(spec, "name", None)
    if name and name != "__main__":
        return str(name)
    argv0 = sys.argv[0] if getattr(sys, "argv", None) else ""
    if argv0 and argv0 not in ("-c", "-m", "-"):
        base = os.path.basename(argv0.rstrip("/"))
        if base.endswith(".py"):
            base = base[:-3]
        if base:
            return base
    return "python"


def redact_options(
    redact: Optional[Dict[str, Sequence[str]]], conf: Any
) -> Dict[str, Sequence[str]]:
    """``redact=`` of ``setup_autorun`` joined with ``[oslo_reports]
    redact_keys / redact_values / redact_allow`` of ``conf`` (when registered);
    raises ``ValueError`` on a bad option or regular expression."""
    check_options(redact)
    merged: Dict[str, Sequence[str]] = {k: list(v) for k, v in (redact or {}).items()}
    for key in ("keys", "values", "allow"):
        configured = conf_option(conf, "oslo_reports", "redact_" + key)
        if configured:
            merged[key] = list(merged.get(key, ())) + [str(v) for v in configured]
    check_options(merged)
    return merged


def conf_option(conf: Any, group: str, name: str) -> Any:
    """``conf.<group>.<name>``, or ``None`` when the group or option is not
    registered (no ``NoSuchOptError``) or cannot be read."""
    if conf is None:
        return None
    try:
        return getattr(getattr(conf, group), name)
    except Exception:
        return None


@dataclass
class Settings:
    """What ``setup_autorun`` armed: used by every report the triggers ask for."""

    version: Any = None
    service_name: str = ""
    log_dir: Optional[str] = None
    conf: Any = None
    signum: int = 0
    group: bool = True
    formats: Tuple[str, ...] = ("text",)
    redact: Dict[str, Sequence[str]] = field(default_factory=dict)
    include_env: bool = True
    #: Open Files lists at most this many descriptors.
    max_fds: int = 200
    #: Memory and GC counts every tracked object (walks the whole heap).
    gc_scan: bool = False
    #: Reports kept per service in ``log_dir`` (0: all).
    max_reports: int = 50
    #: Seconds a registered section may take (0: no budget).
    section_timeout: float = 2.0
    #: The watched file of the file trigger ("" when none).
    file_event_handler: str = ""
    file_event_handler_interval: float = 1.0
    #: Whether the signal trigger is armed.
    setup_signal: bool = True


class GuruMeditation:
    """A Guru Meditation Report of this process.

    ``GuruMeditation(version_obj, sig_handler_tb=None)``: ``version_obj``
    describes the service (see the Package section); ``sig_handler_tb`` is the
    frame a signal interrupted, shown for the thread that produces the report.
    """

    timestamp_fmt: ClassVar[str] = "%Y%m%d%H%M%S"
    #: Registered sections, shared by every report: [title, generator].
    persistent_sections: ClassVar[List[List[Any]]] = []
    #: Set by :meth:`setup_autorun`.
    settings: ClassVar[Optional[Settings]] = None
    #: The class whose ``setup_autorun`` armed the process (makes triggered reports).
    _report_class: ClassVar[Optional[type]] = None
    #: The report format :meth:`run` returns.
    output_format: ClassVar[str] = "text"

    def __init__(
        self,
        version_obj: Any,
        sig_handler_tb: Optional[FrameType] = None,
        *args: Any,
        conf: Any = None,
        service_name: Optional[str] = None,
        group: Optional[bool] = None,
        redact: Optional[Dict[str, Sequence[str]]] = None,
        include_env: Optional[bool] = None,
        max_fds: Optional[int] = None,
        gc_scan: Optional[bool] = None,
        section_timeout: Optional[float] = None,
        **kwargs: Any,
    ) -> None:
        # an argument left out takes what setup_autorun armed, else the default
        armed = type(self).settings or Settings()
        self.version_obj = version_obj
        self.traceback = sig_handler_tb
        self.conf = conf if conf is not None else armed.conf
        self.service_name = service_name or armed.service_name or default_service_name()
        self.group = group if group is not None else armed.group
        self.redact = redact if redact is not None else armed.redact
        self.include_env = include_env if include_env is not None else armed.include_env
        self.max_fds = max_fds if max_fds is not None else armed.max_fds
        self.gc_scan = gc_scan if gc_scan is not None else armed.gc_scan
        self.section_timeout = (
            section_timeout if section_timeout is not None else armed.section_timeout
        )
        self.trigger: Dict[str, str] = {"kind": "api", "detail": f"{type(self).__name__}.run()"}
        self.reason = ""
        self.producer_ident = 0
        self.producer_name = ""

    # -- sections ---------------------------------------------------------
    @classmethod
    def register_section(cls, section_title: str, generator: Generator) -> None:
        """Add a section to every report: ``generator()`` is called each time a
        report is made and may return a str, a mapping or sequence, or any
        object (see :mod:`gurumeditation.sections.registered`)."""
        cls.persistent_sections.append([section_title, generator])

    def section_specs(self) -> List[SectionSpec]:
        registered = [(title, gen) for title, gen in type(self).persistent_sections]
        return list(_sections.BUILTIN) + _registered.specs(registered)

    # -- producing --------------------------------------------------------
    def context(self) -> Context:
        redact = self.redact or {}
        redactor = Redactor(
            extra_keys=tuple(redact.get("keys", ())),
            extra_values=tuple(redact.get("values", ())),
            allow_keys=tuple(redact.get("allow", ())),
        )
        redactor.learn_command_line(self.conf)  # its secret options, e.g. -p, on our argv
        return Context(
            version=self.version_obj,
            service=self.service_name,
            conf=self.conf,
            frame=self.traceback,
            trigger=dict(self.trigger),
            reason=self.reason,
            group=self.group,
            include_env=self.include_env,
            redactor=redactor,
            own_threads=frozenset(OWN_THREADS),
            producer_ident=self.producer_ident or this_thread_ident(),
            max_fds=self.max_fds,
            gc_scan=self.gc_scan,
            section_timeout=self.section_timeout,
            producer_name=self.producer_name,
        )

    def report(self) -> Report:
        """The report as a plain document (the JSON model)."""
        return run_report(self.context(), self.section_specs())

    def run(self) -> str:
        """The report rendered in :attr:`output_format` (classic text)."""
        return _render.render(self.report(), self.output_format)

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
        *,
        group: bool = True,
        formats: Optional[Sequence[str]] = None,
        redact: Optional[Dict[str, Sequence[str]]] = None,
        include_env: bool = True,
        max_fds: int = 200,
        gc_scan: bool = False,
        discoverable: bool = True,
        max_reports: int = 50,
        section_timeout: float = 2.0,
        file_event_handler: Optional[str] = None,
        file_event_handler_interval: Optional[float] = None,
    ) -> None:
        """Arm the process: from now on ``signum`` (default SIGUSR2) writes a
        report to ``log_dir`` (or stderr), and the process keeps running.

        ``log_dir`` defaults to ``conf.oslo_reports.log_dir`` when ``conf`` has
        that group registered, ``formats`` (any of ``text``, ``json``,
        ``html``; one file each) to ``conf.oslo_reports.formats``, else text
        only.  ``redact={'keys': [...], 'values': [...], 'allow': [...]}`` adds
        secret key words, credential patterns and keys to show anyway (see
        :class:`gurumeditation.redact.Redactor`), joined with ``[oslo_reports]
        redact_keys / redact_values / redact_allow``; a bad regular expression
        raises ``ValueError`` here.  ``include_env=False`` leaves the
        Environment section out.  A handler already installed for the signal
        is called after each report.  Must be called from the main thread unless
        ``setup_signal=False``.

        ``max_fds`` caps the Open Files list; ``gc_scan=True`` lets Memory and
        GC count every object the collector tracks (a walk of the whole heap).
        ``discoverable=False`` keeps the process out of ``gurumeditation list``
        and ``gurumeditation report``.

        ``max_reports``: reports kept per service in ``log_dir`` (0: all).
        ``section_timeout``: seconds a registered section may take before it
        is abandoned (0: no budget).  ``file_event_handler`` (default
        ``conf.oslo_reports.file_event_handler``): a file whose touch writes a
        report (the signal stays armed too, unless ``setup_signal=False``).
        """
        if log_dir is None:
            log_dir = conf_option(conf, "oslo_reports", "log_dir")
        if formats is None:
            formats = conf_option(conf, "oslo_reports", "formats") or ("text",)
        if isinstance(formats, str):
            formats = formats.split(",")
        formats = tuple(dict.fromkeys(str(f).strip().lower() for f in formats))
        if file_event_handler is None:
            file_event_handler = conf_option(conf, "oslo_reports", "file_event_handler")
        if file_event_handler_interval is None:
            file_event_handler_interval = conf_option(
                conf, "oslo_reports", "file_event_handler_interval"
            )
        for fmt in formats:
            if fmt not in _render.SUFFIXES:
                raise ValueError(
                    f"unknown report format {fmt!r}; choose from {sorted(_render.SUFFIXES)}"
                )
        signum = int(signum) if signum else int(signal.SIGUSR2)
        GuruMeditation.settings = Settings(
            version=version,
            service_name=service_name or default_service_name(),
            log_dir=log_dir or None,
            conf=conf,
            signum=signum,
            group=group,
            formats=tuple(formats) or ("text",),
            redact=redact_options(redact, conf),
            include_env=include_env,
            max_fds=int(max_fds),
            gc_scan=bool(gc_scan),
            max_reports=max(int(max_reports or 0), 0),
            section_timeout=float(section_timeout or 0),
            file_event_handler=str(file_event_handler or ""),
            file_event_handler_interval=poll_interval(file_event_handler_interval or 1),
            setup_signal=setup_signal,
        )
        try:  # index installed packages now, so that a report stays cheap
            _sections.prepare()
        except Exception:
            pass
        GuruMeditation._report_class = cls
        ARMED.arm(lambda: GuruMeditation.settings, lambda *a, **k: cls._maker().produce(*a, **k))
        if discoverable:
            announce(GuruMeditation.settings, signum if setup_signal else 0)

    @classmethod
    def _maker(cls) -> Any:
        return GuruMeditation._report_class or TextGuruMeditation

    @classmethod
    def handle_signal(
        cls,
        version: Any,
        service_name: Optional[str],
        log_dir: Optional[str],
        frame: Optional[FrameType],
    ) -> None:
        """Write one report now, as the signal handler does (oslo.reports API)."""
        armed = cls.settings or Settings()
        settings = dataclasses.replace(
            armed,
            version=version,
            service_name=service_name or armed.service_name or default_service_name(),
            log_dir=log_dir,
        )
        cls.produce(settings, frame=frame, trigger={"kind": "api", "detail": "handle_signal()"})

    @classmethod
    def produce(
        cls,
        settings: Settings,
        frame: Optional[FrameType] = None,
        trigger: Optional[Dict[str, str]] = None,
        reason: str = "",
        producer_ident: int = 0,
        producer_name: str = "",
        sink: Any = None,
        formats: Optional[Sequence[str]] = None,
    ) -> List[str]:
        """Make a report with ``settings`` and deliver it (to ``sink`` in
        ``formats`` when given: the channel); returns where it went.  Never
        raises: a failure as a whole is told on stderr."""
        try:
            meditation = cls(
                settings.version,
                frame,
                conf=settings.conf,
                service_name=settings.service_name,
                group=settings.group,
                redact=settings.redact,
                include_env=settings.include_env,
                max_fds=settings.max_fds,
                gc_scan=settings.gc_scan,
            )
            if trigger:
                meditation.trigger = dict(trigger)
            meditation.reason = reason
            meditation.producer_ident = producer_ident
            meditation.producer_name = producer_name
            document = meditation.report()
            contents = {
                _render.SUFFIXES[fmt]: _render.render(document, fmt)
                for fmt in (formats or settings.formats)
            }
            if sink is not None:
                return deliver(sink, contents)
            if settings.log_dir:
                sink = LogDirSink(settings.log_dir, meditation.service_name, settings.max_reports)
            else:
                sink = StderrSink()
            return deliver(sink, contents)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:
            try:
                write_stderr(_traceback.format_exc() + "Unable to run Guru Meditation Report!")
            except BaseException:
                pass
            return []


def announce(settings: Settings, signum: int) -> None:
    """List this process for ``gurumeditation list`` and ``report``; a runtime
    directory that cannot be used costs one line on stderr, never the service."""
    try:
        _discovery.register(
            settings.service_name,
            signum,
            signal_name(signum) if signum else "",
            settings.log_dir,
            settings.formats,
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


__all__ = ["GuruMeditation", "TextGuruMeditation", "default_service_name"]

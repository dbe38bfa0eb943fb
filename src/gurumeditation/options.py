"""The options a report is made with: one frozen object, one definition each.

Every option is one field of :class:`ReportOptions` — its name, default and
doc, and where else it may come from: an ``[oslo_reports]`` option of the
service's ``conf`` and/or a ``GURUMEDITATION_*`` environment variable.  The
facade's keyword arguments, ``setup_autorun``'s, the zero-code environment
and the report context are all derived from these fields; a stage that needs
another value makes a copy with :func:`dataclasses.replace`.

Precedence: an explicit argument > the ``[oslo_reports]`` option of ``conf``
> the environment > the default.  The environment is read once, when the
options are built.  ``conf`` is read when a report is made
(:meth:`ReportOptions.resolved`), so a configuration parsed after
``setup_autorun`` counts: the conf-backed fields hold ``None`` until given
explicitly, and :meth:`~ReportOptions.resolved` fills them in.
"""

from __future__ import annotations

import dataclasses
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar

from . import early as _early
from .redact import Redactor, check_options
from .triggers.signal import check_report_signal

T = TypeVar("T")

# defined in early: arming a bare interpreter reads them
DEFAULT_SIGNUM = _early.DEFAULT_SIGNUM
ENABLE_OFF = _early.ENABLE_OFF
ENABLE_ON = _early.ENABLE_ON
DEFAULT_MAX_REPORTS = _early.DEFAULT_MAX_REPORTS
ENV_ENABLE = _early.ENV_ENABLE
ENV_FORMAT = _early.ENV_FORMAT
ENV_LOG_DIR = _early.ENV_LOG_DIR
ENV_SERVICE = _early.ENV_SERVICE
ENV_SIGNAL = _early.ENV_SIGNAL
TIMESTAMP_FORMAT = _early.TIMESTAMP_FORMAT

ENV_WATCHDOG = "GURUMEDITATION_WATCHDOG"
ENV_REPORT_ON = "GURUMEDITATION_REPORT_ON"
ENV_RSS_LIMIT = "GURUMEDITATION_RSS_LIMIT"
ENV_TRACK_LOCKS = "GURUMEDITATION_TRACK_LOCKS"
ENV_FILE_EVENT_HANDLER = "GURUMEDITATION_FILE_EVENT_HANDLER"

CONF_GROUP = "oslo_reports"

#: Report formats and the file-name suffix of each (text keeps the classic
#: extension-less name).
FORMATS: Dict[str, str] = {"text": "", "json": ".json", "html": ".html"}


# -- parsers: one each -------------------------------------------------------


def parse_formats(value: Any) -> Tuple[str, ...]:
    """``"json,text"``, ``["JSON", "text"]``... → ``("json", "text")``
    (order kept, duplicates dropped; empty → text); ``ValueError`` naming an
    unknown format."""
    if isinstance(value, str):
        value = value.split(",")
    formats = tuple(dict.fromkeys(str(f).strip().lower() for f in value or () if str(f).strip()))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        names = ", ".join(repr(f) for f in unknown)
        raise ValueError(
            f"unknown report format{'s' if len(unknown) > 1 else ''} {names}; "
            f"choose from {', '.join(FORMATS)}"
        )
    return formats or ("text",)


def parse_signal(value: Any) -> int:
    """``USR2``, ``SIGUSR2``, ``sigusr2``, ``12`` or a ``signal.Signals`` → the
    signal number; ``ValueError`` for an unknown signal or one that stops,
    kills or means something else to the process (see
    :func:`gurumeditation.triggers.signal.check_report_signal`)."""
    if isinstance(value, int):
        signum = int(value)
    else:
        text = str(value).strip()
        if text.isdigit():
            signum = int(text)
        else:
            name = text.upper()
            if not name.startswith("SIG"):
                name = "SIG" + name
            try:
                signum = int(getattr(signal.Signals, name))
            except AttributeError:
                raise ValueError(f"unknown signal {text!r}") from None
    return check_report_signal(signum)


#: The program's name (defined in early: arming a bare interpreter needs it).
service_name = _early.service_name


def _log_dir(value: Any) -> Optional[str]:
    """A log directory made absolute now (a later ``chdir`` cannot move it);
    ``""``/``None``: none (stderr)."""
    return os.path.abspath(str(value)) if value else None


def _interval(value: Any) -> float:
    try:
        return max(float(value), 0.05)
    except (TypeError, ValueError):
        raise ValueError(f"not a number of seconds: {value!r}") from None


#: The events ``report_on`` may name (see :mod:`gurumeditation.triggers.crash`).
REPORT_ON = ("abort", "term", "exception", "fatal")


def parse_report_on(value: Any) -> Tuple[str, ...]:
    """``"term,exception"``, ``["TERM"]``... → ``("term", "exception")`` (order
    kept, duplicates dropped); ``ValueError`` naming an unknown event."""
    if isinstance(value, str):
        value = value.split(",")
    events = tuple(dict.fromkeys(str(e).strip().lower() for e in value or () if str(e).strip()))
    unknown = [e for e in events if e not in REPORT_ON]
    if unknown:
        raise ValueError(
            f"unknown report_on event{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(e) for e in unknown)}; choose from {', '.join(REPORT_ON)}"
        )
    return events


def parse_watchdog(value: Any) -> float:
    """Seconds of no progress that make a stall (``0``: off); ``ValueError``
    for what is not a number, a negative one, or less than 0.1 s."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"watchdog: not a number of seconds: {value!r}") from None
    if seconds != seconds or seconds < 0:
        raise ValueError(f"watchdog: not a number of seconds: {value!r}")
    if 0 < seconds < 0.1:
        raise ValueError(f"watchdog: {value!r} s is too short (at least 0.1 s, or 0: off)")
    return seconds


_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(value: Any) -> int:
    """Bytes: ``536870912``, ``"512M"``, ``"2G"``, ``"64k"``, ``"1.5GiB"``
    (binary units; ``0``: off); ``ValueError`` otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    else:
        text = str(value).strip().lower().replace(" ", "")
        for suffix in ("ib", "b"):
            if text.endswith(suffix) and len(text) > len(suffix):
                text = text[: -len(suffix)]
                break
        unit = text[-1:] if text[-1:] in _SIZE_UNITS and text[-1:] else ""
        try:
            number = float(text[: -1] if unit else text)
        except ValueError:
            raise ValueError(f"not a size: {value!r} (say 536870912, 512M or 2G)") from None
    if number != number or number < 0:
        raise ValueError(f"not a size: {value!r}")
    return int(number * _SIZE_UNITS[unit])


def _flag(value: Any) -> bool:
    return bool(value)


def _on_off(value: Any) -> bool:
    """A flag that may come as text (environment): 1/true/yes/on, 0/false/no/off."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("", "0", "false", "no", "off"):
            return False
        raise ValueError(f"{value!r} is neither on (1, true, yes, on) nor off (0, false, no, off)")
    return bool(value)


def _at_least_zero(value: Any) -> int:
    return max(int(value or 0), 0)


@dataclass(frozen=True)
class RedactRules:
    """``redact={'keys': [...], 'values': [...], 'allow': [...]}``: more
    secret key words, credential patterns, keys to show anyway (see
    :class:`gurumeditation.redact.Redactor`)."""

    keys: Tuple[str, ...] = ()
    values: Tuple[str, ...] = ()
    allow: Tuple[str, ...] = ()

    def joined(self, other: RedactRules) -> RedactRules:
        return RedactRules(
            self.keys + other.keys, self.values + other.values, self.allow + other.allow
        )

    def as_dict(self) -> Dict[str, Tuple[str, ...]]:
        return {"keys": self.keys, "values": self.values, "allow": self.allow}


def _redact(value: Any) -> RedactRules:
    """A ``redact=`` mapping checked now: ``ValueError`` on an unknown key or
    a bad regular expression, so a mistake shows at setup."""
    if isinstance(value, RedactRules):
        return value
    check_options(value)
    value = value or {}
    if not isinstance(value, Mapping):
        raise ValueError(f"redact must be a mapping of keys/values/allow, not {value!r}")
    return RedactRules(
        *(tuple(str(v) for v in value.get(k, ())) for k in ("keys", "values", "allow"))
    )


def option(
    default: T,
    doc: str,
    parse: Optional[Callable[[Any], Any]] = None,
    conf: str = "",
    env: str = "",
    fallback: Any = None,
    conf_type: str = "str",
) -> T:
    """One option: its default and doc; ``parse`` checks and normalises a
    value given for it (raising ``ValueError``); ``conf``/``env`` name the
    ``[oslo_reports]`` option and environment variable it may come from.  A
    conf-backed option's default is ``None`` ("not given": conf decides when
    a report is made); ``fallback`` is its value when conf and the
    environment do not set it either; ``conf_type`` its oslo.config type
    (``str``, ``int``, ``list``: see :func:`conf_options`)."""
    meta = {
        "doc": doc,
        "parse": parse,
        "conf": conf,
        "env": env,
        "fallback": fallback,
        "conf_type": conf_type,
    }
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class ReportOptions:
    """The settings a report is made with (built once, read by every stage)."""

    version: Any = option(
        None, "Describes the service: the Package section's product/vendor/version."
    )
    service_name: str = option(
        "",
        "The service's name (report file names, the listing); default: the program's name.",
        str,
        env=ENV_SERVICE,
    )
    conf: Any = option(
        None,
        "The service's configuration (oslo.config ConfigOpts, a mapping, a namespace...): "
        "the Configuration section, and the [oslo_reports] options.",
    )
    log_dir: Optional[str] = option(
        None,
        "Path to a log directory where to create a file for each report. When unset, "
        "reports go to standard error.",
        _log_dir,
        conf="log_dir",
        env=ENV_LOG_DIR,
    )
    formats: Optional[Tuple[str, ...]] = option(
        None,
        "Forms each report is written in: any of text, json, html. With several, one file "
        "each under the same name (.json, .html added).",
        parse_formats,
        conf="formats",
        env=ENV_FORMAT,
        fallback=("text",),
        conf_type="list",
    )
    signum: int = option(
        DEFAULT_SIGNUM, "The signal that asks for a report.", parse_signal, env=ENV_SIGNAL
    )
    setup_signal: bool = option(True, "Whether the signal trigger is armed.", _flag)
    file_event_handler: Optional[str] = option(
        None,
        "Path of a file to watch: touching it (changing its modification time) writes a report.",
        lambda v: str(v or ""),
        conf="file_event_handler",
        env=ENV_FILE_EVENT_HANDLER,
        fallback="",
    )
    file_event_handler_interval: Optional[float] = option(
        None,
        "How many seconds to wait between polls of file_event_handler where the platform "
        "offers no file notification; also the least time between two reports of the file "
        "trigger, however often the file is touched.",
        _interval,
        conf="file_event_handler_interval",
        fallback=1,
        conf_type="int",
    )
    group: bool = option(True, "Identical stacks are shown once, with their members.", _flag)
    redact: RedactRules = option(
        RedactRules(),
        "More secret key words, credential patterns and keys to show anyway; joined with "
        "[oslo_reports] redact_keys / redact_values / redact_allow.",
        _redact,
    )
    include_env: bool = option(True, "Whether the Environment section is shown.", _flag)
    max_fds: int = option(200, "Open Files lists at most this many descriptors.", int)
    gc_scan: bool = option(
        False,
        "Memory and GC count every object the collector tracks (a walk of the whole heap).",
        _flag,
    )
    track_locks: Optional[bool] = option(
        None,
        "Locks and semaphores created after arming (threading's Lock and Semaphore, asyncio's, "
        "gevent's and eventlet's) record who holds them, so that a report names the holder "
        "a plain Lock does not record (an RLock's owner is always known). Costs about 2x a "
        "plain lock per acquire/release (docs/performance.md).",
        _on_off,
        conf="track_locks",
        env=ENV_TRACK_LOCKS,
        fallback=False,
        conf_type="bool",
    )
    max_reports: int = option(
        DEFAULT_MAX_REPORTS, "Reports kept per service in log_dir (0: all).", _at_least_zero
    )
    section_timeout: float = option(
        2.0,
        "Seconds a registered section may take before it is abandoned (0: no budget).",
        lambda v: float(v or 0),
    )
    watchdog: Optional[float] = option(
        None,
        "Seconds without progress of the main thread, an asyncio event loop or the "
        "eventlet/gevent hub after which a report is written (one per stall); 0: off.",
        parse_watchdog,
        conf="watchdog",
        env=ENV_WATCHDOG,
        fallback=0.0,
        conf_type="float",
    )
    report_on: Optional[Tuple[str, ...]] = option(
        None,
        "Events that write a report by themselves: any of abort (SIGABRT, e.g. from "
        "gunicorn's arbiter before it kills a timed-out worker), term (SIGTERM, SIGINT), "
        "exception (an uncaught exception in any thread, an asyncio exception never "
        "retrieved), fatal (the C-level dump of a fatal signal into a report file).",
        parse_report_on,
        conf="report_on",
        env=ENV_REPORT_ON,
        fallback=(),
        conf_type="list",
    )
    rss_limit: Optional[int] = option(
        None,
        "Resident memory (bytes, or 512M, 2G) above which one report is written (again only "
        "after it came back below); 0: off.",
        parse_size,
        conf="rss_limit",
        env=ENV_RSS_LIMIT,
        fallback=0,
    )
    discoverable: bool = option(
        True, "Listed for `gurumeditation list` and `gurumeditation report`.", _flag
    )
    timestamp_fmt: str = option(
        TIMESTAMP_FORMAT, "strftime format of the UTC time in report file names.", str
    )
    #: Environment values of the conf-backed options, read at build time:
    #: ``conf`` beats them when a report is made (not an option).
    from_environment: Tuple[Tuple[str, Any], ...] = field(default=(), repr=False)
    #: ``True`` once :meth:`resolved` filled in ``conf`` (not an option).
    final: bool = field(default=False, repr=False)

    # -- building -----------------------------------------------------------
    @classmethod
    def names(cls) -> Tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls) if "doc" in f.metadata)

    @classmethod
    def check_names(cls, given: Mapping[str, Any], where: str) -> None:
        """``TypeError`` naming an argument that is no option (as Python says
        for a function's unexpected keyword argument)."""
        known = cls.names()
        for name in given:
            if name not in known:
                raise TypeError(f"{where} got an unexpected keyword argument {name!r}")

    @classmethod
    def parse(cls, given: Mapping[str, Any]) -> Dict[str, Any]:
        """``given`` options checked and normalised (``ValueError`` on a bad
        value); a ``None`` means "not given" and is dropped."""
        by_name = {f.name: f for f in dataclasses.fields(cls)}
        parsed: Dict[str, Any] = {}
        for name, value in given.items():
            if value is None:
                continue
            parse = by_name[name].metadata.get("parse")
            parsed[name] = parse(value) if parse is not None else value
        return parsed

    @classmethod
    def build(
        cls,
        base: Optional[ReportOptions] = None,
        environ: Optional[Mapping[str, str]] = None,
        where: str = "options",
        **given: Any,
    ) -> ReportOptions:
        """Options from ``given`` (``None`` = not given) on top of ``base``, or
        on top of the environment and the defaults when there is no base.
        ``TypeError`` on an unknown name, ``ValueError`` on a bad value."""
        cls.check_names(given, where)
        explicit = cls.parse(given)
        if base is None:
            env_values = environment_values(os.environ if environ is None else environ)
            conf_backed = {n for n in env_values if cls.conf_name(n)}
            base = cls(
                **{n: v for n, v in env_values.items() if n not in conf_backed},
                from_environment=tuple((n, env_values[n]) for n in sorted(conf_backed)),
            )
        options = dataclasses.replace(base, **explicit)
        if not options.service_name:
            # "python": the program is not known yet (a multiprocessing spawn
            # child armed by the .pth file before its sys.argv is set): left
            # to resolved(), at report time
            name = service_name()
            if name != "python":
                options = dataclasses.replace(options, service_name=name)
        return options

    @classmethod
    def conf_name(cls, name: str) -> str:
        for f in dataclasses.fields(cls):
            if f.name == name:
                return str(f.metadata.get("conf", ""))
        return ""

    # -- at report time ----------------------------------------------------
    def resolved(self, strict: bool = False) -> ReportOptions:
        """These options with every conf-backed field filled in: given > the
        ``[oslo_reports]`` option of ``conf`` > the environment > the default;
        ``redact`` joined with ``redact_keys / redact_values / redact_allow``.
        A bad value in ``conf`` raises ``ValueError`` when ``strict`` (at
        setup), else it costs one line on stderr and is left out."""
        if self.final:
            return self
        changes: Dict[str, Any] = {"final": True}
        if not self.service_name:
            changes["service_name"] = service_name()
        environment = dict(self.from_environment)
        for f in dataclasses.fields(self):
            conf_name = f.metadata.get("conf")
            if not conf_name or getattr(self, f.name) is not None:
                continue
            value = self._from_conf(conf_name, f.metadata["parse"], strict)
            if value is None:
                value = environment.get(f.name)
            changes[f.name] = value
        for f in dataclasses.fields(self):
            fallback = f.metadata.get("fallback")
            if fallback is not None and changes.get(f.name, getattr(self, f.name)) is None:
                changes[f.name] = fallback
        configured = {
            name[len("redact_") :]: self._from_conf(name, lambda v: [str(x) for x in v], strict)
            or ()
            for name, _type, _doc in REDACT_CONF
        }
        if any(configured.values()):
            try:
                changes["redact"] = self.redact.joined(_redact(configured))
            except ValueError as exc:
                if strict:
                    raise
                _tell(f"[{CONF_GROUP}] redact options left out: {exc}")
        return dataclasses.replace(self, **changes)

    def _from_conf(self, name: str, parse: Callable[[Any], Any], strict: bool) -> Any:
        value = conf_option(self.conf, CONF_GROUP, name)
        if value is None or value == "" or (name in UNSET_IN_CONF and value == []):
            return None
        try:
            return parse(value)
        except (TypeError, ValueError) as exc:
            if strict:
                raise ValueError(f"[{CONF_GROUP}] {name}: {exc}") from None
            _tell(f"[{CONF_GROUP}] {name} left out: {exc}")
            return None

    def redactor(self) -> Redactor:
        """A fresh :class:`~gurumeditation.redact.Redactor` (it counts what it
        masks: one per report) that also knows the secret options ``conf``
        declares, so their values on this process's command line (``-p X``)
        are masked."""
        redactor = Redactor(
            extra_keys=self.redact.keys,
            extra_values=self.redact.values,
            allow_keys=self.redact.allow,
        )
        redactor.learn_command_line(self.conf)
        return redactor


#: The ``[oslo_reports]`` options joined into ``redact`` (not options of
#: their own): name, oslo.config type, help.
REDACT_CONF: Tuple[Tuple[str, str, str], ...] = (
    (
        "redact_keys",
        "list",
        "More words that, as whole words of a key (option name, environment variable, "
        "mapping key, --flag), mark its value as a secret to mask, in addition to the "
        "built-in ones (password, secret, token, api_key...). An entry starting with 're:' "
        "is a regular expression searched in the key.",
    ),
    (
        "redact_values",
        "multistr",
        "Regular expression of a credential format to mask wherever it appears in a report "
        "(repeat the option for several); a named group 'secret' limits the mask to that "
        "group.",
    ),
    (
        "redact_allow",
        "list",
        "Keys (exact names, case-insensitive) whose values are shown as they are even though "
        "they look secret.",
    ),
)


#: ``[oslo_reports]`` options registered unset (no default value in conf), so
#: that their ``GURUMEDITATION_*`` variable still counts when conf says nothing.
UNSET_IN_CONF = ("watchdog", "report_on", "rss_limit")


def conf_options() -> List[Tuple[str, str, Any, str]]:
    """Every ``[oslo_reports]`` option, derived from the fields above:
    (name, oslo.config type, default, help).  The names and defaults are
    oslo.reports' (``log_dir``, ``file_event_handler`` unset,
    ``file_event_handler_interval`` 1), so its configuration files keep working."""
    found: List[Tuple[str, str, Any, str]] = []
    for f in dataclasses.fields(ReportOptions):
        name = f.metadata.get("conf")
        if not name:
            continue
        kind, fallback = f.metadata["conf_type"], f.metadata["fallback"]
        default: Any
        if name in UNSET_IN_CONF:  # unset: the environment still counts
            default = [] if kind == "list" else None
        else:
            default = list(fallback) if kind == "list" else (None if kind == "str" else fallback)
        found.append((name, kind, default, f.metadata["doc"]))
    return found + [(name, kind, [], doc) for name, kind, doc in REDACT_CONF]


def conf_option(conf: Any, group: str, name: str) -> Any:
    """``conf.<group>.<name>``, or ``None`` when the group or option is not
    registered (no ``NoSuchOptError``) or cannot be read."""
    if conf is None:
        return None
    try:
        return getattr(getattr(conf, group), name)
    except Exception:
        return None


def environment_values(environ: Mapping[str, str]) -> Dict[str, Any]:
    """The options the ``GURUMEDITATION_*`` variables of ``environ`` set.  A
    bad value is told once on stderr and left out (the default applies)."""
    values: Dict[str, Any] = {}
    for f in dataclasses.fields(ReportOptions):
        env = f.metadata.get("env")
        text = environ.get(env, "") if env else ""
        if not text:
            continue
        try:
            values[f.name] = f.metadata["parse"](text)
        except ValueError as exc:
            if f.name == "formats":  # keep the formats that are known
                known = [x for x in text.split(",") if x.strip().lower() in FORMATS]
                values[f.name] = parse_formats(known) if known else None
            _tell(f"{env}: {exc}")
    return {n: v for n, v in values.items() if v is not None}


def enabled(environ: Optional[Mapping[str, str]] = None) -> bool:
    """Whether ``GURUMEDITATION`` asks for reports: 1/true/yes/on; 0/false/
    no/off/unset leave the process alone; anything else is told on stderr
    (one line) and leaves it alone too."""
    env = os.environ if environ is None else environ
    value = env.get(ENV_ENABLE, "").strip().lower()
    if value in ENABLE_ON:
        return True
    if value not in ENABLE_OFF:
        _tell(
            f"{ENV_ENABLE}={env.get(ENV_ENABLE)!r} is neither on (1, true, yes, on) nor off "
            "(0, false, no, off): reports stay off"
        )
    return False


_TOLD: set = set()  # type: ignore[type-arg]


def _tell(problem: str) -> None:
    """One line on stderr per problem per process."""
    if problem in _TOLD:
        return
    _TOLD.add(problem)
    from .sinks import write_stderr

    write_stderr(f"gurumeditation: {problem}")


def told() -> List[str]:
    return sorted(_TOLD)

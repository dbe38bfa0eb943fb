"""Configuration: every option the process sees.

Takes the ``conf`` given to ``setup_autorun`` (or to the report): an
oslo.config ``ConfigOpts`` — the object passed, not the global ``CONF`` — or a
mapping, an ``argparse.Namespace`` or a dataclass instance.  oslo.config
options declared ``secret=True`` are masked without reading their value (so
a secret that fails to parse cannot leak through its error); every other value
goes through the redactor.  An option whose value cannot be read shows its
error and the rest of the section goes on.

Data: :class:`~gurumeditation.model.ConfigurationData`.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from typing import Any, List, Optional, Tuple

from ..model import (
    ConfigGroup,
    ConfigOption,
    ConfigurationData,
    UnitError,
    safe_str,
    to_plain,
    unit_error,
)
from ..redact import Redactor
from ..report import Context, SectionSpec

DEFAULT_GROUP = "default"


def is_oslo_config(conf: Any) -> bool:
    return hasattr(conf, "_opts") and hasattr(conf, "_groups") and hasattr(conf, "register_opt")


def _option(name: str, read: Any, secret: bool, redactor: Redactor) -> ConfigOption:
    if secret:
        return {"name": name, "value": redactor.mask(), "secret": True}
    try:
        value = read()
    except Exception as exc:  # e.g. ConfigFileValueError for an invalid value in a file
        return {"name": name, "error": _error(name, exc, redactor)}
    return {"name": name, "value": redactor.value(name, sorted_mappings(to_plain(value)))}


def sorted_mappings(value: Any) -> Any:
    """Mapping values (e.g. a ``DictOpt``) shown with sorted keys, as every
    option is; list values keep their order."""
    if isinstance(value, dict):
        return {k: sorted_mappings(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [sorted_mappings(v) for v in value]
    return value


def _error(name: str, exc: BaseException, redactor: Redactor) -> UnitError:
    """Why an option could not be read; its message may quote the value, so it
    is redacted, and hidden entirely when the option's name names a secret."""
    if redactor.is_secret_key(name):
        return {"type": type(exc).__name__, "message": redactor.mask()}
    return {"type": type(exc).__name__, "message": redactor.text(safe_str(exc))}


def _oslo_group(
    opts: Mapping[str, Any],
    read: Any,
    redactor: Redactor,
) -> List[ConfigOption]:
    options = []
    for dest in list(opts):
        info = opts[dest]
        opt = info.get("opt") if isinstance(info, Mapping) else None
        title = str(getattr(opt, "name", dest))
        secret = bool(getattr(opt, "secret", False))
        options.append(_option(title, lambda d=dest: read(d), secret, redactor))
    options.sort(key=lambda o: str(o["name"]))
    return options


def prepare(conf: Any, redactor: Redactor) -> None:
    """At setup: the redactor decides on the names of the options registered
    so far (no value is read: the configuration may not be parsed yet)."""
    try:
        if is_oslo_config(conf):
            tables = [conf._opts] + [g._opts for g in list(conf._groups.values())]
            for opts in tables:
                for dest in list(opts):
                    info = opts[dest]
                    opt = info.get("opt") if isinstance(info, Mapping) else None
                    redactor.is_secret_key(str(getattr(opt, "name", dest)))
    except Exception:
        pass


def collect_oslo(conf: Any, redactor: Redactor) -> List[ConfigGroup]:
    groups: List[ConfigGroup] = [
        {
            "name": DEFAULT_GROUP,
            "options": _oslo_group(conf._opts, lambda d: conf[d], redactor),
        }
    ]
    for group_key in list(conf._groups):
        group = conf._groups[group_key]
        name = str(getattr(group, "name", group_key))

        def read(dest: str, g: str = group_key) -> Any:
            return conf[g][dest]

        try:
            options = _oslo_group(group._opts, read, redactor)
        except Exception as exc:
            error = unit_error(exc)
            error["message"] = redactor.text(error["message"])
            groups.append({"name": name, "options": [], "error": error})
            continue
        groups.append({"name": name, "options": options})
    groups.sort(key=lambda g: str(g["name"]))
    return groups


def as_mapping(conf: Any) -> Optional[Mapping]:  # type: ignore[type-arg]
    if isinstance(conf, Mapping):
        return conf
    if dataclasses.is_dataclass(conf) and not isinstance(conf, type):
        return {f.name: getattr(conf, f.name, None) for f in dataclasses.fields(conf)}
    if hasattr(conf, "_get_kwargs") or type(conf).__name__ == "Namespace":
        try:
            return dict(vars(conf))
        except TypeError:
            return None
    return None


def collect_mapping(conf: Mapping, redactor: Redactor) -> List[ConfigGroup]:  # type: ignore[type-arg]
    top: List[ConfigOption] = []
    nested: List[Tuple[str, Mapping]] = []  # type: ignore[type-arg]
    for key in list(conf):
        try:
            value = conf[key]
        except Exception as exc:
            top.append({"name": safe_str(key), "error": _error(safe_str(key), exc, redactor)})
            continue
        sub = as_mapping(value)
        if sub is not None:
            nested.append((safe_str(key), sub))
        else:
            top.append(_option(safe_str(key), lambda v=value: v, False, redactor))
    groups: List[ConfigGroup] = []
    if top or not nested:
        top.sort(key=lambda o: str(o["name"]))
        groups.append({"name": DEFAULT_GROUP, "options": top})
    for name, sub in nested:
        options: List[ConfigOption] = []
        for key in list(sub):
            try:
                value = sub[key]
            except Exception as exc:
                error = _error(safe_str(key), exc, redactor)
                options.append({"name": safe_str(key), "error": error})
                continue
            inner = as_mapping(value)
            if inner is not None:
                value = {k: inner[k] for k in inner}
            options.append(_option(safe_str(key), lambda v=value: v, False, redactor))
        options.sort(key=lambda o: str(o["name"]))
        groups.append({"name": name, "options": options})
    groups.sort(key=lambda g: str(g["name"]))
    return groups


def collect(ctx: Context) -> Optional[ConfigurationData]:
    conf = ctx.conf
    if conf is None:
        # as oslo.reports does: without a conf, the global CONF of a process that
        # already uses oslo.config (never imported here otherwise)
        cfg = sys.modules.get("oslo_config.cfg")
        conf = getattr(cfg, "CONF", None)
        if conf is None:
            return None
    if is_oslo_config(conf):
        return {"source": "oslo.config", "groups": collect_oslo(conf, ctx.redactor)}
    mapping = as_mapping(conf)
    if mapping is not None:
        return {"source": type(conf).__name__, "groups": collect_mapping(mapping, ctx.redactor)}
    raise TypeError(
        f"cannot read configuration from a {type(conf).__name__}: pass an oslo.config "
        "ConfigOpts, a mapping, an argparse.Namespace or a dataclass instance"
    )


SECTION = SectionSpec("configuration", "Configuration", collect, redacted=True)

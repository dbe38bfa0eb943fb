"""oslo.config options of gurumeditation, under the group ``[oslo_reports]``.

Same option names and defaults as oslo.reports, so existing configuration
files keep working; each is defined once, as a field of
:class:`gurumeditation.options.ReportOptions` (or, for the ``redact_*``
options joined into one of them, in
:data:`gurumeditation.options.REDACT_CONF`).  oslo.config is imported here
only, and only when one of these functions is called.
"""

from __future__ import annotations

from typing import Any, List, Tuple

GROUP = "oslo_reports"


def _options() -> List[Any]:
    from oslo_config import cfg

    from .options import conf_options

    kinds = {
        "str": cfg.StrOpt,
        "int": cfg.IntOpt,
        "float": cfg.FloatOpt,
        "bool": cfg.BoolOpt,
        "list": cfg.ListOpt,
        "multistr": cfg.MultiStrOpt,
    }
    return [
        kinds[kind](name, default=default, help=doc) for name, kind, default, doc in conf_options()
    ]


def list_opts() -> List[Tuple[str, List[Any]]]:
    """The options, for oslo-config-generator (entry point ``oslo.config.opts``)."""
    return [(GROUP, _options())]


def set_defaults(conf: Any) -> None:
    """Register the ``[oslo_reports]`` options on ``conf`` (a ``ConfigOpts``)."""
    conf.register_opts(_options(), group=GROUP)

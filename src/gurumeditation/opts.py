"""oslo.config options of gurumeditation, under the group ``[oslo_reports]``.

Same option names and defaults as oslo.reports, so existing configuration
files keep working.  oslo.config is imported here only, and only when one of
these functions is called.
"""

from __future__ import annotations

from typing import Any, List, Tuple

GROUP = "oslo_reports"


def _options() -> List[Any]:
    from oslo_config import cfg

    return [
        cfg.StrOpt(
            "log_dir",
            help="Path to a log directory where to create a file for each report. "
            "When unset, reports go to standard error.",
        ),
        cfg.StrOpt(
            "file_event_handler",
            help="Path of a file to watch: touching it (changing its modification "
            "time) writes a report.",
        ),
        cfg.ListOpt(
            "formats",
            default=["text"],
            help="Forms each report is written in: any of text, json, html. With "
            "several, one file each under the same name (.json, .html added).",
        ),
        cfg.IntOpt(
            "file_event_handler_interval",
            default=1,
            help="How many seconds to wait between polls of file_event_handler "
            "where the platform offers no file notification.",
        ),
    ]


def list_opts() -> List[Tuple[str, List[Any]]]:
    """The options, for oslo-config-generator (entry point ``oslo.config.opts``)."""
    return [(GROUP, _options())]


def set_defaults(conf: Any) -> None:
    """Register the ``[oslo_reports]`` options on ``conf`` (a ``ConfigOpts``)."""
    conf.register_opts(_options(), group=GROUP)

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
        cfg.ListOpt(
            "redact_keys",
            default=[],
            help="More words that, as whole words of a key (option name, environment "
            "variable, mapping key, --flag), mark its value as a secret to mask, "
            "in addition to the built-in ones (password, secret, token, api_key...). "
            "An entry starting with 're:' is a regular expression searched in the key.",
        ),
        cfg.MultiStrOpt(
            "redact_values",
            default=[],
            help="Regular expression of a credential format to mask wherever it appears "
            "in a report (repeat the option for several); a named group 'secret' "
            "limits the mask to that group.",
        ),
        cfg.ListOpt(
            "redact_allow",
            default=[],
            help="Keys (exact names, case-insensitive) whose values are shown as they "
            "are even though they look secret.",
        ),
    ]


def list_opts() -> List[Tuple[str, List[Any]]]:
    """The options, for oslo-config-generator (entry point ``oslo.config.opts``)."""
    return [(GROUP, _options())]


def set_defaults(conf: Any) -> None:
    """Register the ``[oslo_reports]`` options on ``conf`` (a ``ConfigOpts``)."""
    conf.register_opts(_options(), group=GROUP)

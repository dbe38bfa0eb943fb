"""The classic text layout of oslo.reports, rendered from the report document.

A function of the plain report only: it never looks at the live process, so
a report saved as JSON renders to the same text later.

Shape kept from the classic report: 72-column ``====`` section banners,
``------`` unit banners, ``file:line in function`` followed by the source
line in backticks, a blank line after every frame, ``key = value`` lines for
configuration and registered sections.  New facts (thread names, greenlet
states, group members...) go on lines inside a block's body, after the blank
line that follows its banner, so every banner line stays as it was.
"""

from __future__ import annotations

from typing import Any, Dict, List

from ..model import Report, Section
from ..terminal import escape
from .common import automatic_lines
from .text_layout import WIDTH, mapping_lines, section_banner
from .text_sections import BODY, registered_lines


def error_lines(section: Section) -> List[str]:
    err = section.get("error") or {"type": "Error", "message": "", "traceback": ""}
    lines = [f"Unable to produce this section: {err['type']}: {err['message']}"]
    tb = err.get("traceback", "").rstrip("\n")
    if tb:
        lines += tb.split("\n")
    return lines + [""]


def section_lines(section: Section) -> List[str]:
    lines = section_banner(section.get("title", section.get("id", "")))
    if "error" in section:
        return lines + error_lines(section)
    data = section.get("data")
    sid = section.get("id", "")
    body = BODY.get(sid)
    if body is not None:
        lines += body(data or {})
    elif sid.startswith("registered:"):
        lines += registered_lines(data or {})
    else:
        lines += mapping_lines(data)
    if section.get("note"):
        lines.append(f"note: {section['note']}")
    return lines


def header_lines(report: Report) -> List[str]:
    header: Dict[str, Any] = dict(report.get("header", {}))
    lines = []
    trigger = header.get("trigger") or {}
    producer = header.get("producer") or {}
    lines.append(
        f"Report of {header.get('service') or 'unknown service'} "
        f"(pid {header.get('pid')}) at {header.get('timestamp')}"
    )
    how = f"Trigger: {trigger.get('kind', '?')} {trigger.get('detail', '')}".rstrip()
    who = producer.get("thread")
    if who:
        how += f"; written by thread {who}"
        if producer.get("main"):
            how += " (main thread)"
    if header.get("durationMs") is not None:
        how += f" in {header['durationMs']:.1f} ms"
    lines.append(how)
    if producer.get("reason"):
        lines.append(f"Note: {producer['reason']}")
    lines += automatic_lines(trigger)
    if header.get("redactedCount"):
        lines.append(f"Masked: {header['redactedCount']} values that looked secret")
    lines += signal_lines(header)
    return lines


def signal_lines(header: Dict[str, Any]) -> List[str]:
    """The report signal, when it is no longer ours (nothing when it is)."""
    state = header.get("signal") or {}
    if not state or state.get("ours", True):
        return []
    return [
        f"Signal: {state.get('name')} was taken over by {state.get('takenOverBy') or '?'}; "
        "this process answers 'gurumeditation report' over its channel"
    ]


#: The section that closes a text report with this library's facts about it
#: (time, pid, trigger, who wrote it, how many values were masked): the
#: classic opening stays exactly as oslo.reports writes it, and every classic
#: section where oslo.reports' tests and parsers look for it.
ABOUT_TITLE = "About This Report"


def prefix_lines() -> List[str]:
    """The classic opening: the banner, the ``||||`` bar, two blank lines."""
    return section_banner("Guru Meditation") + ["|" * WIDTH, "", ""]


def about_lines(report: Report) -> List[str]:
    """The closing section: :func:`header_lines` under its banner."""
    return section_banner(ABOUT_TITLE) + header_lines(report)


#: The sections oslo.reports writes, in its order, right after its opening:
#: its parsers and tests look for them there.
CLASSIC_IDS = ("package", "threads", "green_threads", "processes", "configuration")


def text_order(sections: List[Section]) -> List[Section]:
    """The document's sections in text order: the Diagnosis (first in the
    document) comes right after the classic sections, the first thing after
    what oslo.reports' parsers expect at the top."""
    leading = [s for s in sections if s.get("id") == "diagnosis"]
    if not leading:
        return list(sections)
    rest = [s for s in sections if s.get("id") != "diagnosis"]
    at = 0
    for index, section in enumerate(rest):
        if section.get("id") in CLASSIC_IDS:
            at = index + 1
    return rest[:at] + leading + rest[at:]


def render(report: Report) -> str:
    """The whole report in the classic text layout (no trailing newline)."""
    lines = prefix_lines()
    for section in text_order(report.get("sections", [])):
        lines += section_lines(section)
    lines += about_lines(report)
    # every control character an application put in a name, value or path
    # is shown escaped (the layout's own newlines stay)
    return escape("\n".join(lines))

"""The report as plain data.

A report is one JSON-able document: a ``header`` and an ordered list of
``sections``.  Collectors build it, renderers read it, and nothing in between
holds a reference to a live object of the process, so a report saved as JSON
can be rendered again later and gives the same text.

The shapes are written down here as ``TypedDict`` types; at run time they are
ordinary ``dict`` and ``list`` objects (cheap to build, and ``json.dumps``
takes them as they are).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, Dict, List, Optional, Sequence, Tuple, TypedDict, Union

#: Bumped whenever a key is added or removed or a value changes type
#: (rules in ``docs/report-format.md``).
REPORT_VERSION = 1

#: What JSON can hold.
Plain = Union[None, bool, int, float, str, List[Any], Dict[str, Any]]


class Frame(TypedDict):
    """One frame of a stack, outermost first in a ``stack`` list."""

    file: str
    line: int
    function: str
    code: str  # the source line, stripped; "" when it cannot be read


class StackEntry(TypedDict, total=False):
    """A unit of work (thread, greenlet, task), or a group of units whose stacks
    are identical.  ``count`` is 1 for a single unit; ``members`` holds the
    facts of each unit listed (ident, name, ...), ``more`` how many were not
    listed."""

    count: int
    members: List[Dict[str, Any]]
    more: int
    stack: List[Frame]


class SectionError(TypedDict):
    type: str
    message: str
    traceback: str


class Section(TypedDict, total=False):
    id: str
    title: str
    data: Any
    error: SectionError
    note: str


class Header(TypedDict, total=False):
    timestamp: str
    pid: int
    ppid: int
    hostname: str
    service: str
    python: Dict[str, str]
    argv: List[str]
    trigger: Dict[str, str]
    producer: Dict[str, Any]
    durationMs: float
    redactedCount: int
    signal: Dict[str, Any]


class Report(TypedDict):
    reportVersion: int
    header: Header
    sections: List[Section]


def safe_str(value: object) -> str:
    """``str(value)`` that never raises: an object whose ``__str__`` (or
    ``__repr__``) fails is shown by its type and the error instead."""
    try:
        return str(value)
    except Exception as exc:  # a broken __str__ must not cost the report
        return f"<unprintable {type(value).__name__} object: {_describe(exc)}>"


def safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception as exc:
        return f"<unprintable {type(value).__name__} object: {_describe(exc)}>"


def _describe(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:
        return type(exc).__name__


_MAX_DEPTH = 32


def to_plain(value: object, _depth: int = 0) -> Plain:
    """Turn ``value`` into JSON-native data, keeping the order of mappings and
    sequences.  Mapping keys become strings; anything that is not a scalar,
    mapping or sequence becomes its ``str()``."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        # JSON has no NaN or infinity; keep them readable instead
        return (
            value if value == value and value not in (float("inf"), float("-inf")) else str(value)
        )
    if _depth >= _MAX_DEPTH:
        return safe_str(value)
    if isinstance(value, Mapping):
        try:
            items = list(value.items())
        except Exception as exc:
            return f"<unreadable mapping: {_describe(exc)}>"
        return {safe_str(k): to_plain(v, _depth + 1) for k, v in items}
    if isinstance(value, tuple):
        fields = getattr(value, "_fields", None)
        if isinstance(fields, tuple) and len(fields) == len(value):
            # a named tuple keeps its field names (``password`` must stay a key to be masked)
            return {safe_str(k): to_plain(v, _depth + 1) for k, v in zip(fields, value)}
    if isinstance(value, (list, tuple, set, frozenset)):
        seq = list(value)
        if isinstance(value, (set, frozenset)):
            try:
                seq.sort(key=safe_str)
            except Exception:
                pass
        return [to_plain(v, _depth + 1) for v in seq]
    if isinstance(value, bytes):
        return safe_repr(value)
    return safe_str(value)


def error_of(exc: BaseException, tb_text: str) -> SectionError:
    return {"type": type(exc).__name__, "message": safe_str(exc), "traceback": tb_text}


def python_facts() -> Dict[str, str]:
    return {
        "implementation": sys.implementation.name,
        "version": sys.version.split()[0],
        "executable": sys.executable or "",
    }


def find_section(report: Report, section_id: str) -> Optional[Section]:
    for section in report["sections"]:
        if section.get("id") == section_id:
            return section
    return None


#: Path parts of library code (standard library, installed packages).
LIBRARY_MARKERS = ("/lib/python", "/site-packages/", "/dist-packages/", "<frozen ")


def is_library_file(file: str) -> bool:
    return any(marker in file for marker in LIBRARY_MARKERS)


def parked_at(stack: Sequence[Tuple[str, Any, str]]) -> str:
    """Where a stack of (file, line, function), outermost first, is parked:
    its innermost frame, and when that is library code, the innermost
    application frame that called into it too (``wait (threading.py:327) in
    worker (app.py:5)``); ``""`` for an empty stack."""
    if not stack:
        return ""
    file, line, function = stack[-1]
    text = f"{function} ({file}:{line})"
    if is_library_file(str(file)):
        for f, n, fn in reversed(stack[:-1]):
            if not is_library_file(str(f)):
                return f"{text} in {fn} ({f}:{n})"
    return text

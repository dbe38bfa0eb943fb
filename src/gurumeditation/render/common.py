"""What the renderers and ``diff`` read alike in a document: which sections
hold stacks, what a unit of each is called, where a stack is parked, how a
unit's error reads.  Functions of the document only."""

from __future__ import annotations

import re
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple


class UnitName(NamedTuple):
    one: str  # "green thread"
    many: str  # "green threads"


#: Stack section ids and what a unit of each is called.
UNIT_NAMES: Dict[str, UnitName] = {
    "threads": UnitName("thread", "threads"),
    "green_threads": UnitName("green thread", "green threads"),
    "asyncio_tasks": UnitName("task", "tasks"),
}

#: A section this module does not know.
_ANY_UNIT = UnitName("unit", "units")


def unit_name(section_id: str) -> UnitName:
    return UNIT_NAMES.get(section_id, _ANY_UNIT)


def is_stack_data(data: Any) -> bool:
    """Whether a section's data is a stack section's (``{total, entries}``,
    every entry with a ``stack``), whatever its id."""
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        return False
    return all(isinstance(e, dict) and "stack" in e for e in data["entries"])


def stack_total(data: Dict[str, Any]) -> int:
    """How many units a stack section holds (``total``, else the entries' counts)."""
    total = data.get("total")
    if isinstance(total, int):
        return total
    return sum(int(e.get("count", 1)) for e in data.get("entries", []))


def error_text(error: Any) -> str:
    """An error of a unit, option or process (``{"type", "message"}``) as
    ``Type: message``; the string of a document of reportVersion 1 as it is."""
    if isinstance(error, dict):
        return f"{error.get('type')}: {error.get('message')}"
    return str(error)


#: Path parts of installed packages: the short path of a frame in one is what
#: follows the last of them (``starlette/routing.py``).
PACKAGE_MARKERS = ("/site-packages/", "/dist-packages/")

#: Where a document that does not name its standard library keeps it, by path
#: alone: ``.../lib/python3.11/`` (a reportVersion 1 or 2 document).
_STDLIB_GUESS = re.compile(r"/lib/python\d+(?:\.\d+)?t?(?:\.zip)?/")


class FrameKind(NamedTuple):
    kind: str  # "app", "library" or "stdlib"
    short: str  # the path shown: a library's from its package on, the stdlib's from it


def stdlib_dir(report: Any) -> Optional[str]:
    """The standard library directory a document names (``header.python.stdlib``)."""
    if not isinstance(report, dict):
        return None
    python = (report.get("header") or {}).get("python") or {}
    found = python.get("stdlib") if isinstance(python, dict) else None
    return str(found).rstrip("/") if found else None


def frame_kind(file: str, stdlib: Optional[str] = None) -> FrameKind:
    """Whether a frame's ``file`` is the application's own code, an installed
    package's (``site-packages``, ``dist-packages``) or the standard
    library's (under ``stdlib``, or frozen), by its path only; with the
    short path a reader needs (``starlette/routing.py``, ``threading.py``).
    Without ``stdlib``, a ``.../lib/pythonX.Y/`` part stands for it."""
    for marker in PACKAGE_MARKERS:
        at = file.rfind(marker)
        if at >= 0:
            return FrameKind("library", file[at + len(marker) :])
    if file.startswith("<frozen "):
        return FrameKind("stdlib", file)
    if stdlib:
        if file.startswith(stdlib + "/"):
            return FrameKind("stdlib", file[len(stdlib) + 1 :])
    else:
        match = _STDLIB_GUESS.search(file)
        if match:
            return FrameKind("stdlib", file[match.end() :])
    return FrameKind("app", file)


def is_library_file(file: str, stdlib: Optional[str] = None) -> bool:
    """Whether ``file`` is library code (an installed package or the standard library)."""
    return frame_kind(file, stdlib).kind != "app"


def parked_at(
    stack: Sequence[Tuple[str, Any, str]], stdlib: Optional[str] = None, short: bool = False
) -> str:
    """Where a stack of (file, line, function), outermost first, is parked:
    its innermost frame, and when that is library code, the innermost
    application frame that called into it too (``wait (threading.py:327) in
    worker (app.py:5)``); ``""`` for an empty stack.  ``short``: library
    frames by their short path (see :func:`frame_kind`)."""
    if not stack:
        return ""

    def place(file: str, line: Any, function: str) -> str:
        kind = frame_kind(file, stdlib)
        return f"{function} ({kind.short if short else file}:{line})"

    file, line, function = stack[-1]
    text = place(str(file), line, function)
    if is_library_file(str(file), stdlib):
        for f, n, fn in reversed(stack[:-1]):
            if not is_library_file(str(f), stdlib):
                return f"{text} in {place(str(f), n, fn)}"
    return text


def automatic_lines(trigger: Dict[str, Any]) -> List[str]:
    """What an automatic trigger saw: the stall, the exception (with its
    traceback as Python prints it), the memory, a stall that recovered."""
    lines: List[str] = []
    stall = trigger.get("stall") or {}
    if stall:
        lines.append(
            f"Stall: {stall.get('what')} made no progress for {stall.get('seconds', 0):.1f} s, "
            f"at {stall.get('where') or '?'}"
        )
    memory = trigger.get("memory") or {}
    if memory:
        lines.append(
            f"Memory: resident {memory.get('rss_bytes')} bytes, above the limit of "
            f"{memory.get('limit_bytes')} bytes"
        )
    exc = trigger.get("exception") or {}
    if exc:
        where = ", ".join(f"{k} {exc[k]}" for k in ("hook", "thread") if exc.get(k))
        lines.append(
            f"Exception: {exc.get('type')}: {exc.get('message')}" + (f" ({where})" if where else "")
        )
        if exc.get("context"):
            lines.append(f"Context: {exc['context']}")
        if exc.get("traceback"):
            lines += str(exc["traceback"]).rstrip("\n").split("\n")
    recovered = trigger.get("recovered") or {}
    if recovered:
        lines.append(
            f"Recovered: {recovered.get('what')} recovered after "
            f"{recovered.get('seconds', 0):.1f} s (before this report)"
        )
    return lines

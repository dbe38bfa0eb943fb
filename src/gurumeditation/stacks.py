"""Stacks as data: extract frames from live frame objects, and group units of
work whose stacks are identical.

Extraction and formatting are kept apart (as ``traceback`` keeps
``StackSummary`` apart from ``format``): this module reads frames into
:class:`~gurumeditation.model.Frame` dicts and never formats text.
"""

from __future__ import annotations

import linecache
import os
from types import FrameType
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from .model import Frame, StackEntry, StackSectionData

#: Directory of this package: frames from here are the report's own and never
#: appear in a stack.
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep

#: The bundled demo service lives in the package but is an application: its
#: frames are shown.
DEMO_DIR = PACKAGE_DIR + "demo" + os.sep

#: A stack reduced to what makes two stacks "identical": (file, line, function)
#: of every frame, outermost first.
StackKey = Tuple[Tuple[str, int, str], ...]

#: How many frames of one stack are read at most (deep recursion stays bounded).
MAX_DEPTH = 256

#: How many members of a group are listed before "and N more".
MAX_MEMBERS = 20


def is_own_file(filename: str) -> bool:
    return filename.startswith(PACKAGE_DIR) and not filename.startswith(DEMO_DIR)


def stack_key(frame: Optional[FrameType], limit: int = MAX_DEPTH) -> StackKey:
    """The (file, line, function) triples of ``frame`` and its callers,
    outermost first, leaving out this package's own frames."""
    triples: List[Tuple[str, int, str]] = []
    while frame is not None and len(triples) < limit:
        code = frame.f_code
        filename = code.co_filename
        if not is_own_file(filename):
            lineno = frame.f_lineno
            triples.append((filename, lineno if lineno is not None else 0, code.co_name))
        frame = frame.f_back
    triples.reverse()
    return tuple(triples)


class FrameReader:
    """:func:`stack_key` for many stacks at once: the (file, line, function)
    triple of a frame is computed once per (code object, instruction offset)
    and shared by every stack parked at the same place, so reading 10,000
    stacks parked in the same dozen functions costs one dictionary look-up
    per frame instead of a line-table decode (``f_lineno``) per frame."""

    __slots__ = ("_codes", "_keys", "_triples")

    def __init__(self) -> None:
        self._triples: Dict[Tuple[int, int], Optional[Tuple[str, int, str]]] = {}
        self._codes: Dict[int, Any] = {}  # keeps each code object (and its id) alive
        self._keys: Dict[Tuple[int, ...], StackKey] = {}

    def key(self, frame: Any, limit: int = MAX_DEPTH) -> StackKey:
        """The stack key of ``frame``: first a bare pass collecting (code id,
        instruction offset) pairs, looked up whole; only a stack not seen yet
        in this run is read frame by frame."""
        raw: List[int] = []
        append = raw.append
        top = frame
        hops = 0
        while frame is not None and hops < limit:
            code = frame.f_code
            append(id(code))
            append(frame.f_lasti)
            frame = frame.f_back
            hops += 1
        if frame is not None:  # deeper than the limit: no shortcut
            return self.read(top, limit)
        bare = tuple(raw)
        known = self._keys.get(bare)
        if known is None:
            known = self._keys[bare] = self.read(top, limit)
        return known

    def read(self, frame: Any, limit: int = MAX_DEPTH) -> StackKey:
        frames: List[Any] = []
        while frame is not None and len(frames) < limit:
            frames.append(frame)
            frame = frame.f_back
        frames.reverse()
        return self.read_frames(frames)

    def read_frames(self, frames: List[Any]) -> StackKey:
        """The stack key of ``frames`` given outermost first (e.g. the frames
        of an await chain), leaving out this package's own frames."""
        triples: List[Tuple[str, int, str]] = []
        append = triples.append
        cache = self._triples
        for frame in frames:
            code = frame.f_code
            where = (id(code), frame.f_lasti)
            triple = cache.get(where, _MISSING)
            if triple is _MISSING:
                triple = self._triple(frame, code)
                cache[where] = triple
            if triple is not None:
                append(triple)
        return tuple(triples)

    def _triple(self, frame: Any, code: Any) -> Optional[Tuple[str, int, str]]:
        self._codes[id(code)] = code
        filename = code.co_filename
        if is_own_file(filename):
            return None
        lineno = frame.f_lineno
        return (filename, lineno if lineno is not None else 0, code.co_name)


_MISSING: Any = object()


class SourceCache:
    """Source lines looked up once per (file, line) for the whole report;
    ``redact`` (the report's ``Redactor.text``) masks credentials written in
    the source (``connect(password="...")``)."""

    __slots__ = ("_lines", "_redact")

    def __init__(self, redact: Optional[Callable[[str], str]] = None) -> None:
        self._lines: Dict[Tuple[str, int], str] = {}
        self._redact = redact

    def line(self, filename: str, lineno: int) -> str:
        key = (filename, lineno)
        text = self._lines.get(key)
        if text is None:
            try:
                text = linecache.getline(filename, lineno).strip()
                if self._redact is not None and text:
                    text = self._redact(text)
            except Exception:  # an odd loader or encoding must not cost the report
                text = ""
            self._lines[key] = text
        return text

    def frames(self, key: StackKey) -> List[Frame]:
        return [{"file": f, "line": n, "function": fn, "code": self.line(f, n)} for f, n, fn in key]


class Unit:
    """One unit of work about to be written into a stack section: its facts
    (ident, name, state...), its stack key, and whether it must stay on its
    own (the main thread, the thread that handled the signal, the current
    greenlet are never folded into a group)."""

    __slots__ = ("facts", "key", "pinned")

    def __init__(self, facts: Any, key: StackKey, pinned: bool = False) -> None:
        self.facts = facts
        self.key = key
        self.pinned = pinned


def build_entries(
    units: Iterable[Unit],
    sources: SourceCache,
    group: bool = True,
    max_members: int = MAX_MEMBERS,
) -> List[StackEntry]:
    """Entries of a stack section, in the order units were given.

    With ``group`` on, units whose stacks are identical share one entry (placed
    where the first of them stood), with the count and the first
    ``max_members`` members; pinned units always get an entry of their own.
    """
    entries: List[StackEntry] = []
    if not group:
        for unit in units:
            entries.append(
                {"count": 1, "members": [unit.facts], "more": 0, "stack": sources.frames(unit.key)}
            )
        return entries

    by_key: Dict[StackKey, List[Unit]] = {}
    order: List[Tuple[str, Any]] = []  # ("pinned", unit) or ("group", key)
    for unit in units:
        if unit.pinned:
            order.append(("pinned", unit))
            continue
        bucket = by_key.get(unit.key)
        if bucket is None:
            by_key[unit.key] = [unit]
            order.append(("group", unit.key))
        else:
            bucket.append(unit)

    for kind, item in order:
        if kind == "pinned":
            entries.append(
                {"count": 1, "members": [item.facts], "more": 0, "stack": sources.frames(item.key)}
            )
            continue
        bucket = by_key[item]
        listed = bucket[:max_members]
        entries.append(
            {
                "count": len(bucket),
                "members": [u.facts for u in listed],
                "more": len(bucket) - len(listed),
                "stack": sources.frames(item),
            }
        )
    return entries


def stack_section_data(entries: Sequence[StackEntry], total: int) -> StackSectionData:
    return {"total": total, "entries": list(entries)}

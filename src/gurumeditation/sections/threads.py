"""Threads: every OS thread of the process with its Python stack.

Thread idents come from ``sys._current_frames()`` (which only real OS threads
are in); names, daemon flags and native ids from ``threading`` where it knows
the thread.  The thread that produces the report shows the frame the signal
interrupted, never the report's own frames.
"""

from __future__ import annotations

import sys
import threading
from types import FrameType
from typing import Any, Dict, List, Optional

from ..report import Context, SectionSpec
from ..stacks import SourceCache, Unit, build_entries, stack_key, stack_section_data


def sources(ctx: Context) -> SourceCache:
    """The run's shared source-line cache."""
    cache = ctx.scratch.get("sources")
    if cache is None:
        cache = ctx.scratch["sources"] = SourceCache()
    return cache  # type: ignore[no-any-return]


def thread_facts(ident: int, main_ident: Optional[int], producer: int) -> Dict[str, Any]:
    thread = threading._active.get(ident)  # type: ignore[attr-defined]
    facts: Dict[str, Any] = {"ident": ident}
    if thread is not None:
        try:
            facts["name"] = str(thread.name)
            facts["daemon"] = bool(thread.daemon)
            native = getattr(thread, "native_id", None)
            if native is not None:
                facts["native_id"] = native
        except Exception:  # a Thread subclass with a broken property
            pass
    if ident == main_ident:
        facts["main"] = True
    if ident == producer:
        facts["current"] = True
    return facts


def collect(ctx: Context) -> Dict[str, Any]:
    frames: Dict[int, FrameType] = sys._current_frames()
    main_ident = threading.main_thread().ident
    producer = ctx.producer_ident or threading.get_ident()
    idents: List[int] = [i for i in frames if i not in ctx.own_threads]
    if main_ident in idents:
        idents.remove(main_ident)
        idents.insert(0, main_ident)
    units = []
    for ident in idents:
        frame: Optional[FrameType] = frames[ident]
        if ident == producer and ctx.frame is not None:
            frame = ctx.frame
        facts = thread_facts(ident, main_ident, producer)
        pinned = ident == main_ident or ident == producer
        units.append(Unit(facts, stack_key(frame), pinned))
    del frames
    entries = build_entries(units, sources(ctx), group=ctx.group)
    return stack_section_data(entries, len(units))


SECTION = SectionSpec("threads", "Threads", collect)

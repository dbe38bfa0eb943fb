"""Threads: every OS thread of the process with its Python stack.

Thread idents come from ``sys._current_frames()`` (which only real OS threads
are in, monkey patched or not); names, daemon flags and native ids from the
``Thread`` objects that describe those idents, found in ``threading`` and in
the unpatched originals eventlet and gevent keep (see :mod:`..unpatched`),
so greenlets posing as threads never show here.  The thread that produces the
report shows the frame the signal interrupted, never the report's own frames.

Data: :class:`~gurumeditation.model.StackSectionData` of
:class:`~gurumeditation.model.ThreadMember`.
"""

from __future__ import annotations

import linecache
import sys
from types import FrameType
from typing import Any, List, Optional

from ..model import StackSectionData, ThreadMember
from ..report import Context, SectionSpec
from ..stacks import Unit, build_entries, is_own_file, stack_key, stack_section_data
from ..unpatched import main_ident, producer_ident, thread_objects


def thread_facts(
    ident: int, main_ident: Optional[int], producer: int, thread: Any = None
) -> ThreadMember:
    """Facts of one real thread; ``thread`` is its ``Thread`` object, if any."""
    facts: ThreadMember = {"ident": ident}
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


def prepare() -> None:
    """At setup: the source files of the stacks running now are read into
    ``linecache`` (a report shows those lines; most stay where they are)."""
    seen = set()
    for top in list(sys._current_frames().values()):
        frame: Optional[FrameType] = top
        depth = 0
        while frame is not None and depth < 200:
            filename = frame.f_code.co_filename
            if filename not in seen:
                seen.add(filename)
                if not is_own_file(filename):
                    try:
                        linecache.getlines(filename, frame.f_globals)
                    except Exception:
                        pass
            frame = frame.f_back
            depth += 1


def collect(ctx: Context) -> StackSectionData:
    frames = sys._current_frames()
    main = main_ident(frames)
    producer = producer_ident(ctx.producer_ident, frames)
    objects = thread_objects(frames)
    idents: List[int] = [i for i in frames if i not in ctx.own_threads]
    if main in idents:
        idents.remove(main)  # type: ignore[arg-type]
        idents.insert(0, main)  # type: ignore[arg-type]
    units = []
    for ident in idents:
        frame: Optional[FrameType] = frames[ident]
        if ident == producer and ctx.frame is not None:
            frame = ctx.frame
        facts = thread_facts(ident, main, producer, objects.get(ident))
        pinned = ident == main or ident == producer
        units.append(Unit(facts, stack_key(frame), pinned))
    del frames
    entries = build_entries(units, ctx.state.source_cache(ctx.redactor.text), group=ctx.group)
    return stack_section_data(entries, len(units))


SECTION = SectionSpec("threads", "Threads", collect)

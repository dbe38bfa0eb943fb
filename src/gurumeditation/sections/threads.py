"""Threads: every OS thread of the process with its Python stack.

Thread idents come from ``sys._current_frames()`` (which only real OS threads
are in, monkey patched or not); names, daemon flags and native ids from the
``Thread`` objects that describe those idents, found in ``threading`` and in
the unpatched originals eventlet and gevent keep (see :mod:`..unpatched`),
so greenlets posing as threads never show here.  The thread that produces the
report shows the frame the signal interrupted, never the report's own frames.

A main thread that runs no Python code at all — an embedding server's C loop
(the uWSGI master, an idle uWSGI worker waiting in ``accept()``) — has no
frame, so ``sys._current_frames()`` leaves it out; it is listed anyway, with
``no_python_frame`` and an empty stack ("in native code, no Python frame"),
rather than leaving the section empty without a word of why.

Data: :class:`~gurumeditation.model.StackSectionData` of
:class:`~gurumeditation.model.ThreadMember`.
"""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any, List, Optional

from .. import unpatched
from ..model import StackSectionData, ThreadMember
from ..report import Context, SectionSpec
from ..stacks import Unit, build_entries, stack_key, stack_section_data
from ..unpatched import main_ident, native_id, producer_ident, thread_objects


def thread_facts(
    ident: int, main_ident: Optional[int], producer: int, thread: Any = None
) -> ThreadMember:
    """Facts of one real thread; ``thread`` is its ``Thread`` object, if any."""
    facts: ThreadMember = {"ident": ident}
    if thread is not None:
        try:
            facts["name"] = str(thread.name)
            facts["daemon"] = bool(thread.daemon)
            native = native_id(ident, thread)
            if native is not None:
                facts["native_id"] = native
        except Exception:  # a Thread subclass with a broken property
            pass
    if ident == main_ident:
        facts["main"] = True
    if ident == producer:
        facts["current"] = True
    return facts


def threading_main() -> Any:
    import threading

    return threading.main_thread()


def frameless_main(frames: Any, own: Any) -> Optional[int]:
    """The main thread's ident when it is alive but runs no Python frame
    (not in ``frames``); ``None`` otherwise."""
    try:
        thread = threading_main()
        ident = getattr(thread, "ident", None)
        for candidate in (ident, unpatched._MAIN_IDENT):
            if candidate is not None and candidate in frames:
                return None
        ident = ident if ident is not None else unpatched._MAIN_IDENT
        if ident is None or ident in own:
            return None
        if thread is not None and not thread.is_alive():
            return None  # the main thread ended (a daemon-only process)
        return int(ident)
    except Exception:
        return None


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
    frameless = frameless_main(frames, ctx.own_threads)
    if frameless is not None:
        facts = thread_facts(frameless, frameless, producer, threading_main())
        facts["no_python_frame"] = True
        units.insert(0, Unit(facts, (), True))
    del frames
    entries = build_entries(units, ctx.state.source_cache(ctx.redactor.text), group=ctx.group)
    return stack_section_data(entries, len(units))


SECTION = SectionSpec("threads", "Threads", collect)

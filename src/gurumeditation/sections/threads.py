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

Each thread also gets its OS facts (:mod:`..why.procfs`: state, CPU time;
the wait channel and system call of a thread whose frames do not say what it
waits on; a second read at the end of the run, by the Diagnosis, tells which
ran meanwhile) and
what it waits on (:mod:`..why.waits`); both go to the run's wait-for graph
for the Diagnosis.  This library's own threads are left out and named in
``own_threads``.

Data: :class:`~gurumeditation.model.ThreadsData` of
:class:`~gurumeditation.model.ThreadMember`.
"""

from __future__ import annotations

import linecache
import sys
from types import FrameType
from typing import Any, Dict, List, Optional, cast

from .. import unpatched
from ..model import ThreadMember, ThreadsData, safe_str
from ..report import Context, SectionSpec
from ..stacks import Unit, build_entries, is_own_file, stack_key, stack_section_data
from ..unpatched import main_ident, native_id, producer_ident, thread_objects
from ..why import procfs, waits


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


def collect(ctx: Context) -> ThreadsData:
    frames = sys._current_frames()
    main = main_ident(frames)
    producer = producer_ident(ctx.producer_ident, frames)
    objects = thread_objects(frames)
    idents: List[int] = [i for i in frames if i not in ctx.own_threads]
    if main in idents:
        idents.remove(main)
        idents.insert(0, main)
    why = ctx.state.why(ctx.redactor.text)
    why.section_started()
    units = []
    found: Dict[int, Optional[waits.Found]] = {}
    for ident in idents:
        frame: Optional[FrameType] = frames[ident]
        waiting = frame  # where to look for a wait
        if ident == producer:
            waiting = ctx.frame  # the frame the signal interrupted (else it runs the report)
            if ctx.frame is not None:
                frame = ctx.frame
        facts = thread_facts(ident, main, producer, objects.get(ident))
        rec = why.add("thread", ident, facts.get("name", ""))
        rec.main = ident == main
        chain = waits.frames_of(frame, waits.DEPTH)
        rec.where = waits.innermost_where(chain)
        try:
            if waiting is frame:
                found[ident] = waits.in_frames(chain, ident) if chain else None
            else:
                found[ident] = waits.of_thread(waiting, ident) if waiting is not None else None
        except Exception:  # an odd frame must not cost the section
            found[ident] = None
        del chain
        pinned = ident == main or ident == producer
        units.append(Unit(facts, stack_key(frame), pinned))
    frameless = frameless_main(frames, ctx.own_threads)
    if frameless is not None:
        facts = thread_facts(frameless, frameless, producer, threading_main())
        facts["no_python_frame"] = True
        why.add("thread", frameless, facts.get("name", "")).main = True
        units.insert(0, Unit(facts, (), True))
    try:
        workers = waits.executor_workers(objects)
        if workers:
            why.future_holders.update(waits.future_holders(frames, [], workers))
    except Exception:
        pass
    own = sorted(own_name(i, frames[i], objects.get(i)) for i in frames if i in ctx.own_threads)
    del frames
    for unit in units:
        facts = unit.facts
        ident = facts["ident"]
        rec = why.units[("thread", ident)]
        native = facts.get("native_id")
        # the wait channel and system call only where the frames did not say
        # what it waits on (a blocking call in C: recv, select, sleep...)
        sample = procfs.read_task(native, full=found.get(ident) is None) if native else None
        if sample is not None:
            facts["os"] = procfs.os_facts(sample, None, ident == producer)
            if "syscall" in facts["os"]:  # a file's path, a socket's addresses
                facts["os"]["syscall"] = ctx.redactor.text(facts["os"]["syscall"])
            # whether it ran is told at the end of the run (WhyState.finish_cpu)
            why.cpu_first[ident] = (native, sample, facts["os"], ident == producer)
            rec.running = bool(facts["os"].get("running"))
        got = found.get(ident)
        if got is not None:
            facts["wait"] = why.wait_data(got)
            rec.wait = facts["wait"]
        elif "os" in facts and procfs.idle_syscall(facts["os"].get("syscall", "")):
            rec.wait = {"kind": "io", "resource": facts["os"]["syscall"], "idle": True}
    found.clear()
    entries = build_entries(units, ctx.state.source_cache(ctx.redactor.text), group=ctx.group)
    data = cast(ThreadsData, stack_section_data(entries, len(units)))
    if own:
        data["own_threads"] = own
        why.own_threads = own
    return data


def own_name(ident: int, frame: Optional[FrameType], thread: Any) -> str:
    """A helper thread of this library by its name, or the function it runs."""
    name = getattr(thread, "name", None)
    if name:
        return safe_str(name)
    outer: List[FrameType] = []
    while frame is not None:
        outer.append(frame)
        frame = frame.f_back
    for f in reversed(outer):
        code = f.f_code
        if code.co_name not in ("bootstrap", "_bootstrap", "_bootstrap_inner", "run"):
            return str(getattr(code, "co_qualname", code.co_name))
    return f"#{ident}"


SECTION = SectionSpec("threads", "Threads", collect)

"""Green Threads: every greenlet of the process (eventlet greenthreads, gevent
greenlets, plain greenlets) with its stack, state, name, OS thread and, when
gevent recorded it, where it was spawned.

Shown only when ``greenlet`` is already loaded.  A report asked for by a
trigger (signal, channel, file) leaves the section out when no green thread
exists beyond the main greenlets of the threads — a Celery child where some
library merely touched greenlet gets no section repeating the threads'
stacks; a report made in code (``TextGuruMeditation(...).run()``) keeps it,
with the caller's own main greenlet, as oslo.reports does.  This module never imports
greenlet, eventlet or gevent: what it knows of them is in :mod:`..glue`.

Finding them: greenlet keeps no registry, so every gc-tracked object's type
is tested (:func:`~gurumeditation.heap.scan_heap`, in slices short enough
that the process's other threads keep running on a heap of millions).
Which OS thread each greenlet belongs to is told by its main greenlet (see
:mod:`..glue.greenlet`); greenlets whose thread cannot be told carry no
``thread`` fact.  A thread that merely touched greenlet (its main greenlet
runs no greenlet of its own) is no green thread: see
:func:`~gurumeditation.glue.greenlet.bare_thread_mains`.

Data: :class:`~gurumeditation.model.StackSectionData` of
:class:`~gurumeditation.model.GreenMember`.
"""

from __future__ import annotations

import gc
import sys
from types import FrameType
from typing import Any, Dict, Iterable, List, Optional, Set, cast

from ..glue import eventlet as eventlet_glue
from ..glue import gevent as gevent_glue
from ..glue import greenlet as glue
from ..heap import scan_heap, subclasses
from ..model import GreenMember, StackSectionData, safe_str, unit_error
from ..report import Context, SectionSpec
from ..stacks import (
    FrameReader,
    SourceCache,
    StackKey,
    Unit,
    build_entries,
    stack_key,
    stack_section_data,
)
from ..unpatched import (
    main_ident,
    producer_ident,
    this_thread_ident,
    thread_objects,
    threads_posing,
)
from ..why import waits

#: Frames of a gevent spawning stack kept per listed greenlet.
SPAWN_DEPTH = 20

_NO_NAME: Any = object()


class _Census:
    """The greenlets of the process and what is known of each, found once."""

    def __init__(self, mod: Any, greenlet_class: type, current: Any) -> None:
        self.mod = mod
        self.current = current
        self.is_active = greenlet_class.__bool__  # type: ignore[attr-defined]
        self.glet_types = subclasses(greenlet_class)
        self.roots = glue.Roots()
        self.glets: List[Any] = []
        self.hub_ids: Set[int] = set()
        #: id() of a main greenlet -> {"thread", "thread_name"}
        self.place: Dict[int, Dict[str, Any]] = {}
        self.spawns: Dict[int, Any] = {}

    # -- finding --------------------------------------------------------------

    def find(self) -> None:
        eventlet_hubs = eventlet_glue.hub_types()
        gevent_hub = gevent_glue.hub_type()
        wanted = frozenset(self.glet_types | eventlet_hubs)
        found = scan_heap(wanted)
        if gc.get_freeze_count():  # gc.freeze(): greenlets the collector cannot list
            frames = sys._current_frames()
            found += glue.find_frozen(
                found,
                wanted,
                frozenset(self.glet_types),
                frozenset(eventlet_hubs | ({gevent_hub} if gevent_hub is not None else set())),
                eventlet_glue.hub_greenlet,
                frames,
                eventlet_glue.every_hub(),
                self.is_active,
            )
            del frames
        self.glets = [o for o in found if type(o) in self.glet_types]
        for obj in found:
            if type(obj) in eventlet_hubs:
                hub_greenlet = eventlet_glue.hub_greenlet(obj)
                if hub_greenlet is not None:
                    self.hub_ids.add(id(hub_greenlet))
        del found
        if gevent_hub is not None:
            self.hub_ids.update(id(g) for g in self.glets if isinstance(g, gevent_hub))
        current = self.current
        if current is not None and not any(g is current for g in self.glets):
            self.glets.append(current)  # never miss the greenlet that is running

    def tie_threads(
        self, frames: Dict[int, FrameType], main: Optional[int], producer: int
    ) -> List[Any]:
        """Learn which thread each main greenlet belongs to; return the
        greenlets in report order: the current one, hubs and main greenlets,
        then the others."""
        roots, current = self.roots, self.current
        thread_of_root: Dict[int, int] = {}
        if current is not None:
            thread_of_root[id(roots.root(current))] = producer
        firsts: List[Any] = []  # the current greenlet, hubs, main greenlets
        rest: List[Any] = []
        for glet in self.glets:
            if id(glet) in self.hub_ids:
                ident = gevent_glue.hub_thread_ident(glet)
                if ident is not None and ident in frames:
                    thread_of_root.setdefault(id(roots.root(glet)), ident)
                firsts.append(glet)
            elif glet.parent is None:
                firsts.append(glet)
            elif glet is current:
                firsts.insert(0, glet)
            else:
                rest.append(glet)
        for glet in firsts:
            if glet.parent is None and id(glet) not in thread_of_root:
                saved = glet.gr_frame
                ident = glue.thread_of_saved_stack(saved, frames, main) if saved else None
                if ident is not None:
                    thread_of_root[id(glet)] = ident
        bare = glue.bare_thread_mains(
            firsts, self.glets, thread_of_root, current, self.is_active, roots
        )
        if bare:  # threads that only touched greenlet: no green threads
            firsts = [g for g in firsts if id(g) not in bare]
        glue.match_running_mains(firsts, thread_of_root, frames, main)
        if current is not None and current in firsts:
            firsts.remove(current)
            firsts.insert(0, current)
        threads = thread_objects(frames)
        for root_id, ident in thread_of_root.items():
            self.place[root_id] = {"thread": ident}
            thread = threads.get(ident)
            if thread is not None:
                self.place[root_id]["thread_name"] = safe_str(getattr(thread, "name", ""))
        return firsts + rest

    # -- units ----------------------------------------------------------------

    def units(
        self,
        ordered: Iterable[Any],
        ctx: Context,
        frames: Dict[int, FrameType],
        main: Optional[int],
    ) -> List[Unit]:
        writer = _UnitWriter(self, ctx, frames, main)
        units: List[Unit] = []
        for glet in ordered:
            try:
                units.append(writer.unit(glet))
            except Exception as exc:  # one odd greenlet must not cost the others
                facts: GreenMember = {"id": id(glet), "type": type(glet).__name__, "state": ""}
                facts["state"] = "unknown"
                facts["error"] = unit_error(exc)
                units.append(Unit(facts, (), pinned=glet is self.current))
        return units


class _UnitWriter:
    """Facts and stack of one greenlet after another (what is the same for
    every greenlet of a class is asked once)."""

    def __init__(
        self, census: _Census, ctx: Context, frames: Dict[int, FrameType], main: Optional[int]
    ) -> None:
        self.census = census
        self.ctx = ctx
        self.frames = frames
        self.main = main
        self.reader = FrameReader()
        types = census.glet_types
        self.named = {t: gevent_glue.is_named(t) for t in types}
        self.spawning = {t: gevent_glue.records_spawning(t) for t in types}
        self.type_names = {t: t.__name__ for t in types}
        self.posing = threads_posing(frames)
        self.why = ctx.state.why(ctx.redactor.text)
        self.why.section_started()
        self.functions: Dict[int, Optional[str]] = {}  # by id() of a shared stack key
        self.keep: List[StackKey] = []  # ... kept alive while their ids are used

    def unit(self, glet: Any) -> Unit:
        census = self.census
        gid = id(glet)
        kind = type(glet)
        # (keys in the order of the document: "current" comes before "state")
        facts = cast(GreenMember, {"id": gid, "type": self.type_names.get(kind) or kind.__name__})
        frame: Any = None
        if glet is census.current:
            state = "running"
            facts["current"] = True
            frame = self.ctx.frame if self.ctx.frame is not None else sys._getframe()
        else:
            state = glue.state(glet, census.is_active)
            frame = glet.gr_frame if state == "suspended" else None
        facts["state"] = state
        parent = glet.parent
        root = census.roots.root_of.get(id(parent)) if parent is not None else glet
        if root is None:
            root = census.roots.root(glet)
        where = census.place.get(id(root))
        if where is not None:
            facts.update(where)  # type: ignore[typeddict-item]
            if state == "running" and frame is None:
                frame = self.frames.get(where["thread"])  # running now in its own thread
        if parent is None:
            facts["main"] = True
        hub = gid in census.hub_ids
        if hub:
            facts["hub"] = True
        key = self.reader.key(frame)
        self._name(glet, kind, key, facts, hub)
        self._wait(gid, frame if state == "suspended" else None, facts)
        if self.posing:
            posing = self.posing.get(gid)  # a patched threading.Thread runs in it
            if posing is not None and "main" not in facts:
                facts["thread_object"] = safe_str(getattr(posing, "name", ""))
        if self.spawning.get(kind):
            census.spawns[gid] = glet
        pinned = glet is census.current
        if census.current is None and state == "running" and where is not None:
            # written by a helper thread: the greenlet running in the main
            # thread is the one the signal interrupted
            pinned = where["thread"] == self.main
            if pinned:
                facts["current"] = True
        return Unit(facts, key, pinned=pinned)

    def _wait(self, gid: int, frame: Any, facts: GreenMember) -> None:
        """The greenlet in the run's wait-for graph, and what it waits on."""
        name = facts.get("name")
        rec = self.why.add("greenlet", gid, name or "")
        rec.thread = facts.get("thread")
        if frame is None:
            return
        try:
            found = waits.of_greenlet(frame, gid)
        except Exception:  # an odd frame must not cost the section
            return
        if found is not None:
            facts["wait"] = rec.wait = self.why.wait_data(found)

    def _name(self, glet: Any, kind: type, key: StackKey, facts: GreenMember, hub: bool) -> None:
        """gevent's ``Greenlet.name``, else the function the greenlet runs."""
        if hub:
            return
        if self.named.get(kind):
            try:
                name = glet.name
                if name:
                    facts["name"] = safe_str(name)
            except Exception:
                pass
        elif glet.parent is not None:
            function = self.functions.get(id(key), _NO_NAME)
            if function is _NO_NAME:
                function = self.functions[id(key)] = glue.function_name(key, eventlet_glue.WRAPPERS)
                self.keep.append(key)
            if function:
                facts["name"] = function


def collect(ctx: Context) -> Optional[StackSectionData]:
    mod = glue.module()
    greenlet_class = glue.greenlet_class(mod) if mod is not None else None
    if greenlet_class is None:
        return None
    current = None
    if this_thread_ident() not in ctx.own_threads:
        # (in a helper thread of ours, getcurrent() would make it a greenlet)
        current = glue.current(mod)
    census = _Census(mod, greenlet_class, current)
    census.find()
    frames = sys._current_frames()
    main = main_ident(frames)
    producer = producer_ident(ctx.producer_ident, frames)
    ordered = census.tie_threads(frames, main, producer)
    units = census.units(ordered, ctx, frames, main)
    del frames
    if ctx.trigger.get("kind") != "api" and all(
        unit.facts.get("main") and not unit.facts.get("hub") for unit in units
    ):
        return None  # greenlet loaded, no green thread beyond the main greenlets
    sources = ctx.state.source_cache(ctx.redactor.text)
    entries = build_entries(units, sources, group=ctx.group)
    if census.spawns:
        add_spawn_facts(entries, census.spawns, sources)
    return stack_section_data(entries, len(units))


def add_spawn_facts(entries: Iterable[Any], spawns: Dict[int, Any], sources: SourceCache) -> None:
    """Spawn facts for the members listed (not for those folded into "more")."""
    for entry in entries:
        for member in entry["members"]:
            glet = spawns.get(member.get("id"))
            if glet is None:
                continue
            spawner, stack = gevent_glue.spawn_facts(glet)
            if spawner:
                member["spawned_by"] = spawner
            if stack is not None:
                try:
                    member["spawned_at"] = sources.frames(stack_key(stack, SPAWN_DEPTH))
                except Exception:
                    pass


SECTION = SectionSpec("green_threads", "Green Threads", collect)

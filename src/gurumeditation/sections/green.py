"""Green Threads: every greenlet of the process (eventlet greenthreads, gevent
greenlets, plain greenlets) with its stack, state, name, OS thread and, when
gevent recorded it, where it was spawned.

Shown only when ``greenlet`` is already loaded; this module never imports
greenlet, eventlet or gevent, it reads what the process loaded.

Finding them: greenlet keeps no registry.  On a small heap (under
:data:`SMALL_HEAP` memory blocks) every gc-tracked object's type is tested,
in C over slices of the heap (``itertools.compress`` over ``map(type, ...)``),
never object by object in Python.  On a big heap run by eventlet or gevent the
greenlets are found by reference instead (:func:`find_by_reference`: one
``gc.get_referrers()`` pass over the heap, made in C, anchored on the main
greenlets, the hubs and the Python greenlet classes), several times cheaper.
When the main greenlets found that way do not add up to greenlet's own count
of them, the full scan is made after all.  The one greenlet the reference
search cannot see is a plain ``greenlet`` never started whose parent is
neither a main greenlet nor a hub (eventlet and gevent always give a hub as
parent).

Which OS thread a greenlet belongs to: every greenlet's ``parent`` chain ends
at the main greenlet of its thread.  That main greenlet is tied to a thread
ident by, in order: being the caller's own (``greenlet.getcurrent()``), a
gevent hub's ``thread_ident``, or the outermost frame of its saved stack (a
``threading`` bootstrap frame names its ``Thread``, the ``__main__`` module
frame the main thread).  Greenlets whose thread cannot be told carry no
``thread`` fact.

Not listed: the main greenlet of another OS thread that is only that thread
seen through greenlet (running, no greenlet of its own under it, thread not
told).  greenlet makes one for any thread that merely touches it: under
eventlet's monkey patching on Python 3.9, every thread started by the
*unpatched* ``threading`` gets one, because eventlet greens that module's
``_active_limbo_lock`` too (3.9's ``_thread`` types are static, so its
re-imported copy shares the ``RLock`` type eventlet replaces) and the green
lock asks ``greenlet.getcurrent()`` for its owner.  The thread itself is in
the Threads section.
"""

from __future__ import annotations

import gc
import itertools
import sys
from types import FrameType
from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Set, Tuple

from ..model import safe_str
from ..realthreads import main_ident, this_thread_ident, thread_objects
from ..report import Context, SectionSpec
from ..stacks import FrameReader, StackKey, Unit, build_entries, stack_key, stack_section_data
from .threads import producer_ident, sources

#: Objects type-tested per C call while scanning the heap.
SCAN_SLICE = 200_000

#: Below this many allocated memory blocks the heap is scanned object by
#: object (tens of milliseconds at most, and sure to find every greenlet);
#: above it, when eventlet or gevent runs the greenlets, they are found by
#: reference (see :func:`find_by_reference`).
SMALL_HEAP = 1_500_000

#: Frames of a gevent spawning stack kept per listed greenlet.
SPAWN_DEPTH = 20


def subclasses(base: type) -> Set[type]:
    """``base`` and every class derived from it, however deep."""
    found: Set[type] = set()
    todo = [base]
    while todo:
        cls = todo.pop()
        if cls in found:
            continue
        found.add(cls)
        try:
            todo.extend(type.__subclasses__(cls))
        except Exception:
            continue
    return found


class _Roots:
    """The main greenlet at the root of each greenlet's ``parent`` chain,
    remembered per greenlet so that 10,000 siblings cost one walk."""

    def __init__(self) -> None:
        self.root_of: Dict[int, Any] = {}

    def root(self, glet: Any) -> Any:
        root_of = self.root_of
        parent = glet.parent
        if parent is None:
            return glet
        known = root_of.get(id(parent))
        if known is not None:
            return known
        node = parent
        path: List[Any] = []
        while len(path) < 10_000:
            path.append(node)
            above = node.parent
            if above is None:
                break
            known = root_of.get(id(above))
            if known is not None:
                node = known
                break
            node = above
        root = node if node.parent is None else None
        for item in path:
            root_of[id(item)] = root
        return root


def scan_heap(wanted: FrozenSet[type]) -> List[Any]:
    """Every gc-tracked object whose exact type is in ``wanted`` (the slow,
    sure way: one type test per object of the heap, done in C)."""
    objects = gc.get_objects()
    found: List[Any] = []
    contains = wanted.__contains__
    compress = itertools.compress
    for start in range(0, len(objects), SCAN_SLICE):
        part = objects[start : start + SCAN_SLICE]
        found.extend(compress(part, map(contains, map(type, part))))
    del objects
    return found


_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE


def _current_hub_greenlets() -> List[Any]:
    """The hub greenlets of the calling thread, where eventlet or gevent made one."""
    hubs: List[Any] = []
    local = getattr(sys.modules.get("eventlet.hubs"), "_threadlocal", None)
    hub = getattr(local, "hub", None) if local is not None else None
    hub_greenlet = getattr(hub, "greenlet", None)
    if hub_greenlet is not None:
        hubs.append(hub_greenlet)
    get_hub = getattr(sys.modules.get("gevent._hub_local"), "get_hub_if_exists", None)
    if get_hub is not None:
        try:
            hub = get_hub()
        except Exception:
            hub = None
        if hub is not None:
            hubs.append(hub)
    return hubs


def find_by_reference(
    module: Any, wanted: FrozenSet[type], glet_types: FrozenSet[type], current: Any, roots: _Roots
) -> Optional[List[Any]]:
    """The greenlets (and eventlet hubs) found as referrers of what every
    greenlet refers to, or ``None`` when that cannot be shown complete.

    A started greenlet refers to the main greenlet of its thread, a greenlet
    not started yet to its parent, an instance of a Python class to its class.
    ``gc.get_referrers()`` with those few anchors finds them in one pass over
    the heap made in C, several times cheaper than a type test per object.
    Main greenlets of other threads are learnt from what each pass finds; if
    in the end fewer main greenlets are known than greenlet counts, the caller
    falls back to :func:`scan_heap`.
    """
    count_mains = getattr(getattr(module, "_greenlet", None), "get_total_main_greenlets", None)
    if count_mains is None:
        return None
    anchors: List[Any] = [t for t in wanted if t.__flags__ & _HEAPTYPE]
    if current is not None:
        anchors.append(roots.root(current))
        anchors.append(current)
    anchors.extend(_current_hub_greenlets())
    asked: Set[int] = set()
    found: Dict[int, Any] = {}
    for _ in range(4):
        todo = [a for a in anchors if id(a) not in asked and a is not None]
        if not todo:
            break
        asked.update(id(a) for a in todo)
        for obj in todo:
            if type(obj) in wanted:
                found[id(obj)] = obj
        for obj in gc.get_referrers(*todo):
            if type(obj) in wanted:
                found[id(obj)] = obj
        anchors = []
        for obj in found.values():
            if type(obj) in glet_types:
                root = roots.root(obj)
                if root is not None and id(root) not in asked:
                    anchors.append(root)
            else:  # an eventlet hub
                hub_greenlet = getattr(obj, "greenlet", None)
                if hub_greenlet is not None and id(hub_greenlet) not in asked:
                    anchors.append(hub_greenlet)
    mains = sum(1 for g in found.values() if type(g) in glet_types and g.parent is None)
    try:
        total = int(count_mains())
    except Exception:
        return None
    if mains < total:
        return None
    return list(found.values())


def _outermost(frame: Optional[FrameType]) -> Optional[FrameType]:
    depth = 0
    while frame is not None and frame.f_back is not None and depth < 10_000:
        frame = frame.f_back
        depth += 1
    return frame


def _thread_of_saved_stack(
    frame: Optional[FrameType], frames: Dict[int, FrameType], main: Optional[int]
) -> Optional[int]:
    """The thread whose first frame ``frame`` is: ``Thread._bootstrap``
    knows its ``Thread``; the ``__main__`` module frame is the main thread's."""
    bottom = _outermost(frame)
    if bottom is None:
        return None
    code = bottom.f_code
    try:
        if code.co_name == "_bootstrap" and code.co_filename.endswith("threading.py"):
            thread = bottom.f_locals.get("self")
            ident = getattr(thread, "ident", None)
            if isinstance(ident, int) and ident in frames:
                return ident
            native = getattr(thread, "native_id", None)
            return None if native is None else _ident_of_native(native, frames)
        main_module = sys.modules.get("__main__")
        if bottom.f_globals is getattr(main_module, "__dict__", None) or code.co_filename.endswith(
            "runpy.py"
        ):
            return main
    except Exception:
        return None
    return None


def _match_running_mains(
    candidates: List[Any],
    thread_of_root: Dict[int, int],
    frames: Dict[int, FrameType],
    main: Optional[int],
) -> None:
    """A main greenlet running right now in another thread has no saved stack
    to tell its thread by; that thread's own stack then starts at the thread's
    first frame.  One such greenlet and one such thread left: they match."""
    running = [
        g
        for g in candidates
        if g.parent is None and id(g) not in thread_of_root and g.gr_frame is None and not g.dead
    ]
    if len(running) != 1:
        return
    taken = set(thread_of_root.values())
    threads = [
        ident
        for ident, frame in frames.items()
        if ident not in taken and _thread_of_saved_stack(frame, frames, main) == ident
    ]
    if len(threads) > 1:  # prefer the one thread busy in a greenlet library
        threads = [ident for ident in threads if _in_greenlet_library(frames[ident])]
    if len(threads) == 1:
        thread_of_root[id(running[0])] = threads[0]


def _bare_thread_mains(
    firsts: List[Any],
    glets: List[Any],
    thread_of_root: Dict[int, int],
    current: Any,
    is_active: Any,
    roots: _Roots,
) -> Set[int]:
    """Ids of the main greenlets running in another thread, thread not told,
    that no other greenlet has at the root of its ``parent`` chain: a thread
    that touched greenlet but runs no greenlet of its own (see the module's
    docstring)."""
    bare = {
        id(g)
        for g in firsts
        if g.parent is None
        and g is not current
        and id(g) not in thread_of_root
        and g.gr_frame is None
        and not g.dead
        and is_active(g)
    }
    if not bare:
        return bare
    for glet in glets:
        if glet.parent is not None:
            bare.discard(id(roots.root(glet)))
            if not bare:
                break
    return bare


_LIBRARY_DIRS = ("/eventlet/", "/gevent/", "/greenlet/")


def _in_greenlet_library(frame: Optional[FrameType]) -> bool:
    """Whether a frame of this stack belongs to eventlet, gevent or greenlet."""
    depth = 0
    while frame is not None and depth < 256:
        filename = frame.f_code.co_filename
        if any(part in filename for part in _LIBRARY_DIRS):
            return True
        frame = frame.f_back
        depth += 1
    return False


def _ident_of_native(native: int, frames: Dict[int, FrameType]) -> Optional[int]:
    for ident, thread in thread_objects(frames).items():
        if getattr(thread, "native_id", None) == native:
            return ident
    return None


def _threads_posing(frames: Dict[int, FrameType]) -> Dict[int, Any]:
    """``threading.Thread`` objects that monkey patching made greenlets: the
    patched ``threading`` keys them by the greenlet's id."""
    module = sys.modules.get("threading")
    active = getattr(module, "_active", None)
    if not isinstance(active, dict):
        return {}
    try:
        return {ident: t for ident, t in list(active.items()) if ident not in frames}
    except Exception:
        return {}


_NO_NAME: Any = object()


#: Library functions that run a greenthread's function: the frame after
#: them names what the greenthread does.
_WRAPPERS = {("greenthread.py", "main"), ("greenpool.py", "_spawn_n_impl")}


def _function_name(key: StackKey) -> Optional[str]:
    """What a greenlet runs: the function an eventlet greenthread (or
    ``spawn_n`` worker) was given, else the greenlet's first function."""
    if not key:
        return None
    first = key[0]
    if len(key) > 1 and (first[0].rsplit("/", 1)[-1], first[2]) in _WRAPPERS:
        return key[1][2]
    return first[2]


def _hub_types() -> Tuple[Set[type], Optional[type]]:
    """(eventlet hub classes, gevent ``Hub`` class) among loaded modules."""
    eventlet_hubs: Set[type] = set()
    base = getattr(sys.modules.get("eventlet.hubs.hub"), "BaseHub", None)
    if isinstance(base, type):
        eventlet_hubs = subclasses(base)
    gevent_hub = getattr(sys.modules.get("gevent.hub"), "Hub", None)
    return eventlet_hubs, gevent_hub if isinstance(gevent_hub, type) else None


def _spawn_facts(glet: Any) -> Tuple[Optional[str], Any]:
    """(name of the spawning greenlet, spawning stack) as gevent recorded them."""
    spawner_name = None
    ref = getattr(glet, "spawning_greenlet", None)
    try:
        spawner = ref() if callable(ref) else None
    except Exception:
        spawner = None
    if spawner is not None:
        name = getattr(spawner, "name", None) if hasattr(type(spawner), "name") else None
        spawner_name = safe_str(name) if name else f"{type(spawner).__name__} 0x{id(spawner):x}"
    return spawner_name, getattr(glet, "spawning_stack", None)


def collect(ctx: Context) -> Optional[Dict[str, Any]]:
    module = sys.modules.get("greenlet")
    greenlet_type = getattr(module, "greenlet", None) if module is not None else None
    if not isinstance(greenlet_type, type):
        return None
    getcurrent = getattr(module, "getcurrent", None)
    current = None
    if getcurrent is not None and this_thread_ident() not in ctx.own_threads:
        # (in a helper thread of ours, getcurrent() would make it a greenlet)
        current = getcurrent()

    eventlet_hub_types, gevent_hub_type = _hub_types()
    glet_types = subclasses(greenlet_type)
    wanted = frozenset(glet_types | eventlet_hub_types)
    roots = _Roots()
    found = None
    if sys.getallocatedblocks() > SMALL_HEAP and (eventlet_hub_types or gevent_hub_type):
        found = find_by_reference(module, wanted, frozenset(glet_types), current, roots)
    if found is None:
        found = scan_heap(wanted)
    glets = [o for o in found if type(o) in glet_types]
    hub_ids: Set[int] = set()
    for obj in found:
        if type(obj) in eventlet_hub_types:
            hub_greenlet = getattr(obj, "greenlet", None)
            if hub_greenlet is not None:
                hub_ids.add(id(hub_greenlet))
    del found
    if gevent_hub_type is not None:
        hub_ids.update(id(g) for g in glets if isinstance(g, gevent_hub_type))
    if current is not None and not any(g is current for g in glets):
        glets.append(current)  # never miss the greenlet that is running

    frames = sys._current_frames()
    main = main_ident(frames)
    producer = producer_ident(ctx, frames)
    threads = thread_objects(frames)
    posing_threads = _threads_posing(frames)

    # which thread each main greenlet (root) belongs to
    thread_of_root: Dict[int, int] = {}
    if current is not None:
        thread_of_root[id(roots.root(current))] = producer
    firsts: List[Any] = []  # the current greenlet, hubs, main greenlets
    rest: List[Any] = []
    for glet in glets:
        gid = id(glet)
        if gid in hub_ids:
            ident = getattr(glet, "thread_ident", None)  # gevent hubs know it
            if isinstance(ident, int) and ident in frames:
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
            ident = _thread_of_saved_stack(saved, frames, main) if saved is not None else None
            if ident is not None:
                thread_of_root[id(glet)] = ident
    is_active = greenlet_type.__bool__  # type: ignore[attr-defined]
    bare = _bare_thread_mains(firsts, glets, thread_of_root, current, is_active, roots)
    if bare:
        firsts = [g for g in firsts if id(g) not in bare]
    _match_running_mains(firsts, thread_of_root, frames, main)
    if current is not None and current in firsts:
        firsts.remove(current)
        firsts.insert(0, current)
    thread_facts: Dict[int, Dict[str, Any]] = {}
    for root_id, ident in thread_of_root.items():
        thread_facts[root_id] = {"thread": ident}
        thread = threads.get(ident)
        if thread is not None:
            thread_facts[root_id]["thread_name"] = safe_str(getattr(thread, "name", ""))

    reader = FrameReader()
    named = {t: hasattr(t, "minimal_ident") for t in glet_types}  # gevent's Greenlet
    spawning = {t: hasattr(t, "spawning_stack") for t in glet_types}
    type_names = {t: t.__name__ for t in glet_types}
    units: List[Unit] = []
    spawns: Dict[int, Any] = {}
    root_of = roots.root_of
    functions: Dict[int, Optional[str]] = {}  # by id() of a shared stack key
    keep: List[StackKey] = []  # ... kept alive while their ids are used
    for glet in itertools.chain(firsts, rest):
        try:
            gid = id(glet)
            kind = type(glet)
            facts: Dict[str, Any] = {"id": gid, "type": type_names.get(kind) or kind.__name__}
            frame: Any = None
            if glet is current:
                state = "running"
                facts["current"] = True
                frame = ctx.frame if ctx.frame is not None else sys._getframe()
            elif glet.dead:
                state = "dead"
            else:
                frame = glet.gr_frame
                if frame is not None:
                    state = "suspended"
                elif is_active(glet):  # greenlet's own truth (gevent redefines __bool__)
                    state = "running"  # the current greenlet of another thread
                else:
                    state = "not started"
            facts["state"] = state
            parent = glet.parent
            root = root_of.get(id(parent)) if parent is not None else glet
            if root is None:
                root = roots.root(glet)
            where = thread_facts.get(id(root))
            if where is not None:
                facts.update(where)
                if state == "running" and frame is None:
                    frame = frames.get(where["thread"])  # running now in its own thread
            if parent is None:
                facts["main"] = True
            if gid in hub_ids:
                facts["hub"] = True
            key = reader.key(frame)
            if named.get(kind) and gid not in hub_ids:
                try:
                    name = glet.name
                    if name:
                        facts["name"] = safe_str(name)
                except Exception:
                    pass
            elif parent is not None and gid not in hub_ids:
                function = functions.get(id(key), _NO_NAME)
                if function is _NO_NAME:
                    function = functions[id(key)] = _function_name(key)
                    keep.append(key)
                if function:
                    facts["name"] = function
            if posing_threads:
                posing = posing_threads.get(gid)  # a patched threading.Thread runs in it
                if posing is not None and "main" not in facts:
                    facts["thread_object"] = safe_str(getattr(posing, "name", ""))
            if spawning.get(kind):
                spawns[gid] = glet
            pinned = glet is current
            if current is None and state == "running" and where is not None:
                # written by a helper thread: the greenlet running in the main
                # thread is the one the signal interrupted
                pinned = where["thread"] == main
                if pinned:
                    facts["current"] = True
            units.append(Unit(facts, key, pinned=pinned))
        except Exception as exc:  # one odd greenlet must not cost the others
            facts = {"id": id(glet), "type": type(glet).__name__, "state": "unknown"}
            facts["error"] = f"{type(exc).__name__}: {safe_str(exc)}"
            units.append(Unit(facts, (), pinned=glet is current))

    del frames

    entries = build_entries(units, sources(ctx), group=ctx.group)
    if spawns:
        _add_spawn_facts(entries, spawns, ctx)
    return stack_section_data(entries, len(units))


def _add_spawn_facts(entries: Iterable[Any], spawns: Dict[int, Any], ctx: Context) -> None:
    """Spawn facts for the members listed (not for those folded into "more")."""
    cache = sources(ctx)
    for entry in entries:
        for member in entry["members"]:
            glet = spawns.get(member.get("id"))
            if glet is None:
                continue
            spawner, stack = _spawn_facts(glet)
            if spawner:
                member["spawned_by"] = spawner
            if stack is not None:
                try:
                    member["spawned_at"] = cache.frames(stack_key(stack, SPAWN_DEPTH))
                except Exception:
                    pass


SECTION = SectionSpec("green_threads", "Green Threads", collect)

"""What this library knows of greenlet: its classes, ``parent`` chains, the
states of a greenlet, greenlets the collector cannot list after ``gc.freeze()``, and
telling which OS thread a greenlet belongs to.  Never imports greenlet.

Which OS thread a greenlet belongs to: every greenlet's ``parent`` chain ends
at the main greenlet of its thread.  That main greenlet is tied to a thread
ident by, in order: being the caller's own (``greenlet.getcurrent()``), a
gevent hub's ``thread_ident``, or the outermost frame of its saved stack (a
``threading`` bootstrap frame names its ``Thread``, the ``__main__`` module
frame the main thread); see :func:`thread_of_saved_stack` and
:func:`match_running_mains`.
"""

from __future__ import annotations

import gc
import sys
from types import FrameType
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Optional, Set

from ..heap import subclasses
from ..stacks import StackKey
from ..unpatched import thread_objects
from . import loaded

#: Path parts of the greenlet libraries' own code.
_LIBRARY_DIRS = ("/eventlet/", "/gevent/", "/greenlet/")


def module() -> Optional[Any]:
    """The ``greenlet`` module when the process loaded it."""
    return loaded("greenlet")


def greenlet_class(mod: Any) -> Optional[type]:
    kind = getattr(mod, "greenlet", None)
    return kind if isinstance(kind, type) else None


def greenlet_classes(mod: Any) -> Set[type]:
    """``greenlet.greenlet`` and every class derived from it."""
    kind = greenlet_class(mod)
    return subclasses(kind) if kind is not None else set()


def current(mod: Any) -> Optional[Any]:
    """The calling thread's current greenlet (making its main greenlet when
    the thread had none: never call it from a thread of ours)."""
    getcurrent = getattr(mod, "getcurrent", None)
    return getcurrent() if getcurrent is not None else None


def state(glet: Any, is_active: Callable[[Any], bool]) -> str:
    """``dead``, ``suspended`` (a saved stack), ``running`` (the current
    greenlet of another thread) or ``not started``; ``is_active`` is
    greenlet's own ``__bool__`` (gevent redefines it)."""
    if glet.dead:
        return "dead"
    if glet.gr_frame is not None:
        return "suspended"
    return "running" if is_active(glet) else "not started"


def function_name(key: StackKey, wrappers: Iterable[Any] = ()) -> Optional[str]:
    """What a greenlet runs: the function given to a library wrapper (an
    eventlet greenthread, a ``spawn_n`` worker) when the stack starts in one
    of ``wrappers`` ((file name, function) pairs), else the first function."""
    if not key:
        return None
    first = key[0]
    if len(key) > 1 and (first[0].rsplit("/", 1)[-1], first[2]) in wrappers:
        return key[1][2]
    return first[2]


class Roots:
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


def _outermost(frame: Optional[FrameType]) -> Optional[FrameType]:
    depth = 0
    while frame is not None and frame.f_back is not None and depth < 10_000:
        frame = frame.f_back
        depth += 1
    return frame


def thread_of_saved_stack(
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


def _ident_of_native(native: int, frames: Dict[int, FrameType]) -> Optional[int]:
    for ident, thread in thread_objects(frames).items():
        if getattr(thread, "native_id", None) == native:
            return ident
    return None


def bare_thread_mains(
    firsts: List[Any],
    glets: List[Any],
    thread_of_root: Dict[int, int],
    current: Any,
    is_active: Callable[[Any], bool],
    roots: Roots,
) -> Set[int]:
    """Ids of the main greenlets running in another thread, thread not told,
    that no other greenlet has at the root of its ``parent`` chain: a thread
    that touched greenlet but runs no greenlet of its own.

    greenlet makes one for any thread that merely touches it: under
    eventlet's monkey patching on Python 3.9, every thread started by the
    *unpatched* ``threading`` gets one, because eventlet greens that module's
    ``_active_limbo_lock`` too (3.9's ``_thread`` types are static, so its
    re-imported copy shares the ``RLock`` type eventlet replaces) and the green
    lock asks ``greenlet.getcurrent()`` for its owner.  Such a greenlet is the
    thread itself, which the Threads section shows."""
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


def match_running_mains(
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
        if ident not in taken and thread_of_saved_stack(frame, frames, main) == ident
    ]
    if len(threads) > 1:  # prefer the one thread busy in a greenlet library
        threads = [ident for ident in threads if _in_greenlet_library(frames[ident])]
    if len(threads) == 1:
        thread_of_root[id(running[0])] = threads[0]


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


#: Bounds of the walk that finds greenlets the collector cannot list.
FROZEN_WALK_LIMIT = 200_000
FROZEN_WALK_DEPTH = 12

#: Kinds of object the walk never goes through: what a greenlet is parked
#: in is reached from a hub through containers, instances and bound methods.
_NOT_WALKED = (type, type(sys), type(lambda: 0), type(sys._getframe()), type(_outermost.__code__))


def find_frozen(
    found: List[Any],
    wanted: FrozenSet[type],
    glet_types: FrozenSet[type],
    hub_types: FrozenSet[type],
    hub_greenlet: Callable[[Any], Any],
    frames: Dict[int, FrameType],
    hubs_known: Iterable[Any] = (),
    is_active: Callable[[Any], bool] = bool,
) -> List[Any]:
    """Greenlets (and eventlet hubs) that ``gc.get_objects()`` and
    ``gc.get_referrers()`` do not see because ``gc.freeze()`` moved them to
    the permanent generation (oslo.service, Nova and Neutron freeze before
    forking workers): returns those not in ``found`` already.

    Four ways in, none of which depends on the collector's lists: the hubs
    the libraries keep per thread (``hubs_known``; one never started — a
    real thread that merely called ``get_hub()`` — is no green thread); the
    ``parent`` chain of every greenlet known (a worker's greenlets made after
    the fork lead to the hub and the main greenlet made before it); the
    ``self`` of frames of the greenlet libraries on every thread's stack (an
    idle thread runs its hub's loop: that names the hub); and, from each hub,
    what it holds — timers, listeners, queues — walked with
    ``gc.get_referents()`` down to the bound ``switch`` methods of the
    greenlets parked there (bounded by :data:`FROZEN_WALK_LIMIT` objects).
    """
    known: Dict[int, Any] = {id(o): o for o in found}
    extra: List[Any] = []

    def add(obj: Any) -> None:
        if obj is not None and id(obj) not in known and type(obj) in wanted:
            known[id(obj)] = obj
            extra.append(obj)
            if type(obj) in glet_types:
                add(getattr(obj, "parent", None))
            else:  # an eventlet hub
                add(hub_greenlet(obj))

    for hub in hubs_known:
        glet = hub_greenlet(hub)
        if glet is not None and (glet.gr_frame is not None or is_active(glet)):
            add(hub)  # a hub never started has no greenlet parked on it
    for obj in list(found):
        if type(obj) in glet_types:
            add(getattr(obj, "parent", None))
    for top in frames.values():
        frame: Optional[FrameType] = top
        depth = 0
        while frame is not None and depth < 256:
            if any(part in frame.f_code.co_filename for part in _LIBRARY_DIRS):
                try:
                    owner = frame.f_locals.get("self")
                except Exception:
                    owner = None
                add(owner)
            frame = frame.f_back
            depth += 1
    hubs = [o for o in known.values() if isinstance(o, tuple(hub_types))]
    seen: Set[int] = set()
    level: List[Any] = list(hubs)
    for _ in range(FROZEN_WALK_DEPTH):
        if not level or len(seen) > FROZEN_WALK_LIMIT:
            break
        nxt: List[Any] = []
        for obj in gc.get_referents(*level):
            if id(obj) in seen or isinstance(obj, _NOT_WALKED):
                continue
            seen.add(id(obj))
            kind = type(obj)
            if kind in wanted:
                add(obj)
                if kind in glet_types:
                    continue  # not into a greenlet's own stack
            nxt.append(obj)
        level = nxt
    return extra

"""What a blocked thread, greenlet or task waits on, read from its innermost
frames and the objects in them, and who holds it where anything records it.

A wait inside a primitive written in Python (``threading.Condition.wait``,
``Event.wait``, ``Semaphore.acquire``, ``Barrier.wait``, ``Thread.join``,
``queue.Queue.get``/``put``, ``concurrent.futures.Future.result``, the
import lock, asyncio's and eventlet's locks, events and queues) is known
exactly: the primitive's own frame holds it as ``self``; the outermost such
frame names the wait (``Queue.get``, not the ``Condition.wait`` inside it).
A wait in a primitive written in C (``threading.Lock``/``RLock``, gevent's
compiled locks) leaves no frame of its own: the object is found on the
innermost application line (``with self.lock:``, ``b.acquire()``) by
looking its names up statically in the frame's locals and globals (instance
dictionaries only: no property or ``__getattr__`` of the application runs).

Owners: an ``RLock`` records its owner (C: in its repr; Python: ``_owner``),
a ``Condition`` over one too; the import lock its thread; gevent's ``RLock``
its greenlet; a lock created after arming with ``track_locks`` on records its
holder (:mod:`.tracking`).  Anything else says "owner unknown".
"""

from __future__ import annotations

import linecache
import os
import re
import sys
from types import FrameType
from typing import Any, Dict, List, Optional, Set, Tuple

from .. import model
from ..model import Wait, WaitHolder
from ..stacks import is_own_file
from . import tracking

#: A unit a resource is held by: (kind, id) with kind thread / greenlet / task
#: (or "ident": a thread ident or greenlet id, told apart by the graph).
Ref = Tuple[str, int]


class Found:
    """A wait as found in live objects (the document gets :meth:`data`)."""

    __slots__ = ("detail", "holder", "holder_name", "idle", "kind", "obj", "owner", "where")

    def __init__(self, kind: str, obj: Any, where: str = "") -> None:
        self.kind = kind
        self.obj = obj
        self.holder: Optional[Ref] = None
        self.holder_name = ""
        self.owner = ""  # why no holder is named
        self.where = where
        self.idle = False  # waits for I/O or time, not for another unit
        self.detail = ""  # e.g. the module being imported

    def resource(self) -> str:
        if self.obj is None:
            return self.detail or self.kind
        text = f"{type(self.obj).__name__} 0x{id(self.obj):x}"
        if self.detail:
            text += f" ({self.detail})"
        return text

    def data(self) -> Wait:
        wait: Wait = {"kind": self.kind, "resource": self.resource()}
        if self.obj is not None:
            wait["id"] = id(self.obj)
        if self.where:
            wait["where"] = self.where
        if self.holder is not None:
            holder: WaitHolder = {"kind": self.holder[0], "id": self.holder[1]}
            if self.holder_name:
                holder["name"] = self.holder_name
            wait["holder"] = holder
        elif self.owner:
            wait["owner"] = self.owner
        if self.idle:
            wait["idle"] = True
        return wait


# -- where: the innermost application frame ------------------------------------------

_STDLIB = os.path.dirname(os.__file__) + os.sep


_LIBRARY: Dict[str, bool] = {}


def is_library(filename: str) -> bool:
    """Standard library, an installed package, or this library's own code."""
    known = _LIBRARY.get(filename)
    if known is None:
        if len(_LIBRARY) > 20_000:
            _LIBRARY.clear()
        known = _LIBRARY[filename] = (
            filename.startswith(_STDLIB)
            or filename.startswith("<frozen ")
            or "site-packages" + os.sep in filename
            or is_own_file(filename)
        )
    return known


_PLACES: Dict[Tuple[Any, int], str] = {}


def place(frame: FrameType) -> str:
    """``file:line`` of a frame (once per code position: decoding a line
    number is the costly part, for 10,000 greenlets parked on one line)."""
    key = (frame.f_code, frame.f_lasti)
    text = _PLACES.get(key)
    if text is None:
        if len(_PLACES) > 20_000:
            _PLACES.clear()
        text = _PLACES[key] = f"{frame.f_code.co_filename}:{frame.f_lineno}"
    return text


# -- owners ---------------------------------------------------------------------------

_RLOCK_OWNER = re.compile(r"owner=(-?\d+)")


def tracked_owner(obj: Any) -> Optional[Tuple[Ref, str]]:
    """The holder :mod:`.tracking` recorded on a lock made after arming (the
    first, for a semaphore held by several)."""
    held = tracking.holders(obj)
    if not held:
        return None
    kind, ident, name = held[0]
    return (kind, ident), name


def is_tracked(obj: Any) -> bool:
    return tracking.holders(obj) is not None


def rlock_owner(obj: Any) -> Optional[int]:
    """Ident of the thread holding an RLock (C or Python), ``None`` if free/unknown."""
    owner = _static(obj, "_owner")
    if isinstance(owner, int):
        return owner or None
    if type(obj).__name__ == "RLock" and type(obj).__module__ == "_thread":
        match = _RLOCK_OWNER.search(model.safe_repr(obj))
        if match:
            return int(match.group(1)) or None
    return None


#: id() of a lock -> (holder, holder name, why none), while one stack section
#: reads its units (10,000 greenlets waiting on one semaphore ask once);
#: cleared by :func:`forget_owners` when a section starts.
_OWNERS: Dict[int, Tuple[Optional[Ref], str, str]] = {}


#: (code, instruction offset) -> (score, lock, kind) of a line whose names
#: are all globals of its function: the same lock for every unit parked
#: there (while one section reads its units).
_GLOBAL_LOCKS: Dict[Tuple[Any, int], List[Tuple[int, Any, str]]] = {}


def forget_owners() -> None:
    """Forget what one section learnt of locks (a new section starts)."""
    _OWNERS.clear()
    _GLOBAL_LOCKS.clear()


def set_owner(found: Found, lock: Any, track_hint: bool = True) -> None:
    """Fill in who holds ``lock`` (the object waited on, or the lock under it)."""
    known = _OWNERS.get(id(lock))
    if known is None:
        _find_owner(found, lock, track_hint)
        _OWNERS[id(lock)] = (found.holder, found.holder_name, found.owner)
    else:
        found.holder, found.holder_name, found.owner = known


def _find_owner(found: Found, lock: Any, track_hint: bool = True) -> None:
    tracked = tracked_owner(lock)
    if tracked is not None:
        found.holder, found.holder_name = tracked
        return
    if is_tracked(lock):
        found.owner = "not held (by the time it was read)"
        return
    ident = rlock_owner(lock)
    if ident is not None:
        found.holder = ("ident", ident)
        return
    inner = _static(lock, "_lock")  # a Condition, or a tracked wrapper's lock
    if inner is not None and inner is not lock:
        tracked = tracked_owner(inner)
        if tracked is not None:
            found.holder, found.holder_name = tracked
            return
        ident = rlock_owner(inner)
        if ident is not None:
            found.holder = ("ident", ident)
            return
    gowner = _static(lock, "_owner")  # gevent's RLock: the greenlet holding it
    if gowner is not None and hasattr(gowner, "switch"):
        found.holder = ("greenlet", id(gowner))
        return
    if not track_hint:
        found.owner = "owner unknown"
    elif tracking.installed():
        found.owner = "owner unknown (made before track_locks took effect)"
    else:
        found.owner = "owner unknown (track_locks is off)"


# -- static look-ups -------------------------------------------------------------------

_MISSING: Any = object()


#: type -> whether its instances have a ``__dict__``; (type, name) -> the
#: slot descriptor of that name (or None): asked once per type.
_HAS_DICT: Dict[type, bool] = {}
_SLOTS: Dict[Tuple[type, str], Any] = {}


def _static(obj: Any, name: str) -> Any:
    """``obj.name`` from the instance (or slot) only: no property, no
    ``__getattr__``; ``None`` when absent."""
    kind = type(obj)
    has_dict = _HAS_DICT.get(kind)
    if has_dict is None:
        has_dict = _HAS_DICT[kind] = any("__dict__" in k.__dict__ for k in kind.__mro__)
    if has_dict:
        try:
            d = object.__getattribute__(obj, "__dict__")
        except (AttributeError, TypeError):
            d = None
        if isinstance(d, dict) and name in d:
            return d[name]
    key = (kind, name)
    try:
        slot = _SLOTS[key]
    except KeyError:
        slot = None
        for klass in kind.__mro__:
            found = klass.__dict__.get(name)
            if found is not None:
                slot = found if type(found).__name__ == "member_descriptor" else None
                break
        _SLOTS[key] = slot
    if slot is not None:
        try:
            return slot.__get__(obj, kind)
        except AttributeError:
            return None
    return None


def _local(frame: FrameType, name: str) -> Any:
    try:
        locals_ = frame.f_locals
    except Exception:
        return _MISSING
    if name in locals_:
        return locals_[name]
    glob = frame.f_globals
    if name in glob:
        return glob[name]
    return _MISSING


def _resolve(frame: FrameType, dotted: str) -> Any:
    parts = dotted.split(".")
    obj = _local(frame, parts[0])
    for part in parts[1:]:
        if obj is _MISSING or obj is None:
            return _MISSING
        if isinstance(obj, type(sys)):
            obj = vars(obj).get(part, _MISSING)
        else:
            got = _static(obj, part)
            obj = _MISSING if got is None else got
    return obj


_LOCK_KINDS = {
    ("_thread", "lock"): "lock",
    ("_thread", "RLock"): "rlock",
    ("threading", "_RLock"): "rlock",
    ("threading", "Condition"): "condition",
    ("threading", "Semaphore"): "semaphore",
    ("threading", "BoundedSemaphore"): "semaphore",
    ("gevent._gevent_c_semaphore", "Semaphore"): "semaphore",
    ("gevent._gevent_c_semaphore", "BoundedSemaphore"): "semaphore",
    ("gevent._semaphore", "Semaphore"): "semaphore",
    ("gevent._semaphore", "BoundedSemaphore"): "semaphore",
    ("gevent.lock", "Semaphore"): "semaphore",
    ("gevent.lock", "BoundedSemaphore"): "semaphore",
    ("gevent.lock", "RLock"): "rlock",
    ("gevent.lock", "DummySemaphore"): "semaphore",
    ("gevent.thread", "LockType"): "lock",
    ("eventlet.semaphore", "Semaphore"): "semaphore",
    ("eventlet.semaphore", "BoundedSemaphore"): "semaphore",
    ("eventlet.semaphore", "CappedSemaphore"): "semaphore",
    ("eventlet.lock", "Lock"): "lock",
    ("eventlet.green.thread", "Lock"): "lock",
}


def lock_kind(obj: Any) -> Optional[str]:
    """What kind of lock ``obj`` is, if it is one a thread or greenlet blocks on."""
    kind = getattr(type(obj), "_gm_kind", None)  # a tracked lock
    if isinstance(kind, str):
        return kind
    for klass in type(obj).__mro__:
        got = _LOCK_KINDS.get((klass.__module__, klass.__name__))
        if got is not None:
            return got
    return None


_DOTTED = re.compile(r"(?<![\w.])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)")


#: (code object, instruction offset) -> the dotted names on that line that
#: may be the lock it blocks on, each with its score (``x.acquire()`` 3,
#: ``with x:`` 2, any other name 1), and whether every one of them is a
#: global (none starts with a local, cell or free variable of the code): the
#: line is read and parsed once.
_NAMES_AT: Dict[Tuple[Any, int], Tuple[List[Tuple[str, int]], bool]] = {}


def names_on_line(line: str) -> List[Tuple[str, int]]:
    found: List[Tuple[str, int]] = []
    with_ = line.lstrip().startswith("with ")
    for match in _DOTTED.finditer(line):
        dotted = match.group(1)
        if dotted.endswith(".acquire"):
            dotted, score = dotted[: -len(".acquire")], 3
        else:
            score = 2 if with_ else 1
        if dotted and dotted not in _KEYWORDS:
            found.append((dotted, score))
    return found


_KEYWORDS = frozenset({"with", "acquire", "as", "pass", "not", "and", "or", "in", "is", "if"})


def lock_on_line(
    frame: FrameType, line: Optional[str] = None, this: Optional[int] = None
) -> Optional[Found]:
    """The lock the innermost line of ``frame`` blocks on (``with a:``,
    ``a.acquire()``), resolved statically; ``this`` (the unit's own id) tells
    a lock it already holds from the one it waits for.  ``line``: its
    source, else read (once per code position)."""
    code = frame.f_code
    where = (code, frame.f_lasti)
    known = _NAMES_AT.get(where)
    if known is None:
        if line is None:
            try:
                line = linecache.getline(code.co_filename, frame.f_lineno or 0).strip()
            except Exception:
                line = ""
        if len(_NAMES_AT) > 20_000:
            _NAMES_AT.clear()
        found_names = names_on_line(line)
        local_names = (code.co_varnames, code.co_cellvars, code.co_freevars)
        known = _NAMES_AT[where] = (
            found_names,
            not any(d.split(".", 1)[0] in n for d, _ in found_names for n in local_names),
        )
    names, only_globals = known
    if not names:
        return None
    candidates = _GLOBAL_LOCKS.get(where) if only_globals else None
    if candidates is None:
        candidates = _candidates(frame, names)
        if only_globals:
            _GLOBAL_LOCKS[where] = candidates
    best: Optional[Tuple[int, Any, str]] = None
    for score, obj, kind in candidates:
        if this is not None and _held_by(obj, this):
            score -= 2  # it holds this one already: it waits for another
        if best is None or score > best[0]:
            best = (score, obj, kind)
    if best is None:
        return None
    found = Found(best[2], best[1], place(frame))
    set_owner(found, best[1])
    return found


def _candidates(frame: FrameType, names: List[Tuple[str, int]]) -> List[Tuple[int, Any, str]]:
    """The locks the names of a line stand for in ``frame``, with their scores."""
    found: List[Tuple[int, Any, str]] = []
    for dotted, score in names:
        obj = _resolve(frame, dotted)
        if obj is _MISSING:
            continue
        kind = lock_kind(obj)
        if kind is not None:
            found.append((score, obj, kind))
    return found


def _held_by(obj: Any, ident: int) -> bool:
    probe = Found("", None)
    set_owner(probe, obj)
    return probe.holder is not None and probe.holder[1] == ident


# -- primitives written in Python: their frame names the wait --------------------------

#: (file ending, function) -> (kind, class names ``self`` may be; "" any)
_RULES: Dict[Tuple[str, str], Tuple[str, Tuple[str, ...]]] = {
    ("threading.py", "wait"): ("", ("Condition", "Event", "Barrier")),
    ("threading.py", "acquire"): ("semaphore", ("Semaphore", "BoundedSemaphore")),
    ("threading.py", "join"): ("join", ("",)),
    ("threading.py", "_wait_for_tstate_lock"): ("join", ("",)),
    ("queue.py", "get"): ("queue get", ("",)),
    ("queue.py", "put"): ("queue put", ("",)),
    ("_base.py", "result"): ("future", ("",)),
    ("_base.py", "exception"): ("future", ("",)),
    ("<frozen importlib._bootstrap>", "acquire"): ("import", ("_ModuleLock",)),
    ("locks.py", "acquire"): ("", ("Lock", "Semaphore", "BoundedSemaphore")),
    ("locks.py", "wait"): ("", ("Event", "Condition", "Barrier")),
    ("queues.py", "get"): ("queue get", ("",)),
    ("queues.py", "put"): ("queue put", ("",)),
    ("semaphore.py", "acquire"): ("semaphore", ("",)),  # eventlet
    ("lock.py", "acquire"): ("rlock", ("RLock",)),  # gevent's RLock (its _owner: a greenlet)
    ("event.py", "wait"): ("event", ("",)),  # eventlet
    ("queue.py", "_schedule_unlock"): ("queue", ("",)),
    ("greenthread.py", "wait"): ("join", ("",)),  # eventlet GreenThread.wait
    ("tasks.py", "sleep"): ("sleep", ("",)),
    ("tasks.py", "wait_for"): ("wait_for", ("",)),
}

_KIND_OF_CLASS = {
    "Condition": "condition",
    "Event": "event",
    "Barrier": "barrier",
    "Lock": "lock",
    "Semaphore": "semaphore",
    "BoundedSemaphore": "semaphore",
}


#: A rule as it applies to one code object: (kind, classes, asyncio?).
_CodeRule = Tuple[str, Tuple[str, ...], bool]

#: code object -> its rule (or None), decided once per code object (the
#: library a file belongs to, its base name, the rule for its function).
_RULE_OF_CODE: Dict[Any, Optional[_CodeRule]] = {}

#: (type of ``self``, classes) -> the first of them ``self`` is, or "".
_CLASS_MATCH: Dict[Tuple[type, Tuple[str, ...]], str] = {}


def _code_rule(code: Any) -> Optional[_CodeRule]:
    filename = code.co_filename
    base = filename if filename.startswith("<") else os.path.basename(filename)
    rule = _RULES.get((base, code.co_name))
    if rule is None:
        return None
    if base in ("locks.py", "queues.py", "tasks.py") and "asyncio" not in filename:
        return None
    if base in ("semaphore.py", "event.py", "greenthread.py") and "eventlet" not in filename:
        return None
    if base == "lock.py" and "gevent" not in filename:
        return None
    return rule[0], rule[1], "asyncio" in filename


def _rule(frame: FrameType) -> Optional[Tuple[str, Any]]:
    code = frame.f_code
    try:
        rule = _RULE_OF_CODE[code]
    except KeyError:
        if len(_RULE_OF_CODE) > 20_000:  # code made at run time: keep the cache bounded
            _RULE_OF_CODE.clear()
        rule = _RULE_OF_CODE[code] = _code_rule(code)
    if rule is None:
        return None
    kind, classes, in_asyncio = rule
    self_ = _local(frame, "self")
    if self_ is _MISSING:
        self_ = None
    if self_ is not None and classes != ("",):
        key = (type(self_), classes)
        matched = _CLASS_MATCH.get(key)
        if matched is None:
            names = {k.__name__ for k in type(self_).__mro__}
            matched = _CLASS_MATCH[key] = next((c for c in classes if c in names), "")
        if not matched:
            return None
        if not kind:
            kind = _KIND_OF_CLASS.get(matched, matched.lower())
    elif not kind:
        return None
    if kind == "semaphore" and self_ is not None:
        kind = lock_kind(self_) or kind  # eventlet's Lock is a Semaphore
    if in_asyncio and kind not in ("sleep", "wait_for"):
        kind = "asyncio " + kind
    return kind, self_


def _holder_of(found: Found, obj: Any, kind: str) -> None:
    bare = kind.replace("asyncio ", "")
    if bare == "import":
        owner = _static(obj, "owner")
        if isinstance(owner, int) and owner:
            found.holder = ("ident", owner)
        found.detail = f"import of {_static(obj, 'name')}"
        return
    if bare == "join":
        ident = _static(obj, "_ident")
        if isinstance(ident, int):
            found.holder = ("ident", ident)
        elif hasattr(obj, "switch"):  # an eventlet GreenThread
            found.holder = ("greenlet", id(obj))
        return
    if bare in ("lock", "semaphore", "rlock"):
        set_owner(found, obj)
        return
    if bare == "condition":
        set_owner(found, obj)
        if found.holder is None:
            found.owner = "notified by whoever calls notify()"
        return
    if bare in ("event",):
        found.owner = "set by whoever calls set()"
        return
    if bare in ("queue get",):
        found.owner = "filled by whoever puts"
        return
    if bare in ("queue put",):
        found.owner = "emptied by whoever gets"
        return
    if bare == "future":
        return  # the graph knows who runs futures
    if bare in ("sleep", "wait_for"):
        found.idle = bare == "sleep"


def in_frames(frames: List[FrameType], this: Optional[int] = None) -> Optional[Found]:
    """The wait of a stack given innermost first (a thread's or greenlet's
    frames, a task's await chain reversed)."""
    tracked: Any = None
    while frames and is_own_file(frames[0].f_code.co_filename):
        # inside a tracked lock's acquire (why.tracking): that lock is the wait
        if frames[0].f_code.co_name in ("acquire", "__enter__"):
            got = _local(frames[0], "self")
            if got is not _MISSING and lock_kind(got) is not None:
                tracked = got
        frames = frames[1:]
    if not frames:
        return None
    if tracked is not None and _rule(frames[0]) is None:  # (an RLock over it names itself)
        found = Found(str(lock_kind(tracked)), tracked, innermost_where(frames))
        set_owner(found, tracked)
        return found
    best: Optional[Tuple[str, Any]] = None
    best_at = -1
    app: Optional[FrameType] = None
    for index, frame in enumerate(frames):
        got = _rule(frame)
        if got is not None:
            best, best_at = got, index
            continue
        if not is_library(frame.f_code.co_filename):
            app = frame
            break
    if best is not None:
        kind, obj = best
        if app is None:
            app = frames[min(best_at + 1, len(frames) - 1)]
        found = Found(kind, obj, place(app))
        _holder_of(found, obj, kind)
        return found
    innermost = frames[0]
    if is_own_file(innermost.f_code.co_filename):
        return None
    return lock_on_line(innermost, None, this)


def innermost_where(frames: List[FrameType]) -> str:
    """file:line of the innermost application frame (else of the innermost)."""
    for frame in frames:
        if not is_library(frame.f_code.co_filename):
            return place(frame)
    for frame in frames:
        if not is_own_file(frame.f_code.co_filename):
            return place(frame)
    return ""


#: How many innermost frames are looked at for a wait (a primitive's own
#: frames and the application's line that called it are well within).
DEPTH = 24


def frames_of(frame: Optional[FrameType], limit: int = DEPTH) -> List[FrameType]:
    """``frame`` and its callers, innermost first."""
    found: List[FrameType] = []
    while frame is not None and len(found) < limit:
        found.append(frame)
        frame = frame.f_back
    return found


def of_thread(frame: Optional[FrameType], ident: int) -> Optional[Found]:
    return in_frames(frames_of(frame), ident)


def of_greenlet(frame: Optional[FrameType], gid: int) -> Optional[Found]:
    return in_frames(frames_of(frame), gid)


def of_task(chain: List[FrameType], tid: int) -> Optional[Found]:
    """``chain``: the frames of a task's await chain, outermost first."""
    return in_frames(list(reversed(chain)), tid)


def executor_workers(objects: Dict[int, Any]) -> Set[int]:
    """Idents of the threads that run ``concurrent.futures``' worker loop."""
    found: Set[int] = set()
    for ident, thread in objects.items():
        target = getattr(thread, "_target", None)
        if getattr(target, "__module__", "") == "concurrent.futures.thread":
            found.add(ident)
    return found


def future_holders(
    threads: Dict[int, FrameType], tasks: List[Any], workers: Optional[Set[int]] = None
) -> Dict[int, Ref]:
    """Who will complete which future: an executor thread running its work
    item (``to_thread``, ``run_in_executor``, ``submit``), and, through
    asyncio's chaining of a concurrent future to an asyncio one, the task
    behind ``run_coroutine_threadsafe`` or the thread behind ``wrap_future``."""
    holders: Dict[int, Ref] = {}
    for ident, frame in threads.items():
        if workers is not None and ident not in workers:
            continue
        for f in frames_of(frame, 256):
            code = f.f_code
            if code.co_name == "run" and code.co_filename.endswith(
                os.path.join("concurrent", "futures", "thread.py")
            ):
                item = _local(f, "self")
                fut = _static(item, "future") if item is not _MISSING else None
                if fut is not None:
                    holders[id(fut)] = ("thread", ident)
                    for dest in _chained(fut, "_done_callbacks"):
                        holders[id(dest)] = ("thread", ident)
                break
    for task in tasks:
        for dest in _chained(task, "_callbacks"):
            holders[id(dest)] = ("task", id(task))
    return holders


def _chained(fut: Any, attr: str) -> List[Any]:
    """Futures ``fut`` passes its result on to (asyncio's ``_chain_future``
    callbacks, whose closure holds ``destination``)."""
    found: List[Any] = []
    callbacks = _static(fut, attr)
    if not isinstance(callbacks, list):
        try:
            callbacks = list(getattr(fut, attr, None) or [])
        except Exception:
            return found
    for cb in callbacks:
        fn = cb[0] if isinstance(cb, tuple) else cb
        closure = getattr(fn, "__closure__", None)
        names = getattr(getattr(fn, "__code__", None), "co_freevars", ())
        if not closure:
            continue
        for name, cell in zip(names, closure):
            if name == "destination":
                try:
                    found.append(cell.cell_contents)
                except ValueError:
                    pass
    return found

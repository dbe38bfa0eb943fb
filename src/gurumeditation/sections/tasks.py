"""Asyncio Tasks: every task of every event loop in every thread, with the
full await chain down to the frame where it is parked.

``Task.get_stack()`` shows one frame of a suspended coroutine; here the chain
is followed through ``cr_await`` (coroutines), ``gi_yieldfrom`` (generators,
``types.coroutine``) and ``ag_await`` (async generators), so a task parked
ten coroutines deep shows all ten.  What the innermost level waits on is the
task's ``_fut_waiter``: another task (then "awaits" names it, and that task's
"awaited by" names this one), a ``gather()`` of tasks, or a plain future.  A
ring of tasks awaiting one another is flagged as a cycle.

The tasks come from asyncio's own registries, read defensively because they
moved between versions: ``asyncio.tasks._all_tasks`` (3.9-3.11),
``_scheduled_tasks`` and ``_eager_tasks`` (3.12+), and on 3.14+, where the C
tasks live in per-thread lists, ``asyncio.all_tasks(loop)`` for every loop
found.  Debug mode is not needed.  The section is left out when the process
has not imported ``asyncio`` or has no task; this module never imports it.
"""

from __future__ import annotations

import gc
import os
import sys
from types import FrameType
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

from ..model import safe_str
from ..realthreads import thread_objects
from ..report import Context, SectionSpec
from ..stacks import MAX_DEPTH, FrameReader, StackKey, Unit, build_entries, is_own_file
from .green import scan_heap, subclasses
from .threads import sources

_ASYNCIO_DIR = os.sep + "asyncio" + os.sep

#: Frames of a task's creation stack (debug mode) kept per listed task.
CREATION_DEPTH = 10

#: How many times a registry is re-read when another thread changes it while
#: it is being copied.
_RETRIES = 100


def _copy_weakset(registry: Any) -> List[Any]:
    """The live members of a ``WeakSet`` (or plain set), copied without
    iterating it in Python (another thread may add tasks meanwhile)."""
    data = getattr(registry, "data", None)
    for _ in range(_RETRIES):
        try:
            if data is not None:  # WeakSet: a set of weak references
                refs = list(data)
                return [t for t in (r() for r in refs) if t is not None]
            return list(registry)
        except RuntimeError:  # changed size during iteration
            continue
    return []


def _find_loops(asyncio: Any, tasks: Iterable[Any]) -> List[Any]:
    """Event loops known from tasks, plus (on 3.14+) every loop on the heap."""
    loops: Dict[int, Any] = {}
    for task in tasks:
        loop = _task_loop(task)
        if loop is not None:
            loops.setdefault(id(loop), loop)
    loop_type = getattr(asyncio, "AbstractEventLoop", None)
    if sys.version_info >= (3, 14) and isinstance(loop_type, type):
        # loops whose tasks asyncio keeps only in its per-thread lists
        for obj in scan_heap(frozenset(subclasses(loop_type))):
            loops.setdefault(id(obj), obj)
    return list(loops.values())


def _task_loop(task: Any) -> Any:
    try:
        return task.get_loop()
    except Exception:
        return getattr(task, "_loop", None)


def all_tasks(asyncio: Any) -> List[Any]:
    """Every task object asyncio knows of, in every loop and thread."""
    module = getattr(asyncio, "tasks", None)
    found: Dict[int, Any] = {}
    for name in ("_all_tasks", "_scheduled_tasks", "_eager_tasks"):
        registry = getattr(module, name, None)
        if registry is not None:
            for task in _copy_weakset(registry):
                found.setdefault(id(task), task)
    if sys.version_info >= (3, 14):
        # C tasks live in per-thread lists only reachable through all_tasks(loop)
        get_all = getattr(asyncio, "all_tasks", None)
        for loop in _find_loops(asyncio, list(found.values())):
            try:
                for task in get_all(loop) if get_all is not None else ():
                    found.setdefault(id(task), task)
            except Exception:
                continue
    return list(found.values())


def current_tasks(asyncio: Any, loops: Iterable[Any]) -> Dict[int, Any]:
    """The task running right now in each loop: ``{id(loop): task}``."""
    current: Dict[int, Any] = {}
    registry = getattr(getattr(asyncio, "tasks", None), "_current_tasks", None)
    if isinstance(registry, dict):
        try:
            for loop, task in list(registry.items()):
                current[id(loop)] = task
        except RuntimeError:
            pass
        return current
    get_current = getattr(asyncio, "current_task", None)
    for loop in loops:
        try:
            task = get_current(loop) if get_current is not None else None
        except Exception:
            task = None
        if task is not None:
            current[id(loop)] = task
    return current


# -- the await chain ----------------------------------------------------------

#: (frame attribute, awaited attribute) of the awaitables with a frame.
_LINKS: Tuple[Tuple[str, str], ...] = (
    ("cr_frame", "cr_await"),
    ("gi_frame", "gi_yieldfrom"),
    ("ag_frame", "ag_await"),
)
_LINK_OF_TYPE: Dict[type, Optional[Tuple[str, str]]] = {}


def _link_of(obj: Any) -> Optional[Tuple[str, str]]:
    kind = type(obj)
    if kind in _LINK_OF_TYPE:
        return _LINK_OF_TYPE[kind]
    link = None
    for frame_attr, await_attr in _LINKS:
        if hasattr(obj, frame_attr) and hasattr(obj, await_attr):
            link = (frame_attr, await_attr)
            break
    _LINK_OF_TYPE[kind] = link
    return link


def _inner_awaitable(obj: Any) -> Any:
    """What a frameless awaitable wraps: ``agen.asend()``/``athrow()`` wrap
    their async generator, the C future iterator wraps its future."""
    try:
        referents = gc.get_referents(obj)
    except Exception:
        return None
    for ref in referents:
        if _link_of(ref) is not None or hasattr(ref, "_asyncio_future_blocking"):
            return ref
    return None


class ChainReader(FrameReader):
    """Reads await chains; the (file, line, function) of a frame is computed
    once per (code object, instruction offset) for the whole section, so
    10,000 tasks parked at the same places cost a look-up per level."""

    def chain(self, coro: Any) -> Tuple[StackKey, Any]:
        """The frames of ``coro`` and of everything it awaits, outermost
        first, and the frameless awaitable ending the chain (or ``None``)."""
        raw: List[int] = []
        seen: List[FrameType] = []
        links = _LINK_OF_TYPE
        obj = coro
        tail = None
        hops = 0
        while obj is not None and hops < MAX_DEPTH:
            hops += 1
            kind = type(obj)
            link = links[kind] if kind in links else _link_of(obj)
            if link is None:
                inner = _inner_awaitable(obj)
                if inner is None or hasattr(inner, "_asyncio_future_blocking"):
                    tail = inner if inner is not None else obj
                    break
                obj = inner
                continue
            frame = getattr(obj, link[0])
            if frame is not None:
                raw.append(id(frame.f_code))
                raw.append(frame.f_lasti)
                seen.append(frame)
            obj = getattr(obj, link[1])
        bare = tuple(raw)
        key = self._keys.get(bare)
        if key is None:
            key = self._keys[bare] = self.read_frames(seen)
        return key, tail


def await_chain(coro: Any) -> Tuple[StackKey, Any]:
    """:meth:`ChainReader.chain` for one coroutine."""
    return ChainReader().chain(coro)


# -- facts ----------------------------------------------------------------------


def _is_task(obj: Any) -> bool:
    return hasattr(obj, "get_coro") and hasattr(obj, "_asyncio_future_blocking")


def _task_name(task: Any) -> str:
    try:
        return safe_str(task.get_name())
    except Exception:
        return f"Task-0x{id(task):x}"


def task_state(task: Any) -> str:
    try:
        if task.done():
            return "done"
        cancelling = getattr(task, "cancelling", None)
        if (cancelling is not None and cancelling()) or getattr(task, "_must_cancel", False):
            return "cancelling"
    except Exception:
        return "unknown"
    return "pending"


def _outcome(task: Any) -> str:
    try:
        if task.cancelled():
            return "cancelled"
        exc = task.exception()
        if exc is not None:
            return f"raised {type(exc).__name__}"
        return "returned"
    except Exception as exc:
        return type(exc).__name__


def _future_label(fut: Any) -> Dict[str, Any]:
    label: Dict[str, Any] = {"kind": "future", "type": type(fut).__name__, "id": id(fut)}
    try:
        label["state"] = "done" if fut.done() else "pending"
    except Exception:
        pass
    source = getattr(fut, "_source_traceback", None)  # debug mode only
    if source:
        try:
            outside = [f for f in source if _ASYNCIO_DIR not in str(f[0])] or list(source)
            last = outside[-1]  # the application's line, not asyncio's own
            label["created_at"] = f"{last[0]}:{last[1]} in {last[2]}"
        except Exception:
            pass
    return label


def awaited_objects(task: Any, tail: Any) -> List[Any]:
    """What the task is blocked on: its ``_fut_waiter`` (or, failing that, the
    future ending its await chain); a ``gather()`` stands for its children."""
    waiter = getattr(task, "_fut_waiter", None)
    if waiter is None:
        waiter = tail
    if waiter is None:
        return []
    children = getattr(waiter, "_children", None)
    if isinstance(children, list) and not _is_task(waiter):
        return [waiter, *children]
    return [waiter]


def find_cycles(edges: Dict[int, List[int]]) -> List[List[int]]:
    """Strongly connected rings of the awaits graph (Tarjan, iterative)."""
    index: Dict[int, int] = {}
    low: Dict[int, int] = {}
    on_stack: Set[int] = set()
    stack: List[int] = []
    cycles: List[List[int]] = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work: List[Tuple[int, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            succ = edges.get(node, [])
            if i < len(succ):
                work.append((node, i + 1))
                nxt = succ[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                ring: List[int] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    ring.append(member)
                    if member == node:
                        break
                if len(ring) > 1 or node in edges.get(node, []):
                    cycles.append(sorted(ring))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return cycles


def _name_order(name: str) -> Tuple[str, int]:
    head = name.rstrip("0123456789")
    tail = name[len(head) :]
    return (head, int(tail) if tail else -1)


def collect(ctx: Context) -> Optional[Dict[str, Any]]:
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return None
    tasks = all_tasks(asyncio)
    if not tasks:
        return None

    names = {id(t): _task_name(t) for t in tasks}
    tasks.sort(key=lambda t: _name_order(names[id(t)]))
    frames = sys._current_frames()
    threads = thread_objects(frames)
    loops: Dict[int, Any] = {}
    for task in tasks:
        loop = _task_loop(task)
        loops.setdefault(id(loop), loop)
    running = current_tasks(asyncio, loops.values())
    running_ids = {id(t) for t in running.values()}

    loop_facts: Dict[int, Dict[str, Any]] = {}
    for number, (loop_id, loop) in enumerate(loops.items(), 1):
        lfacts: Dict[str, Any] = {"id": loop_id, "label": f"loop {number}"}
        if loop is not None:
            lfacts["type"] = type(loop).__name__
            try:
                lfacts["running"] = bool(loop.is_running())
                lfacts["closed"] = bool(loop.is_closed())
                lfacts["debug"] = bool(loop.get_debug())
            except Exception:
                pass
            ident = getattr(loop, "_thread_id", None)
            if isinstance(ident, int) and ident in frames:
                lfacts["thread"] = ident
                thread = threads.get(ident)
                if thread is not None:
                    lfacts["thread_name"] = safe_str(getattr(thread, "name", ""))
        lfacts["tasks"] = 0
        loop_facts[loop_id] = lfacts
    del frames

    tasks.sort(key=lambda t: id(t) not in running_ids)  # stable: names stay in order

    # first pass: chains and what each task awaits
    chains: Dict[int, StackKey] = {}
    awaits: Dict[int, List[Dict[str, Any]]] = {}
    edges: Dict[int, List[int]] = {}
    awaited_by: Dict[int, List[int]] = {}
    by_id = {id(t): t for t in tasks}
    reader = ChainReader()
    errors: Dict[int, str] = {}
    for task in tasks:
        tid = id(task)
        try:
            coro = task.get_coro()
        except Exception:
            coro = getattr(task, "_coro", None)
        try:
            key, tail = reader.chain(coro) if coro is not None else ((), None)
        except Exception as exc:  # an odd awaitable must not cost the other tasks
            key, tail = (), None
            errors[tid] = f"{type(exc).__name__}: {safe_str(exc)}"
        chains[tid] = key
        labels: List[Dict[str, Any]] = []
        for obj in awaited_objects(task, tail):
            if _is_task(obj):
                oid = id(obj)
                labels.append(
                    {"kind": "task", "id": oid, "name": names.get(oid) or _task_name(obj)}
                )
                edges.setdefault(tid, []).append(oid)
                awaited_by.setdefault(oid, []).append(tid)
            elif getattr(obj, "_children", None) is not None:
                labels.append({"kind": "gather", "type": type(obj).__name__, "id": id(obj)})
            else:
                labels.append(_future_label(obj))
        awaits[tid] = labels
        for waiter in getattr(task, "_asyncio_awaited_by", None) or ():  # 3.14+
            if _is_task(waiter) and id(task) not in edges.get(id(waiter), []):
                awaited_by.setdefault(tid, []).append(id(waiter))
                edges.setdefault(id(waiter), []).append(tid)

    cycles = [ring for ring in find_cycles(edges) if all(m in by_id for m in ring)]
    in_cycle = {m: ring for ring in cycles for m in ring}

    units = []
    for task in tasks:
        tid = id(task)
        loop_id = id(_task_loop(task))
        lfacts = loop_facts[loop_id]
        lfacts["tasks"] += 1
        state = task_state(task)
        facts: Dict[str, Any] = {"id": tid, "name": names[tid], "state": state}
        facts["loop"] = lfacts["label"]
        if "thread" in lfacts:
            facts["thread"] = lfacts["thread"]
            if "thread_name" in lfacts:
                facts["thread_name"] = lfacts["thread_name"]
        if state == "done":
            facts["outcome"] = _outcome(task)
        if tid in running_ids:
            facts["running"] = True
        if tid in errors:
            facts["error"] = errors[tid]
        if awaits[tid]:
            facts["awaits"] = awaits[tid]
        if tid in awaited_by:
            facts["awaited_by"] = [{"id": w, "name": names.get(w, "")} for w in awaited_by[tid]]
        if tid in in_cycle:
            facts["cycle"] = [names.get(m, str(m)) for m in in_cycle[tid]]
        units.append(Unit(facts, chains[tid], pinned=tid in running_ids))

    entries = build_entries(units, sources(ctx), group=ctx.group)
    _add_creation_stacks(entries, by_id)
    return {
        "total": len(units),
        "loops": list(loop_facts.values()),
        "cycles": [[names.get(m, str(m)) for m in ring] for ring in cycles],
        "entries": entries,
    }


def _add_creation_stacks(entries: List[Any], by_id: Dict[int, Any]) -> None:
    """Where each listed task was created, when asyncio debug mode recorded it
    (``_source_traceback``); nothing is recorded without debug mode."""
    for entry in entries:
        for member in entry["members"]:
            task = by_id.get(member.get("id"))
            source = getattr(task, "_source_traceback", None)
            if not source:
                continue
            frames: List[Dict[str, Any]] = []
            try:
                items = list(source)
                while items and _ASYNCIO_DIR in str(items[-1][0]):
                    items.pop()  # asyncio's own create_task() frames
                for item in items[-CREATION_DEPTH:]:
                    filename, lineno, function, code = item[0], item[1], item[2], item[3]
                    if is_own_file(str(filename)):
                        continue
                    frames.append(
                        {
                            "file": str(filename),
                            "line": int(lineno or 0),
                            "function": str(function),
                            "code": str(code or ""),
                        }
                    )
            except Exception:
                continue
            if frames:
                member["created_at"] = frames


SECTION = SectionSpec("asyncio_tasks", "Asyncio Tasks", collect)

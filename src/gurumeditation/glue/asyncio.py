"""What this library knows of asyncio's internals: where every task is
registered (it moved between versions), the event loops and the task running
in each, await chains, what a task waits on, and where a task or future was
created.  Never imports asyncio: the section passes the module the process
loaded.

Registries, read defensively: ``asyncio.tasks._all_tasks`` (3.9-3.11),
``_scheduled_tasks`` and ``_eager_tasks`` (3.12+), and on 3.14+, where the C
tasks live in per-thread lists, ``asyncio.all_tasks(loop)`` for every loop
found.  Debug mode is not needed (only the creation stacks come from it).

Await chains: ``Task.get_stack()`` shows one frame of a suspended coroutine;
here the chain is followed through ``cr_await`` (coroutines), ``gi_yieldfrom``
(generators, ``types.coroutine``) and ``ag_await`` (async generators), so a
task parked ten coroutines deep shows all ten.
"""

from __future__ import annotations

import gc
import os
import sys
from types import FrameType
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ..heap import scan_heap, subclasses
from ..model import AwaitedBy, Frame, safe_str
from ..stacks import MAX_DEPTH, FrameReader, StackKey, is_own_file

_ASYNCIO_DIR = os.sep + "asyncio" + os.sep

#: Frames of a task's creation stack (debug mode) kept per listed task.
CREATION_DEPTH = 10

#: How many times a registry is re-read when another thread changes it while
#: it is being copied.
_RETRIES = 100


# -- registries, loops ----------------------------------------------------------------


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


def find_loops(asyncio: Any, tasks: Iterable[Any]) -> List[Any]:
    """Event loops known from tasks, plus (on 3.14+) every loop on the heap."""
    loops: Dict[int, Any] = {}
    for task in tasks:
        loop = task_loop(task)
        if loop is not None:
            loops.setdefault(id(loop), loop)
    loop_type = getattr(asyncio, "AbstractEventLoop", None)
    if sys.version_info >= (3, 14) and isinstance(loop_type, type):
        # loops whose tasks asyncio keeps only in its per-thread lists
        for obj in scan_heap(frozenset(subclasses(loop_type))):
            loops.setdefault(id(obj), obj)
    return list(loops.values())


def task_loop(task: Any) -> Any:
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
        for loop in find_loops(asyncio, list(found.values())):
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


def loop_thread(loop: Any) -> Optional[int]:
    """The ident of the thread running ``loop`` (while it runs)."""
    ident = getattr(loop, "_thread_id", None)
    return ident if isinstance(ident, int) else None


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

    last_frames: List[FrameType] = []

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
        self.last_frames = seen  # (outermost first) what a task waits on is read from them
        bare = tuple(raw)
        key = self._keys.get(bare)
        if key is None:
            key = self._keys[bare] = self.read_frames(seen)
        return key, tail

    def task_chain(self, task: Any) -> Tuple[StackKey, Any]:
        """:meth:`chain` of a task's coroutine."""
        try:
            coro = task.get_coro()
        except Exception:
            coro = getattr(task, "_coro", None)
        return self.chain(coro) if coro is not None else ((), None)


def await_chain(coro: Any) -> Tuple[StackKey, Any]:
    """:meth:`ChainReader.chain` for one coroutine."""
    return ChainReader().chain(coro)


# -- tasks and futures -----------------------------------------------------------------


def is_task(obj: Any) -> bool:
    return hasattr(obj, "get_coro") and hasattr(obj, "_asyncio_future_blocking")


def is_gather(obj: Any) -> bool:
    return getattr(obj, "_children", None) is not None


def task_name(task: Any) -> str:
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


def outcome(task: Any) -> str:
    try:
        if task.cancelled():
            return "cancelled"
        exc = task.exception()
        if exc is not None:
            return f"raised {type(exc).__name__}"
        return "returned"
    except Exception as exc:
        return type(exc).__name__


def future_state(fut: Any) -> Optional[str]:
    try:
        return "done" if fut.done() else "pending"
    except Exception:
        return None


def awaited_objects(task: Any, tail: Any) -> List[Any]:
    """What the task is blocked on: its ``_fut_waiter`` (or, failing that, the
    future ending its await chain); a ``gather()`` stands for its children."""
    waiter = getattr(task, "_fut_waiter", None)
    if waiter is None:
        waiter = tail
    if waiter is None:
        return []
    children = getattr(waiter, "_children", None)
    if isinstance(children, list) and not is_task(waiter):
        return [waiter, *children]
    return [waiter]


def awaited_by(task: Any) -> List[Any]:
    """The tasks asyncio itself records as awaiting ``task`` (3.14+)."""
    return [w for w in getattr(task, "_asyncio_awaited_by", None) or () if is_task(w)]


def awaited_by_facts(ids: List[int], names: Dict[int, str]) -> List[AwaitedBy]:
    return [{"id": w, "name": names.get(w, "")} for w in ids]


def _frame(item: Any) -> Frame:
    """A frame of a ``_source_traceback`` (file, line, function, code)."""
    return {
        "file": str(item[0]),
        "line": int(item[1] or 0),
        "function": str(item[2]),
        "code": str(item[3] or ""),
    }


def future_created_at(fut: Any) -> List[Frame]:
    """The application's line that created ``fut`` (asyncio debug mode
    only), as a one-frame stack; ``[]`` when not recorded."""
    source = getattr(fut, "_source_traceback", None)
    if not source:
        return []
    try:
        outside = [f for f in source if _ASYNCIO_DIR not in str(f[0])] or list(source)
        return [_frame(outside[-1])]  # the application's line, not asyncio's own
    except Exception:
        return []


def task_created_at(task: Any) -> List[Frame]:
    """Where ``task`` was created, innermost :data:`CREATION_DEPTH` frames,
    outermost first, without asyncio's own ``create_task()`` frames and ours
    (asyncio debug mode only; ``[]`` when not recorded)."""
    source = getattr(task, "_source_traceback", None)
    if not source:
        return []
    frames: List[Frame] = []
    try:
        items = list(source)
        while items and _ASYNCIO_DIR in str(items[-1][0]):
            items.pop()
        for item in items[-CREATION_DEPTH:]:
            if not is_own_file(str(item[0])):
                frames.append(_frame(item))
    except Exception:
        return []
    return frames


# -- the exception handler -------------------------------------------------------------


def wrap_exception_handler(on_exception: Any) -> Any:
    """Make ``BaseEventLoop.call_exception_handler`` call ``on_exception(context)``
    first (then asyncio's or the application's handler, as before), for every
    loop; returns the undo.  When asyncio is not loaded yet it is never
    imported for this: the wrap happens right after the application imports
    it (a finder of ours on ``sys.meta_path``, gone once used or undone)."""
    undo = _wrap_loaded(on_exception)
    if undo is not None:
        return undo
    box: List[Any] = []
    finder = _AfterImport("asyncio.base_events", lambda: box.append(_wrap_loaded(on_exception)))
    sys.meta_path.insert(0, finder)

    def undo_later() -> None:
        finder.forget()
        for done in box:
            if done is not None:
                done()

    return undo_later


class _AfterImport:
    """A ``sys.meta_path`` finder that runs ``then()`` once ``name`` has been
    executed (the module is found and loaded by the usual finders)."""

    def __init__(self, name: str, then: Any) -> None:
        self.name = name
        self.then = then
        self.busy = False

    def forget(self) -> None:
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name or self.busy:
            return None
        self.busy = True
        try:
            import importlib.util

            spec = importlib.util.find_spec(fullname)
        finally:
            self.busy = False
        loader: Any = getattr(spec, "loader", None)
        exec_module: Any = getattr(loader, "exec_module", None)
        if spec is None or exec_module is None:
            return None
        finder = self

        class Loader:
            def __getattr__(self, name: str) -> Any:  # get_source, get_filename...
                return getattr(loader, name)

            def create_module(self, spec: Any) -> Any:
                create = getattr(loader, "create_module", None)
                return create(spec) if create is not None else None

            def exec_module(self, module: Any) -> None:
                exec_module(module)
                finder.forget()
                try:
                    finder.then()
                except Exception:
                    pass

        spec.loader = Loader()  # type: ignore[assignment]
        return spec


def _wrap_loaded(on_exception: Any) -> Optional[Any]:
    base_events = sys.modules.get("asyncio.base_events")
    loop_type = getattr(base_events, "BaseEventLoop", None)
    original = getattr(loop_type, "call_exception_handler", None)
    if loop_type is None or original is None:
        return None

    def call_exception_handler(self: Any, context: Dict[str, Any]) -> Any:
        try:
            on_exception(context)
        except Exception:
            pass
        return original(self, context)

    call_exception_handler.__wrapped__ = original  # type: ignore[attr-defined]
    loop_type.call_exception_handler = call_exception_handler

    def undo() -> None:
        if loop_type.call_exception_handler is call_exception_handler:
            loop_type.call_exception_handler = original

    return undo

"""Opt-in owner tracking (``track_locks``): locks and semaphores created after
arming record who holds them, so a report names the holder of a plain
``threading.Lock`` or an ``asyncio.Lock`` (which record no owner).

:func:`install` replaces, in their modules, the factories and classes of
``threading.Lock``, ``Semaphore``, ``BoundedSemaphore``; ``asyncio.Lock``,
``Semaphore``, ``BoundedSemaphore``; ``gevent.lock.Semaphore``,
``BoundedSemaphore``; ``eventlet.semaphore.Semaphore``,
``BoundedSemaphore`` and ``eventlet.lock.Lock`` (each library only if it is
loaded; the report run installs again, so one loaded later is tracked from
then on).  Each replacement acquires and releases like the original and
records the holder on success: ``(kind, id, name)`` in ``_gm_holders`` (a
tracked ``threading.Lock``: the holder's ident in ``_gm_owner``).
``RLock`` (and a ``Condition`` over one) needs none: CPython records its
owner.  Not tracked: locks made before arming, or through a name imported
before it (``from threading import Lock``), and ``_thread.allocate_lock``.
A tracked ``threading.Lock`` is a wrapper, not a ``_thread.lock``
(``isinstance`` against that type is false).  The cost per acquire/release
pair is measured in ``benchmarks/why_costs.py`` (docs/performance.md).
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

Holder = Tuple[str, int, str]

_INSTALLED: Dict[Tuple[str, str], Any] = {}  # (module, name) -> original


def installed() -> bool:
    return bool(_INSTALLED)


def _ident_holder(get_ident: Callable[[], int]) -> Callable[[], Holder]:
    def who() -> Holder:
        return ("ident", get_ident(), "")

    return who


def _meta(base: type) -> type:
    """A metaclass under which the tracked class still answers ``isinstance``
    and ``issubclass`` for objects made before tracking began (an
    application's ``isinstance(lock, asyncio.Lock)`` stays true for them)."""

    class Tracked(type(base)):  # type: ignore[misc]
        def __instancecheck__(cls, obj: Any) -> bool:
            return isinstance(obj, base)

        def __subclasscheck__(cls, sub: Any) -> bool:
            return issubclass(sub, base)

    return Tracked


def make_lock_class(allocate: Callable[[], Any], get_ident: Callable[[], int]) -> type:
    """A ``threading.Lock`` work-alike over ``allocate()`` that records the
    ident of the thread (or, monkey patched, greenlet) holding it."""

    class TrackedLock:
        _gm_kind = "lock"
        __slots__ = ("__weakref__", "_gm_owner", "_lock")

        def __init__(self) -> None:
            self._lock = allocate()
            self._gm_owner: Optional[int] = None  # ident of the holder

        def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
            got = self._lock.acquire(blocking, timeout)
            if got:
                self._gm_owner = get_ident()
            return bool(got)

        def release(self) -> None:
            self._gm_owner = None
            self._lock.release()

        def __enter__(self) -> bool:
            self._lock.acquire()
            self._gm_owner = get_ident()
            return True

        def __exit__(self, *exc: object) -> None:
            self._gm_owner = None
            self._lock.release()

        def locked(self) -> bool:
            return bool(self._lock.locked())

        def _at_fork_reinit(self) -> None:
            self._lock._at_fork_reinit()
            self._gm_owner = None

        def __repr__(self) -> str:
            state = "locked" if self.locked() else "unlocked"
            return f"<{state} tracked lock object at 0x{id(self):x}>"

    TrackedLock.__name__ = TrackedLock.__qualname__ = "Lock"
    plain = type(allocate())

    class _Either(type):
        def __instancecheck__(cls, obj: Any) -> bool:
            return type.__instancecheck__(cls, obj) or isinstance(obj, plain)

    return _Either("Lock", (TrackedLock,), {"__slots__": (), "__module__": TrackedLock.__module__})


def make_sync_class(base: type, kind: str, who: Callable[[], Holder]) -> type:
    """A subclass of a semaphore-like ``base`` (acquire/release, ``with``)
    recording its holders."""

    def acquire(self: Any, *args: Any, **kwargs: Any) -> Any:
        got = base.acquire(self, *args, **kwargs)  # type: ignore[attr-defined]
        if got or got is None:
            self._gm_holders.append(who())
        return got

    def release(self: Any, *args: Any, **kwargs: Any) -> Any:
        _drop(self._gm_holders, who())
        return base.release(self, *args, **kwargs)  # type: ignore[attr-defined]

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        self._gm_holders = []
        base.__init__(self, *args, **kwargs)  # type: ignore[misc]

    def __enter__(self: Any) -> Any:
        return acquire(self)

    def __exit__(self: Any, *exc: object) -> None:
        release(self)

    namespace = {
        "_gm_kind": kind,
        "__init__": __init__,
        "acquire": acquire,
        "release": release,
        "__enter__": __enter__,
        "__exit__": __exit__,
        "__module__": base.__module__,
    }
    return _meta(base)(base.__name__, (base,), namespace)  # type: ignore[no-any-return]


def make_async_class(base: type, kind: str, who: Callable[[], Holder]) -> type:
    """A subclass of an asyncio lock or semaphore recording the holding task."""

    async def acquire(self: Any) -> Any:
        got = await base.acquire(self)  # type: ignore[attr-defined]
        self._gm_holders.append(who())
        return got

    def release(self: Any) -> None:
        _drop(self._gm_holders, who())
        base.release(self)  # type: ignore[attr-defined]

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        self._gm_holders = []
        base.__init__(self, *args, **kwargs)  # type: ignore[misc]

    namespace = {
        "_gm_kind": kind,
        "__init__": __init__,
        "acquire": acquire,
        "release": release,
        "__module__": base.__module__,
    }
    return _meta(base)(base.__name__, (base,), namespace)  # type: ignore[no-any-return]


def _drop(holders: List[Holder], me: Holder) -> None:
    """Forget one hold: the releasing unit's own, else the oldest (a
    semaphore may be released by another unit than the one that acquired)."""
    for index, held in enumerate(holders):
        if held[1] == me[1]:
            del holders[index]
            return
    if holders:
        del holders[0]


def _task_holder(asyncio: Any) -> Callable[[], Holder]:
    current = asyncio.current_task

    def who() -> Holder:
        try:
            task = current()
        except RuntimeError:
            task = None
        if task is None:
            return ("ident", threading.get_ident(), "")
        return ("task", id(task), task.get_name())

    return who


def _greenlet_holder() -> Callable[[], Holder]:
    from greenlet import getcurrent

    def who() -> Holder:
        return ("greenlet", id(getcurrent()), "")

    return who


def _replace(module: Any, name: str, new: Any) -> None:
    key = (module.__name__, name)
    if key not in _INSTALLED:
        _INSTALLED[key] = getattr(module, name)
    setattr(module, name, new)


def install() -> None:
    """Track the locks of every library loaded now (again: the ones loaded since)."""
    if ("threading", "Lock") not in _INSTALLED:
        _replace(threading, "Lock", make_lock_class(threading.Lock, threading.get_ident))
        who = _ident_holder(threading.get_ident)
        for name in ("Semaphore", "BoundedSemaphore"):
            _replace(threading, name, make_sync_class(getattr(threading, name), "semaphore", who))
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None and ("asyncio.locks", "Lock") not in _INSTALLED:
        locks = asyncio.locks
        who = _task_holder(asyncio)
        for name, kind in (("Lock", "asyncio lock"), ("Semaphore", "asyncio semaphore"),
                           ("BoundedSemaphore", "asyncio semaphore")):  # fmt: skip
            new = make_async_class(getattr(locks, name), kind, who)
            _replace(locks, name, new)
            if getattr(asyncio, name, None) is _INSTALLED[("asyncio.locks", name)]:
                _replace(asyncio, name, new)
    gevent_lock = sys.modules.get("gevent.lock")
    if gevent_lock is not None and ("gevent.lock", "Semaphore") not in _INSTALLED:
        who = _greenlet_holder()
        for name in ("Semaphore", "BoundedSemaphore"):
            _replace(
                gevent_lock, name, make_sync_class(getattr(gevent_lock, name), "semaphore", who)
            )
    semaphore = sys.modules.get("eventlet.semaphore")
    if semaphore is not None and ("eventlet.semaphore", "Semaphore") not in _INSTALLED:
        who = _greenlet_holder()
        for name in ("Semaphore", "BoundedSemaphore"):
            _replace(semaphore, name, make_sync_class(getattr(semaphore, name), "semaphore", who))
    elock = sys.modules.get("eventlet.lock")
    if elock is not None and ("eventlet.lock", "Lock") not in _INSTALLED:
        _replace(elock, "Lock", make_sync_class(elock.Lock, "lock", _greenlet_holder()))


def uninstall() -> None:
    """Put the originals back (locks already made stay tracked)."""
    for (module_name, name), original in list(_INSTALLED.items()):
        module = sys.modules.get(module_name)
        if module is not None:
            setattr(module, name, original)
    _INSTALLED.clear()


def holders(obj: Any) -> Optional[List[Holder]]:
    """The holders a tracked object recorded (``None``: not tracked)."""
    if not isinstance(getattr(type(obj), "_gm_kind", None), str):
        return None  # (asked of every lock waited on: no exception raised for the others)
    try:
        found = object.__getattribute__(obj, "_gm_holders")
    except (AttributeError, TypeError):
        pass
    else:
        return list(found) if isinstance(found, list) else None
    try:  # a tracked threading.Lock keeps the holder's ident only (cheaper)
        owner = object.__getattribute__(obj, "_gm_owner")
    except (AttributeError, TypeError):
        return None
    return [("ident", owner, "")] if isinstance(owner, int) else []

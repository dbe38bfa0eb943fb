"""What this library knows of eventlet: its hub classes, the hub running in
the calling thread, the wrappers that run a greenthread's function, and the
originals ``monkey_patch()`` kept.  Never imports eventlet."""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Set

from ..heap import subclasses
from . import loaded

#: eventlet's name for each standard module it can patch.
_PATCH_NAMES = {"_thread": "thread", "time": "time", "os": "os", "select": "select"}

#: (file name, function) of eventlet's functions that run a greenthread's
#: function: the frame after them names what the greenthread does.
WRAPPERS = {("greenthread.py", "main"), ("greenpool.py", "_spawn_n_impl")}


def hub_types() -> Set[type]:
    """eventlet's hub classes (``BaseHub`` and every subclass), if loaded."""
    base = getattr(loaded("eventlet.hubs.hub"), "BaseHub", None)
    return subclasses(base) if isinstance(base, type) else set()


def current_hub_greenlet() -> Optional[Any]:
    """The greenlet of the calling thread's hub, when eventlet made one."""
    local = getattr(loaded("eventlet.hubs"), "_threadlocal", None)
    hub = getattr(local, "hub", None) if local is not None else None
    return hub_greenlet(hub)


def every_hub() -> List[Any]:
    """The hub of every thread that has one, read from eventlet's
    thread-local (its per-thread dicts are referents of the ``_thread._local``
    object, whatever thread asks: the only way to another thread's hub when
    ``gc.freeze()`` hid it from the collector's lists)."""
    local = getattr(loaded("eventlet.hubs"), "_threadlocal", None)
    return hubs_in_local(local)


def hubs_in_local(local: Any) -> List[Any]:
    """The ``hub`` attribute of every thread in a ``_thread._local``."""
    if local is None:
        return []
    import gc

    found: List[Any] = []
    try:
        for ref in gc.get_referents(local):
            if isinstance(ref, dict):
                for value in list(ref.values()):
                    if isinstance(value, dict) and value.get("hub") is not None:
                        found.append(value["hub"])
    except Exception:
        pass
    return found


def hub_greenlet(hub: Any) -> Optional[Any]:
    """The greenlet an eventlet hub runs in."""
    return getattr(hub, "greenlet", None)


def original(module: str, name: str) -> Optional[Any]:
    """``module.name`` as it was before ``monkey_patch()``, when eventlet
    patched that module; else ``None``."""
    patcher = loaded("eventlet.patcher")
    if patcher is None:
        return None
    try:
        if not patcher.is_monkey_patched(_PATCH_NAMES[module]):
            return None
        return getattr(patcher.original(module), name)
    except Exception:
        return None


def start_heartbeat(beat: Callable[[], None], interval: float) -> Optional[Callable[[], None]]:
    """Call ``beat()`` every ``interval`` seconds from the calling thread's
    eventlet hub (a timer that schedules itself again); ``None`` when no hub
    runs here (one is never made for this)."""
    local = getattr(loaded("eventlet.hubs"), "_threadlocal", None)
    hub = getattr(local, "hub", None) if local is not None else None
    schedule = getattr(hub, "schedule_call_global", None)
    if schedule is None:
        return None
    stopped: list = []  # type: ignore[type-arg]

    def again() -> None:
        if stopped:
            return
        beat()
        schedule(interval, again)

    try:
        schedule(interval, again)
    except Exception:
        return None
    return lambda: stopped.append(True)

"""What this library knows of gevent: its ``Hub`` class, the hub of the
calling thread, the main thread's ident it records before patching,
``Greenlet`` names and spawning stacks, and the originals ``patch_all()``
kept.  Never imports gevent."""

from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

from ..model import safe_str
from . import loaded


def hub_type() -> Optional[type]:
    """gevent's ``Hub`` class, if loaded."""
    hub = getattr(loaded("gevent.hub"), "Hub", None)
    return hub if isinstance(hub, type) else None


def current_hub() -> Optional[Any]:
    """The calling thread's hub, when gevent made one (never makes one)."""
    get_hub = getattr(loaded("gevent._hub_local"), "get_hub_if_exists", None)
    if get_hub is None:
        return None
    try:
        return get_hub()
    except Exception:
        return None


def hub_thread_ident(hub: Any) -> Optional[int]:
    """The ident of the thread a gevent hub runs in."""
    ident = getattr(hub, "thread_ident", None)
    return ident if isinstance(ident, int) else None


def main_thread_ident() -> Optional[int]:
    """The main thread's real ident, as gevent recorded it before patching."""
    ident = getattr(loaded("gevent.hub"), "MAIN_THREAD_IDENT", None)
    return ident if isinstance(ident, int) else None


def is_named(kind: type) -> bool:
    """Whether greenlets of class ``kind`` carry a gevent ``name``."""
    return hasattr(kind, "minimal_ident")


def records_spawning(kind: type) -> bool:
    """Whether greenlets of class ``kind`` may record where they were spawned."""
    return hasattr(kind, "spawning_stack")


def spawn_facts(glet: Any) -> Tuple[Optional[str], Any]:
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


def original(module: str, name: str) -> Optional[Any]:
    """``module.name`` as it was before ``patch_all()``; ``None`` when gevent
    is not loaded."""
    monkey = loaded("gevent.monkey")
    if monkey is None:
        return None
    try:
        return monkey.get_original(module, name)
    except Exception:
        return None


def start_heartbeat(beat: Callable[[], None], interval: float) -> Optional[Callable[[], None]]:
    """Call ``beat()`` every ``interval`` seconds from the calling thread's
    gevent hub (a repeating timer of its loop that keeps nothing alive);
    returns how to stop it, or ``None`` when gevent made no hub here."""
    hub = current_hub()
    loop = getattr(hub, "loop", None)
    if loop is None:
        return None
    try:
        timer = loop.timer(interval, interval)
        try:
            timer.ref = False  # gevent.wait() does not wait for it
        except Exception:
            pass
        timer.start(beat)
    except Exception:
        return None

    def stop() -> None:
        timer.stop()
        timer.close()

    return stop

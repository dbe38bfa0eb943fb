"""What each server that runs Python code needs from us (one module each).

A server module is loaded only when its server is in the process — told by
:data:`SERVERS`, keyed on ``sys.modules`` — so a service that runs none of
them pays for a few dictionary look-ups at arming and at fork, nothing else.
Nothing here imports a server.

Each module ``servers/<name>.py`` offers, all optional:

* ``adapt(armed)``: called when reports are armed and again in every forked
  child (``armed`` is :data:`gurumeditation.arming.ARMED`): hook the
  server's own start-up where it needs it (e.g. gunicorn's workers reset the
  report signal after our fork hook ran: the module takes it back after);
* ``role()``: what this process is to the server (``"gunicorn master"``,
  ``"uvicorn worker"``...), or ``None``: shown by ``gurumeditation list``.

uWSGI embeds the interpreter and forks in C, so :mod:`.uwsgi` offers only
``role()`` here and is hooked earlier, its own way: by the facade's
``setup_autorun`` (uWSGI owns the signals: channel only) and by an
import-time finder for its fork hook.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any, Dict, List, Optional, Tuple

#: server module name -> modules of that server, any of which in
#: ``sys.modules`` means it runs in this process.
SERVERS: Dict[str, Tuple[str, ...]] = {
    "gunicorn": ("gunicorn.arbiter", "gunicorn.workers.base"),
    "uvicorn": ("uvicorn.server", "uvicorn.supervisors.multiprocess"),
    "hypercorn": ("hypercorn.run", "hypercorn.asyncio.run", "hypercorn.trio.run"),
    "uwsgi": ("uwsgi",),  # role() only: see below
}


def present() -> List[str]:
    """The servers of :data:`SERVERS` loaded in this process."""
    modules = sys.modules
    return [name for name, marks in SERVERS.items() if any(m in modules for m in marks)]


def glue(name: str) -> Optional[ModuleType]:
    """Our module for server ``name`` (imported now), or ``None``."""
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except Exception:
        return None


def adapt(armed: Any) -> None:
    """Let every server present hook what it needs; never raises."""
    for name in present():
        module = glue(name)
        hook = getattr(module, "adapt", None)
        if hook is not None:
            try:
                hook(armed)
            except Exception:
                pass


def role() -> Optional[str]:
    """What this process is to the server it runs in (``None``: unknown)."""
    for name in present():
        module = glue(name)
        ask = getattr(module, "role", None)
        if ask is not None:
            try:
                found = ask()
            except Exception:
                found = None
            if found:
                return str(found)
    return None

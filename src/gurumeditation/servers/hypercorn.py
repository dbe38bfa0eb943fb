"""hypercorn: a supervisor that leaves SIGUSR2 alone, and spawned workers.

``hypercorn --workers N`` supervises workers started with
``multiprocessing``'s *spawn* (fresh interpreters, armed by the inherited
``GURUMEDITATION*`` variables).  Neither the supervisor (it takes SIGINT,
SIGTERM and SIGHUP) nor a worker (SIGINT and SIGTERM) touches SIGUSR2: it
stays ours everywhere, nothing to hook.  This module only tells the role.

Nothing here imports hypercorn.
"""

from __future__ import annotations

import signal
import sys
from typing import Optional


def role() -> Optional[str]:
    """``hypercorn supervisor`` (its SIGTERM handler is hypercorn's
    ``run``'s), ``hypercorn worker`` (a ``multiprocessing`` child running
    hypercorn) or ``None``."""
    try:
        handler = signal.getsignal(signal.SIGTERM)
    except (ValueError, OSError):
        return None
    if str(getattr(handler, "__module__", "")) == "hypercorn.run":
        return "hypercorn supervisor"
    multiprocessing = sys.modules.get("multiprocessing")
    try:
        parent = multiprocessing.parent_process() if multiprocessing is not None else None
    except Exception:
        parent = None
    if parent is not None and any(
        name in sys.modules for name in ("hypercorn.asyncio.run", "hypercorn.trio.run")
    ):
        return "hypercorn worker"
    return None

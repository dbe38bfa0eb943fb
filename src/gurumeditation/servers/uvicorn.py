"""uvicorn: the multiprocess supervisor owns the signals, the workers do not.

``uvicorn --workers N`` runs a supervisor (``uvicorn.supervisors.multiprocess``)
that queues SIGUSR2 with every other signal it knows (and only logs it);
its workers are started with ``multiprocessing``'s *spawn*: fresh
interpreters, armed by ``GURUMEDITATION=1`` inherited through the
environment (``gurumeditation run`` sets it for its children too).  A worker
leaves SIGUSR2 alone (it captures only SIGINT and SIGTERM), so the signal
stays ours there.  The supervisor is asked over the channel
(``gurumeditation report PID``); the listing says its signal was taken over.

Nothing here imports uvicorn.
"""

from __future__ import annotations

import signal
import sys
from typing import Optional


def role() -> Optional[str]:
    """``uvicorn supervisor``, ``uvicorn worker`` (a spawned child of it) or
    ``uvicorn server`` (one process), told by who handles SIGTERM now;
    ``None`` before uvicorn set its signals up."""
    try:
        handler = signal.getsignal(signal.SIGTERM)
    except (ValueError, OSError):
        return None
    qualname = str(getattr(handler, "__qualname__", ""))
    module = str(getattr(handler, "__module__", ""))
    if module.startswith("uvicorn.supervisors") and qualname.startswith("Multiprocess."):
        return "uvicorn supervisor"
    server = sys.modules.get("uvicorn.server")
    server_cls = getattr(server, "Server", None)
    if server_cls is None or not isinstance(getattr(handler, "__self__", None), server_cls):
        return None
    multiprocessing = sys.modules.get("multiprocessing")
    try:
        parent = multiprocessing.parent_process() if multiprocessing is not None else None
    except Exception:
        parent = None
    return "uvicorn worker" if parent is not None else "uvicorn server"

"""The real OS threads of the process, even under monkey patching.

``eventlet.monkey_patch()`` and ``gevent.monkey.patch_all()`` make
``threading`` speak of greenlets: ``threading.get_ident()`` returns a
greenlet's id, threads started after patching are greenlets, and gevent even
re-keys the main thread.  ``sys._current_frames()`` is never patched: its keys
are the idents of the real OS threads.  This module maps those idents to the
``Thread`` objects that describe them, looking in the patched ``threading``
module and in the unpatched originals the libraries keep, and finds the real
ident of the calling thread and of the main thread without asking a patched
function.

Nothing here imports eventlet or gevent: only what the process loaded is read.
"""

from __future__ import annotations

import sys
import threading
from types import FrameType
from typing import Any, Dict, List, Mapping, Optional


def threading_modules() -> List[Any]:
    """``threading`` and its unpatched twins the greenlet libraries keep."""
    modules: List[Any] = []
    for name in ("threading", "__original_module_threading"):
        module = sys.modules.get(name)
        if module is not None and module not in modules:
            modules.append(module)
    return modules


def this_thread_ident(frames: Optional[Mapping[int, FrameType]] = None) -> int:
    """The real ident of the calling thread: the key under which
    ``sys._current_frames()`` holds the caller's own frame."""
    me = sys._getframe(1) if frames is not None else sys._getframe()
    if frames is None:
        frames = sys._current_frames()
    for ident, frame in frames.items():
        if frame is me:
            return ident
    return threading.get_ident()  # not reached in CPython


def _main_ident_from_libraries() -> Optional[int]:
    hub = sys.modules.get("gevent.hub")
    ident = getattr(hub, "MAIN_THREAD_IDENT", None)  # recorded before patching
    return ident if isinstance(ident, int) else None


#: The real ident of the main thread, remembered when this module is first
#: imported in the main thread (that is where setup usually happens).
_MAIN_IDENT: Optional[int] = None


def remember_main_ident() -> None:
    """Record the main thread's real ident if the caller is the main thread."""
    global _MAIN_IDENT
    try:
        if threading.current_thread() is threading.main_thread():
            _MAIN_IDENT = this_thread_ident()
    except Exception:
        pass


remember_main_ident()


def main_ident(frames: Mapping[int, FrameType]) -> Optional[int]:
    """The real ident of the main thread among ``frames`` (``None`` if it is
    gone or cannot be told)."""
    candidates = [getattr(threading.main_thread(), "ident", None), _MAIN_IDENT]
    candidates.append(_main_ident_from_libraries())
    for ident in candidates:
        if ident is not None and ident in frames:
            return ident
    return None


def thread_objects(frames: Mapping[int, FrameType]) -> Dict[int, Any]:
    """``Thread`` objects of the real threads in ``frames``, by real ident.

    Threads started after monkey patching are greenlets: their keys in
    ``_active`` are greenlet ids, not in ``frames``, so they are not taken.
    """
    found: Dict[int, Any] = {}
    for module in threading_modules():
        active = getattr(module, "_active", None)
        if not isinstance(active, dict):
            continue
        try:
            items = list(active.items())
        except Exception:
            continue
        for ident, thread in items:
            if ident in frames and ident not in found:
                found[ident] = thread
    main = main_ident(frames)
    if main is not None and main not in found:
        found[main] = threading.main_thread()
    return found

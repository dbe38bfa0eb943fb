"""Green Threads: every greenlet of the process (eventlet, gevent, plain
greenlet) with its stack and state.

Shown only when ``greenlet`` is already loaded; this module never imports it.
"""

from __future__ import annotations

import gc
import sys
from typing import Any, Dict, List, Optional

from ..report import Context, SectionSpec
from ..stacks import Unit, build_entries, stack_key, stack_section_data
from .threads import sources


def greenlet_state(glet: Any, current: Any) -> str:
    if glet is current:
        return "running"
    if getattr(glet, "dead", False):
        return "dead"
    if glet:  # started and not dead
        return "suspended"
    return "not started"


def find_greenlets(greenlet_type: type) -> List[Any]:
    return [o for o in gc.get_objects() if isinstance(o, greenlet_type)]


def collect(ctx: Context) -> Optional[Dict[str, Any]]:
    module = sys.modules.get("greenlet")
    greenlet_type = getattr(module, "greenlet", None) if module is not None else None
    if not isinstance(greenlet_type, type):
        return None
    getcurrent = getattr(module, "getcurrent", None)
    current = getcurrent() if getcurrent is not None else None
    units = []
    for glet in find_greenlets(greenlet_type):
        state = greenlet_state(glet, current)
        facts: Dict[str, Any] = {"id": id(glet), "state": state}
        frame: Any
        if glet is current:
            facts["current"] = True
            frame = ctx.frame if ctx.frame is not None else sys._getframe()
        else:
            frame = getattr(glet, "gr_frame", None)
        units.append(Unit(facts, stack_key(frame), pinned=glet is current))
    entries = build_entries(units, sources(ctx), group=ctx.group)
    return stack_section_data(entries, len(units))


SECTION = SectionSpec("green_threads", "Green Threads", collect)

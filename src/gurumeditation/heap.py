"""Finding objects on the heap by their class, in steps short enough that the
other threads of the process keep running while the heap is searched.

Every C call holds the GIL for as long as it runs, so a search made of one
call over the whole heap (``gc.get_referrers()``, or ``gc.get_objects()``
and one list freed at the end) stops every other thread for that long: ~35
ms on a heap of two million objects.  Here the heap is listed one
generation at a time (the one call that cannot be cut: about the time
``gc.get_objects()`` takes), type-tested in slices of :data:`SCAN_SLICE`
objects, and let go in slices too; between two slices the interpreter may
hand the GIL on.  It costs more CPU in all than one pass made in C, and the
longest pause is the listing of the largest generation.
"""

from __future__ import annotations

import gc
import itertools
import sys
from typing import Any, FrozenSet, Iterator, List, Set

#: Objects type-tested, or let go, per C call while scanning the heap
#: (~3 ms of GIL each).
SCAN_SLICE = 50_000

#: A free-threaded build walks the whole heap whatever generation is asked
#: for: there the heap is listed in one call.
_BY_GENERATION = "t" not in getattr(sys, "abiflags", "")


def subclasses(base: type) -> Set[type]:
    """``base`` and every class derived from it, however deep."""
    found: Set[type] = set()
    todo = [base]
    while todo:
        cls = todo.pop()
        if cls in found:
            continue
        found.add(cls)
        try:
            todo.extend(type.__subclasses__(cls))
        except Exception:
            continue
    return found


def _listings() -> Iterator[List[Any]]:
    """The gc-tracked objects, one list per generation, youngest first: an
    object a collection moves on between two listings moves to an older
    generation, listed later, so it may be seen twice but is never missed."""
    if not _BY_GENERATION:
        yield gc.get_objects()
        return
    for generation in range(len(gc.get_count())):
        try:
            yield gc.get_objects(generation)
        except (TypeError, ValueError):  # no per-generation listing here
            yield gc.get_objects()
            return


def _let_go(objects: List[Any]) -> None:
    """Drop a listing's references from its end, a slice per C call, rather
    than in one dealloc of the whole list."""
    while objects:
        del objects[-SCAN_SLICE:]


def scan_heap(wanted: FrozenSet[type]) -> List[Any]:
    """Every gc-tracked object whose exact type is in ``wanted``, each once
    (the sure way: one type test per object of the heap, in C over slices
    with ``itertools.compress`` over ``map(type, ...)``)."""
    found: List[Any] = []
    seen: Set[int] = set()
    contains = wanted.__contains__
    compress = itertools.compress
    for objects in _listings():
        for start in range(0, len(objects), SCAN_SLICE):
            part = objects[start : start + SCAN_SLICE]
            for obj in compress(part, map(contains, map(type, part))):
                if id(obj) not in seen:
                    seen.add(id(obj))
                    found.append(obj)
            del part
        _let_go(objects)
        del objects
    return found

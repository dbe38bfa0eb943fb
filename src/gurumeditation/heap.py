"""Finding objects on the heap by their class, without a Python-level loop
per object."""

from __future__ import annotations

import gc
import itertools
from typing import Any, FrozenSet, List, Set

#: Objects type-tested per C call while scanning the heap.
SCAN_SLICE = 200_000


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


def scan_heap(wanted: FrozenSet[type]) -> List[Any]:
    """Every gc-tracked object whose exact type is in ``wanted`` (the slow,
    sure way: one type test per object of the heap, done in C over slices
    with ``itertools.compress`` over ``map(type, ...)``)."""
    objects = gc.get_objects()
    found: List[Any] = []
    contains = wanted.__contains__
    compress = itertools.compress
    for start in range(0, len(objects), SCAN_SLICE):
        part = objects[start : start + SCAN_SLICE]
        found.extend(compress(part, map(contains, map(type, part))))
    del objects
    return found

"""Memory and GC: the cyclic garbage collector's state and, when
``tracemalloc`` is tracing, where the memory was allocated.

Cheap by default: generation counts, thresholds and per-generation stats are
counters the collector keeps anyway; the number of objects it tracks is
counted for the young generations only, and for every generation (a walk of
the whole heap) only when ``Context.gc_scan`` asks for it.  The collector is
paused while a report runs, so ``enabled`` is the state from before the run
(``run_report`` records it in ``ctx.state.gc_was_enabled``), and
``counts`` are those from before the run (``ctx.state.gc_counts``): the
report's own allocations would otherwise show as the application's.

The allocation sites come from ``_tracemalloc`` (built in, imported at setup;
the ``tracemalloc`` module is not needed): traced blocks grouped by the most
recent frame, the 10 largest first.  That walk costs in proportion to the
number of traced blocks (~1.3 µs each here: 125,000 blocks ≈ 165 ms).

Redaction: the section redacts itself (``redacted=True``): the only
free-form strings are the allocation sites' file names, each passed through
the redactor; everything else is a number.

Data: :class:`~gurumeditation.model.MemoryData`.
"""

from __future__ import annotations

import gc
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple, cast

from ..model import AllocationSite, GcData, GcGeneration, MemoryData, TracemallocData
from ..report import Context, SectionSpec

try:  # built into CPython; imported here, at setup, never while reporting
    import _tracemalloc
except ImportError:  # pragma: no cover  (PyPy)
    _tracemalloc = None  # type: ignore[assignment]

TOP_SITES = 10

_FREE_THREADING = "t" in getattr(sys, "abiflags", "")

#: Generations counted without ``gc_scan``: the young ones, small by design.
#: From 3.14 the older generations are the incremental collector's old
#: spaces, and a free-threaded build walks the whole heap for any generation:
#: those are counted only when asked.
if _FREE_THREADING:
    _YOUNG: Tuple[int, ...] = ()
elif sys.version_info >= (3, 14):
    _YOUNG = (0,)
else:
    _YOUNG = (0, 1)


def tracked_objects(full: bool, generations: int) -> Tuple[List[Optional[int]], Optional[int]]:
    counts: List[Optional[int]] = []
    for gen in range(generations):
        if gen in _YOUNG or full:
            try:
                counts.append(len(gc.get_objects(gen)))
            except (TypeError, ValueError):  # no per-generation listing here
                counts.append(None)
        else:
            counts.append(None)
    total = sum(c for c in counts if c is not None) if full and None not in counts else None
    if full and total is None:
        total = len(gc.get_objects())
    return counts, total


def gc_facts(ctx: Context) -> GcData:
    thresholds = list(gc.get_threshold())
    try:
        stats = gc.get_stats()
    except AttributeError:  # pragma: no cover
        stats = []
    generations: List[GcGeneration] = [
        {
            "collections": int(s.get("collections", 0)),
            "collected": int(s.get("collected", 0)),
            "uncollectable": int(s.get("uncollectable", 0)),
        }
        for s in stats
    ]
    tracked, total = tracked_objects(
        bool(getattr(ctx, "gc_scan", False)), len(stats) or len(thresholds)
    )
    freeze = getattr(gc, "get_freeze_count", None)
    return {
        "enabled": bool(
            gc.isenabled() if ctx.state.gc_was_enabled is None else ctx.state.gc_was_enabled
        ),
        "counts": list(ctx.state.gc_counts or gc.get_count()),
        "thresholds": thresholds,
        "generations": generations,
        "tracked": tracked,
        "tracked_total": total,
        "frozen": freeze() if callable(freeze) else None,
        "garbage": len(gc.garbage),
        "callbacks": len(gc.callbacks),
        "debug_flags": gc.get_debug(),
    }


def top_sites(traces: Sequence[Any], limit: int = TOP_SITES) -> List[AllocationSite]:
    """Traced blocks grouped by their most recent frame, largest first.

    Written to allocate little while tracemalloc traces every allocation: the
    sizes of a site are gathered in a list (appending allocates rarely) and
    summed once, rather than an int accumulated per block (six times slower
    here with 125,000 traces)."""
    groups: Dict[Any, List[int]] = {}
    get = groups.get
    unknown = ("<unknown>", 0)
    for trace in traces:
        frames = trace[2]
        site = frames[0] if frames else unknown
        sizes = get(site)
        if sizes is None:
            groups[site] = [trace[1]]
        else:
            sizes.append(trace[1])
    ranked = sorted(
        ((sum(sizes), len(sizes), site) for site, sizes in groups.items()),
        key=lambda item: -item[0],
    )[:limit]
    return [
        {"file": str(site[0]), "line": int(site[1]), "size_bytes": size, "count": count}
        for size, count, site in ranked
    ]


def tracemalloc_facts(ctx: Context, notes: List[str]) -> Optional[TracemallocData]:
    tm = _tracemalloc
    if tm is None or not tm.is_tracing():
        return None
    current, peak = tm.get_traced_memory()
    # (built as a dict: "top" goes last, as in the document)
    facts: Dict[str, Any] = {
        "current_bytes": current,
        "peak_bytes": peak,
        "overhead_bytes": tm.get_tracemalloc_memory(),
        "traceback_limit": tm.get_traceback_limit(),
    }
    try:
        traces = tm._get_traces()
    except (MemoryError, RuntimeError) as exc:
        notes.append(f"allocation sites not listed: {type(exc).__name__}: {exc}")
        facts["top"] = []
        return cast(TracemallocData, facts)
    facts["traced_blocks"] = len(traces)
    top = top_sites(traces)
    del traces  # one tuple per traced block: free them now
    for site in top:
        site["file"] = ctx.redactor.text(site["file"])
    facts["top"] = top
    return cast(TracemallocData, facts)


def collect(ctx: Context) -> MemoryData:
    notes: List[str] = []
    blocks = getattr(sys, "getallocatedblocks", None)
    return {
        "gc": gc_facts(ctx),
        "allocated_blocks": blocks() if callable(blocks) else None,
        "tracemalloc": tracemalloc_facts(ctx, notes),
        "notes": notes,
    }


SECTION = SectionSpec("memory", "Memory and GC", collect, redacted=True)

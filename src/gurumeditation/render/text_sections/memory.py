"""Memory and GC: the collector's state per generation, then tracemalloc's
largest allocation sites when it is tracing."""

from __future__ import annotations

from typing import Any, Dict, List

from ..text_layout import human_bytes

#: Collector facts shown only when not zero: (key, label).
_SHOWN_WHEN_SET = (
    ("frozen", "frozen objects"),
    ("callbacks", "gc callbacks"),
    ("debug_flags", "gc debug flags"),
)


def memory_lines(data: Dict[str, Any]) -> List[str]:
    gc_data = data.get("gc") or {}
    lines = [
        f"garbage collector: {'enabled' if gc_data.get('enabled') else 'DISABLED'}",
        "thresholds = " + ", ".join(str(t) for t in gc_data.get("thresholds", [])),
        "counts = " + ", ".join(str(c) for c in gc_data.get("counts", [])),
    ]
    tracked = gc_data.get("tracked") or []
    for gen, stats in enumerate(gc_data.get("generations", [])):
        line = (
            f"generation {gen}: {stats.get('collections')} collections, "
            f"{stats.get('collected')} collected, {stats.get('uncollectable')} uncollectable"
        )
        if gen < len(tracked) and tracked[gen] is not None:
            line += f", {tracked[gen]} objects tracked"
        lines.append(line)
    if gc_data.get("tracked_total") is not None:
        lines.append(f"objects tracked = {gc_data['tracked_total']}")
    lines.append(f"gc.garbage = {gc_data.get('garbage')}")
    for key, label in _SHOWN_WHEN_SET:
        if gc_data.get(key):
            lines.append(f"{label} = {gc_data[key]}")
    if data.get("allocated_blocks") is not None:
        lines.append(f"allocated blocks = {data['allocated_blocks']}")
    tm = data.get("tracemalloc")
    if tm:
        lines += [
            "",
            f"tracemalloc: {human_bytes(tm.get('current_bytes'))} traced now, "
            f"peak {human_bytes(tm.get('peak_bytes'))}, "
            f"{tm.get('traced_blocks')} blocks, own overhead "
            f"{human_bytes(tm.get('overhead_bytes'))}, "
            f"traceback limit {tm.get('traceback_limit')}",
        ]
        top = tm.get("top") or []
        if top:
            lines.append(f"top {len(top)} allocation sites:")
        for site in top:
            lines.append(
                f"  {site.get('file')}:{site.get('line')}: "
                f"{human_bytes(site.get('size_bytes'))} in {site.get('count')} blocks"
            )
    else:
        lines.append("tracemalloc: not tracing")
    lines += [f"note: {note}" for note in data.get("notes", [])]
    return lines + [""]

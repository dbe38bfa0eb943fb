"""Facts every renderer words the same way, from the document only: what a
task awaits and who awaits it, this process's resources (memory, CPU,
cgroup, limits), a unit's id.  The text renderer puts these lines in its
blocks, the HTML renderer in its paragraphs, ``diff`` in its labels."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .text_layout import human_bytes

#: How many awaited or awaiting tasks one line names before "and N more"
#: (a gather() of 10,000 tasks stays one readable line; the JSON keeps all).
MAX_LISTED = 20


def hex_id(value: Any) -> str:
    """A green thread's or task's id as the reports show it (``0x7f3a...``)."""
    return f"0x{value:x}" if isinstance(value, int) else str(value)


def listing(labels: List[str], limit: int = MAX_LISTED) -> str:
    text = ", ".join(labels[:limit])
    if len(labels) > limit:
        text += f" and {len(labels) - limit} more"
    return text


def awaited_label(item: Dict[str, Any]) -> str:
    """One thing a task waits on: ``task NAME (0xID)``, ``gather() of:``, or
    ``TYPE 0xID (STATE) created at FILE:LINE in FUNCTION``."""
    kind = item.get("kind")
    if kind == "task":
        return f"task {item.get('name')} ({hex_id(item.get('id', 0))})"
    if kind == "gather":
        return "gather() of:"
    text = f"{item.get('type', 'future')} {hex_id(item.get('id', 0))}"
    if item.get("state"):
        text += f" ({item['state']})"
    created = item.get("created_at")
    if isinstance(created, list) and created:
        place = created[-1]
        text += f" created at {place['file']}:{place['line']} in {place['function']}"
    elif created:  # a document of reportVersion 1
        text += f" created at {created}"
    return text


def awaits_text(awaits: List[Dict[str, Any]]) -> str:
    """``awaits: ...`` of a task ("" when it awaits nothing known)."""
    if not awaits:
        return ""
    text = "awaits: " + awaited_label(awaits[0])
    if len(awaits) > 1:
        text += " " + listing([awaited_label(a) for a in awaits[1:]])
    return text


def awaiter_label(who: Dict[str, Any]) -> str:
    return f"{who.get('name')} ({hex_id(who.get('id', 0))})"


def awaited_by_text(awaited_by: List[Dict[str, Any]]) -> str:
    """``awaited by: NAME (0xID), ...`` ("" when no task awaits it)."""
    if not awaited_by:
        return ""
    return "awaited by: " + listing([awaiter_label(w) for w in awaited_by])


def group_awaited_by(members: List[Dict[str, Any]], label_of: Any) -> List[str]:
    """The ``awaited by`` lines of a group of tasks with one stack: one line
    when every listed member is awaited by the same tasks, else one line for
    each set of awaiting tasks, naming the members it holds for."""
    sets: Dict[str, List[str]] = {}
    for member in members:
        text = awaited_by_text(member.get("awaited_by") or [])
        if text:
            sets.setdefault(text, []).append(str(label_of(member)))
    if not sets:
        return []
    if len(sets) == 1 and sum(len(v) for v in sets.values()) == len(members):
        return list(sets)
    return [f"{listing(names)} {text}" for text, names in sets.items()]


def _seconds(value: Optional[float]) -> str:
    return "?" if value is None else f"{value:.2f} s"


def _limit(value: Optional[int], name: str) -> str:
    if value is None:
        return "unlimited"
    if name in ("address_space", "data"):
        return human_bytes(value)
    return str(value)


def resources_lines(res: Dict[str, Any], pad: str = "") -> List[str]:
    """This process's resources: ``memory: ...``, ``cpu: ...``,
    ``cgroup ...``, ``limits: ...``, each line after ``pad``."""
    lines: List[str] = []
    if "rss_bytes" in res or "vms_bytes" in res:
        mem = f"{pad}memory: rss {human_bytes(res.get('rss_bytes'))}"
        if res.get("rss_peak_bytes") is not None:
            mem += f" (peak {human_bytes(res['rss_peak_bytes'])})"
        lines.append(mem + f", virtual {human_bytes(res.get('vms_bytes'))}")
    cpu = (
        f"{pad}cpu: user {_seconds(res.get('cpu_user_s'))}, "
        f"system {_seconds(res.get('cpu_system_s'))}"
    )
    if res.get("threads") is not None:
        cpu += f"; threads: {res['threads']}"
    if res.get("uptime_s") is not None:
        cpu += f"; up {_seconds(res['uptime_s'])}"
    if res.get("nice") is not None:
        cpu += f"; nice {res['nice']}"
    lines.append(cpu)
    cgroup = res.get("cgroup")
    if cgroup:
        limit = cgroup.get("memory_limit_bytes")
        lines.append(
            f"{pad}cgroup v{cgroup.get('version')} {cgroup.get('path')}: memory "
            f"{human_bytes(cgroup.get('memory_usage_bytes'))} used, "
            + ("no limit" if limit is None else f"limit {human_bytes(limit)}")
        )
    limits = res.get("limits") or {}
    if limits:
        parts = []
        for name, lim in limits.items():
            soft, hard = lim.get("soft"), lim.get("hard")
            text = f"{name.replace('_', ' ')} {_limit(soft, name)}"
            if hard != soft:
                text += f" (hard {_limit(hard, name)})"
            parts.append(text)
        lines.append(f"{pad}limits: " + ", ".join(parts))
    return lines

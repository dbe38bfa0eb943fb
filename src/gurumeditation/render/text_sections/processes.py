"""Processes: this process and its children, recursively, each ``Process PID
(under PPID) [ run by: USER (UID), state: STATE ]``, and this process's
resources (memory, cpu, cgroup, limits) under it."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ..common import error_text
from ..text_layout import human_bytes


def _seconds(value: Optional[float]) -> str:
    return "?" if value is None else f"{value:.2f} s"


def _limit(value: Optional[int], name: str) -> str:
    if value is None:
        return "unlimited"
    if name in ("address_space", "data"):
        return human_bytes(value)
    return str(value)


def resources_lines(res: Dict[str, Any], pad: str = "  ") -> List[str]:
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


def _process_lines(
    proc: Dict[str, Any], depth: int, resources: Optional[Dict[str, Any]] = None
) -> List[str]:
    pad = "    " * depth
    if "state" in proc:
        line = (
            f"{pad}Process {proc['pid']} (under {proc.get('ppid')}) "
            f"[ run by: {proc.get('user')} ({proc.get('uid')}), state: {proc.get('state')} ]"
        )
    else:
        line = f"{pad}Process {proc.get('pid')}"
    lines = [line]
    if proc.get("cmdline"):
        lines.append(f"{pad}  command: {' '.join(proc['cmdline'])}")
    if proc.get("error"):
        lines.append(f"{pad}  note: {error_text(proc['error'])}")
    if resources:
        lines += resources_lines(resources, pad + "  ")
    for child in proc.get("children", []):
        lines += _process_lines(child, depth + 1)
    return lines


def processes_lines(data: Dict[str, Any]) -> List[str]:
    lines = _process_lines(data.get("process", {}), 0, data.get("resources"))
    lines += [f"note: {note}" for note in data.get("notes", [])]
    return lines + [""]

"""Processes: this process and its children, recursively, each ``Process PID
(under PPID) [ run by: USER (UID), state: STATE ]``, and this process's
resources (memory, cpu, cgroup, limits) under it."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ..common import error_text
from ..facts import resources_lines


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

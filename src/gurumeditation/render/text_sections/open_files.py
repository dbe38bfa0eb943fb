"""Open Files: a count by kind, then one line per descriptor listed."""

from __future__ import annotations

from typing import Any, Dict, List


def fd_line(entry: Dict[str, Any]) -> str:
    head = f"fd {entry.get('fd', '?'):<5} {entry.get('kind', '?'):<11}"
    if entry.get("kind") == "socket" and "protocol" in entry:
        if entry.get("protocol") is None:
            return f"{head} {entry.get('target', '')} (protocol unknown)"
        where = entry.get("local") or ""
        if entry.get("peer"):
            where += f" → {entry['peer']}"
        return f"{head} {entry['protocol']} {entry.get('state') or '?'} {where}".rstrip()
    return f"{head} {entry.get('target', '')}"


def open_files_lines(data: Dict[str, Any]) -> List[str]:
    total = data.get("total", 0)
    kinds = ", ".join(f"{count} {kind}" for kind, count in (data.get("by_kind") or {}).items())
    lines = [f"{total} open file descriptors" + (f": {kinds}" if kinds else ""), ""]
    lines += [fd_line(entry) for entry in data.get("fds", [])]
    if data.get("more"):
        lines.append(f"... and {data['more']} more")
    lines += [f"note: {note}" for note in data.get("notes", [])]
    return lines + [""]

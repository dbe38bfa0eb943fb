"""Packages (installed distributions): ``name version (modules)`` lines, then
modules of no distribution and extension modules."""

from __future__ import annotations

from typing import Any, Dict, List


def packages_lines(data: Dict[str, Any]) -> List[str]:
    dists = data.get("distributions", [])
    lines = [f"{len(dists)} installed distributions provide loaded modules", ""]
    for dist in dists:
        mods = dist.get("modules") or []
        line = f"{dist.get('name')} {dist.get('version')}"
        if mods and mods != [str(dist.get("name", "")).lower()]:
            line += f" ({', '.join(mods)})"
        lines.append(line)
    unpackaged = data.get("unpackaged", [])
    if unpackaged:
        lines += ["", f"Loaded from no installed distribution ({len(unpackaged)}):"]
        lines += [f"  {u.get('module')}  {u.get('file') or ''}".rstrip() for u in unpackaged]
    extensions = data.get("extensions", [])
    if extensions:
        lines += ["", f"Extension modules ({len(extensions)}):"]
        lines += [f"  {e.get('module')}  {e.get('file')}" for e in extensions]
    lines += [f"note: {note}" for note in data.get("notes", [])]
    return lines + [""]

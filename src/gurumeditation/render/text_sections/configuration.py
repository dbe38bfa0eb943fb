"""Configuration: one ``group:`` block per group, ``option = value`` lines under it."""

from __future__ import annotations

from typing import Any, Dict, List

from ..common import error_text
from ..text_layout import kv_lines


def configuration_lines(data: Dict[str, Any]) -> List[str]:
    lines: List[str] = []
    for group in data.get("groups", []):
        options: Dict[str, Any] = {}
        for opt in group.get("options", []):
            if "error" in opt:
                options[opt["name"]] = f"<unreadable: {error_text(opt['error'])}>"
            else:
                options[opt["name"]] = opt.get("value")
        lines += kv_lines(group.get("name", "default"), options, 0)
        if group.get("error"):
            lines.append(f"  <group unreadable: {error_text(group['error'])}>")
    return lines

"""Environment: ``NAME = value``, one variable a line."""

from __future__ import annotations

from typing import Any, Dict, List

from ..text_layout import scalar


def environment_lines(data: Dict[str, Any]) -> List[str]:
    """``NAME = value``, one variable a line; later lines of a multi-line
    value indented under it."""
    lines: List[str] = []
    for var in data.get("variables", []):
        text = scalar(var.get("value")).split("\n")
        lines.append(f"{var.get('name')} = {text[0]}")
        lines += [f"    {line}" for line in text[1:]]
    return lines + [""]

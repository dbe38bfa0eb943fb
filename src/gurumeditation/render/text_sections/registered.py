"""A registered section: its text as it is, or its data as nested ``key = value`` lines."""

from __future__ import annotations

from typing import Any, Dict, List

from ..text_layout import mapping_lines


def registered_lines(data: Dict[str, Any]) -> List[str]:
    if data.get("kind") == "text":
        text = data.get("text", "")
        return text.split("\n") if text else []
    return mapping_lines(data.get("value"))

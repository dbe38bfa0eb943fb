"""Package (the service's version): ``product``, ``vendor``, ``version`` lines."""

from __future__ import annotations

from typing import Any, Dict, List

from ..text_layout import scalar


def package_lines(data: Dict[str, Any]) -> List[str]:
    return [f"{key} = {scalar(data.get(key))}" for key in ("product", "vendor", "version")]

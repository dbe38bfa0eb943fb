"""The report document as JSON: the model every other renderer is a function of."""

from __future__ import annotations

import json
from typing import Any, cast

from ..model import Report


def render(report: Report) -> str:
    return json.dumps(report, indent=1, ensure_ascii=False, default=str)


def load(text: str) -> Report:
    """A report document read back from its JSON."""
    doc: Any = json.loads(text)
    if not isinstance(doc, dict) or "sections" not in doc or "header" not in doc:
        raise ValueError("not a gurumeditation report: expected an object with header and sections")
    return cast(Report, doc)

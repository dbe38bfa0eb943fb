"""Renderers: functions of the report document, never of the live process."""

from __future__ import annotations

from typing import Callable, Dict

from ..model import Report
from ..options import FORMATS
from . import html, json, text

Renderer = Callable[[Report], str]

#: Renderer by format name.
RENDERERS: Dict[str, Renderer] = {
    "text": text.render,
    "json": json.render,
    "html": html.render,
}

#: File-name suffix by format (text keeps the classic extension-less name);
#: defined with the options.
SUFFIXES: Dict[str, str] = FORMATS


def render(report: Report, fmt: str = "text") -> str:
    try:
        renderer = RENDERERS[fmt]
    except KeyError:
        raise ValueError(
            f"unknown report format {fmt!r}; choose from {sorted(RENDERERS)}"
        ) from None
    return renderer(report)

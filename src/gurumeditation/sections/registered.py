"""Sections a service registers with ``register_section(title, generator)``.

A generator may return a ``str`` (shown as it is), an object with
oslo.reports' view protocol (``set_current_view_type``: an oslo.reports
model, mapping or not — shown by its own text view, ``str()`` after
``set_current_view_type('text')``, exactly as oslo.reports shows it), a
mapping or sequence (shown as nested ``key = value`` lines in the order
given), or any other object (shown with ``str()``).  Everything passes
through the redactor.

Data: :class:`~gurumeditation.model.RegisteredData`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, List, Sequence, Tuple

from ..model import RegisteredData, safe_str, to_plain
from ..report import Context, SectionSpec


def section_id(title: str) -> str:
    return "registered:" + title


def normalize(result: Any, ctx: Context) -> RegisteredData:
    if isinstance(result, str):
        return {"kind": "text", "text": ctx.redactor.text(result)}
    if result is None:
        return {"kind": "text", "text": ""}
    set_view = getattr(result, "set_current_view_type", None)
    if callable(set_view):  # brings its own view: shown as that view shows it
        set_view("text")
        return {"kind": "text", "text": ctx.redactor.text(safe_str(result))}
    if isinstance(result, (Mapping, list, tuple)):
        return {"kind": "data", "value": ctx.redactor.data(to_plain(result))}
    return {"kind": "text", "text": ctx.redactor.text(safe_str(result))}


def spec_for(title: str, generator: Callable[[], Any]) -> SectionSpec:
    def collect(ctx: Context) -> RegisteredData:
        return normalize(generator(), ctx)

    return SectionSpec(section_id(title), title, collect, redacted=True, timed=True)


def specs(registered: Sequence[Tuple[str, Callable[[], Any]]]) -> List[SectionSpec]:
    return [spec_for(safe_str(title), gen) for title, gen in registered]

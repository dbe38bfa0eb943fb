"""The golden report: a document saved from a real service renders to the
saved text and HTML, to the byte.  A change that alters either is a change of
the output (regenerate with ``tests/golden/regenerate.py --render-only`` when
it is meant, and say so in the commit)."""

from __future__ import annotations

from pathlib import Path

from gurumeditation.render import html, text
from gurumeditation.render.json import load, render

GOLDEN = Path(__file__).parent / "golden"


def golden_document():  # type: ignore[no-untyped-def]
    return load((GOLDEN / "report.json").read_text())


def test_saved_document_renders_the_saved_text() -> None:
    """The classic text of the saved document is the saved text."""
    assert text.render(golden_document()) + "\n" == (GOLDEN / "report.txt").read_text()


def test_saved_document_renders_the_saved_html() -> None:
    """The HTML page of the saved document is the saved page."""
    assert html.render(golden_document()) == (GOLDEN / "report.html.expected").read_text()


def test_saved_document_round_trips_through_json() -> None:
    """Writing the loaded document as JSON gives the saved file back."""
    assert render(golden_document()) + "\n" == (GOLDEN / "report.json").read_text()


def test_golden_document_covers_every_stack_section() -> None:
    """The golden service shows threads, green threads, tasks and its own section."""
    ids = [section["id"] for section in golden_document()["sections"]]
    for wanted in ("threads", "green_threads", "asyncio_tasks", "configuration"):
        assert wanted in ids
    assert "registered:Golden Stats" in ids


def test_golden_document_is_valid_for_the_schema() -> None:
    """The saved document matches the schema shipped in the package."""
    from gurumeditation import schema

    assert schema.errors(golden_document()) == []

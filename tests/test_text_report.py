"""In-process tests of ``TextGuruMeditation.run()``: the classic layout, the
sections and their order, registered sections, version objects."""

from __future__ import annotations

import re
import sys
import threading
from typing import Any, Iterator, List

import pytest

from conftest import without_about
from gurumeditation import TextGuruMeditation
from gurumeditation import guru_meditation_report as gmr
from gurumeditation.render import json as json_renderer
from gurumeditation.render import text as text_renderer
from gurumeditation.stacks import PACKAGE_DIR

TOP = [
    "========================================================================",
    "====                        Guru Meditation                         ====",
    "========================================================================",
    "||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||",
]


class Version:
    def vendor_string(self) -> str:
        return "Cheese Shoppe"

    def product_string(self) -> str:
        return "Sharp Cheddar"

    def version_string_with_package(self) -> str:
        return "1.0.0"


@pytest.fixture(autouse=True)
def no_registered_sections() -> Iterator[None]:
    saved = list(gmr.GuruMeditation.persistent_sections)
    gmr.GuruMeditation.persistent_sections.clear()
    yield
    gmr.GuruMeditation.persistent_sections[:] = saved


def section_titles(text: str) -> List[str]:
    lines = text.split("\n")
    titles = []
    for i, line in enumerate(lines[:-2]):
        if line == "=" * 72 and lines[i + 2] == "=" * 72 and lines[i + 1].startswith("===="):
            titles.append(lines[i + 1][4:-4].strip())
    return titles


def test_banner_lines_and_package_section_are_exact() -> None:
    text = TextGuruMeditation(Version()).run()
    lines = text.split("\n")
    assert lines[:4] == TOP
    start = lines.index("====                            Package                             ====")
    assert lines[start - 1] == "=" * 72 and lines[start + 1] == "=" * 72
    assert lines[start + 2 : start + 5] == [
        "product = Sharp Cheddar",
        "vendor = Cheese Shoppe",
        "version = 1.0.0",
    ]
    # two blank lines between the top banner block and the first section
    assert lines[start - 3 : start - 1] == ["", ""]
    assert all(
        len(line) == 72 for line in lines if line.startswith("====") or line.startswith("------")
    )


def test_section_order_with_config_and_registered_sections() -> None:
    TextGuruMeditation.register_section("Zeta", lambda: "last registered")
    TextGuruMeditation.register_section("Alpha", lambda: {"k": "v"})
    text = TextGuruMeditation("1.0", conf={"workers": 4}).run()
    titles = section_titles(text)
    classic = [
        t
        for t in titles
        if t in ("Package", "Threads", "Green Threads", "Processes", "Configuration")
    ]
    expected = ["Package", "Threads", "Processes", "Configuration"]
    if "greenlet" in sys.modules:
        expected.insert(2, "Green Threads")
    assert classic == expected
    # registered sections come last, in registration order; then the report's own facts
    assert titles[-3:] == ["Zeta", "Alpha", "About This Report"]
    assert titles[0] == "Guru Meditation"


def test_threads_section_shows_every_thread_and_the_callers_frame() -> None:
    ready = threading.Event()
    stop = threading.Event()

    def parked_here() -> None:
        ready.set()
        stop.wait(30)

    t = threading.Thread(target=parked_here, name="parked-thread", daemon=True)
    t.start()
    ready.wait(5)
    try:
        text = TextGuruMeditation("1", group=False).run()
    finally:
        stop.set()
        t.join(5)
    banner = "------" + f"Thread #{t.ident}".center(60) + "------"
    assert banner in text
    block = text.split(banner, 1)[1]
    assert "name: parked-thread" in block.split("------")[0]
    assert " in parked_here\n    `stop.wait(30)`" in block
    # the calling thread shows this test, never the report's own frames
    assert "in test_threads_section_shows_every_thread_and_the_callers_frame" in text
    threads_part = text.split("Threads")[1].split("Processes")[0]
    assert PACKAGE_DIR not in threads_part


@pytest.mark.parametrize(
    ("generator", "expected"),
    [
        (lambda: "plain text\nsecond line", ["plain text", "second line"]),
        (
            lambda: {"zeta": 1, "alpha": [3, 1, 2], "nested": {"b": None, "a": True}},
            [
                "zeta = 1",
                "alpha = ",
                "  3",
                "  1",
                "  2",
                "",
                "nested: ",
                "  b = None",
                "  a = True",
            ],
        ),
        (lambda: ["one", "two"], ["one", "two"]),
        (lambda: 42, ["42"]),
    ],
)
def test_registered_section_shapes(generator: Any, expected: List[str]) -> None:
    TextGuruMeditation.register_section("Special", generator)
    text = without_about(TextGuruMeditation("1").run())
    body = text.split("====                            Special                             ====\n")[
        1
    ]
    assert body.split("\n")[1:] == expected


def test_registered_object_gets_text_view_first() -> None:
    class Model:
        def __init__(self) -> None:
            self.view = "json"

        def set_current_view_type(self, view: str) -> None:
            self.view = view

        def __str__(self) -> str:
            return f"rendered as {self.view}"

    TextGuruMeditation.register_section("Model", Model)
    text = without_about(TextGuruMeditation("1").run())
    assert text.endswith("=" * 72 + "\nrendered as text")


def test_raising_generator_shows_its_error_and_the_rest_goes_on() -> None:
    def broken() -> Any:
        raise ValueError("the plugin registry is on fire")

    TextGuruMeditation.register_section("Broken", broken)
    TextGuruMeditation.register_section("After", lambda: "still here")
    text = without_about(TextGuruMeditation("1").run())
    # (the Diagnosis, earlier in the text, names the section that failed too)
    broken_body = text.split("====" + "Broken".center(64) + "====")[1].split("After")[0]
    assert "ValueError: the plugin registry is on fire" in broken_body
    assert "Traceback (most recent call last):" in broken_body
    assert "in broken" in broken_body
    assert text.endswith("still here")


def test_unprintable_object_does_not_cost_the_report() -> None:
    class Hostile:
        def __str__(self) -> str:
            raise RuntimeError("no str for you")

        __repr__ = __str__

    TextGuruMeditation.register_section("Hostile", lambda: {"obj": Hostile(), "ok": 1})
    text = without_about(TextGuruMeditation("1").run())
    assert "obj = <unprintable Hostile object: RuntimeError: no str for you>" in text
    assert text.endswith("ok = 1")


class OnlyVendor:
    def vendor_string(self) -> str:
        return "ACME"


class Raising:
    def vendor_string(self) -> str:
        raise RuntimeError("vendor lookup failed")

    def product_string(self) -> str:
        return "Widget"

    def version_string_with_package(self) -> str:
        return "2.0"


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("3.1.4", ["product = test_text_report", "vendor = None", "version = 3.1.4"]),
        (OnlyVendor(), ["product = None", "vendor = ACME", "version = None"]),
        (
            Raising(),
            [
                "product = Widget",
                "vendor = <vendor_string() failed: RuntimeError: vendor lookup failed>",
                "version = 2.0",
            ],
        ),
        (object(), ["product = None", "vendor = None", "version = None"]),
    ],
)
def test_version_objects(version: Any, expected: List[str]) -> None:
    text = TextGuruMeditation(version, service_name="test_text_report").run()
    body = text.split("====                            Package                             ====\n")[
        1
    ]
    assert body.split("\n")[1:4] == expected


def test_text_from_saved_json_is_the_same_text() -> None:
    TextGuruMeditation.register_section("Data", lambda: {"a": [1, {"b": None}], "c": 1.5})
    meditation = TextGuruMeditation(Version(), conf={"db": {"url": "x"}, "n": 1})
    document = meditation.report()
    again = json_renderer.load(json_renderer.render(document))
    assert text_renderer.render(again) == text_renderer.render(document)


def test_classic_prefix_exactly_as_oslo_reports_writes_it() -> None:
    """Nothing between the ``||||`` bar and the two blank lines, then Package."""
    lines = TextGuruMeditation("1", service_name="svc").run().split("\n")
    assert lines[:9] == [
        "=" * 72,
        "====                        Guru Meditation                         ====",
        "=" * 72,
        "|" * 72,
        "",
        "",
        "=" * 72,
        "====                            Package                             ====",
        "=" * 72,
    ]
    assert lines[9] == "product = svc"  # a version string names no product: the service


def test_header_says_who_produced_it() -> None:
    """The header facts close the text report, in a section of their own."""
    text = TextGuruMeditation("1", service_name="svc").run()
    about = text.split("====                       About This Report                        ====\n")
    assert len(about) == 2 and about[0].endswith("=" * 72 + "\n")
    header = about[1].split("\n")[1:]
    assert re.match(r"Report of svc \(pid \d+\) at \d{4}-\d\d-\d\dT", header[0])
    assert "Trigger: api TextGuruMeditation.run(); written by thread MainThread" in header[1]

"""The report as data: every rendered report matches the published schema,
text and HTML rendered from the saved JSON equal what the process wrote, and
``formats`` writes one file per form under one name."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from conftest import wait_for_reports
from gurumeditation import schema
from gurumeditation.render import html as render_html
from gurumeditation.render import render
from helpers import script, section

HOSTILE = "</script><script>alert(1)</script><img src=x onerror=alert(2)>&amp;\u2028\u2029"

THREADS_SERVICE = script("named_threads")

EVENTLET_SERVICE = script("eventlet_workers")

ASYNCIO_SERVICE = script("asyncio_workers")

OSLO_SERVICE = script("oslo_config_formats")


def by_suffix(files: List[Path]) -> Dict[str, Path]:
    found: Dict[str, Path] = {}
    for path in files:
        suffix = path.suffix if path.suffix in (".json", ".html") else ""
        assert suffix not in found, f"two {suffix or 'text'} reports: {files}"
        found[suffix] = path
    return found


def assert_valid(report: object) -> None:
    problems = schema.errors(report)
    assert problems == [], "\n".join(problems)


def check_forms(files: List[Path], expected: set) -> dict:  # type: ignore[type-arg]
    """Same base name for every form; the JSON is valid; text and HTML
    rendered from it equal the files the process wrote."""
    forms = by_suffix(files)
    assert set(forms) == expected
    bases = {p.name[: -len(s)] if s else p.name for s, p in forms.items()}
    assert len(bases) == 1, bases
    report = json.loads(forms[".json"].read_text())
    assert_valid(report)
    if "" in forms:
        assert (
            render(report, "text") + "\n" == forms[""].read_text()
            or render(report, "text") == forms[""].read_text()
        )
    if ".html" in forms:
        assert render(report, "html") == forms[".html"].read_text()
    return report  # type: ignore[no-any-return]


def test_threads_service_all_three_forms(service, tmp_path: Path) -> None:
    log_dir = tmp_path / "reports"
    svc = service(THREADS_SERVICE, args=[str(log_dir)])
    svc.signal()
    files = wait_for_reports(log_dir, 3)
    report = check_forms(files, {"", ".json", ".html"})
    header = report["header"]
    assert header["pid"] == svc.pid
    assert header["service"] == "threads-svc"
    assert header["trigger"] == {"kind": "signal", "detail": "SIGUSR2"}
    threads = section(report, "threads")["data"]
    pool = [e for e in threads["entries"] if e["count"] == 3]
    assert len(pool) == 1 and {m["name"] for m in pool[0]["members"]} == {
        "pool-0",
        "pool-1",
        "pool-2",
    }
    assert section(report, "registered:Broken")["error"]["type"] == "ZeroDivisionError"
    assert section(report, "registered:Hostile")["data"]["value"]["name"] == HOSTILE
    page = (log_dir / (files[0].name.split(".")[0] + ".html")).read_text()
    # the hostile string never appears raw: not in markup, not in the embedded JSON
    assert "<img src=x" not in page
    assert page.count("</script>") == 2
    assert "\u2028" not in page and "\u2029" not in page
    assert svc.alive()


def test_eventlet_service_json_and_text(service, tmp_path: Path) -> None:
    pytest.importorskip("eventlet")
    log_dir = tmp_path / "reports"
    svc = service(EVENTLET_SERVICE, args=[str(log_dir)])
    svc.signal()
    report = check_forms(wait_for_reports(log_dir, 2), {"", ".json"})
    green = section(report, "green_threads")["data"]
    workers = [
        e for e in green["entries"] if any(f["function"] == "green_worker" for f in e["stack"])
    ]
    assert sum(e["count"] for e in workers) == 4


def test_asyncio_service(service, tmp_path: Path) -> None:
    log_dir = tmp_path / "reports"
    svc = service(ASYNCIO_SERVICE, args=[str(log_dir)])
    svc.signal()
    report = check_forms(wait_for_reports(log_dir, 3), {"", ".json", ".html"})
    assert report["header"]["service"] == "aio-svc"
    tasks = section(report, "asyncio_tasks")["data"]
    sleepers = [m["name"] for e in tasks["entries"] for m in e["members"]]
    assert {"sleeper-0", "sleeper-1", "sleeper-2"} <= set(sleepers)
    assert section(report, "threads")["data"]["total"] >= 1


def test_oslo_config_formats_option(service, tmp_path: Path) -> None:
    pytest.importorskip("oslo_config")
    log_dir = tmp_path / "oslo-reports"
    conf_file = tmp_path / "svc.conf"
    conf_file.write_text(f"[oslo_reports]\nlog_dir = {log_dir}\nformats = json,html\n")
    svc = service(OSLO_SERVICE, args=[str(conf_file)])
    svc.signal()
    report = check_forms(wait_for_reports(log_dir, 2), {".json", ".html"})
    conf = section(report, "configuration")["data"]
    assert conf["source"] == "oslo.config"
    text = json.dumps(report)
    assert "hunter2" not in text and ":pw@" not in text
    assert report["header"]["redactedCount"] >= 2


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    code = (
        "from gurumeditation import TextGuruMeditation as T\n"
        "T.setup_autorun('1', formats=('text', 'pdf'), setup_signal=False)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "unknown report format 'pdf'" in proc.stderr


def test_schema_is_strict_for_known_sections_and_open_for_others() -> None:
    from gurumeditation import TextGuruMeditation

    report = TextGuruMeditation("1.0").report()
    assert_valid(report)
    future = json.loads(json.dumps(report))
    future["sections"].append(
        {"id": "quantum_flux", "title": "Quantum Flux", "data": [1, {"a": None}]}
    )
    assert_valid(future)
    broken = json.loads(json.dumps(report))
    threads = next(s for s in broken["sections"] if s["id"] == "threads")
    del threads["data"]["entries"][0]["stack"]
    assert any("stack" in p for p in schema.errors(broken))
    broken = json.loads(json.dumps(report))
    next(s for s in broken["sections"] if s["id"] == "package")["data"]["version"] = 3
    assert schema.errors(broken)
    neither = {"id": "x", "title": "X"}
    assert schema.errors({**report, "sections": [neither]})


def test_schema_ships_in_package() -> None:
    loaded = schema.load()
    assert loaded["$schema"].endswith("2020-12/schema")
    assert "section" in loaded["$defs"]


def test_script_json_cannot_break_out() -> None:
    value = {"k": HOSTILE}
    text = render_html.script_json(value)
    for raw in ("<", ">", "&", "\u2028", "\u2029"):
        assert raw not in text
    assert json.loads(text) == value


def test_show_renders_saved_report(tmp_path: Path, no_registered_sections: None) -> None:
    from gurumeditation import TextGuruMeditation

    TextGuruMeditation.register_section("Extra", lambda: {"a": HOSTILE})
    report = TextGuruMeditation("1.0").report()
    saved = tmp_path / "r.json"
    saved.write_text(render(report, "json"))
    for fmt in ("text", "html", "json"):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "gurumeditation",
                "show",
                str(saved),
                "--format",
                fmt,
                "--validate",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.rstrip("\n") == render(report, fmt).rstrip("\n")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    out = subprocess.run(
        [sys.executable, "-m", "gurumeditation", "show", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1 and "not JSON" in out.stderr


def test_show_validate_without_jsonschema_names_the_extra(tmp_path: Path) -> None:
    from gurumeditation import TextGuruMeditation

    saved = tmp_path / "r.json"
    saved.write_text(render(TextGuruMeditation("1.0").report(), "json"))
    # jsonschema is installed here: make its import fail as where it is not
    code = (
        "import sys; sys.modules['jsonschema'] = None; from gurumeditation.cli import main; "
        "sys.exit(main(sys.argv[1:]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, "show", str(saved), "--validate"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert "gurumeditation[validate]" in out.stderr
    assert out.stdout == ""  # nothing rendered unchecked

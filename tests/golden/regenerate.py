"""Make the golden report again: ``.venv/bin/python tests/golden/regenerate.py``.

Starts ``tests/services/golden_service.py`` (threads, eventlet greenthreads,
asyncio tasks, oslo.config options, a registered section), asks it for a JSON
report with SIGUSR2, scrubs what names this machine (paths, host, pid, times,
environment) and writes ``report.json`` and the text and HTML it renders
(``report.txt``, ``report.html.expected``: not ``.html``, so that tools
listing repeated source do not read the page) beside this script.  ``test_golden.py``
re-renders ``report.json`` and compares with the other two to the byte.

``--render-only`` keeps ``report.json`` and renders the other two from it
(after a deliberate change of the renderers or of the document).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SERVICE = ROOT / "tests" / "services" / "golden_service.py"

sys.path.insert(0, str(ROOT / "src"))

from gurumeditation.render import html, text  # noqa: E402
from gurumeditation.render.json import load  # noqa: E402
from gurumeditation.render.json import render as render_json  # noqa: E402

#: Environment variables kept in the golden Environment section.
KEPT_ENV = ("GOLDEN_MODE", "GOLDEN_TOKEN")


def take_report() -> Dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="golden-") as log_dir:
        env = dict(os.environ, PYTHONWARNINGS="ignore", GOLDEN_MODE="golden")
        env["GOLDEN_TOKEN"] = "ghp_" + "A" * 36  # shows the masking
        proc = subprocess.Popen(
            [sys.executable, str(SERVICE), log_dir],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line.startswith("READY"):
                raise SystemExit(f"the golden service did not start: {line!r}")
            os.kill(proc.pid, signal.SIGUSR2)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                found = [p for p in Path(log_dir).iterdir() if p.name.endswith(".json")]
                if found and not found[0].name.startswith("."):
                    time.sleep(0.2)
                    doc: Dict[str, Any] = json.loads(found[0].read_text())
                    return scrub(doc, log_dir, proc.pid)
                time.sleep(0.05)
            raise SystemExit("no report within 30 s")
        finally:
            proc.terminate()
            proc.wait(10)


def replacements(log_dir: str) -> List[Any]:
    pairs = [
        (str(ROOT), "/src/gurumeditation"),
        (sysconfig.get_paths()["purelib"], "/venv/site-packages"),
        (sys.prefix, "/venv"),
        (sysconfig.get_paths()["stdlib"], "/python/lib"),
        (sys.base_prefix, "/python"),
        (os.path.realpath(log_dir), "/log"),
        (log_dir, "/log"),
        (tempfile.gettempdir(), "/tmp"),
        (os.uname().nodename, "golden-host"),
    ]
    return sorted(pairs, key=lambda p: -len(p[0]))


def scrub(doc: Dict[str, Any], log_dir: str, pid: int) -> Dict[str, Any]:
    pairs = replacements(log_dir)

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            for old, new in pairs:
                value = value.replace(old, new)
            return value.replace(str(pid), "4242")
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    doc = walk(doc)
    header = doc["header"]
    header.update(
        timestamp="2026-01-02T03:04:05.000006Z", pid=4242, ppid=4241, hostname="golden-host"
    )
    header["durationMs"] = 12.5
    for section in doc["sections"]:
        data = section.get("data")
        if section["id"] == "environment":
            data["variables"] = [v for v in data["variables"] if v["name"] in KEPT_ENV]
        if section["id"] == "processes":
            data["process"]["pid"] = 4242
            data["process"]["ppid"] = 4241
    return doc


def write_rendered(doc: Any) -> None:
    (HERE / "report.txt").write_text(text.render(doc) + "\n")
    (HERE / "report.html.expected").write_text(html.render(doc))


def main() -> int:
    if "--render-only" in sys.argv[1:]:
        doc = load((HERE / "report.json").read_text())
    else:
        doc = load(render_json(take_report()))  # type: ignore[arg-type]
        (HERE / "report.json").write_text(render_json(doc) + "\n")
    write_rendered(doc)
    print(f"wrote {HERE}/report.json, report.txt, report.html.expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Helpers for the concurrency tests: start a service armed for JSON + text
reports in a log directory, signal it, read the reports back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from conftest import wait_for_reports

#: Prepended to every service script: arms JSON + text reports in argv[1].
ARM = """
import sys
from gurumeditation import TextGuruMeditation
GROUP = len(sys.argv) < 3 or sys.argv[2] != 'nogroup'
TextGuruMeditation.setup_autorun(
    '1.0', service_name='svc', log_dir=sys.argv[1], formats=('json', 'text'), group=GROUP
)
"""


def signal_and_read(svc: Any, log_dir: Path, count: int = 1) -> Tuple[Dict[str, Any], str]:
    """Signal ``svc``, wait for the ``count``-th report, return (JSON, text)."""
    svc.signal()
    files = wait_for_reports(log_dir, 2 * count, timeout=60)
    json_files = [p for p in files if p.name.endswith(".json")]
    text_files = [p for p in files if not p.name.endswith(".json")]
    doc = json.loads(json_files[-1].read_text())
    return doc, text_files[-1].read_text()


def section(doc: Dict[str, Any], sid: str) -> Optional[Dict[str, Any]]:
    for sec in doc["sections"]:
        if sec["id"] == sid:
            assert "error" not in sec, sec.get("error")
            return sec["data"]  # type: ignore[no-any-return]
    return None


def members(data: Dict[str, Any]) -> List[Tuple[Dict[str, Any], Dict[str, Any]]]:
    """(member facts, entry) for every listed member."""
    return [(m, e) for e in data["entries"] for m in e["members"]]


def innermost(entry: Dict[str, Any]) -> str:
    frame = entry["stack"][-1]
    return f"{frame['function']}:{frame['code']}"


def functions(entry: Dict[str, Any]) -> List[str]:
    return [f["function"] for f in entry["stack"]]

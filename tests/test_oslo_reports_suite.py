"""oslo.reports' own tests of its Guru Meditation Report pass against this
library with only their two import lines changed (the "switch by changing one
import" promise, issue 13).

The test file is taken from the oslo.reports 3.9.0 source distribution,
fetched from the package index at test time (cached under
``~/.cache/gurumeditation-tests``; nothing of oslo's code is in this
repository), and run with pytest in a subprocess; oslotest, fixtures,
oslo.utils and oslo.reports' own models (the test imports
``oslo_reports.models``) come from the test environment.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REQUIREMENT = "oslo.reports==3.9.0"

#: oslo.reports 3.9.0 (the version these tests run) needs Python >= 3.11; the
#: test extra installs it there only.
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("oslo_reports") is None,
    reason="oslo.reports is not installed (3.9.0 needs Python >= 3.11)",
)

MEMBER = "oslo_reports/tests/test_guru_meditation_report.py"
#: The only lines changed: oslo.reports' facade and options become ours.
IMPORTS = {
    "from oslo_reports import guru_meditation_report as gmr": (
        "from gurumeditation import guru_meditation_report as gmr"
    ),
    "from oslo_reports import opts": "from gurumeditation import opts",
}
EXPECTED = {
    "test_basic_report",
    "test_reg_persistent_section",
    "test_register_autorun",
    "test_register_autorun_without_signals",
    "test_setup_file_watcher",
    "test_register_autorun_log_dir",
    "test_fail_prints_traceback",
}


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base) / "gurumeditation-tests"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sdist() -> Path:
    """The oslo.reports 3.9.0 sdist, downloaded once."""
    cache = cache_dir()
    found = sorted(cache.glob("oslo[._]reports-3.9.0.tar.gz"))
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
             REQUIREMENT, "-d", str(cache)],
            check=True, timeout=300, capture_output=True,
        )  # fmt: skip
        found = sorted(cache.glob("oslo[._]reports-3.9.0.tar.gz"))
    assert found, f"pip download {REQUIREMENT} left no sdist in {cache}"
    return found[0]


def extract_test_file(archive: Path, into: Path) -> Path:
    """Only the test file, with its two import lines rewritten."""
    with tarfile.open(archive) as tar:
        (member,) = [m for m in tar.getmembers() if m.name.endswith("/" + MEMBER)]
        handle = tar.extractfile(member)
        assert handle is not None
        source = handle.read().decode("utf-8")
    lines = source.split("\n")
    for old, new in IMPORTS.items():
        assert lines.count(old) == 1, f"{old!r} not found once in {MEMBER}"
        lines[lines.index(old)] = new
    target = into / "test_guru_meditation_report.py"
    target.write_text("\n".join(lines))
    return target


def test_oslo_reports_own_guru_meditation_tests_pass(tmp_path: Path) -> None:
    test_file = extract_test_file(sdist(), tmp_path)
    junit = tmp_path / "junit.xml"
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GURUMEDITATION")}
    env["XDG_RUNTIME_DIR"] = str(runtime)
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
         "--rootdir", str(tmp_path), "-c", os.devnull, f"--junitxml={junit}", str(test_file)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    cases = ET.parse(junit).getroot().iter("testcase")
    outcome = {}
    for case in cases:
        failed = [c.tag for c in case if c.tag in ("failure", "error", "skipped")]
        outcome[case.get("name")] = failed[0] if failed else "passed"
    assert set(outcome) == EXPECTED, out.stdout + out.stderr
    assert all(v == "passed" for v in outcome.values()), (outcome, out.stdout[-6000:])
    assert out.returncode == 0, out.stdout + out.stderr

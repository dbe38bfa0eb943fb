"""Fixtures: real services in real subprocesses, and a clean slate of
registered sections.  The helpers themselves are in ``helpers.py`` (imported
here too, for the tests that take them from ``conftest``)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import textwrap
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Union

import pytest

from helpers import BANNER, REPORT_MARKER, Service, report_files, wait_for_reports

__all__ = ["BANNER", "REPORT_MARKER", "Service", "report_files", "wait_for_reports"]

# Services started by the tests register themselves for the `gurumeditation`
# command; give the whole run its own runtime directory so that the entries of
# services killed by a test never pile up in this user's real one.
_RUNTIME_DIR = tempfile.mkdtemp(prefix="gurumeditation-tests-")
os.environ["XDG_RUNTIME_DIR"] = _RUNTIME_DIR
atexit.register(shutil.rmtree, _RUNTIME_DIR, True)


@pytest.fixture
def service(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    """``service(script, env=..., args=...)`` starts a service and stops it
    after the test: ``script`` is a file (``helpers.script("name")``: a real
    file under ``tests/services/``, run where it is) or a string of code
    (dedented and written to ``tmp_path``).  Either runs with ``tmp_path`` as
    its working directory."""
    started: List[Service] = []

    def start(
        code: Union[str, Path],
        env: Optional[Dict[str, str]] = None,
        args: Optional[List[str]] = None,
        ready: bool = True,
        name: Optional[str] = None,
    ) -> Service:
        """``name`` names the stderr file (and the script written from a string)."""
        if isinstance(code, Path):
            path = code
        else:
            path = tmp_path / f"{name or 'svc'}.py"
            path.write_text(textwrap.dedent(code))
        svc = Service(path, tmp_path, env=env, args=args, ready=ready, name=name)
        started.append(svc)
        return svc

    yield start
    for svc in started:
        svc.stop()


@pytest.fixture
def no_registered_sections() -> Iterator[None]:
    """No section registered with ``register_section`` while the test runs
    (and those registered before it back afterwards), whatever the test
    registers."""
    from gurumeditation import guru_meditation_report as gmr

    saved = list(gmr.GuruMeditation.persistent_sections)
    gmr.GuruMeditation.persistent_sections.clear()
    try:
        yield
    finally:
        gmr.GuruMeditation.persistent_sections[:] = saved


def without_about(text: str) -> str:
    """A text report without its closing About This Report section (the
    header facts), so a test can look at what the last section ends with."""
    about = "\n" + "=" * 72 + "\n====" + "About This Report".center(64) + "===="
    assert text.count(about) == 1, "no About This Report section"
    return text.split(about)[0]

"""Environment: the process environment (``os.environ``), sorted by name.

Every value goes through the redactor: variables whose name names a secret
(``DB_PASSWORD``, ``AWS_SECRET_ACCESS_KEY``, ``GITHUB_TOKEN``) are masked,
other values are searched for credentials (``DATABASE_URL`` keeps its host
and loses its password).  One exception to the key rule: ``PWD`` holding the
path of an existing directory is the shell's working directory, not a
password, and is shown.  Left out when the report is asked for with
``include_env=False``.

Data: :class:`~gurumeditation.model.EnvironmentData`.
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional

from ..model import EnvironmentData, EnvironmentVariable
from ..redact import Redactor
from ..report import Context, SectionSpec


def _printable(text: str) -> str:
    """Undecodable bytes (kept by Python as lone surrogates) shown as U+FFFD,
    so every renderer and sink can encode the value."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def snapshot() -> Dict[str, str]:
    """A copy of ``os.environ``; another thread may change it meanwhile."""
    for _ in range(5):
        try:
            return dict(os.environ)
        except RuntimeError:  # changed size during iteration
            continue
    return dict(os.environ.copy())


def _is_working_directory(name: str, value: str) -> bool:
    return name == "PWD" and os.path.isabs(value) and os.path.isdir(value)


def prepare(redactor: Redactor) -> None:
    """At setup: the redactor decides on every variable's name now (its
    decisions are remembered for every report)."""
    for name in snapshot():
        redactor.is_secret_key(_printable(name))


def collect(ctx: Context) -> Optional[EnvironmentData]:
    if not ctx.include_env:
        return None
    redactor = ctx.redactor
    variables: List[EnvironmentVariable] = []
    for name, value in sorted(snapshot().items()):
        name = _printable(name)
        value = _printable(value)
        if _is_working_directory(name, value):
            shown = redactor.text(value)
        else:
            shown = redactor.value(name, value)
        variables.append({"name": name, "value": shown})
    return {"variables": variables}


SECTION = SectionSpec("environment", "Environment", collect, redacted=True)

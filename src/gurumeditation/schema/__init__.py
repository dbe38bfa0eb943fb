"""The JSON Schema of the report document, shipped inside the package.

``load()`` returns it as a dict (read with :mod:`importlib.resources`, so it
works from a wheel, a zip or a source tree); ``validate(report)`` checks a
document against it with the ``jsonschema`` package when that is installed
(it is not a dependency of gurumeditation: only of its tests and of the
``gurumeditation show --validate`` command).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Dict, List

#: File name of the schema inside this package.
SCHEMA_FILE = "report.schema.json"


def text() -> str:
    """The schema as JSON text."""
    return resources.files(__name__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


def load() -> Dict[str, Any]:
    """The schema as a dict."""
    schema: Dict[str, Any] = json.loads(text())
    return schema


def errors(report: Any) -> List[str]:
    """Every way ``report`` departs from the schema (empty when it is valid).
    Needs the ``jsonschema`` package."""
    import jsonschema  # type: ignore[import-untyped]

    validator_cls = jsonschema.validators.validator_for(load())
    validator = validator_cls(load())
    found = []
    for error in sorted(validator.iter_errors(report), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path) or "(document)"
        found.append(f"{where}: {error.message}")
    return found


def validate(report: Any) -> None:
    """Raise ``ValueError`` listing the problems when ``report`` is not valid."""
    problems = errors(report)
    if problems:
        raise ValueError("report does not match its schema:\n  " + "\n  ".join(problems[:20]))

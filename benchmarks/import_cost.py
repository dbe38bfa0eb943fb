"""Import cost of ``import gurumeditation`` next to oslo.reports.

Each figure is the median over ``--runs`` (default 15, at least 10) fresh
interpreters:

* ``time``: the cumulative time ``python -X importtime`` gives the top-level
  import lines of the statement (``import gurumeditation`` /
  ``from oslo_reports import guru_meditation_report``): every top-level line
  of a module the bare interpreter does not import;
* ``modules``: how many modules ``sys.modules`` gains by the import over the
  bare interpreter the statement runs in (same interpreter, same ``site``).

Also measured, for information: ``from gurumeditation import
TextGuruMeditation`` (what ``setup_autorun`` costs to import; paid once when
the service arms the report, not by ``import gurumeditation``).

gurumeditation's modules are compiled to ``__pycache__`` first, as pip does
when it installs a wheel (an installed oslo.reports has its ``.pyc`` files).

Targets (issue 2): ``import gurumeditation`` ≤ 3 ms and ≤ 15 modules.

    .venv/bin/python benchmarks/import_cost.py [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from typing import Any, Dict, List, Set

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

TARGET_MS = 3.0
TARGET_MODULES = 15

_LINE = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def project_python() -> str:
    venv = os.path.join(ROOT, ".venv", "bin", "python")
    return venv if os.path.exists(venv) else sys.executable


def _env() -> Dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def import_time_us(python: str, statement: str, bare: Set[str]) -> int:
    """Microseconds ``-X importtime`` gives ``statement`` run in a fresh
    interpreter: the cumulative times of the top-level import lines of
    modules that the bare interpreter does not import (for ``import
    gurumeditation`` that is the one ``gurumeditation`` line)."""
    result = subprocess.run(
        [python, "-X", "importtime", "-c", statement],
        capture_output=True,
        text=True,
        check=True,
        env=_env(),
    )
    total = 0
    for line in result.stderr.splitlines():
        match = _LINE.match(line)
        if match and len(match.group(3)) <= 1 and match.group(4) not in bare:
            total += int(match.group(2))
    if not total:
        raise RuntimeError(f"no importtime line for {statement!r}:\n{result.stderr[-2000:]}")
    return total


def bare_modules(python: str) -> Set[str]:
    """Modules a bare interpreter of ``python`` has loaded when it runs ``-c``."""
    result = subprocess.run(
        [python, "-c", "import sys; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        env=_env(),
    )
    return set(result.stdout.split())


def modules_added(python: str, statement: str) -> List[str]:
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        f"{statement}\n"
        "print('\\n'.join(sorted(set(sys.modules) - before)))\n"
    )
    result = subprocess.run(
        [python, "-c", code], capture_output=True, text=True, check=True, env=_env()
    )
    return [line for line in result.stdout.splitlines() if line]


def ensure_bytecode(python: str, package: str = "gurumeditation") -> str:
    """Compile ``package``'s modules to ``__pycache__`` as installing a wheel
    with pip does (an editable install under ``PYTHONDONTWRITEBYTECODE=1``
    would otherwise compile every module from source at each import, which
    an installed oslo.reports never does).  Returns the package directory."""
    where = subprocess.run(
        [python, "-c", f"import os, {package}; print(os.path.dirname({package}.__file__))"],
        capture_output=True,
        text=True,
        check=True,
        env=_env(),
    ).stdout.strip()
    subprocess.run([python, "-m", "compileall", "-q", where], check=True, env=_env())
    return where


def measure(python: str, statement: str, runs: int) -> Dict[str, Any]:
    bare = bare_modules(python)
    times = [import_time_us(python, statement, bare) / 1000.0 for _ in range(runs)]
    added = modules_added(python, statement)
    return {
        "statement": statement,
        "python": python,
        "runs": runs,
        "median_ms": round(statistics.median(times), 3),
        "min_ms": round(min(times), 3),
        "max_ms": round(max(times), 3),
        "modules": len(added),
        "module_names": added,
    }


def run(runs: int = 15, oslo: bool = True) -> Dict[str, Any]:
    runs = max(runs, 10)
    py = project_python()
    ensure_bytecode(py)
    out: Dict[str, Any] = {
        "gm": measure(py, "import gurumeditation", runs),
        "gm_facade": measure(py, "from gurumeditation import TextGuruMeditation", runs),
    }
    if oslo:
        from oslo_env import ensure_oslo_venv

        opy = ensure_oslo_venv()
        out["oslo"] = measure(opy, "from oslo_reports import guru_meditation_report", runs)
    gm = out["gm"]
    out["targets"] = {
        "time_ms": TARGET_MS,
        "modules": TARGET_MODULES,
        "met": gm["median_ms"] <= TARGET_MS and gm["modules"] <= TARGET_MODULES,
    }
    return out


def describe(result: Dict[str, Any]) -> str:
    lines = [f"{'import':<52} {'median ms':>9} {'min':>7} {'max':>7} {'modules':>7}"]
    for key in ("gm", "gm_facade", "oslo"):
        r = result.get(key)
        if r is None:
            continue
        lines.append(
            f"{r['statement']:<52} {r['median_ms']:>9.2f} {r['min_ms']:>7.2f} "
            f"{r['max_ms']:>7.2f} {r['modules']:>7}"
        )
    t = result["targets"]
    gm = result["gm"]
    verdict = "MET" if t["met"] else "MISSED"
    lines.append(
        f"target: import gurumeditation <= {t['time_ms']} ms and <= {t['modules']} modules: "
        f"{verdict} ({gm['median_ms']:.2f} ms, {gm['modules']} modules: "
        f"{', '.join(gm['module_names']) or '-'})"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="import cost of gurumeditation and oslo.reports")
    parser.add_argument("--runs", type=int, default=15, help="fresh interpreters (>= 10)")
    parser.add_argument("--no-oslo", action="store_true", help="skip oslo.reports")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    result = run(args.runs, oslo=not args.no_oslo)
    print(json.dumps(result, indent=2) if args.json else describe(result))


if __name__ == "__main__":
    main()

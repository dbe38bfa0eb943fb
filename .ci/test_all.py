#!/usr/bin/env python3
"""Run the test suite under every CPython on this machine that the package claims.

``make test-all`` runs this with the default interpreter. It finds every CPython at or above
``requires-python`` (pyenv's versions, then ``python3.X`` on PATH), gives each its own venv
(``.venv-3.X``, pip upgraded before anything is installed: 3.9's own pip backtracks to an
ancient zope.interface sdist), runs pytest in it and prints one summary line per interpreter.
It exits non-zero if any interpreter could not be set up or had a failing test.

The tests marked ``servers`` (slow real-server tests) run on the default interpreter only.
``--skip-default`` leaves the default interpreter out entirely (``.ci/run`` has already run
``make test`` on it). Standard library only: it runs under whatever ``python3`` is.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent

# Printed by each candidate: who it is, in one JSON line.
PROBE = (
    "import json, sys, sysconfig; print(json.dumps({"
    "'impl': sys.implementation.name, 'version': list(sys.version_info[:3]),"
    "'free_threaded': bool(sysconfig.get_config_var('Py_GIL_DISABLED')),"
    "'executable': sys.executable}))"
)

SUMMARY_WORDS = (
    "passed",
    "failed",
    "errors",
    "error",
    "skipped",
    "xfailed",
    "xpassed",
    "deselected",
    "warnings",
    "warning",
)


@dataclass(frozen=True)
class Interpreter:
    path: str
    version: tuple[int, int, int]
    free_threaded: bool
    found_by: str

    @property
    def key(self) -> str:
        """``3.12``, or ``3.13t`` for a free-threaded build: one venv and one run per key."""
        return f"{self.version[0]}.{self.version[1]}{'t' if self.free_threaded else ''}"

    @property
    def label(self) -> str:
        return ".".join(map(str, self.version)) + ("t" if self.free_threaded else "")


@dataclass
class Outcome:
    interpreter: Interpreter
    ok: bool
    counts: dict[str, int]
    setup_seconds: float
    test_seconds: float
    note: str = ""


def minimum_python() -> tuple[int, int]:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'^requires-python\s*=\s*">=\s*(\d+)\.(\d+)', text, re.MULTILINE)
    if match is None:
        sys.exit("test-all: no 'requires-python = \">=X.Y\"' in pyproject.toml")
    return int(match.group(1)), int(match.group(2))


def probe(path: str, found_by: str) -> Optional[Interpreter]:
    try:
        done = subprocess.run(
            [path, "-c", PROBE], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None  # e.g. a pyenv shim for a version that is not active
    try:
        info = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    if info.get("impl") != "cpython":
        return None
    major, minor, micro = info["version"]
    return Interpreter(
        path=path,
        version=(major, minor, micro),
        free_threaded=info["free_threaded"],
        found_by=found_by,
    )


def pyenv_candidates() -> list[tuple[str, str]]:
    if shutil.which("pyenv") is None:
        return []
    listed = subprocess.run(
        ["pyenv", "versions", "--bare"], capture_output=True, text=True, check=False
    )
    found = []
    for name in listed.stdout.split():
        # CPython only: 3.12.1, 3.13.0t; not pypy3.10-..., not system, not virtualenvs.
        if not re.fullmatch(r"\d+\.\d+\.\d+t?", name):
            continue
        prefix = subprocess.run(
            ["pyenv", "prefix", name], capture_output=True, text=True, check=False
        ).stdout.strip()
        if prefix:
            found.append((str(Path(prefix) / "bin" / "python"), f"pyenv {name}"))
    return found


def path_candidates(minimum: tuple[int, int]) -> list[tuple[str, str]]:
    found = []
    for minor in range(minimum[1], 40):
        for suffix in ("", "t"):
            name = f"python{minimum[0]}.{minor}{suffix}"
            where = shutil.which(name)
            if where:
                found.append((where, f"PATH {name}"))
    return found


def discover(minimum: tuple[int, int]) -> list[Interpreter]:
    """One interpreter per minor version (and build kind), the newest patch release of each."""
    chosen: dict[str, Interpreter] = {}
    for path, found_by in pyenv_candidates() + path_candidates(minimum):
        interp = probe(path, found_by)
        if interp is None or interp.version[:2] < minimum:
            continue
        known = chosen.get(interp.key)
        if known is None or interp.version > known.version:
            chosen[interp.key] = interp
    return sorted(chosen.values(), key=lambda i: (i.version[:2], i.free_threaded))


def run(cmd: list[str], **kwargs: object) -> None:
    print("+", shlex.join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT, **kwargs)  # type: ignore[call-overload]


def prepare_venv(interp: Interpreter, venv: Path) -> Path:
    """``venv`` set up for ``interp`` with the test extras; reused while pyproject is unchanged."""
    python = venv / "bin" / "python"
    stamp = venv / ".installed-test"
    wanted = f"{interp.path} {interp.label}\n"
    if (
        stamp.exists()
        and stamp.read_text() == wanted
        and python.exists()
        and stamp.stat().st_mtime >= (ROOT / "pyproject.toml").stat().st_mtime
    ):
        return python
    run([interp.path, "-m", "venv", "--clear", str(venv)])
    run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"])
    run([str(python), "-m", "pip", "install", "-q", "-e", ".[test]"])
    stamp.write_text(wanted)
    return python


def parse_counts(line: str) -> dict[str, int]:
    counts = {}
    for number, word in re.findall(r"(\d+) (" + "|".join(SUMMARY_WORDS) + r")\b", line):
        word = {"error": "errors", "warning": "warnings"}.get(word, word)
        counts[word] = int(number)
    return counts


def run_suite(python: Path, pytest_args: list[str]) -> tuple[int, dict[str, int]]:
    cmd = [str(python), "-m", "pytest", "-q", *pytest_args]
    print("+", shlex.join(cmd), flush=True)
    last = ""
    with subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            if line.strip():
                last = line
    return proc.returncode, parse_counts(last)


def test_one(interp: Interpreter, is_default: bool, pytest_args: list[str]) -> Outcome:
    venv = ROOT / f".venv-{interp.key}"
    print(
        f"\n===== test-all: CPython {interp.label} ({interp.found_by}: {interp.path}) "
        f"in {venv.name} =====",
        flush=True,
    )
    started = time.monotonic()
    try:
        python = prepare_venv(interp, venv)
    except subprocess.CalledProcessError as exc:
        return Outcome(
            interp,
            False,
            {},
            time.monotonic() - started,
            0.0,
            f"setup failed: {shlex.join(map(str, exc.cmd))} exited {exc.returncode}",
        )
    setup = time.monotonic() - started
    args = ([] if is_default else ["-m", "not servers"]) + pytest_args
    started = time.monotonic()
    code, counts = run_suite(python, args)
    elapsed = time.monotonic() - started
    ok = code == 0 and counts.get("failed", 0) == 0 and counts.get("errors", 0) == 0
    note = "" if ok else f"pytest exited {code}"
    if not is_default and counts.get("deselected"):
        note = (note + "; " if note else "") + "deselected: the 'servers' tests (default only)"
    return Outcome(interp, ok, counts, setup, elapsed, note)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--default",
        default=sys.executable,
        help="the default interpreter (make's $(PYTHON)); default: this one",
    )
    parser.add_argument(
        "--skip-default",
        action="store_true",
        help="leave out the default interpreter's version (already tested)",
    )
    parser.add_argument(
        "--only", default="", help="comma-separated versions to run, e.g. 3.9,3.13 (default: all)"
    )
    args = parser.parse_args()
    pytest_args = shlex.split(os.environ.get("PYTEST_ARGS", ""))

    minimum = minimum_python()
    default_path = shutil.which(args.default) or args.default
    default = probe(default_path, "default")
    if default is None:
        sys.exit(f"test-all: the default interpreter {args.default!r} does not run")
    found = discover(minimum)
    print(
        f"test-all: requires-python >={minimum[0]}.{minimum[1]}; found "
        + ", ".join(f"{i.label} ({i.found_by})" for i in found)
        + f"; default {default.label}",
        flush=True,
    )
    wanted = [v for v in args.only.split(",") if v]
    selected = [
        i
        for i in found
        if (not wanted or i.key in wanted) and not (args.skip_default and i.key == default.key)
    ]
    missing = [v for v in wanted if v not in {i.key for i in found}]
    if missing:
        sys.exit(f"test-all: asked for {', '.join(missing)}, not found on this machine")

    total = time.monotonic()
    outcomes = [test_one(i, i.key == default.key, pytest_args) for i in selected]
    print("\n===== test-all summary =====")
    if args.skip_default:
        print(f"CPython {default.label:8} skipped here: the default interpreter (make test ran it)")
    for o in outcomes:
        counts = ", ".join(f"{n} {w}" for w, n in o.counts.items()) or "no test summary"
        print(
            f"CPython {o.interpreter.label:8} {'ok  ' if o.ok else 'FAIL'} {counts}; "
            f"tests {o.test_seconds:.0f} s, setup {o.setup_seconds:.0f} s"
            + (f" ({o.note})" if o.note else "")
        )
    failed = [o.interpreter.label for o in outcomes if not o.ok]
    print(
        f"test-all: {len(outcomes) - len(failed)} of {len(outcomes)} interpreters green in "
        f"{time.monotonic() - total:.0f} s" + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

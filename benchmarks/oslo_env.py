"""The virtual environment holding oslo.reports 3.9.0, the system users would
otherwise run: created on first use in ``benchmarks/.work/oslo-venv`` (git
ignores ``benchmarks/.work/``) with pip from the package index, with eventlet,
psutil and oslo.config as an OpenStack service has them."""

from __future__ import annotations

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(HERE, ".work")
OSLO_VENV = os.path.join(WORK, "oslo-venv")
OSLO_PYTHON = os.path.join(OSLO_VENV, "bin", "python")
REQUIREMENTS = ["oslo.reports==3.9.0", "eventlet", "psutil", "oslo.config"]
#: Written once the install succeeded (an interrupted install is redone).
STAMP = os.path.join(OSLO_VENV, ".installed-" + "-".join(REQUIREMENTS[:1]))


def ensure_oslo_venv(base_python: str = "") -> str:
    """The oslo venv's python, creating the venv when missing.  It is built
    from the same interpreter as the project's ``.venv`` so both sides of a
    comparison run the same Python."""
    if os.path.exists(STAMP) and os.path.exists(OSLO_PYTHON):
        return OSLO_PYTHON
    base = base_python or getattr(sys, "_base_executable", "") or sys.executable
    print(f"benchmarks: creating {OSLO_VENV} with {', '.join(REQUIREMENTS)}", flush=True)
    subprocess.run([base, "-m", "venv", "--clear", OSLO_VENV], check=True)
    subprocess.run(
        [OSLO_PYTHON, "-m", "pip", "install", "-q", *REQUIREMENTS],
        check=True,
    )
    with open(STAMP, "w") as f:
        f.write("\n".join(REQUIREMENTS) + "\n")
    return OSLO_PYTHON


def installed_versions(python: str, names: list) -> dict:  # type: ignore[type-arg]
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = m.version(n)\n"
        "    except Exception: out[n] = None\n"
        "print(json.dumps(out))\n"
    )
    import json

    result = subprocess.run(
        [python, "-c", code, *names], check=True, capture_output=True, text=True
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


if __name__ == "__main__":
    print(ensure_oslo_venv())

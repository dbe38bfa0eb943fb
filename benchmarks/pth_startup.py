"""What ``gurumeditation.pth`` (zero-code enable) costs every Python start-up.

A throw-away virtual environment (no pip) sees this source tree through a
path ``.pth``; the interpreter start-up (``python -c pass``) is timed with
and without ``gurumeditation.pth`` beside it, interleaved, ``--runs`` times
each, and the medians compared.  Also timed: the hook line itself, executed
in-process with ``GURUMEDITATION`` unset (what ``site`` runs), and a start-up
with ``GURUMEDITATION=1`` (the process is armed: the price of asking).

    .venv/bin/python benchmarks/pth_startup.py [--runs 41]

Writes ``benchmarks/.work/pth_startup.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from typing import Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SRC = os.path.join(ROOT, "src")
sys.path.insert(0, SRC)

from gurumeditation.zerocode import PTH_LINE  # noqa: E402


def make_env(where: str) -> Dict[str, str]:
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", where], check=True)
    python = os.path.join(where, "bin", "python")
    site_dir = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    with open(os.path.join(site_dir, "_gm_source.pth"), "w") as f:
        f.write(SRC + "\n")
    return {"python": python, "site": site_dir}


def start_once(python: str, env: Dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([python, "-c", "pass"], check=True, env=env)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=41)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="gm-pth-bench-")
    try:
        venv = make_env(os.path.join(work, "venv"))
        hook = os.path.join(venv["site"], "gurumeditation.pth")
        env = {k: v for k, v in os.environ.items() if not k.startswith("GURUMEDITATION")}
        armed_env = dict(env, GURUMEDITATION="1", XDG_RUNTIME_DIR=work)
        for _ in range(3):  # warm the page cache
            start_once(venv["python"], env)
        without: List[float] = []
        with_hook: List[float] = []
        armed: List[float] = []
        for i in range(args.runs):
            order = (False, True) if i % 2 == 0 else (True, False)
            for present in order:
                if present:
                    with open(hook, "w") as f:
                        f.write(PTH_LINE + "\n")
                    with_hook.append(start_once(venv["python"], env))
                    armed.append(start_once(venv["python"], armed_env))
                else:
                    if os.path.exists(hook):
                        os.unlink(hook)
                    without.append(start_once(venv["python"], env))
        code = compile(PTH_LINE, "gurumeditation.pth", "exec")
        saved = os.environ.pop("GURUMEDITATION", None)
        try:
            n = 200000
            line_s = min(timeit.repeat(lambda: exec(code, {}), number=n, repeat=5)) / n
        finally:
            if saved is not None:
                os.environ["GURUMEDITATION"] = saved
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "runs": args.runs,
        "startup_without_hook_ms": round(statistics.median(without) * 1000, 2),
        "startup_with_hook_unset_ms": round(statistics.median(with_hook) * 1000, 2),
        "startup_with_hook_enabled_ms": round(statistics.median(armed) * 1000, 2),
        "hook_line_unset_us": round(line_s * 1e6, 3),
        "python": sys.version.split()[0],
    }
    result["median_difference_unset_ms"] = round(
        result["startup_with_hook_unset_ms"] - result["startup_without_hook_ms"], 2
    )
    out_dir = os.path.join(HERE, ".work")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "pth_startup.json"), "w") as f:
        json.dump(result, f, indent=1)
    for key, value in result.items():
        print(f"{key:32} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

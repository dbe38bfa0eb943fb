"""Profile one tool's report in a victim shape, in process, with cProfile.

Builds the shape as ``victim.py`` does, arms the tool, then sends itself the
signal ``--repeat`` times under the profiler (the Python-level handler runs in
the main thread, where the profiler is on) and prints the top functions::

    .venv/bin/python benchmarks/profile_report.py --tool gm --threads 10 --options 50
    benchmarks/.work/oslo-venv/bin/python benchmarks/profile_report.py --tool oslo ...

For where the time goes without the profiler's overhead, ``py-spy record``
on a victim works too (``pip install py-spy``).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import victim  # noqa: E402


def reports(log_dir: str) -> int:
    """Complete report files (gurumeditation's hidden temporary file not counted)."""
    return sum(1 for name in os.listdir(log_dir) if not name.startswith("."))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tool", choices=("gm", "oslo", "floor"), default="gm")
    victim.add_shape_arguments(parser)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="cumulative")
    args = parser.parse_args()

    conf = victim.build_shape(args)
    log_dir = tempfile.mkdtemp(prefix="gm-profile-")
    victim.ARM[args.tool](log_dir, conf)
    import gc

    gc.collect()
    profiler = cProfile.Profile()
    walls = []
    try:
        for _ in range(args.repeat):
            before = reports(log_dir)
            started = time.perf_counter()
            profiler.enable()
            os.kill(os.getpid(), signal.SIGUSR2)
            while reports(log_dir) <= before:
                time.sleep(0)
            profiler.disable()
            walls.append((time.perf_counter() - started) * 1000.0)
            time.sleep(0.05)
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)
    print("wall per report (ms, under the profiler):", ", ".join(f"{w:.1f}" for w in walls))
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats(args.sort).print_stats(args.top)
    print(out.getvalue())


if __name__ == "__main__":
    main()

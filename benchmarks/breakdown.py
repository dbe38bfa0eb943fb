"""Where gurumeditation's time goes in one scenario: per section, render and
delivery, for the first report of a fresh process (what an operator's first
signal costs) and for the second one.  Figures are CPU time of the thread
writing the report (``time.thread_time()``: robust to a loaded machine);
wall-clock times are kept under ``wall`` in ``--json``.

Builds the victim's shape in this process, arms gurumeditation with a
``log_dir``, sends itself SIGUSR2 (the Python-level handler runs in the main
thread before ``os.kill`` returns) and times each phase by wrapping the
pipeline's functions (``report.collect_section``, ``render.render``, the
facade's ``deliver``); "other" is the rest (context, header, signal path).

    .venv/bin/python benchmarks/breakdown.py --threads 10 --options 50 [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import victim  # noqa: E402


def _wrap(
    owner: Any,
    name: str,
    label: Callable[..., str],
    into: Dict[str, float],
    cpu: Dict[str, float],
) -> None:
    original = getattr(owner, name, None)
    if original is None:
        return

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        started_cpu = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            key = label(*args, **kwargs)
            into[key] = into.get(key, 0.0) + (time.perf_counter() - started) * 1000.0
            cpu[key] = cpu.get(key, 0.0) + (time.thread_time() - started_cpu) * 1000.0

    setattr(owner, name, timed)


def run(shape: Dict[str, int], reports: int = 2) -> List[Dict[str, Any]]:
    conf = victim.register_options(shape.get("options", 0)) if shape.get("options") else None
    victim.build_heap(shape.get("heap", 0))
    victim.start_threads(shape.get("threads", 10), shape.get("depth", 10))
    if shape.get("green"):
        victim.start_greenthreads(shape["green"], shape.get("green_depth", 10))
    if shape.get("tasks"):
        victim.start_tasks(shape["tasks"], shape.get("task_depth", 10))
    log_dir = tempfile.mkdtemp(prefix="gm-breakdown-")
    victim.arm_gm(log_dir, conf)

    from gurumeditation import guru_meditation_report as facade
    from gurumeditation import render as render_module
    from gurumeditation import report as report_module

    phases: Dict[str, float] = {}
    cpu: Dict[str, float] = {}
    _wrap(report_module, "collect_section", lambda spec, ctx: spec.id, phases, cpu)
    _wrap(render_module, "render", lambda doc, fmt="text", *a, **k: f"render:{fmt}", phases, cpu)
    _wrap(facade, "deliver", lambda *a, **k: "deliver", phases, cpu)
    gc.collect()
    out = []
    try:
        for _ in range(reports):
            phases.clear()
            cpu.clear()
            started = time.perf_counter()
            started_cpu = time.thread_time()
            os.kill(os.getpid(), signal.SIGUSR2)
            total = (time.perf_counter() - started) * 1000.0
            total_cpu = (time.thread_time() - started_cpu) * 1000.0
            row: Dict[str, Any] = {k: round(v, 3) for k, v in cpu.items()}
            row["other"] = round(max(total_cpu - sum(cpu.values()), 0.0), 3)
            row["total"] = round(total_cpu, 3)
            row["wall"] = {k: round(v, 3) for k, v in phases.items()}
            row["wall"]["total"] = round(total, 3)
            out.append(row)
            time.sleep(1.05)  # next report gets its own file name second
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)
    return out


def describe(rows: List[Dict[str, Any]]) -> str:
    lines = []
    for i, row in enumerate(rows):
        parts = sorted(
            ((k, v) for k, v in row.items() if k not in ("total", "wall")),
            key=lambda kv: kv[1],
            reverse=True,
        )
        top = ", ".join(f"{k} {v:.1f}" for k, v in parts if v >= 0.05)
        lines.append(
            f"report {i + 1}: CPU {row['total']:.1f} ms (wall {row['wall']['total']:.1f}) = {top}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for key, default in (
        ("threads", 10),
        ("depth", 10),
        ("green", 0),
        ("green-depth", 10),
        ("tasks", 0),
        ("task-depth", 10),
        ("options", 0),
        ("heap", 0),
        ("reports", 2),
    ):
        parser.add_argument(f"--{key}", type=int, default=default)
    parser.add_argument("--json", action="store_true")
    args = vars(parser.parse_args())
    as_json = args.pop("json")
    reports = args.pop("reports")
    rows = run({k: v for k, v in args.items()}, reports)
    print(json.dumps(rows) if as_json else describe(rows))


if __name__ == "__main__":
    main()

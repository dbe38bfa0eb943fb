"""Idle CPU of an armed process: no thread, timer or polling may run while no
report is asked for.

Starts the victim (S1 shape: 10 threads, 50 options, no ticker) armed with
gurumeditation, with oslo.reports, and with nothing at all, side by side;
reads utime + stime of each from ``/proc/PID/stat`` after it is ready, waits
``--seconds`` (60 in the full run), reads them again.  Target: 0 ticks for
gurumeditation.

    .venv/bin/python benchmarks/idle_cpu.py [--seconds 60] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Dict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from driver import proc_ticks, start_victim  # noqa: E402
from import_cost import project_python  # noqa: E402
from oslo_env import WORK, ensure_oslo_venv  # noqa: E402

SHAPE = {"threads": 10, "options": 50}


def run(seconds: float = 60.0, oslo: bool = True) -> Dict[str, Any]:
    pythons = {"gm": project_python(), "none": project_python()}
    if oslo:
        pythons["oslo"] = ensure_oslo_venv()
    victims = {}
    try:
        for tool, python in pythons.items():
            log_dir = os.path.join(WORK, "idle", tool)
            victims[tool] = start_victim(python, tool, SHAPE, log_dir, ticker=False)
        time.sleep(1.0)  # start-up done
        before = {tool: proc_ticks(v.pid) for tool, v in victims.items()}
        threads = {tool: len(os.listdir(f"/proc/{v.pid}/task")) for tool, v in victims.items()}
        time.sleep(seconds)
        after = {tool: proc_ticks(v.pid) for tool, v in victims.items()}
    finally:
        for v in victims.values():
            v.stop()
    result: Dict[str, Any] = {
        "seconds": seconds,
        "clock_ticks_per_s": os.sysconf("SC_CLK_TCK"),
        "ticks": {tool: after[tool] - before[tool] for tool in victims},
        "os_threads": threads,
    }
    result["met"] = result["ticks"]["gm"] == 0
    return result


def describe(result: Dict[str, Any]) -> str:
    tick_ms = 1000.0 / result["clock_ticks_per_s"]
    lines = [f"idle CPU over {result['seconds']:g} s (utime+stime, 1 tick = {tick_ms:g} ms):"]
    for tool, ticks in result["ticks"].items():
        lines.append(f"  {tool:<5} {ticks} ticks  ({result['os_threads'][tool]} OS threads)")
    lines.append(f"target: gurumeditation 0 ticks: {'MET' if result['met'] else 'MISSED'}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="idle CPU of an armed process")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--no-oslo", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.seconds, oslo=not args.no_oslo)
    print(json.dumps(result, indent=2) if args.json else describe(result))


if __name__ == "__main__":
    main()

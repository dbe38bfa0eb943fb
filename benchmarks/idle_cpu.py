"""Idle CPU of an armed process: no thread, timer or polling may run while no
report is asked for.

Starts the victim (S1 shape: 10 threads, 50 options, no ticker) armed with
gurumeditation, with oslo.reports, and with nothing at all, side by side;
reads utime + stime of each from ``/proc/PID/stat`` after it is ready, waits
``--seconds`` (60 in the full run), reads them again.  Target: 0 ticks for
gurumeditation — the process and its sidecar (the front door of the request
channel) both.

Then the request channel's round trip, asked from here as the
``gurumeditation`` command asks (``channel_client.ask``): ``info`` (connect,
credentials both ways, one header line back) and a JSON report (its first,
then later ones), ``--trips`` times each, medians.

    .venv/bin/python benchmarks/idle_cpu.py [--seconds 60] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any, Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from arming_cost import sidecar_pids  # noqa: E402
from driver import proc_ticks, start_victim  # noqa: E402
from import_cost import project_python  # noqa: E402
from oslo_env import WORK, ensure_oslo_venv  # noqa: E402

SHAPE = {"threads": 10, "options": 50}


def round_trips(pid: int, trips: int) -> Dict[str, Any]:
    """Medians (ms) of the channel's ``info`` and ``report`` round trips to ``pid``."""
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))
    from gurumeditation import channel_client

    def once(request: Dict[str, str]) -> float:
        started = time.perf_counter()
        header, _ = channel_client.ask(pid, request, time.monotonic() + 30)
        if not header.get("ok"):
            raise RuntimeError(f"channel said {header}")
        return (time.perf_counter() - started) * 1000.0

    info = [once({"op": "info"}) for _ in range(trips)]
    first = once({"op": "report", "format": "json"})
    later = [once({"op": "report", "format": "json"}) for _ in range(trips)]
    return {
        "trips": trips,
        "info_ms": round(statistics.median(info), 2),
        "first_report_ms": round(first, 2),
        "report_ms": round(statistics.median(later), 2),
    }


def private_network() -> List[str]:
    """``unshare --net`` where it works (root): the idle victims get a network
    namespace of their own, so that nobody else's ``gurumeditation list``
    (every channel on the host is asked; tests of other checkouts do it)
    wakes their channel while they are measured.  ``[]``: not available."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return []
    try:
        subprocess.run(["unshare", "--net", "true"], check=True, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return ["unshare", "--net"]


def run(seconds: float = 60.0, oslo: bool = True, trips: int = 9) -> Dict[str, Any]:
    pythons = {"gm": project_python(), "none": project_python()}
    if oslo:
        pythons["oslo"] = ensure_oslo_venv()
    victims = {}
    wrap = private_network()
    trip_victim = None
    try:
        for tool, python in pythons.items():
            log_dir = os.path.join(WORK, "idle", tool)
            victims[tool] = start_victim(python, tool, SHAPE, log_dir, ticker=False, wrap=wrap)
        time.sleep(1.0)  # start-up done
        sidecars = sidecar_pids(victims["gm"].pid)
        before = {tool: proc_ticks(v.pid) for tool, v in victims.items()}
        sidecar_before = sum(proc_ticks(p) for p in sidecars)
        threads = {tool: len(os.listdir(f"/proc/{v.pid}/task")) for tool, v in victims.items()}
        time.sleep(seconds)
        after = {tool: proc_ticks(v.pid) for tool, v in victims.items()}
        sidecar_after = sum(proc_ticks(p) for p in sidecars)
        # the round trips: a victim we can reach (in our network namespace)
        trip_victim = start_victim(
            pythons["gm"], "gm", SHAPE, os.path.join(WORK, "idle", "trips"), ticker=False
        )
        trip = round_trips(trip_victim.pid, trips)
    finally:
        for v in victims.values():
            v.stop()
        if trip_victim is not None:
            trip_victim.stop()
    result: Dict[str, Any] = {
        "seconds": seconds,
        "clock_ticks_per_s": os.sysconf("SC_CLK_TCK"),
        "ticks": {tool: after[tool] - before[tool] for tool in victims},
        "os_threads": threads,
        "private_network": bool(wrap),
        "sidecars": len(sidecars),
        "sidecar_ticks": sidecar_after - sidecar_before,
        "channel": trip,
    }
    result["met"] = result["ticks"]["gm"] == 0 and result["sidecar_ticks"] == 0
    return result


def describe(result: Dict[str, Any]) -> str:
    tick_ms = 1000.0 / result["clock_ticks_per_s"]
    lines = [f"idle CPU over {result['seconds']:g} s (utime+stime, 1 tick = {tick_ms:g} ms):"]
    for tool, ticks in result["ticks"].items():
        lines.append(f"  {tool:<5} {ticks} ticks  ({result['os_threads'][tool]} OS threads)")
    lines.append(f"  gm's sidecar ({result['sidecars']}): {result['sidecar_ticks']} ticks")
    trip = result["channel"]
    lines.append(
        f"channel round trip: info {trip['info_ms']:.1f} ms, JSON report "
        f"{trip['first_report_ms']:.1f} ms (first), {trip['report_ms']:.1f} ms (later)"
    )
    lines.append(
        f"target: gurumeditation 0 ticks, sidecar too: {'MET' if result['met'] else 'MISSED'}"
    )
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

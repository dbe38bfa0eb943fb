"""Idle cost of the stall watchdog: CPU ticks over ``--seconds`` (60 in the
documented run), armed with ``watchdog=SECONDS`` vs armed without it, for an
idle main thread (``Event.wait``), an idle asyncio loop, an idle gevent
hub and an idle eventlet hub — each pair side by side in the same run, the sidecar process counted
with its service (the watchdog's heartbeat wakes it).

    .venv/bin/python benchmarks/watchdog_idle.py [--seconds 60] [--watchdog 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from driver import proc_ticks  # noqa: E402
from import_cost import project_python  # noqa: E402

#: What the idle process does once armed (the watched thing stays idle).
SHAPES = {
    "main thread": "import threading; ready(); threading.Event().wait()",
    "asyncio loop": "import asyncio\nasync def idle():\n    ready()\n    await asyncio.sleep(3600)\n"
    "asyncio.run(idle())",
    "gevent hub": "import gevent; ready(); gevent.sleep(3600)",
    "eventlet hub": "import eventlet; ready(); eventlet.sleep(3600)",
}

VICTIM = """
import sys
if {gevent!r}:
    from gevent import monkey; monkey.patch_all(); import gevent; gevent.sleep(0)
if {eventlet!r}:
    import eventlet; eventlet.monkey_patch(); eventlet.sleep(0)
from gurumeditation import TextGuruMeditation
def ready():
    print("READY", flush=True)
TextGuruMeditation.setup_autorun("1.0", service_name="idle", log_dir={log_dir!r}, **{options!r})
{body}
"""


def sidecars(pid: int) -> List[int]:
    """Pids of the sidecar processes serving ``pid``."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if any(b"triggers.sidecar" in a for a in argv) and str(pid).encode() in argv:
            found.append(int(name))
    return found


def ticks(pid: int) -> int:
    total = 0
    for p in [pid, *sidecars(pid)]:
        try:
            total += proc_ticks(p)
        except OSError:
            pass
    return total


def run(seconds: float = 60.0, watchdog: float = 1.0) -> Dict[str, Any]:
    python = project_python()
    work = tempfile.mkdtemp(prefix="gm-watchdog-idle-")
    procs: Dict[str, subprocess.Popen] = {}  # type: ignore[type-arg]
    try:
        for shape, body in SHAPES.items():
            for armed in (False, True):
                options = {"watchdog": watchdog} if armed else {}
                code = VICTIM.format(
                    gevent="gevent" in shape,
                    eventlet="eventlet" in shape,
                    log_dir=os.path.join(work, shape.replace(" ", "-")),
                    options=options,
                    body=body,
                )
                proc = subprocess.Popen(
                    [python, "-c", code],
                    stdout=subprocess.PIPE,
                    text=True,
                    env={**os.environ, "PYTHONWARNINGS": "ignore"},
                )
                assert proc.stdout is not None
                assert proc.stdout.readline().startswith("READY"), shape
                procs[f"{shape}|{armed}"] = proc
        time.sleep(1.0)  # start-up done
        before = {k: ticks(p.pid) for k, p in procs.items()}
        time.sleep(seconds)
        after = {k: ticks(p.pid) for k, p in procs.items()}
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(10)
    rows = []
    for shape in SHAPES:
        rows.append(
            {
                "shape": shape,
                "without": after[f"{shape}|False"] - before[f"{shape}|False"],
                "with": after[f"{shape}|True"] - before[f"{shape}|True"],
            }
        )
    return {
        "seconds": seconds,
        "watchdog": watchdog,
        "clock_ticks_per_s": os.sysconf("SC_CLK_TCK"),
        "rows": rows,
    }


def describe(result: Dict[str, Any]) -> str:
    tick_ms = 1000.0 / result["clock_ticks_per_s"]
    lines = [
        f"watchdog={result['watchdog']:g} idle cost over {result['seconds']:g} s "
        f"(utime+stime of the service and its sidecar, 1 tick = {tick_ms:g} ms):"
    ]
    for row in result["rows"]:
        extra = row["with"] - row["without"]
        share = extra * tick_ms / (result["seconds"] * 1000.0) * 100
        lines.append(
            f"  {row['shape']:<13} without {row['without']:>4} ticks, with {row['with']:>4} ticks "
            f"(+{extra} ticks = {share:.3f} % of one core)"
        )
    return "\n".join(lines)


def rows(result: Dict[str, Any]) -> List[str]:
    """The markdown rows of ``make bench``'s new-machinery table: ticks of
    the service and its sidecar, idle, armed with and without the watchdog."""
    return [
        f"| the stall watchdog idle ({result['watchdog']:g} s), {row['shape']}: "
        f"ticks in {result['seconds']:g} s, service + sidecar "
        f"| {row['with']} ticks | armed without it: {row['without']} ticks | | |"
        for row in result["rows"]
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description="idle cost of the stall watchdog")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--watchdog", type=float, default=1.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.seconds, args.watchdog)
    print(json.dumps(result, indent=2) if args.json else describe(result))


if __name__ == "__main__":
    main()

"""Latency of a report when the process is in trouble, and idle cost of the
machinery that makes it possible (issue 4).

Each sample is a fresh service process:

- stuck main thread: the main thread blocked in ``pthread_mutex_lock`` (ctypes,
  GIL released); time from SIGUSR2 to the report file (target < 1 s);
- frozen interpreter: the main thread in ``pthread_mutex_timedlock`` through
  ``ctypes.PyDLL`` (GIL held); time from SIGUSR2 to the native dump (< 1 s);
- file trigger: time from touching the watched file to the report;
- idle: CPU ticks of an armed service *and its sidecar process* over
  ``--idle-seconds`` (target: 0).

    .venv/bin/python benchmarks/trouble_latency.py [--samples 5] [--idle-seconds 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from arming_cost import sidecar_pids

SERVICE = r"""
import ctypes, sys, time
from gurumeditation import TextGuruMeditation
mode, log_dir, watched = sys.argv[1], sys.argv[2], sys.argv[3]
TextGuruMeditation.setup_autorun('1.0', service_name='svc', log_dir=log_dir,
                                 file_event_handler=watched)
libc = ctypes.CDLL(None)
mutex = ctypes.create_string_buffer(64)
libc.pthread_mutex_lock(mutex)
class timespec(ctypes.Structure):
    _fields_ = [('tv_sec', ctypes.c_long), ('tv_nsec', ctypes.c_long)]
print('READY', flush=True)
time.sleep(0.5)
if mode == 'stuck':
    libc.pthread_mutex_lock(mutex)
elif mode == 'frozen':
    until = timespec(int(time.time()) + 4, 0)
    ctypes.PyDLL(None).pthread_mutex_timedlock(mutex, ctypes.byref(until))
while True:
    time.sleep(3600)
"""


def ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])



def wait_file(log_dir: str, timeout: float = 10.0) -> Optional[float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.isdir(log_dir) and any("_gurumeditation_" in n for n in os.listdir(log_dir)):
            return time.monotonic()
        time.sleep(0.002)
    return None


def start_service(mode: str, log_dir: str, watched: str) -> subprocess.Popen[str]:
    """The service in ``mode``, once it has armed itself (it printed READY)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVICE, mode, log_dir, watched],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    return proc


def sample(mode: str, work: str) -> Optional[float]:
    log_dir = os.path.join(work, f"{mode}-logs")
    watched = os.path.join(work, f"{mode}-trigger")
    shutil.rmtree(log_dir, ignore_errors=True)
    proc = start_service(mode, log_dir, watched)
    try:
        time.sleep(1.0)  # blocked / frozen by now
        start = time.monotonic()
        if mode == "file":
            with open(watched, "a"):
                pass
            os.utime(watched)
        else:
            os.kill(proc.pid, signal.SIGUSR2)
        end = wait_file(log_dir)
        return None if end is None else end - start
    finally:
        proc.kill()
        proc.wait()


def idle(seconds: float, work: str) -> Dict[str, Any]:
    log_dir = os.path.join(work, "idle-logs")
    proc = start_service("idle", log_dir, os.path.join(work, "idle-trigger"))
    try:
        time.sleep(1.5)
        pids = [proc.pid] + sidecar_pids(proc.pid)[:1]
        before = [ticks(p) for p in pids]
        time.sleep(seconds)
        after = [ticks(p) for p in pids]
        threads = len(os.listdir(f"/proc/{proc.pid}/task"))
    finally:
        proc.kill()
        proc.wait()
    return {
        "seconds": seconds,
        "service_ticks": after[0] - before[0],
        "sidecar_ticks": (after[1] - before[1]) if len(pids) > 1 else None,
        "service_os_threads": threads,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="gm-trouble-")
    result: Dict[str, Any] = {}
    try:
        for mode in ("stuck", "frozen", "file"):
            values: List[Optional[float]] = [sample(mode, work) for _ in range(args.samples)]
            got = [v for v in values if v is not None]
            result[mode] = {
                "samples_ms": [None if v is None else round(v * 1000) for v in values],
                "median_ms": round(statistics.median(got) * 1000) if got else None,
                "max_ms": round(max(got) * 1000) if got else None,
            }
        result["idle"] = idle(args.idle_seconds, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for mode in ("stuck", "frozen", "file"):
        r = result[mode]
        print(f"{mode:>7}: median {r['median_ms']} ms, max {r['max_ms']} ms  {r['samples_ms']}")
    i = result["idle"]
    print(
        f"   idle: {i['service_ticks']} ticks (service, {i['service_os_threads']} OS threads) + "
        f"{i['sidecar_ticks']} ticks (sidecar) over {i['seconds']:g} s"
    )


if __name__ == "__main__":
    main()

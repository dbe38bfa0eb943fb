"""A report of a 16-worker server collected with ``report --all`` (issue 16).

A real gunicorn (``-w 16 -k sync``, a trivial WSGI app written to a private
temporary directory, which also holds its reports and is its
``XDG_RUNTIME_DIR``) armed zero-code on the master (``GURUMEDITATION=1``; the
workers are armed by the at-fork hook and ``servers/gunicorn.py``).  Once
``gurumeditation list --json`` shows the master and the 16 workers (each with
its role), ``python -m gurumeditation report --all -o DIR`` is run 3 times
(1 with ``quick``), each into a fresh DIR; wall time is ``perf_counter``
around the command (its own start-up included; the first run also pays each
process's first report).  Per run: the processes asked (one line each), those
of the tree that answered, the report files of the tree's processes and their
bytes.  ``report --all`` asks every armed process of this user: any outside
the tree (another run's) is asked too and counted apart.

Then the RSS (``VmRSS`` of ``/proc/PID/status``) of the master, of each
worker and of every sidecar serving a process of the tree (found by command
line, ``arming_cost.sidecar_pids``), after the reports.  The server is always
stopped (SIGTERM to the master, SIGKILL after 20 s).

Targets: every process of the tree reported, in every run; one sidecar per
process tree.

    .venv/bin/python benchmarks/report_all.py [--quick] [--json]
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
from typing import Any, Dict, List, Optional, Set, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from arming_cost import proc_kib, rss_kib, sidecar_pids  # noqa: E402
from gurumeditation import procstat  # noqa: E402
from import_cost import project_python  # noqa: E402

WORKERS = 16
MASTER_ROLE = "gunicorn master"
WORKER_ROLE = "gunicorn worker (SyncWorker)"
#: Seconds the master and its workers get to be listed, then to stop.
START_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0

APP = '''"""A trivial WSGI application (benchmarks/report_all.py)."""


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\\n"]
'''


def cli_env(**extra: str) -> Dict[str, str]:
    """The environment of the ``gurumeditation`` command: not armed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GURUMEDITATION")}
    env.pop("PYTHONPATH", None)
    env.update(extra)
    return env


def gm(python: str, env: Dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, "-m", "gurumeditation", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def start_server(python: str, work: str, env: Dict[str, str]) -> subprocess.Popen[bytes]:
    """gunicorn with :data:`WORKERS` sync workers on a free port, armed by
    ``GURUMEDITATION=1``; its stderr goes to ``work/server.stderr``."""
    with open(os.path.join(work, "app.py"), "w") as f:
        f.write(APP)
    server_env = dict(
        env,
        GURUMEDITATION="1",
        GURUMEDITATION_LOG_DIR=os.path.join(work, "server-reports"),
        PYTHONWARNINGS="ignore",
    )
    argv = [
        python, "-m", "gunicorn", "-w", str(WORKERS), "-k", "sync",
        "-b", "127.0.0.1:0", "--graceful-timeout", "5", "app:app",
    ]  # fmt: skip
    with open(os.path.join(work, "server.stderr"), "wb") as err:
        return subprocess.Popen(
            argv,
            cwd=work,
            env=server_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def server_stderr(work: str) -> str:
    try:
        with open(os.path.join(work, "server.stderr"), errors="replace") as f:
            return f.read()[-2000:]
    except OSError:
        return ""


def descendants(root: int) -> Set[int]:
    """``root`` and every process below it (from ``/proc``)."""
    return procstat.descendants(root)


def tree_listing(python: str, env: Dict[str, str], master: int) -> List[Dict[str, Any]]:
    """``gurumeditation list --json``, only the master and its descendants."""
    out = gm(python, env, "list", "--json")
    if out.returncode != 0:
        raise RuntimeError(f"gurumeditation list: exit {out.returncode}: {out.stderr[-2000:]}")
    family = descendants(master)
    return [e for e in json.loads(out.stdout) if e.get("pid") in family]


def wait_listed(
    proc: subprocess.Popen[bytes], python: str, env: Dict[str, str], work: str
) -> Tuple[List[int], float]:
    """(worker pids, seconds from start) once the master and every worker
    are listed with their roles."""
    started = time.monotonic()
    found: List[Dict[str, Any]] = []
    while time.monotonic() - started < START_TIMEOUT:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited {proc.returncode}: {server_stderr(work)}")
        found = tree_listing(python, env, proc.pid)
        workers = sorted(e["pid"] for e in found if e.get("role") == WORKER_ROLE)
        master = any(e["pid"] == proc.pid and e.get("role") == MASTER_ROLE for e in found)
        if master and len(workers) == WORKERS:
            return workers, time.monotonic() - started
        time.sleep(0.2)
    raise RuntimeError(
        f"not listed within {START_TIMEOUT:g} s: {len(found)} of {WORKERS + 1} processes "
        f"({[(e.get('pid'), e.get('role')) for e in found]})"
    )


def report_all_once(
    python: str, env: Dict[str, str], out_dir: str, tree: Set[int]
) -> Dict[str, Any]:
    """One timed ``report --all -o out_dir``, and what it wrote."""
    started = time.perf_counter()
    out = gm(python, env, "report", "--all", "-o", out_dir)
    wall = (time.perf_counter() - started) * 1000.0
    asked: List[Tuple[int, bool]] = []
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].isdigit():
            asked.append((int(parts[0]), parts[2] == "ok"))
    files, size = report_files(out_dir, tree)
    return {
        "wall_ms": round(wall, 1),
        "exit": out.returncode,
        "asked": len(asked),
        "asked_in_tree": sum(pid in tree for pid, _ in asked),
        "ok_in_tree": sum(ok and pid in tree for pid, ok in asked),
        "failed": [line for line in out.stdout.splitlines() if " FAILED " in line][:5],
        "files_all": len(os.listdir(out_dir)) if os.path.isdir(out_dir) else 0,
        "files": files,
        "bytes": size,
        "stderr": out.stderr[-500:],
    }


def report_files(out_dir: str, tree: Set[int]) -> Tuple[int, int]:
    """(count, bytes) of the files in ``out_dir`` of a process of ``tree``
    (``<service>_<pid>_gurumeditation_<UTC>.<ext>``)."""
    count = size = 0
    for name in os.listdir(out_dir) if os.path.isdir(out_dir) else []:
        head = name.split("_gurumeditation_", 1)[0]
        pid = head.rsplit("_", 1)[-1]
        if pid.isdigit() and int(pid) in tree:
            count += 1
            size += os.path.getsize(os.path.join(out_dir, name))
    return count, size


def pss_kib(pid: int) -> Optional[int]:
    """Proportional set size (shared pages divided among their users)."""
    return proc_kib(pid, "smaps_rollup", "Pss:")


def tree_rss(master: int, workers: List[int]) -> Dict[str, Any]:
    """VmRSS (KiB) of the master, each worker, each sidecar serving the tree
    (and the sidecars' PSS: RSS counts the pages they share once each)."""
    sidecars = sorted({p for member in [master, *workers] for p in sidecar_pids(member)})
    worker_rss = [r for r in (rss_kib(p) for p in workers) if r is not None]
    sidecar_rss = [r for r in (rss_kib(p) for p in sidecars) if r is not None]
    sidecar_pss = [r for r in (pss_kib(p) for p in sidecars) if r is not None]
    return {
        "master_rss_kib": rss_kib(master),
        "worker_rss_kib": worker_rss,
        "sidecars": len(sidecars),
        "sidecar_pids": sidecars,
        "sidecar_rss_kib": sidecar_rss,
        "sidecar_total_rss_kib": sum(sidecar_rss),
        "sidecar_total_pss_kib": sum(sidecar_pss),
    }


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run(quick: bool = False) -> Dict[str, Any]:
    python = project_python()
    repeat = 1 if quick else 3
    work = tempfile.mkdtemp(prefix="gm-report-all-bench-")
    os.chmod(work, 0o700)
    env = cli_env(XDG_RUNTIME_DIR=work)
    proc = start_server(python, work, env)
    try:
        workers, listed_s = wait_listed(proc, python, env, work)
        tree = {proc.pid, *workers}
        runs = [
            report_all_once(python, env, os.path.join(work, f"reports-{i}"), tree)
            for i in range(repeat)
        ]
        rss = tree_rss(proc.pid, workers)
    finally:
        stop_server(proc)
        shutil.rmtree(work, ignore_errors=True)
    walls = [r["wall_ms"] for r in runs]
    processes = len(tree)
    met = processes == WORKERS + 1 and all(
        r["ok_in_tree"] == processes and r["files"] == processes for r in runs
    )
    return {
        "workers": WORKERS,
        "processes": processes,
        "listed_after_s": round(listed_s, 2),
        "repeat": repeat,
        "runs": runs,
        "wall_ms": walls,
        "median_ms": round(statistics.median(walls), 1),
        "reported": min(r["ok_in_tree"] for r in runs),
        "files": min(r["files"] for r in runs),
        "bytes": int(statistics.median(r["bytes"] for r in runs)),
        "others_asked": max(r["asked"] - r["asked_in_tree"] for r in runs),
        **rss,
        "targets": {"all_reported": met, "one_sidecar": rss["sidecars"] <= 1},
    }


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


def fmt_size(n_bytes: int) -> str:
    return f"{n_bytes / 1024:.0f} KiB" if n_bytes < 1 << 20 else f"{n_bytes / (1 << 20):.1f} MiB"


def rows(result: Dict[str, Any]) -> List[str]:
    r = result
    yes = {True: "yes", False: "**no**"}
    others = ""
    if r["others_asked"]:
        others = f" (+{r['others_asked']} armed processes outside the tree asked too)"
    sidecar_one = statistics.median(r["sidecar_rss_kib"]) if r["sidecar_rss_kib"] else 0
    return [
        f"| a report of a {r['workers']}-worker server collected with `report --all` "
        f"| {r['reported']} of {r['processes']} processes, {r['median_ms']:.0f} ms "
        f"(median of {r['repeat']}), {fmt_size(r['bytes'])}{others} "
        f"| | every process reported | {yes[r['targets']['all_reported']]} |",
        f"| helper processes of that {r['processes']}-process tree "
        f"| {r['sidecars']} sidecars, {mib(r['sidecar_total_rss_kib'])} RSS in all "
        f"(one: {mib(sidecar_one)}) | | one per process tree "
        f"| {yes[r['targets']['one_sidecar']]} |",
    ]


def describe(result: Dict[str, Any]) -> str:
    r = result
    workers = r["worker_rss_kib"]
    walls = ", ".join(f"{w:.0f}" for w in r["wall_ms"])
    others = ""
    if r["others_asked"]:
        others = f", {r['others_asked']} armed processes outside the tree asked too"
    return (
        f"gunicorn -w {r['workers']} (listed after {r['listed_after_s']:.1f} s): report --all "
        f"{walls} ms (median {r['median_ms']:.0f} ms), {r['reported']} of {r['processes']} "
        f"processes reported, {r['files']} files, {fmt_size(r['bytes'])}"
        f"{others}\n"
        f"RSS: master {mib(r['master_rss_kib'] or 0)}, workers "
        f"{mib(statistics.median(workers) if workers else 0)} each (median), "
        f"{mib(sum(workers))} in all; {r['sidecars']} sidecar(s), "
        f"{mib(r['sidecar_total_rss_kib'])} RSS in all (PSS {mib(r['sidecar_total_pss_kib'])})"
    )


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="report --all of a 16-worker gunicorn")
    parser.add_argument("--quick", action="store_true", help="one run instead of 3")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    started = time.monotonic()
    result = run(args.quick)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(describe(result))
    print("\n".join(rows(result)))
    print(f"(benchmark took {time.monotonic() - started:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()

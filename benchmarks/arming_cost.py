"""What arming costs a process, side by side with oslo.reports (issue 16).

Fresh interpreters, interleaved (one of each kind per round, the order
rotating), ``--runs`` rounds; each figure the median:

* ``bare``: ``python -c pass`` (the project's venv, ``GURUMEDITATION`` unset);
* ``gm``: ``from gurumeditation import TextGuruMeditation;
  TextGuruMeditation.setup_autorun('1.0')`` and exit — what ``setup_autorun``
  costs the caller (the report machinery is imported right after by a thread
  of ours, see ``gurumeditation.early``; a process this short exits first);
* ``gm_ready``: the same, then waits until that thread is done: the whole
  price of arming, paid once, before any report;
* ``oslo``: ``from oslo_reports import guru_meditation_report as gmr;
  gmr.TextGuruMeditation.setup_autorun('1.0')`` in the oslo venv;
* ``oslo_bare``: ``python -c pass`` in the oslo venv (its own baseline);
* ``zerocode``: ``GURUMEDITATION=1 python -c pass`` (armed by
  ``gurumeditation.pth``), against ``bare`` (the same venv, unset).

Wall time is measured around the spawn and the wait, CPU time
(user + system) comes from ``wait4``'s ``rusage`` of that process, peak RSS
from ``/usr/bin/time`` (median of 5).  Modules added: ``sys.modules`` after arming minus before, in one
process each.  The sidecar's RSS is read from ``/proc`` for an armed process
that stays up.

Targets: arming ≤ 25 ms over bare and ≤ 40 modules, ≥ 10× lighter than
oslo.reports (wall over each one's bare interpreter);
``GURUMEDITATION=1 python -c pass`` within 25 ms of ``python -c pass``.

    .venv/bin/python benchmarks/arming_cost.py [--runs 21] [--json] [--no-oslo]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from import_cost import ensure_bytecode, project_python  # noqa: E402

ARM_GM = "from gurumeditation import TextGuruMeditation\nTextGuruMeditation.setup_autorun('1.0')\n"
ARM_GM_READY = ARM_GM + "from gurumeditation import early\nearly.ensure_loaded()\n"
ARM_OSLO = (
    "from oslo_reports import guru_meditation_report as gmr\n"
    "gmr.TextGuruMeditation.setup_autorun('1.0')\n"
)

TARGET_OVER_BARE_MS = 25.0
TARGET_MODULES = 40
TARGET_LIGHTER = 10.0
TARGET_ZEROCODE_MS = 25.0


def _env(**extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GURUMEDITATION")}
    env.pop("PYTHONPATH", None)
    env.update(extra)
    return env


def run_once(argv: List[str], env: Dict[str, str]) -> Tuple[float, float, int]:
    """(wall ms, CPU ms, peak RSS KiB) of one process."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - started) * 1000.0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read() if proc.stderr else b""
    if proc.returncode != 0 or err.strip():
        raise RuntimeError(f"{argv}: exit {proc.returncode}: {err.decode()[-2000:]}")
    return wall, (usage.ru_utime + usage.ru_stime) * 1000.0, int(usage.ru_maxrss)


def peak_rss_kib(argv: List[str], env: Dict[str, str]) -> Optional[int]:
    """Peak RSS of ``argv`` as ``/usr/bin/time`` sees it: ``wait4``'s own
    figure counts the pages of the forking parent (this process) the child
    had before ``exec``; ``time`` forks it from a small process instead."""
    if not os.path.exists("/usr/bin/time"):
        return None
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as out:
        subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", out.name, *argv],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        text = out.read().strip().splitlines()
    return int(text[-1]) if text and text[-1].isdigit() else None


def modules_added(python: str, code: str, env: Dict[str, str]) -> List[str]:
    script = (
        "import sys\nbefore = set(sys.modules)\n"
        + code
        + "print('\\n'.join(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run(
        [python, "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout
    return [line for line in out.splitlines() if line]


def sidecar_pids(pid: int) -> List[int]:
    """The sidecar processes serving process ``pid`` (found by command line)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if b"gurumeditation.triggers.sidecar" in b" ".join(args) and str(pid).encode() in args:
            found.append(int(entry))
    return found


def proc_kib(pid: int, name: str, key: str) -> Optional[int]:
    """The KiB of line ``key`` (``VmRSS:``, ``Pss:``...) of ``/proc/PID/<name>``."""
    try:
        with open(f"/proc/{pid}/{name}") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_kib(pid: int) -> Optional[int]:
    return proc_kib(pid, "status", "VmRSS:")


def sidecar_rss_kib(python: str, env: Dict[str, str]) -> Optional[int]:
    """RSS of the sidecar of one armed process that stays up."""
    code = ARM_GM_READY + "import sys, time\nprint('READY', flush=True)\ntime.sleep(30)\n"
    proc = subprocess.Popen(
        [python, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for pid in sidecar_pids(proc.pid):
                rss = rss_kib(pid)
                if rss is not None:
                    return rss
            time.sleep(0.05)
        return None
    finally:
        proc.terminate()
        proc.wait()


TREE = (
    ARM_GM_READY
    + "import os, sys, time\n"
    + "kids = []\n"
    + "for _ in range(int(sys.argv[1])):\n"
    + "    pid = os.fork()\n"
    + "    if pid == 0:\n"
    + "        time.sleep(30)\n"
    + "        os._exit(0)\n"
    + "    kids.append(pid)\n"
    + "print(' '.join(map(str, kids)), flush=True)\n"
    + "time.sleep(30)\n"
)


def tree_sidecars(python: str, env: Dict[str, str], workers: int = 4) -> Dict[str, Any]:
    """Sidecars of a pre-fork tree: a master armed before it forks
    ``workers`` children (as gunicorn with ``preload``), and their RSS."""
    proc = subprocess.Popen(
        [python, "-c", TREE, str(workers)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        kids = [int(x) for x in proc.stdout.readline().split()]
        tree = [proc.pid, *kids]
        time.sleep(1.0)  # every child has re-armed
        pids = sorted({p for member in tree for p in sidecar_pids(member)})
        rss = [r for r in (rss_kib(p) for p in pids) if r is not None]
        return {
            "processes": len(tree),
            "sidecars": len(pids),
            "sidecar_rss_kib": rss,
            "total_rss_kib": sum(rss),
        }
    finally:
        proc.terminate()
        proc.wait()


def run(runs: int = 21, oslo: bool = True) -> Dict[str, Any]:
    py = project_python()
    ensure_bytecode(py)
    work = tempfile.mkdtemp(prefix="gm-arming-bench-")
    os.chmod(work, 0o700)
    env = _env(XDG_RUNTIME_DIR=work)
    kinds: Dict[str, Tuple[List[str], Dict[str, str]]] = {
        "bare": ([py, "-c", "pass"], env),
        "gm": ([py, "-c", ARM_GM], env),
        "gm_ready": ([py, "-c", ARM_GM_READY], env),
        "zerocode": ([py, "-c", "pass"], dict(env, GURUMEDITATION="1")),
    }
    opy = ""
    if oslo:
        from oslo_env import ensure_oslo_venv

        opy = ensure_oslo_venv()
        kinds["oslo_bare"] = ([opy, "-c", "pass"], env)
        kinds["oslo"] = ([opy, "-c", ARM_OSLO], env)
    names = list(kinds)
    for name in names:  # warm the page cache
        run_once(*kinds[name])
    samples: Dict[str, List[Tuple[float, float, int]]] = {n: [] for n in names}
    for i in range(runs):
        order = names[i % len(names) :] + names[: i % len(names)]
        for name in order:
            samples[name].append(run_once(*kinds[name]))
    out: Dict[str, Any] = {"runs": runs}
    for name in names:
        walls = [s[0] for s in samples[name]]
        out[name] = {
            "wall_ms": round(statistics.median(walls), 2),
            "wall_min_ms": round(min(walls), 2),
            "cpu_ms": round(statistics.median(s[1] for s in samples[name]), 2),
        }
        rss = [peak_rss_kib(*kinds[name]) for _ in range(5)]
        out[name]["rss_kib"] = int(statistics.median(r for r in rss if r)) if any(rss) else 0
    gm_mods = modules_added(py, ARM_GM, env)
    out["gm"]["modules"] = len(gm_mods)
    out["gm"]["module_names"] = gm_mods
    out["gm_ready"]["modules"] = len(modules_added(py, ARM_GM_READY, env))
    if oslo:
        out["oslo"]["modules"] = len(modules_added(opy, ARM_OSLO, env))
    out["sidecar_rss_kib"] = sidecar_rss_kib(py, env)
    out["tree"] = tree_sidecars(py, env)
    bare = out["bare"]["wall_ms"]
    gm_over = out["gm"]["wall_ms"] - bare
    out["gm_over_bare_ms"] = round(gm_over, 2)
    out["gm_ready_over_bare_ms"] = round(out["gm_ready"]["wall_ms"] - bare, 2)
    out["zerocode_over_bare_ms"] = round(out["zerocode"]["wall_ms"] - bare, 2)
    met = gm_over <= TARGET_OVER_BARE_MS and out["gm"]["modules"] <= TARGET_MODULES
    if oslo:
        oslo_over = out["oslo"]["wall_ms"] - out["oslo_bare"]["wall_ms"]
        out["oslo_over_bare_ms"] = round(oslo_over, 2)
        out["lighter_than_oslo"] = round(oslo_over / max(gm_over, 0.1), 1)
        met = met and out["lighter_than_oslo"] >= TARGET_LIGHTER
    out["targets"] = {
        "arming_met": met,
        "zerocode_met": out["zerocode_over_bare_ms"] <= TARGET_ZEROCODE_MS,
    }
    try:
        os.rmdir(work)
    except OSError:
        pass
    return out


def describe(r: Dict[str, Any]) -> str:
    lines = [f"{'process':<34} {'wall ms':>8} {'min':>7} {'CPU ms':>7} {'RSS KiB':>8} {'mods':>5}"]
    labels = {
        "bare": "python -c pass",
        "gm": "gm setup_autorun (returns)",
        "gm_ready": "gm setup_autorun + loader done",
        "zerocode": "GURUMEDITATION=1 python -c pass",
        "oslo_bare": "oslo venv: python -c pass",
        "oslo": "oslo.reports setup_autorun",
    }
    for key, label in labels.items():
        x = r.get(key)
        if x is None:
            continue
        lines.append(
            f"{label:<34} {x['wall_ms']:>8.1f} {x['wall_min_ms']:>7.1f} {x['cpu_ms']:>7.1f} "
            f"{x['rss_kib']:>8} {x.get('modules', ''):>5}"
        )
    lines.append(
        f"arming over bare: {r['gm_over_bare_ms']:.1f} ms (loader done: "
        f"{r['gm_ready_over_bare_ms']:.1f} ms), {r['gm']['modules']} modules; "
        f"oslo.reports over its bare: {r.get('oslo_over_bare_ms', float('nan')):.1f} ms "
        f"-> {r.get('lighter_than_oslo', float('nan'))}x lighter: "
        f"{'MET' if r['targets']['arming_met'] else 'MISSED'}"
    )
    lines.append(
        f"GURUMEDITATION=1 python -c pass over python -c pass: "
        f"{r['zerocode_over_bare_ms']:.1f} ms: {'MET' if r['targets']['zerocode_met'] else 'MISSED'}"
    )
    lines.append(f"sidecar RSS: {r['sidecar_rss_kib']} KiB")
    tree = r["tree"]
    lines.append(
        f"pre-fork tree of {tree['processes']} processes: {tree['sidecars']} sidecar(s), "
        f"{tree['total_rss_kib']} KiB RSS in all (target: 1 per tree): "
        f"{'MET' if tree['sidecars'] <= 1 else 'MISSED'}"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="what arming costs, next to oslo.reports")
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--no-oslo", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.runs, oslo=not args.no_oslo)
    print(json.dumps(result, indent=2) if args.json else describe(result))


if __name__ == "__main__":
    main()

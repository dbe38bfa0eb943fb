"""The whole benchmark suite (``make bench``): gurumeditation side by side
with oslo.reports 3.9.0 and with the floor, in one run on one machine.

For each scenario, rounds of one sample per tool (the order rotates every
round: gm oslo floor, oslo floor gm, floor gm oslo, ...), each sample a fresh
victim process sent one SIGUSR2 (see ``driver.py``); the medians over
``--pairs`` rounds (default 5; 9 for the cheap scenarios S1, S2, S5 in the
full run) and the ratios are printed per scenario.  Then
the import cost (``import_cost.py``), what "why it is stuck" costs
(``why_costs.py``: OS facts for 200 threads, lock tracking) what arming costs (``arming_cost.py``), the figures of the new machinery (:data:`MACHINERY`),
and the idle CPU of an armed process and its sidecar with the channel's round trips
(``idle_cpu.py``, 60 s).  ``--quick`` runs 2 rounds and 5 s of idle for
iteration.

Results go to ``benchmarks/.work/latest.json`` and ``latest.md`` (the table
for ``docs/performance.md``); the first round's reports are kept under
``benchmarks/.work/reports/`` for a look.

    .venv/bin/python benchmarks/run_all.py [--quick] [--pairs N]
        [--scenarios S1,S3] [--idle-seconds S] [--no-import] [--no-idle] [--no-why]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import arming_cost  # noqa: E402
import idle_cpu  # noqa: E402
import import_cost  # noqa: E402
import watchdog_idle  # noqa: E402
import why_costs  # noqa: E402
from driver import Sample, measure  # noqa: E402
from oslo_env import WORK, ensure_oslo_venv, installed_versions  # noqa: E402

TOOLS = ("gm", "oslo", "floor")
#: Section ids of the five sections an oslo.reports report also has.
CLASSIC = ("package", "threads", "green_threads", "processes", "configuration")
NAMES = {"gm": "gurumeditation", "oslo": "oslo.reports 3.9.0", "floor": "floor"}

#: The figures of the new machinery (issue 16) that have a benchmark module
#: of their own, ``benchmarks/<module>.py`` exposing ``run(quick: bool) ->
#: dict`` and ``rows(result) -> list`` of markdown rows ``| figure | value |
#: baseline | target | met |``.  A module not in the tree is listed as not
#: measured.  The others come from runs made anyway: the request channel's
#: from ``idle_cpu``, the OS facts and lock tracking from ``why_costs``, the
#: watchdog's idle cost from ``watchdog_idle``.
MACHINERY = [
    ("report_all", "a report of a 16-worker server collected with `report --all`"),
]


class Scenario:
    def __init__(
        self,
        name: str,
        title: str,
        shape: Dict[str, int],
        target: str,
        check: Callable[[Dict[str, Any]], bool],
        oslo_here: str,
        cheap: bool = False,
    ) -> None:
        self.name = name
        self.title = title
        self.shape = shape
        self.target = target
        self.check = check
        self.oslo_here = oslo_here
        #: Samples take a second or two: the full run gives it more rounds.
        self.cheap = cheap


def _speedup(r: Dict[str, Any]) -> float:
    return float(r["ratio_oslo_gm"])


SCENARIOS: List[Scenario] = [
    Scenario(
        "S1",
        "10 threads, 50 options",
        {"threads": 10, "options": 50},
        ">= 10x faster than oslo.reports",
        lambda r: _speedup(r) >= 10,
        "43 ms",
        cheap=True,
    ),
    Scenario(
        "S2",
        "200 threads at depth 20, 500 options",
        {"threads": 200, "depth": 20, "options": 500},
        ">= 20x faster, <= 1.5x the floor",
        lambda r: _speedup(r) >= 20 and r["ratio_gm_floor"] <= 1.5,
        "445 ms",
        cheap=True,
    ),
    Scenario(
        "S3",
        "50 threads + 10,000 greenthreads (depth 10)",
        {"threads": 50, "green": 10000, "green_depth": 10},
        ">= 50x faster, pause <= 50 ms",
        lambda r: _speedup(r) >= 50 and r["gm"]["max_gap_ms"] <= 50,
        "19.6 s, 206 ms pause",
    ),
    Scenario(
        "S4",
        "50 threads, 2,000,000-object heap, 1,000 greenthreads",
        {"threads": 50, "heap": 2_000_000, "green": 1000, "green_depth": 10},
        ">= 10x faster",
        lambda r: _speedup(r) >= 10,
        "2.1 s",
    ),
    Scenario(
        "S5",
        "10 threads + 10,000 asyncio tasks (depth 10)",
        {"threads": 10, "tasks": 10000, "task_depth": 10},
        "every task shown, faster than the per-task floor",
        lambda r: r["gm"]["shown"].get("Asyncio Tasks", 0) == 10000 and r["ratio_gm_floor"] < 1,
        "0 of 10,000 tasks shown",
        cheap=True,
    ),
]


def median_sample(samples: List[Sample]) -> Dict[str, Any]:
    shown: Dict[str, int] = {}
    for key in samples[0].shown:
        shown[key] = int(statistics.median(s.shown.get(key, 0) for s in samples))
    return {
        "n": len(samples),
        "latency_ms": statistics.median(s.latency_ms for s in samples),
        "latency_all_ms": [round(s.latency_ms, 2) for s in samples],
        "cpu_ms": statistics.median(s.cpu_ms for s in samples),
        "max_gap_ms": statistics.median(s.max_gap_ms for s in samples),
        "reports_per_signal": max(s.reports for s in samples),
        "bytes": int(statistics.median(s.bytes for s in samples)),
        "shown": shown,
        "setup_s": statistics.median(s.setup_s for s in samples),
    }


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def machine() -> Dict[str, Any]:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "-C", ROOT, "log", "-1", "--format=%h"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "?"
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "commit": commit,
        "load_start": loadavg(),
    }


def fmt_ms(ms: float) -> str:
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    if ms >= 100:
        return f"{ms:.0f} ms"
    return f"{ms:.1f} ms"


def warm_up(pythons: Dict[str, str], log: Callable[[str], None]) -> None:
    """One untimed S1 sample per tool: source files, ``.pyc`` and ``/proc``
    paths in the page cache before anything is measured (a fresh clone's
    first report is otherwise several times slower than any later one)."""
    for tool in TOOLS:
        log_dir = os.path.join(WORK, "reports", "warm-up", tool)
        sample = measure(pythons[tool], tool, SCENARIOS[0].shape, log_dir)
        log(f"  warm-up {tool:<5} {fmt_ms(sample.latency_ms):>9}")


def clean_runtime_dir(python: str) -> int:
    """How many armed processes listen on a channel here (there is no runtime
    directory any more: nothing to clean, nothing a report reads)."""
    code = "from gurumeditation import discovery\nprint(len(discovery.scan()))\n"
    result = subprocess.run([python, "-c", code], capture_output=True, text=True)
    try:
        return int(result.stdout.strip() or -1)
    except ValueError:
        return -1


def breakdown(sc: Scenario, python: str) -> List[Dict[str, Any]]:
    """gurumeditation's time per phase in this scenario (``breakdown.py``,
    a fresh process): first and second report."""
    args = [python, os.path.join(HERE, "breakdown.py"), "--json"]
    for key, value in sc.shape.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    env = dict(os.environ)
    env["PYTHONWARNINGS"] = "ignore"
    result = subprocess.run(args, capture_output=True, text=True, timeout=900, env=env)
    if result.returncode != 0:
        return [{"error": result.stderr[-2000:]}]
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run_scenario(
    sc: Scenario, pythons: Dict[str, str], pairs: int, log: Callable[[str], None]
) -> Dict[str, Any]:
    samples: Dict[str, List[Sample]] = {t: [] for t in TOOLS}
    for round_no in range(pairs):
        order = TOOLS[round_no % 3 :] + TOOLS[: round_no % 3]
        for tool in order:
            log_dir = os.path.join(WORK, "reports", sc.name, f"{tool}-{round_no}")
            sample = measure(pythons[tool], tool, sc.shape, log_dir, keep=round_no == 0)
            samples[tool].append(sample)
            log(
                f"  {sc.name} round {round_no + 1}/{pairs} {tool:<5} "
                f"{fmt_ms(sample.latency_ms):>9}  cpu {fmt_ms(sample.cpu_ms):>9}  "
                f"gap {sample.max_gap_ms:7.1f} ms  {sample.bytes:>9} B  "
                f"reports {sample.reports}  shown {sample.shown}"
            )
    result: Dict[str, Any] = {t: median_sample(samples[t]) for t in TOOLS}
    gm, oslo, floor = result["gm"], result["oslo"], result["floor"]
    result["ratio_oslo_gm"] = oslo["latency_ms"] / gm["latency_ms"]
    result["ratio_gm_floor"] = gm["latency_ms"] / floor["latency_ms"]
    result["cpu_ratio_oslo_gm"] = oslo["cpu_ms"] / max(gm["cpu_ms"], 1e-9)
    result["cpu_ratio_gm_floor"] = gm["cpu_ms"] / max(floor["cpu_ms"], 1e-9)
    # per-round ratios too: robust to a slow moment hitting one tool
    result["ratio_oslo_gm_per_round"] = [
        round(o.latency_ms / g.latency_ms, 2) for o, g in zip(samples["oslo"], samples["gm"])
    ]
    result["shape"] = sc.shape
    result["title"] = sc.title
    result["target"] = sc.target
    result["oslo_here"] = sc.oslo_here
    result["met"] = bool(sc.check(result))
    result["breakdown"] = breakdown(sc, pythons["gm"])
    return result


def scenario_line(name: str, r: Dict[str, Any]) -> str:
    gm, oslo, floor = r["gm"], r["oslo"], r["floor"]
    return (
        f"{name}: gm {fmt_ms(gm['latency_ms'])} | oslo {fmt_ms(oslo['latency_ms'])} | "
        f"floor {fmt_ms(floor['latency_ms'])} | oslo/gm {r['ratio_oslo_gm']:.1f}x | "
        f"gm/floor {r['ratio_gm_floor']:.2f} | pause gm {gm['max_gap_ms']:.1f} ms, "
        f"oslo {oslo['max_gap_ms']:.1f} ms | target {r['target']}: "
        f"{'MET' if r['met'] else 'MISSED'}"
    )


def targets_table(results: Dict[str, Any]) -> List[str]:
    rows = ["| target | result | met |", "|---|---|---|"]

    def yes(flag: bool) -> str:
        return "yes" if flag else "**no**"

    imp = results.get("import")
    if imp:
        gm, oslo = imp["gm"], imp.get("oslo") or {}
        rows.append(
            f"| `import gurumeditation` ≤ 3 ms, ≤ 15 modules | {gm['median_ms']:.2f} ms, "
            f"{gm['modules']} module(s) (oslo.reports: {oslo.get('median_ms', 0):.0f} ms, "
            f"{oslo.get('modules', '?')} modules) | {yes(imp['targets']['met'])} |"
        )
    for name, r in results["scenarios"].items():
        gm, oslo = r["gm"], r["oslo"]
        speed = f"{r['ratio_oslo_gm']:.1f}× faster (CPU {r['cpu_ratio_oslo_gm']:.1f}×)"
        if name == "S2":
            speed += f", {r['ratio_gm_floor']:.2f}× the floor (CPU {r['cpu_ratio_gm_floor']:.2f}×)"
        elif name == "S3":
            speed += f", pause {gm['max_gap_ms']:.1f} ms (oslo.reports {oslo['max_gap_ms']:.0f} ms)"
        elif name == "S5":
            tasks = gm["shown"].get("Asyncio Tasks", 0)
            speed = (
                f"{tasks:,} of 10,000 tasks shown (oslo.reports "
                f"{oslo['shown'].get('Asyncio Tasks', 0):,}), in {r['ratio_gm_floor']:.2f}× "
                f"the floor's time"
            )
        rows.append(f"| {name}: {r['target']} | {speed} | {yes(r['met'])} |")
    arm = results.get("arming")
    if arm:
        rows.append(
            f"| arming (`setup_autorun` from a bare interpreter): ≤ 25 ms over bare, ≤ 40 "
            f"modules, ≥ 10× lighter than oslo.reports | {arm['gm_over_bare_ms']:.1f} ms over "
            f"bare, {arm['gm']['modules']} modules; oslo.reports {arm['oslo_over_bare_ms']:.0f} ms "
            f"over bare, {arm['oslo']['modules']} modules: **{arm['lighter_than_oslo']:.1f}×** "
            f"lighter (the loader's {arm['gm_ready_over_bare_ms']:.0f} ms follow in the "
            f"background) | {yes(arm['targets']['arming_met'])} |"
        )
        rows.append(
            f"| `GURUMEDITATION=1 python -c pass` within 25 ms of `python -c pass` "
            f"| {arm['zerocode_over_bare_ms']:+.1f} ms | {yes(arm['targets']['zerocode_met'])} |"
        )
        tree = arm["tree"]
        rows.append(
            f"| helpers: one sidecar per process tree | {tree['sidecars']} sidecars for "
            f"{tree['processes']} processes (master + {tree['processes'] - 1} forked workers), "
            f"{tree['total_rss_kib'] / 1024:.1f} MiB RSS; one sidecar "
            f"{(arm['sidecar_rss_kib'] or 0) / 1024:.1f} MiB | {yes(tree['sidecars'] <= 1)} |"
        )
    idle = results.get("idle")
    if idle:
        rows.append(
            f"| idle: 0 CPU ticks in {idle['seconds']:g} s (process and sidecar) "
            f"| {idle['ticks']['gm']} + {idle.get('sidecar_ticks', '?')} ticks "
            f"| {yes(idle['met'])} |"
        )
    return rows


def rounds_text(results: Dict[str, Any]) -> str:
    per = {name: r.get("rounds", results["pairs"]) for name, r in results["scenarios"].items()}
    if len(set(per.values())) <= 1:
        return f"{results['pairs']} rounds per scenario"
    return "rounds: " + ", ".join(f"{name} {n}" for name, n in per.items())


def kib(size: int) -> str:
    return f"{size / 1024:.0f} KiB" if size >= 10240 else f"{size / 1024:.1f} KiB"


def shown_cell(shown: Dict[str, int]) -> str:
    parts = []
    for key, short in (("Threads", "thr"), ("Green Threads", "green"), ("Asyncio Tasks", "tasks")):
        if key in shown and (shown[key] or key != "Asyncio Tasks"):
            parts.append(f"{shown[key]} {short}")
    return ", ".join(parts) if parts else "-"


def markdown(results: Dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"Run of {m['date_utc']} on {m['cores']} × {m['cpu']} (kernel {m['kernel']}), "
        f"Python {m['python']}, gurumeditation at `{m['commit']}`, "
        f"oslo.reports {results['versions'].get('oslo.reports')} with eventlet "
        f"{results['versions'].get('eventlet')}; {rounds_text(results)}; "
        f"load average {m['load_start']} at the start, {m.get('load_end', '?')} at the end.",
        "",
        "Signal → report file complete (median wall-clock latency) and the victim's CPU time "
        "for the report:",
        "",
        "| scenario | gurumeditation | oslo.reports | floor | **oslo / gm** | gm / floor "
        "| CPU gm / oslo / floor | CPU oslo / gm | CPU gm / floor | target | met |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results["scenarios"].items():
        gm, oslo, floor = r["gm"], r["oslo"], r["floor"]
        lines.append(
            f"| {name} {r['title']} | {fmt_ms(gm['latency_ms'])} | {fmt_ms(oslo['latency_ms'])} "
            f"| {fmt_ms(floor['latency_ms'])} | **{r['ratio_oslo_gm']:.1f}×** "
            f"| {r['ratio_gm_floor']:.2f}× "
            f"| {fmt_ms(gm['cpu_ms'])} / {fmt_ms(oslo['cpu_ms'])} / {fmt_ms(floor['cpu_ms'])} "
            f"| {r['cpu_ratio_oslo_gm']:.1f}× | {r['cpu_ratio_gm_floor']:.2f}× "
            f"| {r['target']} | {'yes' if r['met'] else '**no**'} |"
        )
    lines += ["", "Targets (issues 8 and 16), judged on the latency medians:", ""]
    lines += targets_table(results)
    lines += [
        "",
        "What the application and the operator see (medians):",
        "",
        "| scenario | longest pause of another thread gm / oslo / floor "
        "| report size gm / oslo / floor | units shown gm / oslo / floor "
        "| reports per signal gm / oslo / floor |",
        "|---|---|---|---|---|",
    ]
    for name, r in results["scenarios"].items():
        gm, oslo, floor = r["gm"], r["oslo"], r["floor"]
        lines.append(
            f"| {name} "
            f"| {gm['max_gap_ms']:.1f} / {oslo['max_gap_ms']:.1f} / {floor['max_gap_ms']:.1f} ms "
            f"| {kib(gm['bytes'])} / {kib(oslo['bytes'])} / {kib(floor['bytes'])} "
            f"| {shown_cell(gm['shown'])} / {shown_cell(oslo['shown'])} / "
            f"{shown_cell(floor['shown'])} "
            f"| {gm['reports_per_signal']} / {oslo['reports_per_signal']} / "
            f"{floor['reports_per_signal']} |"
        )
    lines += [
        "",
        "Where gurumeditation's time goes (`breakdown.py`: the same shape in one fresh "
        "process; CPU ms of the thread writing the report; the three largest phases of the "
        "first report):",
        "",
        "| scenario | first report | the classic five sections | largest phases | second report |",
        "|---|---|---|---|---|",
    ]
    for name, r in results["scenarios"].items():
        rows = r.get("breakdown") or []
        if not rows or "error" in rows[0]:
            lines.append(f"| {name} | error | | | |")
            continue
        first = rows[0]
        parts = sorted(
            ((k, v) for k, v in first.items() if k not in ("total", "wall")),
            key=lambda kv: kv[1],
            reverse=True,
        )
        top = ", ".join(f"{k} {v:.1f}" for k, v in parts[:3])
        second = f"{rows[1]['total']:.1f}" if len(rows) > 1 else "-"
        classic = sum(float(first.get(k, 0.0)) for k in CLASSIC)
        lines.append(f"| {name} | {first['total']:.1f} | {classic:.1f} | {top} | {second} |")
    arm = results.get("arming")
    if arm:
        lines += ["", *arming_table(arm)]
    lines += ["", *machinery_table(results)]
    imp = results.get("import")
    if imp:
        gm, oslo = imp["gm"], imp.get("oslo")
        lines += [
            "",
            "| import (median of "
            f"{gm['runs']} fresh interpreters, `-X importtime`) | time | modules added |",
            "|---|---|---|",
            f"| `import gurumeditation` | {gm['median_ms']:.2f} ms | {gm['modules']} |",
            f"| `from gurumeditation import TextGuruMeditation` (at setup) "
            f"| {imp['gm_facade']['median_ms']:.1f} ms | {imp['gm_facade']['modules']} |",
        ]
        if oslo:
            lines.append(
                f"| `from oslo_reports import guru_meditation_report` "
                f"| {oslo['median_ms']:.1f} ms | {oslo['modules']} |"
            )
        lines.append(
            f"| target ≤ 3 ms, ≤ 15 modules | {'met' if imp['targets']['met'] else '**missed**'} |"
            " |"
        )
    idle = results.get("idle")
    if idle:
        lines += [
            "",
            f"| idle {idle['seconds']:g} s, armed (utime+stime ticks) | ticks | OS threads |",
            "|---|---|---|",
        ]
        for tool, ticks in idle["ticks"].items():
            label = {"gm": "gurumeditation", "oslo": "oslo.reports", "none": "not armed"}[tool]
            lines.append(f"| {label} | {ticks} | {idle['os_threads'][tool]} |")
        lines.append(f"| target 0 ticks | {'met' if idle['met'] else '**missed**'} | |")
    return "\n".join(lines)


def arming_table(arm: Dict[str, Any]) -> List[str]:
    """What arming costs (``arming_cost.py``): medians of fresh processes."""
    labels = [
        ("bare", "`python -c pass` (project venv)"),
        ("gm", "gurumeditation `setup_autorun('1.0')`, returns and exits"),
        ("gm_ready", "the same, then waits for the loader thread (everything armed)"),
        ("zerocode", "`GURUMEDITATION=1 python -c pass`"),
        ("oslo_bare", "`python -c pass` (oslo venv)"),
        ("oslo", "oslo.reports `setup_autorun('1.0')`"),
    ]
    lines = [
        f"Arming (`arming_cost.py`, median of {arm['runs']} fresh processes per row, "
        "interleaved; CPU from `wait4`, peak RSS from `/usr/bin/time`):",
        "",
        "| process | wall | CPU | peak RSS | modules added |",
        "|---|---|---|---|---|",
    ]
    for key, label in labels:
        row = arm.get(key)
        if row is None:
            continue
        lines.append(
            f"| {label} | {row['wall_ms']:.1f} ms | {row['cpu_ms']:.1f} ms "
            f"| {row['rss_kib'] / 1024:.1f} MiB | {row.get('modules', '')} |"
        )
    return lines


def machinery_table(results: Dict[str, Any]) -> List[str]:
    """The new machinery's figures: the channel's (from the idle run) and
    each other benchmark of :data:`MACHINERY` that is in the tree."""
    lines = [
        "The new machinery (issue 16):",
        "",
        "| figure | value | baseline | target | met |",
        "|---|---|---|---|---|",
    ]
    idle = results.get("idle")
    if idle and "channel" in idle:
        trip = idle["channel"]
        lines.append(
            f"| request channel idle, {idle['seconds']:g} s (in-process thread + sidecar) "
            f"| {idle['ticks']['gm']} + {idle['sidecar_ticks']} ticks | not armed: "
            f"{idle['ticks'].get('none', '?')} ticks | 0 ticks | "
            f"{'yes' if idle['met'] else '**no**'} |"
        )
        lines.append(
            f"| request channel round trip (`info`; JSON report first / later) "
            f"| {trip['info_ms']:.1f} ms; {trip['first_report_ms']:.1f} / "
            f"{trip['report_ms']:.1f} ms | | | |"
        )
    why = results.get("why")
    if why:
        lines += why_costs.rows(why)
    else:
        lines.append("| per-thread OS facts, lock tracking | not run (--no-why) | | | |")
    idle_dog = results.get("watchdog_idle")
    if idle_dog:
        lines += watchdog_idle.rows(idle_dog)
    else:
        lines.append("| the stall watchdog idle | not run (--no-idle) | | | |")
    for module, title in MACHINERY:
        got = results.get("machinery", {}).get(module)
        if got is None:
            lines.append(f"| {title} | not measured: `benchmarks/{module}.py` is not here | | | |")
        elif "error" in got:
            lines.append(f"| {title} | error: {got['error'][:120]} | | | |")
        else:
            lines += got["rows"]
    return lines


def run_machinery(quick: bool, log: Callable[[str], None]) -> Dict[str, Any]:
    """Each :data:`MACHINERY` benchmark that is in the tree, run once."""
    import importlib

    out: Dict[str, Any] = {}
    for module, title in MACHINERY:
        if not os.path.exists(os.path.join(HERE, f"{module}.py")):
            continue
        log(f"machinery: {title}")
        try:
            mod = importlib.import_module(module)
            result = mod.run(quick)
            out[module] = {"result": result, "rows": list(mod.rows(result))}
        except Exception as exc:  # one figure missing must not cost the run
            out[module] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


DOCS = os.path.join(ROOT, "docs", "performance.md")
BEGIN = "<!-- latest-run: written by benchmarks/run_all.py --update-docs -->"
END = "<!-- /latest-run -->"


def update_docs(table: str, path: str = DOCS) -> bool:
    """Put ``table`` between the latest-run markers of ``docs/performance.md``."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return False
    start = text.find(BEGIN)
    end = text.find(END)
    if start < 0 or end < start:
        return False
    text = text[: start + len(BEGIN)] + "\n" + table + "\n" + text[end:]
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return True


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds, 5 s idle")
    parser.add_argument("--pairs", type=int, default=0, help="rounds per scenario (default 5)")
    parser.add_argument("--scenarios", default="S1,S2,S3,S4,S5")
    parser.add_argument("--idle-seconds", type=float, default=0.0)
    parser.add_argument("--no-import", action="store_true")
    parser.add_argument("--no-idle", action="store_true")
    parser.add_argument("--no-why", action="store_true", help="skip why_costs.py")
    parser.add_argument(
        "--watchdog-seconds",
        type=float,
        default=0.0,
        help="idle seconds of the watchdog benchmark (default: the idle seconds, at most 10)",
    )
    parser.add_argument("--no-arming", action="store_true")
    parser.add_argument(
        "--update-docs", action="store_true", help="write the tables into docs/performance.md"
    )
    args = parser.parse_args(argv)
    pairs = args.pairs or (2 if args.quick else 5)
    # the cheap scenarios (S1, S2, S5) get more rounds in the full run: their
    # medians of a few milliseconds are the most exposed to a loaded machine
    cheap_pairs = pairs if (args.quick or args.pairs) else 9
    idle_seconds = args.idle_seconds or (5.0 if args.quick else 60.0)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    gm_python = import_cost.project_python()
    import_cost.ensure_bytecode(gm_python)  # as an installed wheel has them
    oslo_python = ensure_oslo_venv()
    pythons = {"gm": gm_python, "oslo": oslo_python, "floor": gm_python}
    shutil.rmtree(os.path.join(WORK, "reports"), ignore_errors=True)

    results: Dict[str, Any] = {
        "machine": machine(),
        "pairs": pairs,
        "versions": installed_versions(oslo_python, ["oslo.reports", "eventlet", "psutil"]),
        "gm_versions": installed_versions(gm_python, ["gurumeditation", "eventlet", "greenlet"]),
        "scenarios": {},
    }
    log(f"benchmarks: {pairs} rounds per scenario, load average {loadavg()}")
    results["runtime_dir_live_entries"] = clean_runtime_dir(gm_python)
    warm_up(pythons, log)
    wanted = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for sc in SCENARIOS:
        if sc.name not in wanted:
            continue
        log(f"{sc.name}: {sc.title}")
        clean_runtime_dir(gm_python)
        r = run_scenario(sc, pythons, cheap_pairs if sc.cheap else pairs, log)
        r["rounds"] = cheap_pairs if sc.cheap else pairs
        results["scenarios"][sc.name] = r
        print(scenario_line(sc.name, r), flush=True)
    if not args.no_import:
        results["import"] = import_cost.run(15)
        print(import_cost.describe(results["import"]), flush=True)
    if not args.no_why:
        results["why"] = why_costs.run(repeat=7 if args.quick else 21)
        print(why_costs.describe(results["why"]), flush=True)
    if not args.no_arming:
        log("arming")
        results["arming"] = arming_cost.run(7 if args.quick else 21)
        print(arming_cost.describe(results["arming"]), flush=True)
    results["machinery"] = run_machinery(args.quick, log)
    if not args.no_idle:
        log(f"idle: {idle_seconds:g} s")
        results["idle"] = idle_cpu.run(idle_seconds)
        print(idle_cpu.describe(results["idle"]), flush=True)
        # the watchdog's idle cost: short by default (60 s in docs/performance.md)
        watchdog_seconds = args.watchdog_seconds or min(idle_seconds, 10.0)
        log(f"watchdog idle: {watchdog_seconds:g} s")
        results["watchdog_idle"] = watchdog_idle.run(watchdog_seconds)
        print(watchdog_idle.describe(results["watchdog_idle"]), flush=True)
    results["machine"]["load_end"] = loadavg()

    os.makedirs(WORK, exist_ok=True)
    with open(os.path.join(WORK, "latest.json"), "w") as f:
        json.dump(results, f, indent=2)
    table = markdown(results)
    with open(os.path.join(WORK, "latest.md"), "w") as f:
        f.write(table + "\n")
    print()
    print(table)
    if args.update_docs:
        print("docs/performance.md " + ("updated" if update_docs(table) else "NOT updated"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Diagnosis: what stands out, before any section — deadlocks (cycles of the
wait-for graph, across threads, greenlets and tasks), the main thread or an
event loop blocked and on what, threads burning CPU, many units waiting on
one resource, a stall the trigger saw, the report signal taken over, and
sections that failed.  Left out when nothing stands out.

Collected after every other section (``SectionSpec.first``): it reads the
wait-for graph the Threads, Green Threads and Asyncio Tasks sections filled
(``ctx.state.why()``, :mod:`..why.graph`) and the sections that failed
(``ctx.state.failed``); it is placed first in the document.

Data: :class:`~gurumeditation.model.DiagnosisData`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Dict, List, Optional, Set

from ..model import DiagnosisData, Finding
from ..report import Context, SectionSpec
from ..why.graph import Key, WhyState, bare

#: This many units or more waiting on one resource are a finding.
CROWD = 3

#: Waits a crowd is made of (many units waiting on an empty queue or an
#: event is how an idle pool looks, not a finding).
CROWD_KINDS = frozenset({"lock", "rlock", "semaphore", "import", "future", "barrier"})

#: Waits that block the main thread or an event loop's thread for another unit.
BLOCKING_KINDS = frozenset({"lock", "rlock", "semaphore", "import", "future", "barrier", "join"})

_NOUNS = {"thread": "threads", "greenlet": "green threads", "task": "tasks"}


def deadlocks(why: WhyState) -> List[Finding]:
    found: List[Finding] = []
    for ring in why.cycles():
        labels = [why.label(k) for k in ring]
        found.append(
            {
                "kind": "deadlock",
                "summary": f"Deadlock of {len(ring)} units: " + " -> ".join(labels + labels[:1]),
                "units": [why.step(k) for k in ring],
            }
        )
    return found


def blocked(why: WhyState, in_cycles: Set[Key]) -> List[Finding]:
    """The main thread, or an event loop's thread, waiting on another unit."""
    found: List[Finding] = []
    for key, rec in why.units.items():
        if rec.kind != "thread" or key in in_cycles or rec.wait is None:
            continue
        loop = why.loop_threads.get(rec.id)
        if not rec.main and loop is None:
            continue
        if bare(rec.wait["kind"]) not in BLOCKING_KINDS:
            continue
        step = why.step(key)
        who = (
            f"Event loop {loop} blocked: its thread" if loop is not None else "Main thread blocked:"
        )
        found.append(
            {
                "kind": "loop_blocked" if loop is not None else "main_blocked",
                "summary": f"{who} {rec.label} waits on {step.get('waits')}"
                + (f" held by {step['held_by']}" if step.get("held_by") else "")
                + (f" at {step['where']}" if step.get("where") else ""),
                "units": [step],
            }
        )
    return found


def busy(why: WhyState) -> List[Finding]:
    found: List[Finding] = []
    for key, rec in why.units.items():
        if rec.kind == "thread" and rec.running:
            summary = f"Busy: {rec.label} was running ({rec.cpu})"
            if rec.where:
                summary += f" at {rec.where}"
            step = why.step(key)
            found.append({"kind": "cpu", "summary": summary, "units": [step]})
    return found


def crowds(why: WhyState) -> List[Finding]:
    waiting: Dict[int, List[Key]] = defaultdict(list)
    for key, rec in why.units.items():
        wait = rec.wait
        if wait is not None and "id" in wait and bare(wait["kind"]) in CROWD_KINDS:
            waiting[wait["id"]].append(key)
    found: List[Finding] = []
    for _, keys in sorted(waiting.items(), key=lambda kv: -len(kv[1])):
        if len(keys) < CROWD:
            continue
        first = why.units[keys[0]]
        assert first.wait is not None
        kinds = {k[0] for k in keys}
        noun = _NOUNS.get(next(iter(kinds)), "units") if len(kinds) == 1 else "units"
        step = why.step(keys[0])
        summary = f"{len(keys):,} {noun} wait on {first.wait['resource']}"
        if step.get("held_by"):
            summary += f" held by {step['held_by']}"
        elif step.get("owner"):
            summary += f", {step['owner']}"
        finding: Finding = {
            "kind": "crowd",
            "summary": summary,
            "count": len(keys),
            "resource": first.wait["resource"],
            "units": [why.step(k) for k in keys[:5]],
        }
        found.append(finding)
    return found


def stall(trigger: Any) -> List[Finding]:
    info = trigger.get("stall") if isinstance(trigger, dict) else None
    if not isinstance(info, dict):
        return []
    summary = f"Stall: {info.get('what', '?')} for {info.get('seconds', '?')} s"
    if info.get("where"):
        summary += f" at {info['where']}"
    return [{"kind": "stall", "summary": summary}]


def signal_taken() -> List[Finding]:
    try:
        from ..discovery import signal_state

        state = signal_state()
    except Exception:
        return []
    if state is None or state.get("ours", True):
        return []
    return [
        {
            "kind": "signal",
            "summary": f"Signal {state.get('name')} was taken over by "
            f"{state.get('takenOverBy') or '?'}: ask for reports over the channel "
            "(gurumeditation report)",
        }
    ]


def failed(ctx: Context) -> List[Finding]:
    return [
        {"kind": "section_failed", "summary": f"Section {title} failed: {why}", "section": sid}
        for sid, title, why in ctx.state.failed or []
    ]


def notes(why: WhyState) -> List[str]:
    unknown = sum(
        1
        for rec in why.units.values()
        if rec.wait is not None and str(rec.wait.get("owner", "")).startswith("owner unknown")
    )
    if not unknown:
        return []
    return [
        f"{unknown} units wait on locks or semaphores that record no owner; their holders "
        "are not known (track_locks=True, [oslo_reports] track_locks or "
        "GURUMEDITATION_TRACK_LOCKS=1 names them for locks created after arming)"
    ]


def collect(ctx: Context) -> Optional[DiagnosisData]:
    if ctx.options.track_locks:  # libraries loaded since arming are tracked from now on
        from ..why import tracking

        tracking.install()
    why = ctx.state.why(ctx.redactor.text)
    why.finish_cpu()
    findings: List[Finding] = []
    findings += stall(ctx.trigger)
    dead = deadlocks(why)
    findings += dead
    in_cycles = {(u["kind"], u["id"]) for f in dead for u in f.get("units", []) if "id" in u}
    findings += blocked(why, in_cycles)
    findings += crowds(why)
    findings += busy(why)
    findings += signal_taken()
    findings += failed(ctx)
    if not findings:
        return None
    return {"findings": findings, "notes": notes(why)}


SECTION = SectionSpec("diagnosis", "Diagnosis", collect, first=True)

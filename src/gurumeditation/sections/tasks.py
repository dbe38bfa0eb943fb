"""Asyncio Tasks: every task of every event loop in every thread, with the
full await chain down to the frame where it is parked.

What the innermost level waits on is the task's ``_fut_waiter``: another task
(then "awaits" names it, and that task's "awaited by" names this one), a
``gather()`` of tasks, or a plain future.  A ring of tasks awaiting one
another is flagged as a cycle (:func:`find_cycles`).  What is read of asyncio
and how lives in :mod:`..glue.asyncio`.  The section is left out when the
process has not imported ``asyncio`` or has no task; this module never imports
it.

Data: :class:`~gurumeditation.model.TasksData` of
:class:`~gurumeditation.model.TaskMember`.
"""

from __future__ import annotations

import sys
from typing import Any, Dict, List, Optional, Set, Tuple

from ..glue import asyncio as glue
from ..glue import loaded
from ..model import (
    Awaited,
    LoopFacts,
    TaskMember,
    TasksData,
    UnitError,
    Wait,
    safe_str,
    unit_error,
)
from ..report import Context, SectionSpec
from ..stacks import StackKey, Unit, build_entries
from ..unpatched import thread_objects
from ..why import waits


def find_cycles(edges: Dict[int, List[int]]) -> List[List[int]]:
    """Strongly connected rings of the awaits graph (Tarjan, iterative): each
    ring of two or more nodes, or a node with an edge to itself, sorted."""
    index: Dict[int, int] = {}
    low: Dict[int, int] = {}
    on_stack: Set[int] = set()
    stack: List[int] = []
    cycles: List[List[int]] = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work: List[Tuple[int, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            succ = edges.get(node, [])
            if i < len(succ):
                work.append((node, i + 1))
                nxt = succ[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                ring: List[int] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    ring.append(member)
                    if member == node:
                        break
                if len(ring) > 1 or node in edges.get(node, []):
                    cycles.append(sorted(ring))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return cycles


def name_order(name: str) -> Tuple[str, int]:
    """Sort key of task names: ``Task-2`` before ``Task-10``."""
    head = name.rstrip("0123456789")
    tail = name[len(head) :]
    return (head, int(tail) if tail else -1)


def loop_facts(loops: Dict[int, Any], threads: Dict[int, Any], frames: Any) -> Dict[int, LoopFacts]:
    """Facts of every loop by ``id()``, labelled ``loop 1``, ``loop 2``... in
    the order given."""
    facts: Dict[int, LoopFacts] = {}
    for number, (loop_id, loop) in enumerate(loops.items(), 1):
        lfacts: LoopFacts = {"id": loop_id, "label": f"loop {number}"}
        if loop is not None:
            lfacts["type"] = type(loop).__name__
            try:
                lfacts["running"] = bool(loop.is_running())
                lfacts["closed"] = bool(loop.is_closed())
                lfacts["debug"] = bool(loop.get_debug())
            except Exception:
                pass
            ident = glue.loop_thread(loop)
            if ident is not None and ident in frames:
                lfacts["thread"] = ident
                thread = threads.get(ident)
                if thread is not None:
                    lfacts["thread_name"] = safe_str(getattr(thread, "name", ""))
        lfacts["tasks"] = 0
        facts[loop_id] = lfacts
    return facts


class _Graph:
    """First pass over the tasks: each one's await chain, what it awaits,
    and the awaits graph between tasks."""

    def __init__(self, names: Dict[int, str]) -> None:
        self.names = names
        self.reader = glue.ChainReader()
        self.chains: Dict[int, StackKey] = {}
        self.awaits: Dict[int, List[Awaited]] = {}
        self.edges: Dict[int, List[int]] = {}
        self.awaited_by: Dict[int, List[int]] = {}
        self.errors: Dict[int, UnitError] = {}
        self.found: Dict[int, waits.Found] = {}

    def add(self, task: Any) -> None:
        tid = id(task)
        try:
            key, tail = self.reader.task_chain(task)
        except Exception as exc:  # an odd awaitable must not cost the other tasks
            key, tail = (), None
            self.errors[tid] = unit_error(exc)
        self.chains[tid] = key
        if tid not in self.errors:
            try:
                got = waits.of_task(self.reader.last_frames, tid)
            except Exception:  # an odd frame must not cost the section
                got = None
            if got is not None:
                self.found[tid] = got
        self.reader.last_frames = []
        self.awaits[tid] = [self.label(tid, obj) for obj in glue.awaited_objects(task, tail)]
        for waiter in glue.awaited_by(task):
            if tid not in self.edges.get(id(waiter), []):
                self.link(id(waiter), tid)

    def link(self, waiter: int, awaited: int) -> None:
        self.edges.setdefault(waiter, []).append(awaited)
        self.awaited_by.setdefault(awaited, []).append(waiter)

    def label(self, tid: int, obj: Any) -> Awaited:
        """What ``obj``, awaited by task ``tid``, is (a task is linked too)."""
        oid = id(obj)
        if glue.is_task(obj):
            self.link(tid, oid)
            return {"kind": "task", "id": oid, "name": self.names.get(oid) or glue.task_name(obj)}
        if glue.is_gather(obj):
            return {"kind": "gather", "type": type(obj).__name__, "id": oid}
        label: Awaited = {"kind": "future", "type": type(obj).__name__, "id": oid}
        state = glue.future_state(obj)
        if state is not None:
            label["state"] = state
        created = glue.future_created_at(obj)
        if created:
            label["created_at"] = created
        return label


def task_facts(
    task: Any, names: Dict[int, str], lfacts: LoopFacts, running: bool, graph: _Graph
) -> TaskMember:
    tid = id(task)
    state = glue.task_state(task)
    facts: TaskMember = {"id": tid, "name": names[tid], "state": state, "loop": lfacts["label"]}
    if "thread" in lfacts:
        facts["thread"] = lfacts["thread"]
        if "thread_name" in lfacts:
            facts["thread_name"] = lfacts["thread_name"]
    if state == "done":
        facts["outcome"] = glue.outcome(task)
    if running:
        facts["running"] = True
    if tid in graph.errors:
        facts["error"] = graph.errors[tid]
    if graph.awaits[tid]:
        facts["awaits"] = graph.awaits[tid]
    if tid in graph.awaited_by:
        facts["awaited_by"] = glue.awaited_by_facts(graph.awaited_by[tid], names)
    return facts


def collect(ctx: Context) -> Optional[TasksData]:
    asyncio = loaded("asyncio")
    if asyncio is None:
        return None
    tasks = glue.all_tasks(asyncio)
    if not tasks:
        return None

    names = {id(t): glue.task_name(t) for t in tasks}
    tasks.sort(key=lambda t: name_order(names[id(t)]))
    loops: Dict[int, Any] = {}
    for task in tasks:
        loop = glue.task_loop(task)
        loops.setdefault(id(loop), loop)
    frames = sys._current_frames()
    loop_of = loop_facts(loops, thread_objects(frames), frames)
    del frames
    running_ids = {id(t) for t in glue.current_tasks(asyncio, loops.values()).values()}
    tasks.sort(key=lambda t: id(t) not in running_ids)  # stable: names stay in order

    graph = _Graph(names)
    for task in tasks:
        graph.add(task)
    by_id = {id(t): t for t in tasks}
    cycles = [ring for ring in find_cycles(graph.edges) if all(m in by_id for m in ring)]
    in_cycle = {m: ring for ring in cycles for m in ring}

    why = ctx.state.why(ctx.redactor.text)
    why.section_started()
    try:
        why.future_holders.update(waits.future_holders({}, tasks))
    except Exception:
        pass
    for lfacts in loop_of.values():
        if lfacts.get("running") and "thread" in lfacts:
            why.loop_threads[lfacts["thread"]] = lfacts["label"]
    units = []
    for task in tasks:
        tid = id(task)
        lfacts = loop_of[id(glue.task_loop(task))]
        lfacts["tasks"] += 1
        facts = task_facts(task, names, lfacts, tid in running_ids, graph)
        if tid in in_cycle:
            facts["cycle"] = [names.get(m, str(m)) for m in in_cycle[tid]]
        rec = why.add("task", tid, names[tid])
        rec.thread = lfacts.get("thread")
        rec.running = tid in running_ids
        rec.awaits = [a["id"] for a in facts.get("awaits", []) if "id" in a]
        rec.where = _where(graph.chains[tid])
        if tid in graph.found:
            facts["wait"] = rec.wait = why.wait_data(graph.found[tid])
        else:
            for awaited in facts.get("awaits", []):
                ref = why.future_holders.get(awaited.get("id", 0))
                if awaited.get("kind") == "future" and ref is not None:
                    # a future a thread (to_thread, run_in_executor) will complete
                    wait: Wait = {
                        "kind": "asyncio future",
                        "resource": f"{awaited.get('type', 'Future')} 0x{awaited['id']:x}",
                        "id": awaited["id"],
                        "holder": {"kind": ref[0], "id": ref[1]},
                    }
                    holder = why.resolve(ref)
                    if holder is not None:
                        wait["holder"] = {"kind": holder[0], "id": holder[1]}
                        wait["holder"]["name"] = why.redact(why.label(holder))
                    if rec.where:
                        wait["where"] = rec.where
                    facts["wait"] = rec.wait = wait
                    break
        units.append(Unit(facts, graph.chains[tid], pinned=tid in running_ids))

    entries = build_entries(units, ctx.state.source_cache(ctx.redactor.text), group=ctx.group)
    for entry in entries:  # listed members only
        for member in entry["members"]:
            created = glue.task_created_at(by_id.get(member.get("id")))
            if created:
                member["created_at"] = created
    return {
        "total": len(units),
        "loops": list(loop_of.values()),
        "cycles": [[names.get(m, str(m)) for m in ring] for ring in cycles],
        "entries": entries,
    }


def _where(chain: StackKey) -> str:
    """file:line of the innermost frame of an await chain."""
    for filename, line, _function in reversed(chain):
        if not waits.is_library(filename):
            return f"{filename}:{line}"
    return f"{chain[-1][0]}:{chain[-1][1]}" if chain else ""


SECTION = SectionSpec("asyncio_tasks", "Asyncio Tasks", collect)

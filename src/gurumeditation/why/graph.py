"""The wait-for graph of one report run: unit -> resource -> holder, across
threads, greenlets and tasks, and its cycles (deadlocks).

The stack sections add their units to the run's :class:`WhyState` (through
``ctx.state.why()``) as they read them; the Diagnosis section, collected
after every other, asks it for deadlocks, crowds and blocked units.  Only
plain facts and ids are kept: no live object outlives the section that read
it (``Found.obj`` is dropped once its data is taken).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..model import DiagnosisStep, Wait, WaitHolder
from .waits import Found, Ref

Key = Tuple[str, int]  # (thread|greenlet|task, ident or id)

#: Wait kinds another unit is responsible for ending (lock-like); others
#: (an event, a queue, a sleep) wait for whoever comes along.
HELD_KINDS = frozenset(
    {"lock", "rlock", "semaphore", "condition", "import", "join", "future", "barrier"}
)


def bare(kind: str) -> str:
    return kind[len("asyncio ") :] if kind.startswith("asyncio ") else kind


class UnitRec:
    __slots__ = (
        "awaits",
        "cpu",
        "id",
        "kind",
        "main",
        "name",
        "running",
        "thread",
        "wait",
        "where"
    )  # fmt: skip

    def __init__(self, kind: str, uid: int, name: str) -> None:
        self.kind = kind
        self.id = uid
        self.name = name  # what the label is made of, when it is asked for
        self.wait: Optional[Wait] = None
        self.where = ""
        self.main = False
        self.thread: Optional[int] = None  # the thread a greenlet or task runs in
        self.running = False
        self.cpu = ""  # "12.3 ms on CPU in 5 ms; user 3.20 s, system 0.10 s" (threads)
        self.awaits: List[int] = []  # ids of tasks and futures a task awaits

    @property
    def label(self) -> str:
        """``thread worker (#1234)``, ``greenlet 0x7f.. (serve)``, ``task t-1``."""
        if self.kind == "greenlet":
            return f"greenlet 0x{self.id:x}" + (f" ({self.name})" if self.name else "")
        if self.kind == "task":
            return f"task {self.name}"
        return f"thread {self.name} (#{self.id})" if self.name else f"thread #{self.id}"


class WhyState:
    """What the stack sections of one run found out about waits."""

    def __init__(self, redact: Optional[Callable[[str], str]] = None) -> None:
        #: masks credentials in the names and descriptions a wait carries
        self.redact: Callable[[str], str] = redact or (lambda text: text)
        self.started = time.monotonic()
        self.units: Dict[Key, UnitRec] = {}
        self.future_holders: Dict[int, Ref] = {}
        #: shared wait data (see :meth:`wait_data`); the objects stay alive
        #: while the section reading them runs, so their ids are theirs
        self._waits: Dict[Tuple[Any, ...], Wait] = {}
        self.loop_threads: Dict[int, str] = {}  # thread ident -> loop label
        self.own_threads: List[str] = []
        self.tracking = False
        #: ident -> (native id, first read, its ``os`` facts in the document,
        #: producer?), for :meth:`finish_cpu`
        self.cpu_first: Dict[int, Tuple[int, Any, Any, bool]] = {}

    # -- filled by the sections ------------------------------------------------------
    def section_started(self) -> None:
        """A stack section starts reading its units: what the last one
        learnt of locks and shared wait data is forgotten (its objects may
        be gone, their ids reused)."""
        from . import waits

        waits.forget_owners()
        self._waits.clear()

    def add(self, kind: str, uid: int, name: str) -> UnitRec:
        """A unit: ``name`` its thread name, greenlet name or task name."""
        rec = UnitRec(kind, uid, name)
        self.units[(kind, uid)] = rec
        return rec

    def resolve(self, ref: Ref) -> Optional[Key]:
        """The unit behind a holder reference (an ident is a thread's, or,
        monkey patched, a greenlet's)."""
        kind, uid = ref
        if kind == "ident":
            for cand in ("thread", "greenlet"):
                if (cand, uid) in self.units:
                    return (cand, uid)
            return ("thread", uid)
        return (kind, uid)

    def wait_data(self, found: Found) -> Wait:
        """``found`` as the document's data, its holder named as far as the
        units read so far allow (the Diagnosis names them all).  Units that
        wait on the same object at the same place share one (plain) dict:
        10,000 greenlets parked on one semaphore make one."""
        key = (found.kind, id(found.obj), found.where, found.holder, found.owner, found.detail)
        same = self._waits.get(key)
        if same is not None and found.obj is not None:
            return same
        data = self._wait_data(found)
        if found.obj is not None:
            self._waits[key] = data
        return data

    def _wait_data(self, found: Found) -> Wait:
        data = found.data()
        if found.detail:
            data["resource"] = self.redact(data["resource"])
        holder = data.get("holder")
        if holder is not None:
            key = self.resolve((holder["kind"], holder["id"]))
            if key is not None:
                new: WaitHolder = {"kind": key[0], "id": key[1]}
                rec = self.units.get(key)
                name = rec.label if rec is not None else holder.get("name", "")
                if name:
                    new["name"] = self.redact(name)
                data["holder"] = new
        return data

    def finish_cpu(self) -> None:
        """Read every thread again, at least :data:`procfs.WINDOW_S` after the
        first read (sleeping what is left with the GIL released), and mark
        the threads that ran meanwhile in their ``os`` facts: a thread that
        wants the GIL gets it within the switch interval, so a busy loop
        shows even though at any one instant it waits for the GIL."""
        if not self.cpu_first:
            return
        from . import procfs

        left = procfs.WINDOW_S - (time.monotonic() - self.started)
        if left > 0:
            procfs.pause(left)
        for ident, (native, first, facts, producer) in self.cpu_first.items():
            procfs.add_ran(facts, first, procfs.read_oncpu(native), producer)
            rec = self.units.get(("thread", ident))
            if rec is not None and facts.get("running"):
                rec.running = True
                user, system = facts.get("cpu_user_s", 0), facts.get("cpu_system_s", 0)
                rec.cpu = (
                    f"{facts.get('oncpu_ms', 0):g} ms on CPU while the report looked; "
                    f"user {user:.2f} s, system {system:.2f} s"
                )
        self.cpu_first.clear()

    # -- read by the Diagnosis ---------------------------------------------------------
    def holder_of(self, rec: UnitRec) -> Optional[Key]:
        wait = rec.wait
        if wait is not None:
            holder = wait.get("holder")
            if holder is not None:
                return self.resolve((holder["kind"], holder["id"]))
            fid = wait.get("id")
            if bare(wait["kind"]) == "future" and fid is not None and fid in self.future_holders:
                return self.resolve(self.future_holders[fid])
        for awaited in rec.awaits:  # a task awaiting a task, or a future a unit completes
            if ("task", awaited) in self.units:
                return ("task", awaited)
            if awaited in self.future_holders:
                return self.resolve(self.future_holders[awaited])
        return None

    def edges(self) -> Dict[Key, Key]:
        found: Dict[Key, Key] = {}
        for key, rec in self.units.items():
            holder = self.holder_of(rec)
            if holder is not None and holder != key:
                found[key] = holder
        return found

    def cycles(self) -> List[List[Key]]:
        """Every cycle of the wait-for graph (each unit waits on one thing,
        so each cycle is found by walking from its members)."""
        edges = self.edges()
        cycles: List[List[Key]] = []
        done: Dict[Key, bool] = {}
        for start in edges:
            path: List[Key] = []
            index: Dict[Key, int] = {}
            node: Optional[Key] = start
            while node is not None and node not in done and node not in index:
                index[node] = len(path)
                path.append(node)
                node = edges.get(node)
            if node is not None and node in index:
                ring = path[index[node] :]
                if ring:
                    first = min(range(len(ring)), key=lambda i: ring[i])
                    cycles.append(ring[first:] + ring[:first])
            for member in path:
                done[member] = True
        return cycles

    def label(self, key: Key) -> str:
        rec = self.units.get(key)
        if rec is not None:
            return rec.label
        kind, uid = key
        return f"thread #{uid}" if kind == "thread" else f"{kind} 0x{uid:x}"

    def step(self, key: Key) -> DiagnosisStep:
        rec = self.units.get(key)
        step: DiagnosisStep = {"unit": self.label(key), "kind": key[0], "id": key[1]}
        if rec is None:
            return step
        wait = rec.wait
        if wait is not None:
            step["waits"] = f"{wait['resource']} ({wait['kind']})"
            holder = self.holder_of(rec)
            if holder is not None:
                step["held_by"] = self.label(holder)
            elif wait.get("owner"):
                step["owner"] = str(wait["owner"])
        elif rec.awaits:
            holder = self.holder_of(rec)
            if holder is not None and holder[0] == "task" and holder[1] in rec.awaits:
                step["waits"] = self.label(holder)  # awaits that task itself
            elif holder is not None:
                step["waits"] = "a future"
                step["held_by"] = self.label(holder)
        where = (wait.get("where") if wait is not None else None) or rec.where
        if where:
            step["where"] = where
        return step

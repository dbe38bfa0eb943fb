"""Asyncio Tasks: every task of two loops in two threads, full await chains,
awaited-by, await cycles, grouping on and off."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List

from helpers import find, functions, members, script, section_data, signal_and_read

SERVICE = script("asyncio_two_loops")


def _by_name(data):
    return {m["name"]: (m, e) for m, e in members(data)}


def test_every_task_of_two_loops_with_full_chains(service, tmp_path: Path) -> None:
    log_dir = tmp_path / "r"
    svc = service(SERVICE, args=[str(log_dir)])
    doc, text = signal_and_read(svc, log_dir)
    data = section_data(doc, "asyncio_tasks")
    # per loop: 7 deep + inner + outer + 2 ring + its main = 12; plus the loop's first task
    # (A: first() 'Task-1' + 'A-main'; B: main() run by asyncio.run)
    assert data["total"] == 12 * 2 + 1
    assert len(data["loops"]) == 2
    threads = {loop.get("thread_name") for loop in data["loops"]}
    assert threads == {"MainThread", "loop-b"}
    assert sorted(loop["tasks"] for loop in data["loops"]) == [12, 13]

    # grouped: 14 identical deep tasks (7 per loop) in one entry with all members
    deep_entries = [e for e in data["entries"] if e["stack"] and "leaf" in functions(e)]
    assert len(deep_entries) == 1
    entry = deep_entries[0]
    assert entry["count"] == 14
    assert entry["more"] == 0
    assert sorted(m["name"] for m in entry["members"]) == sorted(
        f"{t}-deep{i}" for t in "AB" for i in range(7)
    )
    # the full chain: 6 levels of deep(), then leaf(), then Event.wait()
    assert functions(entry)[:7] == ["deep"] * 6 + ["leaf"]
    assert entry["stack"][-1]["function"] == "wait"
    assert entry["stack"][-1]["code"] == "await fut"
    assert "------                    Task (x14 identical)                    ------" in text

    by_name = _by_name(data)
    for tag in "AB":
        # a task awaiting a task awaiting a future: the chain is complete
        outer, outer_entry = by_name[f"{tag}-outer"]
        inner, inner_entry = by_name[f"{tag}-inner"]
        assert functions(outer_entry) == ["on_task"]
        assert outer["awaits"] == [{"kind": "task", "id": inner["id"], "name": f"{tag}-inner"}]
        assert inner["awaited_by"] == [{"id": outer["id"], "name": f"{tag}-outer"}]
        assert functions(inner_entry) == ["on_future"]
        assert inner["awaits"][0]["kind"] == "future"
        assert inner["awaits"][0]["state"] == "pending"
        # two tasks awaiting each other: the cycle is flagged
        ring_a, _ = by_name[f"{tag}-ring-a"]
        ring_b, _ = by_name[f"{tag}-ring-b"]
        assert ring_a["cycle"] == ring_b["cycle"]
        assert sorted(ring_a["cycle"]) == [f"{tag}-ring-a", f"{tag}-ring-b"]
        assert ring_a["awaits"][0]["name"] == f"{tag}-ring-b"
        assert by_name[f"{tag}-deep0"][0]["state"] == "pending"
        assert "cycle" not in outer
    assert sorted(sorted(c) for c in data["cycles"]) == [
        ["A-ring-a", "A-ring-b"],
        ["B-ring-a", "B-ring-b"],
    ]
    assert "AWAIT CYCLE: " in text
    assert "A-outer -> A-inner" in text
    # the sections keep their order
    ids = [s["id"] for s in doc["sections"]]
    assert ids.index("asyncio_tasks") > ids.index("threads")


def test_group_false_lists_every_task(service, tmp_path: Path) -> None:
    log_dir = tmp_path / "r"
    svc = service(SERVICE, args=[str(log_dir), "nogroup"])
    doc, text = signal_and_read(svc, log_dir)
    data = section_data(doc, "asyncio_tasks")
    assert len(data["entries"]) == data["total"] == 25
    assert all(e["count"] == 1 for e in data["entries"])
    assert "identical" not in text
    assert sum(1 for line in text.splitlines() if "  Task A-deep" in line) == 7


def test_no_tasks_no_section(service, tmp_path: Path) -> None:
    log_dir = tmp_path / "r"
    svc = service(script("asyncio_no_tasks"), args=[str(log_dir)])
    doc, text = signal_and_read(svc, log_dir)
    assert find(doc, "asyncio_tasks") is None
    assert "Asyncio Tasks" not in text


API_SERVICE = script("asyncio_debug_api")


def test_api_group_false_and_debug_mode_creation_stacks(service) -> None:
    svc = service(API_SERVICE)
    import json

    out = json.loads(svc.readline())
    assert (
        "------                    Task (x6 identical)                     ------" in out["grouped"]
    )
    assert "6 tasks: same-0, same-1, same-2, same-3, same-4, same-5" in out["grouped"]
    assert "identical" not in out["listed"]
    assert sum(1 for line in out["listed"].splitlines() if "  Task same-" in line) == 6
    data = section_data(out["doc"], "asyncio_tasks")
    same = [m for m, _ in members(data) if m["name"].startswith("same-")]
    assert len(same) == 6
    # debug mode recorded where each task and each awaited future was made
    for member in same:
        assert member["created_at"][-1]["function"] == "main"
        assert member["created_at"][-1]["code"].startswith("tasks.append(asyncio.create_task(")
        # the future's creation place is a stack too (one frame: the application's line)
        assert [f["function"] for f in member["awaits"][0]["created_at"]] == ["same_place"]
    assert "created at:" in out["listed"]


def test_python_314_path_finds_loops_and_their_tasks(monkeypatch) -> None:
    """On 3.14+ C tasks live in per-thread lists that only all_tasks(loop)
    reads; loops are then found on the heap.  That branch, run here."""
    import asyncio
    import sys
    import threading

    from gurumeditation.glue import asyncio as section_tasks_glue

    started = threading.Event()
    holder = {}

    async def park(ev: asyncio.Event) -> None:
        await ev.wait()

    async def main() -> None:
        ev = asyncio.Event()
        holder["loop"], holder["ev"] = asyncio.get_running_loop(), ev
        holder["tasks"] = [asyncio.create_task(park(ev), name=f"p{i}") for i in range(5)]
        await asyncio.sleep(0.01)
        started.set()
        await ev.wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        monkeypatch.setattr(sys, "version_info", (3, 14, 0, "final", 0))
        loops = section_tasks_glue.find_loops(asyncio, [])
        assert holder["loop"] in loops
        names = {t.get_name() for t in section_tasks_glue.all_tasks(asyncio)}
        assert {f"p{i}" for i in range(5)} <= names
    finally:
        monkeypatch.undo()
        holder["loop"].call_soon_threadsafe(holder["ev"].set)
        thread.join(10)


def test_chain_through_async_generators_and_generator_coroutines() -> None:
    """``ag_await`` (an async for over an async generator) and
    ``gi_yieldfrom`` (a ``types.coroutine`` generator) are followed too."""
    import asyncio
    import types

    from gurumeditation.glue.asyncio import ChainReader

    async def leaf(ev: asyncio.Event) -> None:
        await ev.wait()

    async def agen(ev: asyncio.Event):  # type: ignore[no-untyped-def]
        await leaf(ev)
        yield 1

    @types.coroutine
    def old_style(ev: asyncio.Event):  # type: ignore[no-untyped-def]
        yield from asyncio.ensure_future(leaf(ev))

    async def consumer(ev: asyncio.Event) -> None:
        async for _ in agen(ev):
            pass

    async def old(ev: asyncio.Event) -> None:
        await old_style(ev)

    seen = {}

    async def main() -> None:
        ev = asyncio.Event()
        tasks = [asyncio.create_task(consumer(ev)), asyncio.create_task(old(ev))]
        await asyncio.sleep(0.01)
        for task in tasks:
            key, tail = ChainReader().chain(task.get_coro())
            seen[task.get_coro().__name__] = ([f for _, _, f in key], tail)
        ev.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    functions, tail = seen["consumer"]
    assert functions == ["consumer", "agen", "leaf", "wait"]
    assert isinstance(tail, asyncio.Future) and not isinstance(tail, asyncio.Task)
    functions, tail = seen["old"]
    assert functions == ["old", "old_style"]
    assert isinstance(tail, asyncio.Task)  # the generator yields from a task


def test_a_gather_of_many_tasks_stays_one_readable_line() -> None:
    import asyncio

    from gurumeditation import TextGuruMeditation

    async def child() -> None:
        await asyncio.sleep(30)

    async def parent(children: List[Any]) -> None:
        await asyncio.gather(*children)

    async def main() -> str:
        children = [asyncio.create_task(child(), name=f"child-{i}") for i in range(60)]
        gathering = asyncio.create_task(parent(children), name="parent")
        await asyncio.sleep(0.01)
        text = TextGuruMeditation("1", include_env=False).run()
        gathering.cancel()
        await asyncio.gather(gathering, *children, return_exceptions=True)
        return text

    text = asyncio.run(main())
    [line] = [ln for ln in text.splitlines() if ln.startswith("awaits: gather() of:")]
    assert line.endswith(" and 40 more"), line
    assert "child-19 " in line and "child-20 " not in line

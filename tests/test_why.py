"""Why it is stuck (issue 14): per-thread OS facts, what each blocked
thread, greenlet and task waits on and who holds it, deadlock cycles, the
Diagnosis section, owner tracking (``track_locks``), and ``diff`` telling a
loop that keeps moving from a stuck unit.  Real processes, real locks, real
signals: each service (``tests/services/why_*.py``) is started once per mode
and its report shared by the tests of this module."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from gurumeditation import diff
from helpers import Service, members, script, section_data, signal_and_read, text_lines

Report = Tuple[Dict[str, Any], str, Service]


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``started(name, mode)``: (JSON, text, service) of one report of the
    service ``why_<name>`` run with ``argv[2] = mode``, made once per module."""
    cache: Dict[Tuple[str, str], Report] = {}
    services: List[Service] = []

    def get(name: str, mode: str = "off") -> Report:
        if (name, mode) not in cache:
            workdir = tmp_path_factory.mktemp(f"{name}-{mode}")
            logs = workdir / "logs"
            logs.mkdir()
            svc = Service(script(f"why_{name}"), workdir, args=[str(logs), mode])
            services.append(svc)
            doc, text = signal_and_read(svc, logs)
            cache[(name, mode)] = (doc, text, svc)
        return cache[(name, mode)]

    yield get
    for svc in services:
        svc.stop()


def units(doc: Dict[str, Any], sid: str) -> Dict[str, Dict[str, Any]]:
    """Members of a stack section by name."""
    return {str(m.get("name")): m for m, _ in members(section_data(doc, sid))}


def findings(doc: Dict[str, Any], kind: str) -> List[Dict[str, Any]]:
    return [f for f in section_data(doc, "diagnosis")["findings"] if f["kind"] == kind]


THREADS = "tests/services/why_threads.py"


# -- threads -------------------------------------------------------------------------


def test_two_threads_deadlocked_on_two_rlocks(started: Any) -> None:
    doc, text, _ = started("threads")
    threads = units(doc, "threads")
    a, b = threads["dead-a"], threads["dead-b"]
    assert a["wait"]["kind"] == b["wait"]["kind"] == "rlock"
    assert a["wait"]["holder"] == {
        "kind": "thread",
        "id": b["ident"],
        "name": f"thread dead-b (#{b['ident']})",
    }
    assert b["wait"]["holder"]["id"] == a["ident"]
    assert a["wait"]["id"] != b["wait"]["id"]
    rings = [f for f in findings(doc, "deadlock") if {u["unit"] for u in f["units"]} == {
        f"thread dead-a (#{a['ident']})", f"thread dead-b (#{b['ident']})"}]  # fmt: skip
    assert len(rings) == 1
    steps = {u["unit"].split()[1]: u for u in rings[0]["units"]}
    assert steps["dead-a"]["held_by"] == f"thread dead-b (#{b['ident']})"
    assert steps["dead-b"]["held_by"] == f"thread dead-a (#{a['ident']})"
    assert re.search(r"why_threads\.py:\d+$", steps["dead-a"]["where"])
    line = int(steps["dead-a"]["where"].rsplit(":", 1)[1])
    assert Path(THREADS).read_text().split("\n")[line - 1].strip() == "with second:"
    # the text names the deadlock, the waits and the holders too
    body = "\n".join(text_lines(text, "Diagnosis"))
    assert (
        f"thread dead-a (#{a['ident']}) waits on RLock 0x{a['wait']['id']:x} (rlock) held by thread dead-b"
        in body
    )


@pytest.mark.parametrize("mode", ["off", "track"])
def test_thread_blocked_on_a_plain_lock(started: Any, mode: str) -> None:
    doc, text, _ = started("threads", mode)
    threads = units(doc, "threads")
    wait = threads["plain-waiter"]["wait"]
    assert wait["kind"] == "lock"
    if mode == "off":
        assert "holder" not in wait
        assert wait["owner"] == "owner unknown (track_locks is off)"
        notes = section_data(doc, "diagnosis")["notes"]
        assert any("record no owner" in n and "track_locks" in n for n in notes)
    else:
        assert wait["holder"]["kind"] == "thread"
        assert wait["holder"]["id"] == threads["plain-holder"]["ident"]
        assert wait["holder"]["name"].startswith("thread plain-holder")
        assert "held by thread plain-holder" in "\n".join(text_lines(text, "Threads"))


def test_condition_queue_join_and_event_waits(started: Any) -> None:
    doc, _, _ = started("threads")
    threads = units(doc, "threads")
    assert threads["cond-waiter"]["wait"]["kind"] == "condition"
    assert threads["cond-waiter"]["wait"]["resource"].startswith("Condition 0x")
    assert threads["queue-getter"]["wait"]["kind"] == "queue get"
    assert threads["queue-getter"]["wait"]["resource"].startswith("Queue 0x")
    assert threads["event-waiter"]["wait"]["kind"] == "event"
    assert threads["queue-putter"]["wait"]["kind"] == "queue put"
    assert threads["queue-putter"]["wait"]["owner"] == "emptied by whoever gets"
    assert threads["barrier-waiter"]["wait"]["kind"] == "barrier"
    assert threads["barrier-waiter"]["wait"]["resource"].startswith("Barrier 0x")
    join = threads["joiner"]["wait"]
    assert join["kind"] == "join"
    assert join["holder"]["id"] == threads["event-waiter"]["ident"]
    # each names the application line it waits at
    for name in (
        "cond-waiter",
        "queue-getter",
        "queue-putter",
        "barrier-waiter",
        "event-waiter",
        "joiner",
    ):
        assert "why_threads.py:" in threads[name]["wait"]["where"], name


def test_import_deadlock_between_two_threads(started: Any) -> None:
    doc, _, _ = started("threads")
    threads = units(doc, "threads")
    holder, importer = threads["import-holder"], threads["importer"]
    assert holder["wait"]["kind"] == "import"
    assert "import of why_slow_import" in holder["wait"]["resource"]
    assert holder["wait"]["holder"]["id"] == importer["ident"]
    assert importer["wait"]["kind"] == "rlock"
    assert importer["wait"]["holder"]["id"] == holder["ident"]
    assert "why_slow_import.py:" in importer["wait"]["where"]
    rings = [
        f for f in findings(doc, "deadlock") if any("importer" in u["unit"] for u in f["units"])
    ]
    assert len(rings) == 1 and len(rings[0]["units"]) == 2


def test_blocking_recv_shows_the_peer(started: Any) -> None:
    doc, _, svc = started("threads")
    peer = svc.ready_line.split()[1]
    facts = units(doc, "threads")["receiver"]["os"]
    assert facts["state"] == "sleeping"
    assert facts["syscall"].startswith("recvfrom(fd ")
    assert "tcp ESTABLISHED 127.0.0.1:" in facts["syscall"]
    assert facts["syscall"].endswith(f"→ {peer})")


def test_busy_thread_marked_running(started: Any) -> None:
    doc, text, _ = started("threads")
    threads = units(doc, "threads")
    assert threads["busy"]["os"].get("running") is True
    assert threads["busy"]["os"]["cpu_user_s"] > 0
    for name in ("dead-a", "event-waiter", "receiver"):
        assert "running" not in threads[name]["os"], name
        assert threads[name]["os"]["state"] == "sleeping"
    busy = {f["units"][0]["id"] for f in findings(doc, "cpu")}
    assert threads["busy"]["ident"] in busy
    parked = ("dead-a", "dead-b", "plain-waiter", "cond-waiter", "queue-getter", "receiver")
    assert not busy & {threads[name]["ident"] for name in parked}
    assert "RUNNING" in "\n".join(text_lines(text, "Threads"))


def test_own_threads_counted_so_counts_agree(started: Any) -> None:
    doc, text, _ = started("threads")
    data = section_data(doc, "threads")
    own = data["own_threads"]
    assert own and all(isinstance(n, str) and n for n in own)
    listed = section_data(doc, "processes")["resources"]["threads"]
    assert data["total"] + len(own) == listed
    assert f"{len(own)} threads of this library left out: " in "\n".join(
        text_lines(text, "Threads")
    )


def test_diagnosis_first_in_json_after_the_classic_sections_in_text(started: Any) -> None:
    doc, text, _ = started("threads")
    assert doc["sections"][0]["id"] == "diagnosis"
    titles = re.findall(r"^====\s+(.+?)\s+====$", text, re.M)
    classic = [t for t in titles if t in ("Package", "Threads", "Processes", "Configuration")]
    assert titles.index("Diagnosis") == max(titles.index(t) for t in classic) + 1
    assert titles[1] == "Package"  # oslo.reports' parsers find it where they look


# -- asyncio -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["off", "track"])
def test_asyncio_tasks_waiting_on_a_held_lock(started: Any, mode: str) -> None:
    doc, _, _ = started("asyncio", mode)
    tasks = units(doc, "asyncio_tasks")
    holder = tasks["lock-holder"]
    waits = [tasks[f"lock-waiter-{i}"]["wait"] for i in range(3)]
    assert {w["kind"] for w in waits} == {"asyncio lock"}
    assert len({w["id"] for w in waits}) == 1
    crowd = findings(doc, "crowd")
    assert [c["count"] for c in crowd] == [3]
    if mode == "track":
        expected = {"kind": "task", "id": holder["id"], "name": "task lock-holder"}
        assert all(w["holder"] == expected for w in waits)
        assert crowd[0]["summary"].endswith("held by task lock-holder")
    else:
        assert all(w["owner"] == "owner unknown (track_locks is off)" for w in waits)


def test_asyncio_to_thread_and_await_cycle(started: Any) -> None:
    doc, _, _ = started("asyncio")
    tasks = units(doc, "asyncio_tasks")
    threads = {t["ident"]: t for t in units(doc, "threads").values()}
    wait = tasks["offloaded"]["wait"]
    assert wait["kind"] == "asyncio future"
    assert wait["holder"]["kind"] == "thread"
    worker = threads[wait["holder"]["id"]]
    assert worker["name"].startswith("asyncio_")
    assert worker["wait"]["kind"] == "event"
    rings = {tuple(sorted(u["unit"] for u in f["units"])): f for f in findings(doc, "deadlock")}
    assert ("task ring-a", "task ring-b") in rings
    ring = rings[("task ring-a", "task ring-b")]
    assert all("why_asyncio.py:" in u["where"] for u in ring["units"])
    # a task awaiting a thread (to_thread) that waits on a future a task completes
    (cross,) = [f for key, f in rings.items() if "task cross" in key]
    kinds = sorted(u["kind"] for u in cross["units"])
    assert kinds == ["task", "task", "thread"], cross
    (thread_step,) = [u for u in cross["units"] if u["kind"] == "thread"]
    assert threads[thread_step["id"]]["wait"]["kind"] == "future"
    assert "why_asyncio.py:" in thread_step["where"]
    assert len(rings) == 2


def test_stall_from_the_trigger_is_shown_first() -> None:
    """The stall a watchdog trigger puts in ``header.trigger`` (the contract
    with issue 15) opens the Diagnosis; this process, a real run."""
    from gurumeditation.model import find_section
    from gurumeditation.report import Context, run_report
    from gurumeditation.sections import BUILTIN

    stall = {"what": "main thread", "seconds": 2.5, "where": "app.py:12"}
    ctx = Context(trigger={"kind": "watchdog", "detail": "main thread", "stall": stall})  # type: ignore[dict-item]
    doc = run_report(ctx, BUILTIN)
    assert doc["sections"][0]["id"] == "diagnosis"
    section = find_section(doc, "diagnosis")
    assert section is not None
    first = section["data"]["findings"][0]
    assert first == {"kind": "stall", "summary": "Stall: main thread for 2.5 s at app.py:12"}


# -- gevent and eventlet -------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["off", "track"])
def test_gevent_greenlets_waiting_on_held_semaphore_and_rlock(started: Any, mode: str) -> None:
    doc, _, _ = started("gevent", mode)
    green = units(doc, "green_threads")
    sem_waits = [green[f"waiter-{i}"]["wait"] for i in range(3)]
    rlock_waits = [green[f"waiter-{i}"]["wait"] for i in (3, 4)]
    assert {w["kind"] for w in sem_waits} == {"semaphore"}
    assert {w["kind"] for w in rlock_waits} == {"rlock"}
    for w in rlock_waits:  # gevent's RLock records its owner: known either way
        assert w["holder"] == {"kind": "greenlet", "id": green["rlock-holder"]["id"],
                               "name": f"greenlet 0x{green['rlock-holder']['id']:x} (rlock-holder)"}  # fmt: skip
    for w in sem_waits:
        if mode == "track":
            assert w["holder"]["id"] == green["sem-holder"]["id"]
        else:
            assert "holder" not in w and w["owner"].startswith("owner unknown")
    (crowd,) = findings(doc, "crowd")
    assert crowd["count"] == 3 and crowd["summary"].startswith(
        "3 green threads wait on Semaphore 0x"
    )


@pytest.mark.parametrize("mode", ["off", "track"])
def test_eventlet_greenthreads_waiting_on_held_semaphore_and_lock(started: Any, mode: str) -> None:
    doc, _, _ = started("eventlet", mode)
    data = section_data(doc, "green_threads")
    by_name: Dict[str, List[Dict[str, Any]]] = {}
    for m, _ in members(data):
        by_name.setdefault(str(m.get("name")), []).append(m)
    (sem_holder,), (lock_holder,) = by_name["hold_sem"], by_name["hold_lock"]
    waiting = [m["wait"] for m in by_name["wait_on"]]
    assert sorted(w["kind"] for w in waiting) == [
        "lock",
        "lock",
        "semaphore",
        "semaphore",
        "semaphore",
    ]
    for w in waiting:
        if mode == "track":
            expected = sem_holder if w["kind"] == "semaphore" else lock_holder
            assert w["holder"]["kind"] == "greenlet" and w["holder"]["id"] == expected["id"]
        else:
            assert w["owner"] == "owner unknown (track_locks is off)"


# -- diff ------------------------------------------------------------------------------


def test_diff_does_not_flag_a_loop_that_keeps_moving(tmp_path: Path) -> None:
    """Two reports of a healthy loop beside one stuck thread: the stuck thread
    is likely stuck, the loop and the idle selector are not.  Two snapshots
    may both catch the loop's main thread at the very same point (the signal
    handled at the same line of its short coroutine): as an operator would,
    the test then takes another pair (at most three)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    svc = Service(script("why_loop"), tmp_path, args=[str(logs)])
    try:
        for attempt in range(3):
            old, _ = signal_and_read(svc, logs, 2 * attempt + 1)
            time.sleep(0.5)  # reports some time apart, as an operator takes them: the loop ticks
            new, _ = signal_and_read(svc, logs, 2 * attempt + 2)
            result = diff.compare(old, new)
            same = {u["unit"] for s in result["sections"] for u in s["same"]}
            if not any("main-loop" in u or "MainThread" in u for u in same):
                break
    finally:
        svc.stop()
    by_id = {s["id"]: s for s in result["sections"]}
    alive = {u["unit"]: u["why"] for s in result["sections"] for u in s["alive"]}
    assert any("(stuck)" in u for u in same), same
    assert not any("main-loop" in u or "selector" in u or "MainThread" in u for u in same), same
    moved = {u["unit"] for s in result["sections"] for u in s["moved"]}
    # the loop is alive, or caught running in one report (then it moved)
    assert any("main-loop" in u for u in set(alive) | moved), (alive, moved)
    assert any("(selector)" in u for u in alive), alive
    text = diff.render_text(result)
    assert "same stack but alive" in text
    assert by_id["threads"]["same"][0]["unit"].endswith("(stuck)")
    json.dumps(result)


def test_main_thread_and_event_loop_blocked(started: Any) -> None:
    doc, text, _ = started("blocked")
    threads = units(doc, "threads")
    holder = threads["holder"]
    main = threads["MainThread"]
    assert main["wait"]["kind"] == "rlock"
    assert main["wait"]["holder"]["id"] == holder["ident"]
    (blocked_main,) = findings(doc, "main_blocked")
    assert blocked_main["summary"].startswith(
        f"Main thread blocked: thread MainThread (#{main['ident']}) waits on RLock"
    )
    assert f"held by thread holder (#{holder['ident']})" in blocked_main["summary"]
    assert "why_blocked.py:" in blocked_main["summary"]
    (blocked_loop,) = findings(doc, "loop_blocked")
    assert re.match(
        r"Event loop loop \d+ blocked: its thread thread blocked-loop ", blocked_loop["summary"]
    )
    assert f"held by thread holder (#{holder['ident']})" in blocked_loop["summary"]
    assert blocked_main["summary"] in "\n".join(text_lines(text, "Diagnosis"))


TRACKED_BY_ENV = """
import sys, threading
from gurumeditation import TextGuruMeditation
before = threading.Lock()
sem_before = threading.Semaphore(2)
TextGuruMeditation.setup_autorun("1.0", service_name="env-track", log_dir=sys.argv[1])
after = threading.Lock()
sem_after = threading.Semaphore(2)
with after, sem_after:
    from gurumeditation.why import tracking
    known = tracking.holders(after) == tracking.holders(sem_after) == [("ident", threading.get_ident(), "")]
    # what the application asks of its locks stays true, made before tracking or after
    same = isinstance(sem_before, threading.Semaphore) and isinstance(sem_after, threading.Semaphore)
    print("READY", type(before).__module__, known, same, flush=True)
"""


@pytest.mark.parametrize("value,tracked", [("1", True), ("0", False)])
def test_track_locks_from_the_environment(
    service: Any, tmp_path: Path, value: str, tracked: bool
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    svc = service(TRACKED_BY_ENV, env={"GURUMEDITATION_TRACK_LOCKS": value}, args=[str(logs)])
    _, before_module, holder_known, isinstance_kept = svc.ready_line.split()
    assert before_module == "_thread"  # made before arming: never tracked
    assert holder_known == str(tracked)
    assert isinstance_kept == "True"

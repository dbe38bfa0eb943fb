"""Green Threads and Threads under eventlet and gevent, plain and monkey
patched: every unit listed with its innermost frame, counts as started,
groups with their members, the hub and the current greenlet marked, real OS
threads (never greenlets) in the Threads section."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import functions, innermost, members, script, section_data, signal_and_read

EVENTLET = script("eventlet_greenthreads")


def _green(doc):
    data = section_data(doc, "green_threads")
    return data


def _threads(doc):
    data = section_data(doc, "threads")
    return data


@pytest.mark.parametrize("patch", [False, True], ids=["plain", "monkey_patched"])
def test_eventlet_every_greenthread_and_real_threads(service, tmp_path: Path, patch: bool) -> None:
    log_dir = tmp_path / "r"
    args = [str(log_dir), "group"] + (["patch"] if patch else [])
    svc = service(EVENTLET, args=args)
    doc, text = signal_and_read(svc, log_dir)
    green = _green(doc)
    entries = green["entries"]
    # 25 parked + 3 napping + 1 not started + hub + main greenlet (+ the posing thread)
    assert green["total"] == 25 + 3 + 1 + 2 + (1 if patch else 0)

    parked = [e for e in entries if "park_green" in functions(e)]
    assert len(parked) == 1
    assert parked[0]["count"] == 25
    assert len(parked[0]["members"]) == 20 and parked[0]["more"] == 5
    assert functions(parked[0]).count("park_green") == 4
    assert innermost(parked[0]) == "switch:return self.greenlet.switch()"
    assert all(m["state"] == "suspended" for m in parked[0]["members"])
    assert all(m["name"] == "park_green" for m in parked[0]["members"])
    assert all(m["type"] == "GreenThread" for m in parked[0]["members"])
    assert all(m.get("thread_name") == "MainThread" for m in parked[0]["members"])
    assert "------            Green Thread (x25 identical)            ------" not in text
    assert "------                Green Thread (x25 identical)                ------" in text
    assert "25 green threads: " in text and " and 5 more" in text

    nap = [e for e in entries if "nap_green" in functions(e) and e["count"] == 3]
    assert len(nap) == 1
    not_started = [m for m, _ in members(green) if m["state"] == "not started"]
    assert len(not_started) == 1
    hubs = [(m, e) for m, e in members(green) if m.get("hub")]
    assert len(hubs) == 1 and hubs[0][1]["count"] == 1
    current = [(m, e) for m, e in members(green) if m.get("current")]
    assert len(current) == 1
    assert current[0][0]["state"] == "running"
    assert current[0][1]["count"] == 1  # never folded
    assert green["entries"][0]["members"][0].get("current")  # listed first

    threads = _threads(doc)
    names = sorted(m.get("name", "?") for m, _ in members(threads))
    assert names == ["MainThread", "real-0", "real-1", "real-2", "real-3"]
    assert threads["total"] == 5
    real = [e for e in threads["entries"] if e["count"] == 4]
    assert len(real) == 1 and innermost(real[0]).startswith("wait:")
    main = threads["entries"][0]["members"][0]
    assert main["name"] == "MainThread" and main.get("main") and main.get("current")
    assert "posing-as-thread" not in [m.get("name") for m, _ in members(threads)]
    producer = doc["header"]["producer"]
    assert producer["main"] is True and producer["thread"] == "MainThread"
    assert producer["ident"] == main["ident"]
    if patch:
        posing = [m for m, _ in members(green) if m.get("thread_object") == "posing-as-thread"]
        assert len(posing) == 1
    assert svc.alive()


def test_eventlet_group_false_lists_every_greenthread(service, tmp_path: Path) -> None:
    log_dir = tmp_path / "r"
    svc = service(EVENTLET, args=[str(log_dir), "nogroup"])
    doc, text = signal_and_read(svc, log_dir)
    green = _green(doc)
    assert len(green["entries"]) == green["total"] == 31
    assert all(e["count"] == 1 and e["more"] == 0 for e in green["entries"])
    assert sum(1 for e in green["entries"] if "park_green" in functions(e)) == 25
    assert "identical" not in text
    threads = _threads(doc)
    assert len(threads["entries"]) == 5


GEVENT = script("gevent_greenlets")


@pytest.mark.parametrize("patch", [False, True], ids=["plain", "patch_all"])
def test_gevent_every_greenlet(service, tmp_path: Path, patch: bool) -> None:
    log_dir = tmp_path / "r"
    args = [str(log_dir), "group"] + (["patch"] if patch else [])
    svc = service(GEVENT, args=args)
    doc, text = signal_and_read(svc, log_dir)
    green = _green(doc)
    # 12 parked + named + pending + hub + main (+ the greenlet posing as a thread)
    assert green["total"] == 12 + 1 + 1 + 2 + (1 if patch else 0)
    parked = [e for e in green["entries"] if "park_green" in functions(e)]
    assert len(parked) == 1 and parked[0]["count"] == 12
    assert len(parked[0]["members"]) == 12 and parked[0]["more"] == 0
    # gevent's Event.wait is compiled: the innermost Python frame is the caller's
    assert innermost(parked[0]) == "park_green:never.wait()"
    assert all(m["type"] == "Greenlet" for m in parked[0]["members"])
    assert all(m["name"].startswith("Greenlet-") for m in parked[0]["members"])
    # gevent records where each greenlet was spawned
    member = parked[0]["members"][0]
    assert any(f["function"] == "<module>" for f in member["spawned_at"])
    sleeper = [(m, e) for m, e in members(green) if m.get("name") == "the-sleeper"]
    assert len(sleeper) == 1 and sleeper[0][0]["state"] == "suspended"
    assert "(the-sleeper)" in text or "name: the-sleeper" in text
    assert "spawned at:" in text
    hubs = [m for m, _ in members(green) if m.get("hub")]
    assert len(hubs) == 1 and hubs[0]["type"] == "Hub"
    assert hubs[0].get("thread_name") == "MainThread"
    assert len([m for m, _ in members(green) if m["state"] == "not started"]) == 1
    current = [(m, e) for m, e in members(green) if m.get("current")]
    assert len(current) == 1 and current[0][1]["count"] == 1
    # the signal arrives while the hub waits (patch_all) or the main greenlet
    # sleeps; under load, the main greenlet may be running in both cases
    assert current[0][0].get("main") or (patch and current[0][0].get("hub"))

    threads = _threads(doc)
    if patch:
        # the real OS thread is listed; the greenlet posing as a thread is not
        assert threads["total"] == 2
        assert any(innermost(e) == "real_worker:real_lock.acquire()" for e in threads["entries"])
        assert threads["entries"][0]["members"][0]["name"] == "MainThread"
        posing = [m for m, _ in members(green) if m.get("thread_object") == "posing-as-thread"]
        assert len(posing) == 1
    else:
        assert threads["total"] == 1
    producer = doc["header"]["producer"]
    assert producer["main"] is True and producer["thread"] == "MainThread"
    assert producer["ident"] == threads["entries"][0]["members"][0]["ident"]
    assert svc.alive()


MIXED = script("eventlet_two_hubs")


def test_threads_and_eventlet_in_two_threads(service, tmp_path: Path) -> None:
    log_dir = tmp_path / "r"
    svc = service(MIXED, args=[str(log_dir)])
    doc, text = signal_and_read(svc, log_dir)
    threads = _threads(doc)
    assert threads["total"] == 8  # main + 6 pool + green-runner
    pool = [e for e in threads["entries"] if e["count"] == 6]
    assert len(pool) == 1
    assert sorted(m["name"] for m in pool[0]["members"]) == [f"pool-{i}" for i in range(6)]
    assert innermost(pool[0]).startswith("wait:")
    assert "------                   Thread (x6 identical)                    ------" in text
    assert "6 threads: " in text

    green = _green(doc)
    parked = [e for e in green["entries"] if "park_green" in functions(e)]
    assert sum(e["count"] for e in parked) == 13
    by_thread = {}
    for entry in parked:
        for m in entry["members"]:
            by_thread[m.get("thread_name")] = by_thread.get(m.get("thread_name"), 0) + 1
    assert by_thread == {"MainThread": 9, "green-runner": 4}
    hubs = sorted(m.get("thread_name", "?") for m, _ in members(green) if m.get("hub"))
    assert hubs == ["MainThread", "green-runner"]
    assert svc.alive()


FROM_HELPER = script("greenlets_seen_from_helper")


def test_report_written_by_a_helper_thread_adds_no_greenlet(service) -> None:
    import json

    svc = service(FROM_HELPER)
    doc = json.loads(svc.readline())
    green = _green(doc)
    # 7 parked + hub + the main greenlet: the helper thread got no greenlet
    assert green["total"] == 9
    threads = _threads(doc)
    assert threads["total"] == 1  # the helper thread is hidden
    main_ident = threads["entries"][0]["members"][0]["ident"]
    assert all(m.get("thread") == main_ident for m, _ in members(green))
    parked = [e for e in green["entries"] if "park_green" in functions(e)]
    assert len(parked) == 1 and parked[0]["count"] == 7
    # the greenlet running in the main thread (if one was) is the current one
    current = [(m, e) for m, e in members(green) if m.get("current")]
    assert len(current) <= 1
    assert all(e["count"] == 1 and m["state"] == "running" for m, e in current)


BARE_THREADS = script("bare_thread_mains")


def test_a_thread_that_only_touched_greenlet_is_no_green_thread(service, tmp_path: Path) -> None:
    # What eventlet's monkey patching does to every unpatched thread on 3.9 (see
    # sections/green.py), done by hand so that every version checks it.
    log_dir = tmp_path / "r"
    svc = service(BARE_THREADS, args=[str(log_dir)])
    doc, _ = signal_and_read(svc, log_dir)
    threads = _threads(doc)
    assert sorted(m["name"] for m, _ in members(threads)) == ["MainThread", "runs", "touches"]
    green = _green(doc)
    listed = members(green)
    # the reporting main thread's own greenlet, the parked child and the main
    # greenlet it belongs to; nothing for 'touches'
    assert green["total"] == 3, listed
    current = [m for m, _ in listed if m.get("current")]
    assert len(current) == 1 and current[0].get("thread_name") == "MainThread"
    child = [e for m, e in listed if m.get("name") == "park_child"]
    assert len(child) == 1 and child[0]["members"][0]["state"] == "suspended"
    assert innermost(child[0]) == "park_child:greenlet.getcurrent().parent.switch()"
    others = [m for m, _ in listed if m.get("main") and not m.get("current")]
    assert len(others) == 1 and others[0]["state"] == "running"
    assert svc.alive()


MAIN_GREENLETS_ONLY = """
import sys, threading, time
import greenlet
from gurumeditation import TextGuruMeditation
greenlet.getcurrent()  # a library touched greenlet: the main thread's main greenlet exists
threading.Thread(target=lambda: (greenlet.getcurrent(), time.sleep(3600)), daemon=True).start()
TextGuruMeditation.setup_autorun(None, service_name='mains-only', log_dir=sys.argv[1],
                                 formats=('json', 'text'))
if sys.argv[2] == 'with-one':
    def parked():
        greenlet.getcurrent().parent.switch()
    g = greenlet.greenlet(parked)
    g.switch()
print('READY', flush=True)
while True:
    time.sleep(0.05)
"""


@pytest.mark.parametrize("kind", ["mains-only", "with-one"])
def test_green_threads_left_out_with_main_greenlets_only(service, tmp_path: Path, kind: str) -> None:
    log_dir = tmp_path / "reports"
    svc = service(MAIN_GREENLETS_ONLY, args=[str(log_dir), kind])
    doc, text = signal_and_read(svc, log_dir)
    ids = [s["id"] for s in doc["sections"]]
    if kind == "mains-only":  # greenlet loaded, no green thread: no section repeating the threads
        assert "green_threads" not in ids and "Green Threads" not in text
    else:
        assert "parked" in [f for _m, e in members(section_data(doc, "green_threads"))
                            for f in functions(e)]  # fmt: skip

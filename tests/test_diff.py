"""``gurumeditation diff`` is a function of two documents: green threads and
asyncio tasks are compared like threads, grouped members too."""

from __future__ import annotations

from typing import Any, Dict, List

from gurumeditation import diff


def frame(fn: str, line: int, file: str = "/srv/app/work.py") -> Dict[str, Any]:
    return {"file": file, "line": line, "function": fn, "code": ""}


def doc(sections: List[Dict[str, Any]], ts: str) -> Dict[str, Any]:
    return {
        "reportVersion": 1,
        "header": {"pid": 42, "service": "svc", "timestamp": ts},
        "sections": sections,
    }


def entry(members: List[Dict[str, Any]], stack: List[Dict[str, Any]], more: int = 0) -> Any:
    return {"count": len(members) + more, "members": members, "more": more, "stack": stack}


HUB = frame("switch", 310, "/venv/lib/python3.11/site-packages/eventlet/hubs/hub.py")


def service_report(ts: str, fetch_line: int, second_task: int, more: int) -> Dict[str, Any]:
    """Two green threads parked in poll (``more`` grouped unlisted beside
    them), one in fetch at ``fetch_line``; task 7 consuming and task
    ``second_task`` producing."""
    green = [
        entry(
            [{"id": 1, "state": "suspended"}, {"id": 2, "state": "suspended"}],
            [frame("poll", 10), HUB],
            more=more,
        ),
        entry([{"id": 3, "state": "suspended"}], [frame("fetch", fetch_line)]),
    ]
    name = f"t-{second_task}"
    tasks = [
        entry([{"id": 7, "name": "t-7", "state": "pending"}], [frame("consume", 5)]),
        entry([{"id": second_task, "name": name, "state": "pending"}], [frame("produce", 6)]),
    ]
    return doc(
        [
            {"id": "green_threads", "title": "Green Threads",
             "data": {"total": 3 + more, "entries": green}},
            {"id": "asyncio_tasks", "title": "Asyncio Tasks", "data": {"total": 2, "entries": tasks}},
        ],
        ts,
    )  # fmt: skip


def test_green_threads_and_tasks() -> None:
    """Same stack (stuck), moved, new and gone units of two reports, and
    grouped units left out of the comparison."""
    old = service_report("2026-01-01T00:00:00.000000Z", fetch_line=20, second_task=8, more=3)
    new = service_report("2026-01-01T00:00:05.000000Z", fetch_line=24, second_task=9, more=0)
    result = diff.compare(old, new)  # type: ignore[arg-type]
    green, tasks = result["sections"]
    assert [s["unit"] for s in green["same"]] == ["Green thread 0x1", "Green thread 0x2"]
    # parked in a library: told with the application frame that called it
    assert green["same"][0]["at"] == (
        "switch (/venv/lib/python3.11/site-packages/eventlet/hubs/hub.py:310) "
        "in poll (/srv/app/work.py:10)"
    )
    assert [m["unit"] for m in green["moved"]] == ["Green thread 0x3"]
    assert green["unlisted"] == {"old": 3, "new": 0}
    assert [s["unit"] for s in tasks["same"]] == ["Task 0x7 (t-7)"]
    assert [s["unit"] for s in tasks["new"]] == ["Task 0x9 (t-9)"]
    assert [s["unit"] for s in tasks["gone"]] == ["Task 0x8 (t-8)"]
    assert result["notes"] == []
    text = diff.render_text(result)
    assert "Green Threads: 2 same stack (likely stuck), 1 moved, 0 new, 0 gone" in text
    assert "(3 in OLD and 0 in NEW were grouped without being listed" in text
    swapped = diff.compare(new, old)  # type: ignore[arg-type]
    assert swapped["notes"] == ["OLD is newer than NEW: swapped?"]

"""Compare two reports of one process: which threads, green threads and tasks
kept the same stack (likely stuck), which moved, which are new, which are
gone — the usual way to tell a hang from slowness.  A unit at the same place
that waits on a new object each time (a loop re-awaiting a new future, as
uvicorn's main loop does every 100 ms) or only for time or I/O (an idle
``select``) is "alive", not stuck; one waiting on the same lock or future in
both reports is stuck.

A function of two report documents (saved JSON), like the renderers; it
returns plain data, and :func:`render_text` writes it for a terminal.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from .model import Report
from .render.common import is_stack_data, parked_at, stdlib_dir, unit_name
from .render.facts import hex_id

Stack = Tuple[Tuple[str, int, str], ...]


def identity(section_id: str, member: Dict[str, Any]) -> Optional[str]:
    """What names the same unit in both reports."""
    if section_id == "threads" and member.get("ident") is not None:
        # an ident can be reused by a new thread: the native id tells them apart
        return f"{member['ident']}/{member.get('native_id', '')}"
    for key in ("id", "ident", "name"):
        if member.get(key) is not None:
            return str(member[key])
    return None


def label(section_id: str, member: Dict[str, Any]) -> str:
    """A unit named the way the text report names it: a thread by its
    ``#ident`` (decimal), a green thread or task by its id in hex."""
    unit = unit_name(section_id).one.capitalize()
    if section_id == "threads":
        text = f"{unit} #{member.get('ident')}"
    elif member.get("id") is not None:
        text = f"{unit} {hex_id(member['id'])}"
    else:
        text = f"{unit} {member.get('ident', '?')}"
    if member.get("name"):
        text += f" ({member['name']})"
    return text


def where(stack: Stack, stdlib: Optional[str] = None) -> str:
    """The innermost frame, and the innermost application frame when the
    innermost is library code (``wait (threading.py:327) in worker (app.py:5)``);
    ``stdlib``: where the report's standard library is."""
    return parked_at(stack, stdlib) or "(no stack)"


#: System calls a thread of a healthy server sits in between events (an
#: idle ``select``, a timed sleep); a read or recv may be stuck on its peer.
IDLE_SYSCALLS = frozenset(
    "select pselect6 poll ppoll epoll_wait epoll_pwait epoll_pwait2 nanosleep "
    "clock_nanosleep pause rt_sigsuspend".split()
)


#: Where an event loop's thread sits between callbacks: its selector, the
#: loop's own iteration, a green hub's wait (the thread that wrote the
#: report is seen where the signal interrupted it, its system call unread).
_LOOP_FILES = ("selectors.py", "base_events.py", "hub.py", "poll.py", "epolls.py")
_LOOP_FUNCTIONS = frozenset({"select", "_run_once", "run_forever", "wait", "run"})


def waited_on(member: Dict[str, Any]) -> Optional[int]:
    """The id of the object a unit waits on (a lock, a future): the same id
    in both reports is the same wait; a new one means it moved on."""
    wait = member.get("wait")
    if isinstance(wait, dict) and isinstance(wait.get("id"), int):
        return int(wait["id"])
    for awaited in member.get("awaits") or []:
        if isinstance(awaited, dict) and awaited.get("kind") == "future":
            got = awaited.get("id")
            return int(got) if isinstance(got, int) else None
    return None


def idle(member: Dict[str, Any], stack: Stack = ()) -> bool:
    """Waiting for time or for I/O events, not for another unit (the thread
    that wrote the report, whose system call is not read: parked in an event
    loop's machinery)."""
    if stack and stack[-1][0].endswith(_LOOP_FILES) and stack[-1][2] in _LOOP_FUNCTIONS:
        return True
    wait = member.get("wait")
    if isinstance(wait, dict) and wait.get("idle"):
        return True
    facts = member.get("os")
    if isinstance(facts, dict) and not facts.get("running"):
        call = str(facts.get("syscall") or "").split("(", 1)[0]
        return call in IDLE_SYSCALLS
    return False


def stack_sections(report: Report) -> Dict[str, Dict[str, Any]]:
    """Per stack section id: its title, units by identity, and how many units
    were grouped without being listed."""
    found: Dict[str, Dict[str, Any]] = {}
    stdlib = stdlib_dir(report)
    for section in report.get("sections", []):
        data: Any = section.get("data")
        if not is_stack_data(data):
            continue
        sid = str(section.get("id", ""))
        units: Dict[str, Dict[str, Any]] = {}
        unlisted = 0
        for entry in data["entries"]:
            if not isinstance(entry, dict) or "stack" not in entry:
                continue
            stack: Stack = tuple(
                (str(f.get("file")), int(f.get("line") or 0), str(f.get("function")))
                for f in entry.get("stack") or []
            )
            unlisted += int(entry.get("more") or 0)
            for member in entry.get("members") or []:
                key = identity(sid, member)
                if key is None:
                    unlisted += 1
                    continue
                units[key] = {
                    "label": label(sid, member),
                    "stack": stack,
                    "stdlib": stdlib,
                    "wait": waited_on(member),
                    "idle": idle(member, stack),
                }
        found[sid] = {"title": section.get("title", sid), "units": units, "unlisted": unlisted}
    return found


def compare(old: Report, new: Report) -> Dict[str, Any]:
    """What changed between ``old`` and ``new`` (plain data)."""
    before = stack_sections(old)
    after = stack_sections(new)
    sections = []
    for sid in list(before) + [s for s in after if s not in before]:
        a = before.get(sid, {"units": {}, "unlisted": 0, "title": sid})
        b = after.get(sid, {"units": {}, "unlisted": 0, "title": a["title"]})
        same, moved, added, gone, alive = [], [], [], [], []
        for key, unit in a["units"].items():
            other = b["units"].get(key)
            if other is None:
                gone.append({"unit": unit["label"], "at": where(unit["stack"], unit["stdlib"])})
            elif other["stack"] == unit["stack"] and (
                (unit["wait"] is not None and other["wait"] is not None
                 and unit["wait"] != other["wait"])
                or unit["idle"] or other["idle"]
            ):  # fmt: skip
                # idle in either report: a unit waiting on another one (stuck)
                # is never idle, while a loop caught just as its sleep ended
                # (scheduled, not yet waiting) is idle in the other report
                alive.append(
                    {
                        "unit": other["label"],
                        "at": where(unit["stack"], unit["stdlib"]),
                        "why": "idle (waits for time or I/O)"
                        if unit["idle"] or other["idle"]
                        else "waits on a new object each time (a loop that keeps moving)",
                    }
                )
            elif other["stack"] == unit["stack"]:
                same.append(
                    {
                        "unit": other["label"],
                        "at": where(unit["stack"], unit["stdlib"]),
                        "depth": len(unit["stack"]),
                    }
                )
            else:
                moved.append(
                    {
                        "unit": other["label"],
                        "from": where(unit["stack"], unit["stdlib"]),
                        "to": where(other["stack"], other["stdlib"]),
                    }
                )
        for key, unit in b["units"].items():
            if key not in a["units"]:
                added.append({"unit": unit["label"], "at": where(unit["stack"], unit["stdlib"])})
        sections.append(
            {
                "id": sid,
                "title": b["title"],
                "same": same,
                "alive": alive,
                "moved": moved,
                "new": added,
                "gone": gone,
                "unlisted": {"old": a["unlisted"], "new": b["unlisted"]},
            }
        )
    return {"old": _about(old), "new": _about(new), "sections": sections, "notes": _notes(old, new)}


def _about(report: Report) -> Dict[str, Any]:
    header: Dict[str, Any] = dict(report.get("header") or {})
    return {
        "pid": header.get("pid"),
        "service": header.get("service"),
        "timestamp": header.get("timestamp"),
    }


def _notes(old: Report, new: Report) -> List[str]:
    notes = []
    a, b = _about(old), _about(new)
    if a["pid"] != b["pid"]:
        notes.append(f"the reports are of different processes (pid {a['pid']} and {b['pid']})")
    if a["timestamp"] and b["timestamp"] and str(a["timestamp"]) > str(b["timestamp"]):
        notes.append("OLD is newer than NEW: swapped?")
    return notes


def render_text(result: Dict[str, Any]) -> str:
    a, b = result["old"], result["new"]
    lines = [
        f"Comparing {a['service']} (pid {a['pid']}) at {a['timestamp']}",
        f"     with {b['service']} (pid {b['pid']}) at {b['timestamp']}",
    ]
    lines += [f"Note: {n}" for n in result["notes"]]
    for sec in result["sections"]:
        lines += [
            "",
            f"{sec['title']}: {len(sec['same'])} same stack (likely stuck), "
            + (f"{len(sec['alive'])} same stack but alive, " if sec.get("alive") else "")
            + f"{len(sec['moved'])} moved, {len(sec['new'])} new, {len(sec['gone'])} gone",
        ]
        for item in sec["same"]:
            lines.append(f"  same   {item['unit']}: at {item['at']}")
        for item in sec.get("alive", []):
            lines.append(f"  alive  {item['unit']}: at {item['at']}: {item['why']}")
        for item in sec["moved"]:
            lines.append(f"  moved  {item['unit']}: {item['from']} -> {item['to']}")
        for item in sec["new"]:
            lines.append(f"  new    {item['unit']}: at {item['at']}")
        for item in sec["gone"]:
            lines.append(f"  gone   {item['unit']}: was at {item['at']}")
        unlisted = sec["unlisted"]
        if unlisted["old"] or unlisted["new"]:
            lines.append(
                f"  ({unlisted['old']} in OLD and {unlisted['new']} in NEW were grouped without "
                "being listed and are not compared)"
            )
    return "\n".join(lines)

"""Threads, Green Threads and Asyncio Tasks in the classic layout: a ``------``
banner per unit (or per group of units with identical stacks), the unit's
facts, then its frames."""

from __future__ import annotations

from typing import Any, Callable, Dict, List

from ..common import error_text, unit_name
from ..facts import awaited_by_text, awaits_text, group_awaited_by, hex_id
from ..text_layout import frame_lines, short_frame_lines, thread_ref, unit_banner

#: How a thread without a Python frame is told (its stack is empty).
NATIVE_ONLY = "in native code, no Python frame"


def _flag(value: Any) -> str:
    return "yes" if value else "no"


def thread_label(member: Dict[str, Any]) -> str:
    name = member.get("name")
    return f"#{member.get('ident')}" + (f" ({name})" if name else "")


def thread_facts(member: Dict[str, Any]) -> str:
    parts = []
    if member.get("name") is not None:
        parts.append(f"name: {member['name']}")
    if member.get("native_id") is not None:
        parts.append(f"native id: {member['native_id']}")
    if "daemon" in member:
        parts.append(f"daemon: {_flag(member['daemon'])}")
    if member.get("main"):
        parts.append("main thread")
    if member.get("current"):
        parts.append("produced this report")
    if member.get("no_python_frame"):
        parts.append(NATIVE_ONLY)
    lines = [", ".join(parts)]
    if member.get("os"):
        lines.append(os_line(member["os"]))
    if member.get("wait"):
        lines.append(wait_line(member["wait"]))
    return "\n".join(line for line in lines if line)


def os_line(facts: Dict[str, Any]) -> str:
    """``os: sleeping in futex_wait_queue, futex; cpu user 0.01 s, system 0.00 s``."""
    text = f"os: {facts.get('state', '?')}"
    where = [str(facts[k]) for k in ("wchan", "syscall") if facts.get(k)]
    if where:
        text += " in " + ", ".join(where)
    user, system = facts.get("cpu_user_s", 0), facts.get("cpu_system_s", 0)
    text += f"; cpu user {user:.2f} s, system {system:.2f} s"
    if facts.get("running"):
        text += "; RUNNING"
        if facts.get("oncpu_ms"):
            text += f" ({facts['oncpu_ms']:g} ms on CPU while the report looked)"
    return text


def wait_line(wait: Dict[str, Any]) -> str:
    """``waits on: RLock 0x7f.. (rlock) held by thread B (#1234) at app.py:12``."""
    text = f"waits on: {wait.get('resource')} ({wait.get('kind')})"
    holder = wait.get("holder")
    if holder:
        name = holder.get("name") or f"{holder.get('kind')} {holder.get('id')}"
        text += f" held by {name}"
    elif wait.get("owner"):
        text += f", {wait['owner']}"
    if wait.get("where"):
        text += f" at {wait['where']}"
    return text


def green_label(member: Dict[str, Any]) -> str:
    name = member.get("name")
    return f"0x{member.get('id', 0):x}" + (f" ({name})" if name else "")


def green_facts(member: Dict[str, Any]) -> str:
    parts = [f"id: 0x{member.get('id', 0):x}"]
    parts += [f"{key}: {member[key]}" for key in ("type", "name", "state") if member.get(key)]
    if member.get("thread") is not None:
        parts.append(f"thread: {thread_ref(member)}")
    if member.get("thread_object"):
        parts.append(f"runs threading.Thread {member['thread_object']!r}")
    if member.get("hub"):
        parts.append("hub")
    if member.get("main"):
        parts.append("main greenlet of its thread")
    if member.get("current"):
        parts.append("current (running when the report was asked for)")
    if member.get("error"):
        parts.append(f"unreadable: {error_text(member['error'])}")
    lines = [", ".join(parts)]
    if member.get("wait"):
        lines.append(wait_line(member["wait"]))
    if member.get("spawned_by"):
        lines.append(f"spawned by: {member['spawned_by']}")
    if member.get("spawned_at"):
        lines += short_frame_lines("spawned at", member["spawned_at"])
    return "\n".join(lines)


def task_label(member: Dict[str, Any]) -> str:
    label = str(member.get("name"))
    targets = [a.get("name") for a in member.get("awaits", []) if a.get("kind") == "task"]
    if targets:
        label += " -> " + "+".join(str(t) for t in targets)
    return label


def task_facts(member: Dict[str, Any]) -> str:
    parts = [f"id: {hex_id(member.get('id', 0))}", f"state: {member.get('state')}"]
    if member.get("outcome"):
        parts.append(f"outcome: {member['outcome']}")
    if member.get("loop"):
        parts.append(str(member["loop"]))
    if member.get("thread") is not None:
        parts.append(f"thread: {thread_ref(member)}")
    if member.get("running"):
        parts.append("running")
    if member.get("error"):
        parts.append(f"unreadable: {error_text(member['error'])}")
    lines = [", ".join(parts)]
    awaits = awaits_text(member.get("awaits") or [])
    if awaits:
        lines.append(awaits)
    awaited_by = awaited_by_text(member.get("awaited_by") or [])
    if awaited_by:
        lines.append(awaited_by)
    if member.get("wait"):
        lines.append(wait_line(member["wait"]))
    if member.get("cycle"):
        lines.append("AWAIT CYCLE: " + " -> ".join(member["cycle"] + member["cycle"][:1]))
    if member.get("created_at"):
        lines += short_frame_lines("created at", member["created_at"])
    return "\n".join(lines)


def stack_entries_lines(
    data: Dict[str, Any],
    section_id: str,
    banner_of: Callable[[Dict[str, Any]], str],
    facts_of: Callable[[Dict[str, Any]], str],
    label_of: Callable[[Dict[str, Any]], str],
    group_facts_of: Callable[[List[Dict[str, Any]]], List[str]] = lambda members: [],
) -> List[str]:
    names = unit_name(section_id)
    unit, plural = names.one.title(), names.many
    lines: List[str] = []
    for entry in data.get("entries", []):
        members = entry.get("members") or [{}]
        count = entry.get("count", 1)
        if count > 1:
            lines += [unit_banner(f"{unit} (x{count} identical)"), ""]
            listed = ", ".join(label_of(m) for m in members)
            more = entry.get("more", 0)
            if more:
                listed += f" and {more} more"
            lines += [f"{count} {plural}: {listed}"] + group_facts_of(members) + [""]
        else:
            lines += [unit_banner(banner_of(members[0])), ""]
            facts = facts_of(members[0])
            if facts:
                lines += facts.split("\n") + [""]
        if not entry.get("stack") and any(m.get("no_python_frame") for m in members):
            lines += ["In native code, no Python frame.", ""]
        else:
            lines += frame_lines(entry.get("stack", []))
    return lines


def threads_lines(data: Dict[str, Any]) -> List[str]:
    lines = stack_entries_lines(
        data, "threads", lambda m: f"Thread #{m.get('ident')}", thread_facts, thread_label
    )
    own = data.get("own_threads") or []
    if own:
        lines += [own_threads_line(own), ""]
    return lines


def own_threads_line(own: List[str]) -> str:
    """``3 threads of this library left out: a, b, c`` (Processes counts them)."""
    noun = "thread" if len(own) == 1 else "threads"
    return f"{len(own)} {noun} of this library left out: " + ", ".join(own)


def green_lines(data: Dict[str, Any]) -> List[str]:
    return stack_entries_lines(
        data, "green_threads", lambda m: "Green Thread", green_facts, green_label
    )


def tasks_lines(data: Dict[str, Any]) -> List[str]:
    lines: List[str] = [f"{data.get('total', 0)} tasks"]
    for loop in data.get("loops", []):
        parts = [str(loop.get("type", "loop"))]
        if "running" in loop:
            parts.append("running" if loop["running"] else "not running")
        if loop.get("closed"):
            parts.append("closed")
        if loop.get("debug"):
            parts.append("debug")
        if loop.get("thread") is not None:
            parts.append(f"thread {thread_ref(loop)}")
        parts.append(f"{loop.get('tasks', 0)} tasks")
        lines.append(f"{loop.get('label')}: " + ", ".join(parts))
    for ring in data.get("cycles", []):
        lines.append("AWAIT CYCLE: " + " -> ".join(ring + ring[:1]))
    lines.append("")
    return lines + stack_entries_lines(
        data,
        "asyncio_tasks",
        lambda m: f"Task {m.get('name')}",
        task_facts,
        task_label,
        lambda members: group_awaited_by(members, task_label),
    )

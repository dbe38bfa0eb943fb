"""The classic text layout of oslo.reports, rendered from the report document.

A function of the plain report only: it never looks at the live process, so
a report saved as JSON renders to the same text later.

Shape kept from the classic report: 72-column ``====`` section banners,
``------`` unit banners, ``file:line in function`` followed by the source
line in backticks, a blank line after every frame, ``key = value`` lines for
configuration and registered sections.  New facts (thread names, greenlet
states, group members...) go on lines inside a block's body, after the blank
line that follows its banner, so every banner line stays as it was.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

from ..model import Report, Section
from ..terminal import escape
from . import text_resources

WIDTH = 72


def section_banner(title: str) -> List[str]:
    return ["=" * WIDTH, "====" + title.center(WIDTH - 8) + "====", "=" * WIDTH]


def unit_banner(title: str) -> str:
    return "------" + title.center(WIDTH - 12) + "------"


# -- key = value -------------------------------------------------------------


def _scalar(value: Any) -> str:
    return "None" if value is None else str(value)


def kv_lines(key: Optional[str], value: Any, indent: int) -> List[str]:
    """Nested ``key = value`` lines: a mapping is introduced by ``key: `` after
    a blank line and its items indented; a sequence by ``key = `` with one item
    per indented line; a multi-line string by ``key: `` and its lines."""
    pad = "  " * indent
    if isinstance(value, dict):
        lines: List[str] = []
        if key is not None:
            lines += ["", f"{pad}{key}: "]
        elif indent > 0:
            lines.append(f"{pad}[dict]")
        for k, v in value.items():
            lines += kv_lines(k, v, indent + 1)
        return lines
    if isinstance(value, list):
        lines = [f"{pad}{key} = "] if key is not None else []
        for item in value:
            lines += kv_lines(None, item, indent + 1)
        return lines
    text = _scalar(value)
    if "\n" in text:
        lines = [f"{pad}{key}: "] if key is not None else []
        return lines + [f"{pad}  {line}" for line in text.split("\n")]
    if key is None:
        return [f"{pad}{text}"]
    return [f"{pad}{key} = {text}"]


def mapping_lines(value: Any) -> List[str]:
    """Top-level data of a registered section: keys at the margin."""
    if isinstance(value, dict):
        lines: List[str] = []
        for k, v in value.items():
            lines += kv_lines(k, v, 0)
        return lines
    if isinstance(value, list):
        lines = []
        for item in value:
            lines += kv_lines(None, item, 0)
        return lines
    return kv_lines(None, value, 0)


# -- stacks ------------------------------------------------------------------


def frame_lines(stack: List[Dict[str, Any]]) -> List[str]:
    if not stack:
        return ["No Traceback!", ""]
    lines: List[str] = []
    for frame in stack:
        lines.append(f"{frame['file']}:{frame['line']} in {frame['function']}")
        if frame.get("code"):
            lines.append(f"    `{frame['code']}`")
        lines.append("")
    return lines


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
    return ", ".join(parts)


def green_label(member: Dict[str, Any]) -> str:
    name = member.get("name")
    return f"0x{member.get('id', 0):x}" + (f" ({name})" if name else "")


def _thread_ref(member: Dict[str, Any]) -> str:
    ref = f"#{member['thread']}"
    if member.get("thread_name"):
        ref += f" ({member['thread_name']})"
    return ref


def green_facts(member: Dict[str, Any]) -> str:
    parts = [f"id: 0x{member.get('id', 0):x}"]
    if member.get("type"):
        parts.append(f"type: {member['type']}")
    if member.get("name"):
        parts.append(f"name: {member['name']}")
    if member.get("state"):
        parts.append(f"state: {member['state']}")
    if member.get("thread") is not None:
        parts.append(f"thread: {_thread_ref(member)}")
    if member.get("thread_object"):
        parts.append(f"runs threading.Thread {member['thread_object']!r}")
    if member.get("hub"):
        parts.append("hub")
    if member.get("main"):
        parts.append("main greenlet of its thread")
    if member.get("current"):
        parts.append("current (running when the report was asked for)")
    if member.get("error"):
        parts.append(f"unreadable: {member['error']}")
    lines = [", ".join(parts)]
    if member.get("spawned_by"):
        lines.append(f"spawned by: {member['spawned_by']}")
    spawn = member.get("spawned_at")
    if spawn:
        lines.append("spawned at:")
        for frame in spawn:
            lines.append(f"    {frame['file']}:{frame['line']} in {frame['function']}")
    return "\n".join(lines)


def _awaited_label(item: Dict[str, Any]) -> str:
    kind = item.get("kind")
    if kind == "task":
        return f"task {item.get('name')} (0x{item.get('id', 0):x})"
    if kind == "gather":
        return "gather() of:"
    text = f"{item.get('type', 'future')} 0x{item.get('id', 0):x}"
    if item.get("state"):
        text += f" ({item['state']})"
    if item.get("created_at"):
        text += f" created at {item['created_at']}"
    return text


#: How many awaited or awaiting tasks one line names before "and N more"
#: (a gather() of 10,000 tasks stays one readable line; the JSON keeps all).
MAX_LISTED = 20


def _listing(labels: List[str], limit: int = MAX_LISTED) -> str:
    text = ", ".join(labels[:limit])
    if len(labels) > limit:
        text += f" and {len(labels) - limit} more"
    return text


def task_label(member: Dict[str, Any]) -> str:
    label = str(member.get("name"))
    targets = [a.get("name") for a in member.get("awaits", []) if a.get("kind") == "task"]
    if targets:
        label += " -> " + "+".join(str(t) for t in targets)
    return label


def task_facts(member: Dict[str, Any]) -> str:
    parts = [f"id: 0x{member.get('id', 0):x}", f"state: {member.get('state')}"]
    if member.get("outcome"):
        parts.append(f"outcome: {member['outcome']}")
    if member.get("loop"):
        parts.append(str(member["loop"]))
    if member.get("thread") is not None:
        parts.append(f"thread: {_thread_ref(member)}")
    if member.get("running"):
        parts.append("running")
    if member.get("error"):
        parts.append(f"unreadable: {member['error']}")
    lines = [", ".join(parts)]
    awaits = member.get("awaits") or []
    if awaits:
        text = "awaits: " + _awaited_label(awaits[0])
        if len(awaits) > 1:
            text += " " + _listing([_awaited_label(a) for a in awaits[1:]])
        lines.append(text)
    if member.get("awaited_by"):
        who = _listing([f"{w.get('name')} (0x{w.get('id', 0):x})" for w in member["awaited_by"]])
        lines.append(f"awaited by: {who}")
    if member.get("cycle"):
        lines.append("AWAIT CYCLE: " + " -> ".join(member["cycle"] + member["cycle"][:1]))
    if member.get("created_at"):
        lines.append("created at:")
        for frame in member["created_at"]:
            lines.append(f"    {frame['file']}:{frame['line']} in {frame['function']}")
    return "\n".join(lines)


def stack_entries_lines(
    data: Dict[str, Any],
    unit: str,
    banner_of: Callable[[Dict[str, Any]], str],
    facts_of: Callable[[Dict[str, Any]], str],
    label_of: Callable[[Dict[str, Any]], str],
    plural: str,
) -> List[str]:
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
            lines += [f"{count} {plural}: {listed}", ""]
        else:
            lines += [unit_banner(banner_of(members[0])), ""]
            facts = facts_of(members[0])
            if facts:
                lines += facts.split("\n") + [""]
        lines += frame_lines(entry.get("stack", []))
    return lines


def threads_lines(data: Dict[str, Any]) -> List[str]:
    return stack_entries_lines(
        data, "Thread", lambda m: f"Thread #{m.get('ident')}", thread_facts, thread_label, "threads"
    )


def green_lines(data: Dict[str, Any]) -> List[str]:
    return stack_entries_lines(
        data, "Green Thread", lambda m: "Green Thread", green_facts, green_label, "green threads"
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
            parts.append(f"thread {_thread_ref(loop)}")
        parts.append(f"{loop.get('tasks', 0)} tasks")
        lines.append(f"{loop.get('label')}: " + ", ".join(parts))
    for ring in data.get("cycles", []):
        lines.append("AWAIT CYCLE: " + " -> ".join(ring + ring[:1]))
    lines.append("")
    return lines + stack_entries_lines(
        data, "Task", lambda m: f"Task {m.get('name')}", task_facts, task_label, "tasks"
    )


# -- other built-in sections -------------------------------------------------


def package_lines(data: Dict[str, Any]) -> List[str]:
    return [f"{key} = {_scalar(data.get(key))}" for key in ("product", "vendor", "version")]


def _process_lines(
    proc: Dict[str, Any], depth: int, resources: Optional[Dict[str, Any]] = None
) -> List[str]:
    pad = "    " * depth
    if "state" in proc:
        line = (
            f"{pad}Process {proc['pid']} (under {proc.get('ppid')}) "
            f"[ run by: {proc.get('user')} ({proc.get('uid')}), state: {proc.get('state')} ]"
        )
    else:
        line = f"{pad}Process {proc.get('pid')}"
    lines = [line]
    if proc.get("cmdline"):
        lines.append(f"{pad}  command: {' '.join(proc['cmdline'])}")
    if proc.get("error"):
        lines.append(f"{pad}  note: {proc['error']}")
    if resources:
        lines += text_resources.resources_lines(resources, pad + "  ")
    for child in proc.get("children", []):
        lines += _process_lines(child, depth + 1)
    return lines


def processes_lines(data: Dict[str, Any]) -> List[str]:
    lines = _process_lines(data.get("process", {}), 0, data.get("resources"))
    lines += [f"note: {note}" for note in data.get("notes", [])]
    return lines + [""]


def configuration_lines(data: Dict[str, Any]) -> List[str]:
    lines: List[str] = []
    for group in data.get("groups", []):
        options: Dict[str, Any] = {}
        for opt in group.get("options", []):
            if "error" in opt:
                options[opt["name"]] = f"<unreadable: {opt['error']}>"
            else:
                options[opt["name"]] = opt.get("value")
        lines += kv_lines(group.get("name", "default"), options, 0)
        if group.get("error"):
            lines.append(f"  <group unreadable: {group['error']}>")
    return lines


def environment_lines(data: Dict[str, Any]) -> List[str]:
    """``NAME = value``, one variable a line; later lines of a multi-line
    value indented under it."""
    lines: List[str] = []
    for var in data.get("variables", []):
        text = _scalar(var.get("value")).split("\n")
        lines.append(f"{var.get('name')} = {text[0]}")
        lines += [f"    {line}" for line in text[1:]]
    return lines + [""]


def registered_lines(data: Dict[str, Any]) -> List[str]:
    if data.get("kind") == "text":
        text = data.get("text", "")
        return text.split("\n") if text else []
    return mapping_lines(data.get("value"))


def error_lines(section: Section) -> List[str]:
    err = section.get("error") or {"type": "Error", "message": "", "traceback": ""}
    lines = [f"Unable to produce this section: {err['type']}: {err['message']}"]
    tb = err.get("traceback", "").rstrip("\n")
    if tb:
        lines += tb.split("\n")
    return lines + [""]


#: Body renderers by section id; a section id not listed here is rendered as
#: nested ``key = value`` lines of its data.
BODY: Dict[str, Callable[[Dict[str, Any]], List[str]]] = {
    "package": package_lines,
    "threads": threads_lines,
    "green_threads": green_lines,
    "processes": processes_lines,
    "configuration": configuration_lines,
    "open_files": text_resources.open_files_lines,
    "python_runtime": text_resources.python_runtime_lines,
    "packages": text_resources.packages_lines,
    "memory": text_resources.memory_lines,
    "asyncio_tasks": tasks_lines,
    "environment": environment_lines,
}


def section_lines(section: Section) -> List[str]:
    lines = section_banner(section.get("title", section.get("id", "")))
    if "error" in section:
        return lines + error_lines(section)
    data = section.get("data")
    sid = section.get("id", "")
    body = BODY.get(sid)
    if body is not None:
        lines += body(data or {})
    elif sid.startswith("registered:"):
        lines += registered_lines(data or {})
    else:
        lines += mapping_lines(data)
    if section.get("note"):
        lines.append(f"note: {section['note']}")
    return lines


def header_lines(report: Report) -> List[str]:
    header: Dict[str, Any] = dict(report.get("header", {}))
    lines = []
    trigger = header.get("trigger") or {}
    producer = header.get("producer") or {}
    lines.append(
        f"Report of {header.get('service') or 'unknown service'} "
        f"(pid {header.get('pid')}) at {header.get('timestamp')}"
    )
    how = f"Trigger: {trigger.get('kind', '?')} {trigger.get('detail', '')}".rstrip()
    who = producer.get("thread")
    if who:
        how += f"; written by thread {who}"
        if producer.get("main"):
            how += " (main thread)"
    if header.get("durationMs") is not None:
        how += f" in {header['durationMs']:.1f} ms"
    lines.append(how)
    if producer.get("reason"):
        lines.append(f"Note: {producer['reason']}")
    if header.get("redactedCount"):
        lines.append(f"Masked: {header['redactedCount']} values that looked secret")
    lines += signal_lines(header)
    return lines


def signal_lines(header: Dict[str, Any]) -> List[str]:
    """The report signal, when it is no longer ours (nothing when it is)."""
    state = header.get("signal") or {}
    if not state or state.get("ours", True):
        return []
    return [
        f"Signal: {state.get('name')} was taken over by {state.get('takenOverBy') or '?'}; "
        "this process answers 'gurumeditation report' over its channel"
    ]


def render(report: Report) -> str:
    """The whole report in the classic text layout (no trailing newline)."""
    lines = section_banner("Guru Meditation")
    lines.append("|" * WIDTH)
    lines += header_lines(report)
    lines += ["", ""]
    for section in report.get("sections", []):
        lines += section_lines(section)
    # every control character an application put in a name, value or path
    # is shown escaped (the layout's own newlines stay)
    return escape("\n".join(lines))

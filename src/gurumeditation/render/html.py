"""The report as one self-contained HTML page, rendered from the report document.

A function of the plain report only (like the text renderer): a saved JSON
report renders to the same page later.  The page needs nothing but itself:
inline CSS and JavaScript, no fonts, images or scripts from anywhere, and a
Content-Security-Policy that forbids any network access, so it opens from
disk, from a mail attachment or from a ticket.

Report data is untrusted (thread names, configuration values, registered
sections are the application's): every string is HTML-escaped, and the copy
of the document embedded for the page's script is JSON with ``<``, ``>``,
``&`` and U+2028/U+2029 escaped, so nothing in it can close the ``<script>``
element or start markup.

What the page shows: a header summary (service, pid, host, Python, trigger,
who produced it, how long it took, how many values were masked), the number
of threads, green threads and tasks, every section collapsible, stack
sections as entries with their count (identical stacks grouped), each frame
with its source line -- the application's own frames marked, every run of
library and standard-library frames folded (one click opens it) and shown by
its short path (``starlette/routing.py:683``, the full path on hover; which
is which is told by the path alone, see
:func:`gurumeditation.render.common.frame_kind`) -- a task's awaits and
awaiters and the process's resources worded as the text report words them,
and a filter box that narrows threads, green threads
and tasks down to those whose names, ids, functions, files or source lines
contain the words typed.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..model import Report, Section
from .common import (
    FrameKind,
    automatic_lines,
    error_text,
    frame_kind,
    is_stack_data,
    parked_at,
    stack_total,
    stdlib_dir,
    unit_name,
)
from .facts import awaited_by_text, awaits_text, group_awaited_by, hex_id, resources_lines
from .html_assets import CSP, SCRIPT, STYLE
from .text_layout import thread_ref
from .text_sections.diagnosis import step_text
from .text_sections.stacks import os_line, own_threads_line, wait_line

#: Stack sections with at most this many entries show their stacks unfolded.
OPEN_ENTRIES = 20


def esc(value: Any) -> str:
    """HTML-escape ``value`` (quotes too, so it is safe in attributes; line
    separators as character references, so no raw one is in the page)."""
    text = escape("None" if value is None else str(value), quote=True)
    return text.replace("\u2028", "&#x2028;").replace("\u2029", "&#x2029;")


def script_json(value: Any) -> str:
    """JSON that can sit inside a ``<script>`` element: the characters that
    could end the element or start markup, and the line separators older
    JavaScript parsers reject, are written as ``\\u`` escapes (only JSON
    strings can contain them, so the JSON stays equal)."""
    text = json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def plural(n: int, names: Tuple[str, str]) -> str:
    return f"{n} {names[0] if n == 1 else names[1]}"


# -- generic data --------------------------------------------------------------


def table_columns(rows: List[Any]) -> List[str]:
    """The columns when ``rows`` is a list of flat records (mappings of
    scalars, such as environment variables or descriptors), else ``[]``."""
    columns: Dict[str, None] = {}
    for row in rows:
        if not isinstance(row, dict) or not row:
            return []
        for key, value in row.items():
            if isinstance(value, (dict, list)):
                return []
            columns.setdefault(str(key), None)
    return list(columns) if len(columns) <= 12 else []


def generic(value: Any) -> str:
    """Nested data as nested tables and lists, in the order given."""
    if isinstance(value, dict):
        if not value:
            return '<span class="empty">(empty)</span>'
        rows = "".join(
            f'<tr><th scope="row">{esc(k)}</th><td>{generic(v)}</td></tr>' for k, v in value.items()
        )
        return f'<table class="kv">{rows}</table>'
    if isinstance(value, list):
        if not value:
            return '<span class="empty">(none)</span>'
        columns = table_columns(value)
        if columns:
            head = "".join(f'<th scope="col">{esc(c)}</th>' for c in columns)
            rows = "".join(
                "<tr>" + "".join(f"<td>{generic(row.get(c, ''))}</td>" for c in columns) + "</tr>"
                for row in value
            )
            return (
                f'<table class="grid"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
            )
        return '<ol class="list">' + "".join(f"<li>{generic(v)}</li>" for v in value) + "</ol>"
    if isinstance(value, str) and "\n" in value:
        return f'<pre class="text">{esc(value)}</pre>'
    return f'<span class="value">{esc(value)}</span>'


# -- stacks --------------------------------------------------------------------


def member_label(section_id: str, member: Dict[str, Any]) -> str:
    if section_id == "threads":
        label = f"Thread #{member.get('ident')}"
        if member.get("name") is not None:
            label += f" ({member['name']})"
        return label
    if section_id == "green_threads":
        ident = member.get("id")
        label = f"Green thread {hex_id(ident)}" if isinstance(ident, int) else "Green thread"
        if member.get("name"):
            label += f" ({member['name']})"
        return label
    name = member.get("name") or member.get("id") or member.get("ident")
    return f"{unit_name(section_id)[0].capitalize()} {name}" if name is not None else "?"


#: Member keys whose value is an id, shown in hex as the text report shows it
#: (a thread's ``ident`` stays decimal, like the text's ``Thread #ident``).
HEX_KEYS = {"green_threads": ("id",), "asyncio_tasks": ("id",)}

#: Member keys told on lines of their own, after the member's plain facts.
LINE_KEYS = ("awaits", "awaited_by", "cycle", "spawned_by", "created_at", "spawned_at")


def made_at_html(title: str, frames: Any, stdlib: Optional[str]) -> str:
    """Where a task was created or a greenlet spawned: its innermost frame in
    the summary of a closed ``<details>`` holding every frame."""
    stack = [f for f in frames if isinstance(f, dict)] if isinstance(frames, list) else []
    if not stack:
        return ""
    last = stack[-1]
    file = str(last.get("file", ""))
    where = f"{frame_kind(file, stdlib).short}:{last.get('line')} in {last.get('function')}"
    items = "".join(
        frame_html(f, frame_kind(str(f.get("file", "")), stdlib), n)
        for n, f in enumerate(stack, 1)
    )
    return (
        f'<details class="fold made"><summary>{esc(title)}: {esc(where)}</summary>'
        f'<ol class="stack">{items}</ol></details>'
    )


def member_lines(member: Dict[str, Any], stdlib: Optional[str]) -> List[str]:
    """What the text report puts on a task's or greenlet's lines of their own,
    worded the same (HTML, escaped)."""
    lines = []
    awaits = awaits_text([a for a in member.get("awaits") or [] if isinstance(a, dict)])
    if awaits:
        lines.append(esc(awaits))
    awaited_by = awaited_by_text([w for w in member.get("awaited_by") or [] if isinstance(w, dict)])
    if awaited_by:
        lines.append(esc(awaited_by))
    cycle = member.get("cycle")
    if isinstance(cycle, list) and cycle:
        ring = [str(c) for c in cycle]
        lines.append(f'<span class="error">AWAIT CYCLE: {esc(" -> ".join(ring + ring[:1]))}</span>')
    if member.get("spawned_by"):
        lines.append(f"spawned by: {esc(member['spawned_by'])}")
    for key, title in (("created_at", "created at"), ("spawned_at", "spawned at")):
        if member.get(key):
            lines.append(made_at_html(title, member[key], stdlib))
    return lines


def member_facts(member: Dict[str, Any], section_id: str = "", stdlib: Optional[str] = None) -> str:
    """A listed unit's facts: its plain facts on one line (ids in hex where
    the text report writes them so), then what it awaits, who awaits it,
    where it was made, each on a line of its own."""
    parts = []
    hex_keys = HEX_KEYS.get(section_id, ())
    for key, value in member.items():
        if key in LINE_KEYS or (key == "thread_name" and member.get("thread") is not None):
            continue
        if key == "thread" and value is not None:  # the text's "thread: #ident (name)"
            parts.append(f"thread: {esc(thread_ref(member))}")
            continue
        if key == "error" and isinstance(value, dict):  # a unit's error: Type: message
            parts.append(f"error: {esc(error_text(value))}")
        elif key == "os" and isinstance(value, dict):
            parts.append(esc(os_line(value)))
        elif key == "wait" and isinstance(value, dict):
            parts.append(f'<span class="wait">{esc(wait_line(value))}</span>')
        elif isinstance(value, bool):
            if value:
                parts.append(esc(key))
        elif key in hex_keys and isinstance(value, int):
            parts.append(f"{esc(key)}: {esc(hex_id(value))}")
        elif isinstance(value, (dict, list)):
            parts.append(f"{esc(key)}: {esc(json.dumps(value, ensure_ascii=False))}")
        else:
            parts.append(f"{esc(key)}: {esc(value)}")
    lines = [", ".join(parts)] if parts else []
    return "".join(f"<div>{line}</div>" for line in lines + member_lines(member, stdlib))


def fold_title(kinds: List[FrameKind]) -> str:
    """``3 library frames: starlette, fastapi`` for a folded run of frames."""
    which = {k.kind for k in kinds}
    if which == {"library"}:
        what = "library"
    elif which == {"stdlib"}:
        what = "standard-library"
    else:
        what = "library and standard-library"
    names: Dict[str, None] = {}
    for k in kinds:
        head = k.short[len("<frozen ") : -1] if k.short.startswith("<frozen ") else k.short
        names.setdefault(head.split("/", 1)[0].removesuffix(".py"), None)
    return f"{plural(len(kinds), (what + ' frame', what + ' frames'))}: {', '.join(names)}"


def frame_html(frame: Dict[str, Any], kind: FrameKind, number: int) -> str:
    """One frame, numbered by its place in its stack (outermost 1)."""
    file = str(frame.get("file", ""))
    code = frame.get("code") or ""
    source = f'<code class="src">{esc(code)}</code>' if code else ""
    title = f' title="{esc(file)}"' if kind.short != file else ""
    mark = '<span class="app-mark" title="the application\'s own code">app</span> '
    return (
        f'<li class="frame {kind.kind}" value="{number}">{mark if kind.kind == "app" else ""}'
        f'<span class="loc"{title}>{esc(kind.short)}:{esc(frame.get("line"))}</span>'
        f' in <span class="fn">{esc(frame.get("function"))}</span>{source}</li>'
    )


def frames_html(stack: List[Dict[str, Any]], stdlib: Optional[str] = None) -> str:
    """A stack, outermost first: the application's own frames marked, each run
    of library and standard-library frames folded into one closed
    ``<details>`` (one click opens it; no script needed) and shown by short
    paths, the full path in its ``title``.  A stack with no frame of the
    application's folds nothing (there would be nothing left to see)."""
    if not stack:
        return '<p class="empty">No Traceback!</p>'
    kinds = [frame_kind(str(f.get("file", "")), stdlib) for f in stack]
    fold = any(k.kind == "app" for k in kinds)
    items: List[str] = []
    run: List[int] = []

    def close_run() -> None:
        if run:
            inner = "".join(frame_html(stack[i], kinds[i], i + 1) for i in run)
            items.append(
                f'<li class="fold"><details class="fold"><summary>'
                f"{esc(fold_title([kinds[i] for i in run]))}</summary>"
                f'<ol class="stack">{inner}</ol></details></li>'
            )
            run.clear()

    for i, frame in enumerate(stack):
        if fold and kinds[i].kind != "app":
            run.append(i)
            continue
        close_run()
        items.append(frame_html(frame, kinds[i], i + 1))
    close_run()
    return '<ol class="stack">' + "".join(items) + "</ol>"


def where_parked(stack: List[Dict[str, Any]], stdlib: Optional[str] = None) -> str:
    """Where an entry's stack is parked (see :func:`gurumeditation.render.common.parked_at`),
    library frames by their short paths."""
    frames = [
        (str(f.get("file", "")), f.get("line", ""), str(f.get("function", ""))) for f in stack
    ]
    return parked_at(frames, stdlib, short=True)


def search_text(entry: Dict[str, Any], labels: List[str], section_id: str = "") -> str:
    """What the filter box looks in: labels, the members' plain facts (ids in
    hex too, as the page and the text report show them), frames."""
    words: List[str] = list(labels)
    hex_keys = HEX_KEYS.get(section_id, ())
    for member in entry.get("members") or []:
        if isinstance(member, dict):
            words += [str(v) for v in member.values() if not isinstance(v, (dict, list))]
            words += [hex_id(member[k]) for k in hex_keys if isinstance(member.get(k), int)]
    for frame in entry.get("stack") or []:
        words += [str(frame.get("file", "")), str(frame.get("function", ""))]
        words.append(str(frame.get("code", "")))
    return " ".join(words).lower()


def stack_section_html(section_id: str, data: Dict[str, Any], stdlib: Optional[str] = None) -> str:
    names = unit_name(section_id)
    entries = [e for e in data.get("entries", []) if isinstance(e, dict)]
    #: a short section opens its entries: the stacks are what one came for
    opened = " open" if len(entries) <= OPEN_ENTRIES else ""
    parts = []
    for entry in entries:
        count = int(entry.get("count", 1))
        members = [m for m in entry.get("members") or [] if isinstance(m, dict)]
        labels = [member_label(section_id, m) for m in members]
        if count > 1:
            title = f"{plural(count, names)} with this stack"
            listed = ", ".join(labels)
            if entry.get("more"):
                listed += f" and {entry['more']} more"
            detail = f'<p class="members">{esc(listed)}</p>'
            if section_id == "asyncio_tasks":
                detail += "".join(
                    f'<p class="facts">{esc(line)}</p>'
                    for line in group_awaited_by(members, lambda m: m.get("name"))
                )
        else:
            title = labels[0] if labels else names[0]
            facts = member_facts(members[0], section_id, stdlib) if members else ""
            detail = f'<div class="facts">{facts}</div>' if facts else ""
        where = where_parked(entry.get("stack") or [], stdlib)
        native = not entry.get("stack") and any(m.get("no_python_frame") for m in members)
        if native:
            where = "in native code, no Python frame"
        stack_html = (
            '<p class="empty">In native code, no Python frame.</p>'
            if native
            else frames_html(entry.get("stack") or [], stdlib)
        )
        parts.append(
            f'<details class="unit"{opened} data-count="{count}" '
            f'data-search="{esc(search_text(entry, labels, section_id))}">'
            f'<summary><span class="count" title="{esc(plural(count, names))}">×{count}</span> '
            f'<span class="label">{esc(title)}</span> <span class="where">{esc(where)}</span>'
            f"</summary>{detail}{stack_html}</details>"
        )
    total = stack_total(data)
    status = (
        f'<p class="shown" data-total="{total}">'
        f'showing <span class="shown-count">{total}</span> of {plural(total, names)} '
        f"in {len(entries)} {'entry' if len(entries) == 1 else 'entries'}</p>"
    )
    own = data.get("own_threads") or []
    if own:
        status += f'<p class="note">{esc(own_threads_line(own))}</p>'
    return status + "".join(parts)


# -- other built-in sections ---------------------------------------------------


def package_html(data: Dict[str, Any]) -> str:
    return generic({key: data.get(key) for key in ("product", "vendor", "version")})


def process_html(proc: Dict[str, Any], resources: Optional[Dict[str, Any]] = None) -> str:
    """A process and its children; this process with its resources (memory,
    CPU, cgroup, limits: the text report's lines)."""
    line = f"Process {esc(proc.get('pid'))}"
    if "state" in proc:
        line += (
            f" (under {esc(proc.get('ppid'))}) {esc(proc.get('name'))} "
            f"[run by {esc(proc.get('user'))} ({esc(proc.get('uid'))}), {esc(proc.get('state'))}]"
        )
    if proc.get("cmdline"):
        line += f'<br><code class="cmd">{esc(" ".join(map(str, proc["cmdline"])))}</code>'
    if proc.get("error"):
        line += f'<br><span class="note">{esc(error_text(proc["error"]))}</span>'
    if resources:
        line += "".join(
            f'<br><span class="res">{esc(r)}</span>' for r in resources_lines(resources)
        )
    children = "".join(process_html(c) for c in proc.get("children") or [])
    return f"<li>{line}" + (f"<ul>{children}</ul>" if children else "") + "</li>"


def processes_html(data: Dict[str, Any]) -> str:
    resources = data.get("resources")
    root = process_html(
        data.get("process") or {}, resources if isinstance(resources, dict) else None
    )
    tree = f'<ul class="procs">{root}</ul>'
    notes = "".join(f'<p class="note">{esc(n)}</p>' for n in data.get("notes") or [])
    return tree + notes


def configuration_html(data: Dict[str, Any]) -> str:
    parts = [f'<p class="facts">source: {esc(data.get("source"))}</p>']
    for group in data.get("groups") or []:
        rows = []
        for opt in group.get("options") or []:
            if "error" in opt:
                value = f'<span class="note">unreadable: {esc(error_text(opt["error"]))}</span>'
            else:
                value = generic(opt.get("value"))
            mark = ' <span class="secret">secret</span>' if opt.get("secret") else ""
            rows.append(
                f'<tr><th scope="row">{esc(opt.get("name"))}{mark}</th><td>{value}</td></tr>'
            )
        error = (
            f'<p class="note">group unreadable: {esc(error_text(group["error"]))}</p>'
            if group.get("error")
            else ""
        )
        parts.append(
            f'<h3>[{esc(group.get("name"))}]</h3><table class="kv">{"".join(rows)}</table>{error}'
        )
    return "".join(parts)


def registered_html(data: Dict[str, Any]) -> str:
    if data.get("kind") == "text":
        return f'<pre class="text">{esc(data.get("text", ""))}</pre>'
    return generic(data.get("value"))


def environment_html(data: Dict[str, Any]) -> str:
    """One ``NAME | value`` row a variable, in the document's (sorted) order."""
    return generic({str(v.get("name")): v.get("value") for v in data.get("variables", [])})


def diagnosis_html(data: Dict[str, Any]) -> str:
    """One item per finding; a deadlock's or crowd's units listed under it."""
    items = []
    for finding in data.get("findings", []):
        steps = ""
        if finding.get("kind") in ("deadlock", "crowd") and finding.get("units"):
            steps = '<ul class="list">' + "".join(
                f"<li>{esc(step_text(step))}</li>" for step in finding["units"]
            )
            shown = len(finding["units"])
            if finding.get("count", 0) > shown:
                steps += f"<li>… and {esc(finding['count'] - shown)} more</li>"
            steps += "</ul>"
        items.append(
            f'<li class="finding" data-kind="{esc(finding.get("kind"))}">'
            f"{esc(finding.get('summary'))}{steps}</li>"
        )
    notes = "".join(f'<p class="note">note: {esc(n)}</p>' for n in data.get("notes", []))
    return f'<ul class="list diagnosis">{"".join(items)}</ul>{notes}'


BODY: Dict[str, Callable[[Dict[str, Any]], str]] = {
    "diagnosis": diagnosis_html,
    "package": package_html,
    "processes": processes_html,
    "configuration": configuration_html,
    "environment": environment_html,
}


def error_html(section: Section) -> str:
    err: Dict[str, Any] = dict(section.get("error") or {})
    return (
        f'<p class="error">Unable to produce this section: {esc(err.get("type"))}: '
        f'{esc(err.get("message"))}</p><pre class="text">{esc(err.get("traceback", ""))}</pre>'
    )


def section_html(index: int, section: Section, stdlib: Optional[str] = None) -> str:
    sid = str(section.get("id", ""))
    title = section.get("title") or sid
    data: Any = section.get("data")
    badge = ""
    kind = "plain"
    if "error" in section:
        body = error_html(section)
        badge = '<span class="badge bad">error</span>'
    elif is_stack_data(data):
        kind = "stacks"
        body = stack_section_html(sid, data, stdlib)
        badge = (
            f'<span class="badge" data-section-count="{esc(sid)}">'
            f"{esc(plural(stack_total(data), unit_name(sid)))}</span>"
        )
    elif sid in BODY and isinstance(data, dict):
        body = BODY[sid](data)
    elif sid.startswith("registered:") and isinstance(data, dict):
        body = registered_html(data)
    else:
        body = generic(data)
    if section.get("note"):
        body += f'<p class="note">note: {esc(section["note"])}</p>'
    return (
        f'<details class="section {kind}" id="s{index}" data-id="{esc(sid)}" open>'
        f"<summary><h2>{esc(title)}</h2>{badge}</summary>"
        f'<div class="body">{body}</div></details>'
    )


# -- header --------------------------------------------------------------------


def header_rows(header: Dict[str, Any]) -> List[Tuple[str, str]]:
    python = header.get("python") or {}
    trigger = header.get("trigger") or {}
    producer = header.get("producer") or {}
    rows = [
        ("Service", esc(header.get("service"))),
        ("Process", f"pid {esc(header.get('pid'))}, parent {esc(header.get('ppid'))}"),
        ("Host", esc(header.get("hostname"))),
        ("Time (UTC)", esc(header.get("timestamp"))),
        (
            "Python",
            esc(
                f"{python.get('implementation', '?')} {python.get('version', '?')} "
                f"({python.get('executable', '?')})"
            ),
        ),
        ("Command line", f"<code>{esc(' '.join(map(str, header.get('argv') or [])))}</code>"),
        ("Trigger", esc(f"{trigger.get('kind', '?')} {trigger.get('detail', '')}".strip())),
    ]
    who = esc(producer.get("thread", "?"))
    if producer.get("main"):
        who += " (main thread)"
    if producer.get("reason"):
        who += f" — {esc(producer['reason'])}"
    rows.append(("Written by", who))
    seen = automatic_lines(trigger)  # a stall, an exception, memory, a recovery
    if seen:
        rows.append(("Seen", f'<pre class="text">{esc(chr(10).join(seen))}</pre>'))
    if header.get("durationMs") is not None:
        rows.append(("Took", f"{esc(header['durationMs'])} ms"))
    rows.append(("Masked values", esc(header.get("redactedCount", 0))))
    if header.get("error"):
        rows.append(("Header error", esc(header["error"])))
    return rows


def counts_html(report: Report) -> str:
    chips = []
    for section in report.get("sections", []):
        sid = str(section.get("id", ""))
        data: Any = section.get("data")
        if "error" not in section and is_stack_data(data):
            chips.append(
                f'<span class="chip" data-count-of="{esc(sid)}" data-total="{stack_total(data)}">'
                f"{esc(plural(stack_total(data), unit_name(sid)))}</span>"
            )
    return '<p class="counts">' + " ".join(chips) + "</p>"


def render(report: Report) -> str:
    """The whole report as one HTML page."""
    header: Dict[str, Any] = dict(report.get("header") or {})
    service = header.get("service") or "unknown service"
    title = f"Guru Meditation: {service} (pid {header.get('pid')}) {header.get('timestamp', '')}"
    summary = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in header_rows(header))
    stdlib = stdlib_dir(report)
    sections = "\n".join(
        section_html(i, s, stdlib)
        for i, s in enumerate(report.get("sections", []))
        if isinstance(s, dict)
    )
    file_name = f"{service}_gurumeditation_{header.get('pid')}.json"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="gurumeditation; reportVersion {esc(report.get("reportVersion"))}">
<title>{esc(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<header>
<h1>Guru Meditation Report</h1>
<table class="summary">{summary}</table>
{counts_html(report)}
<div class="toolbar">
<input id="filter" type="search" autocomplete="off"
 placeholder="Filter threads, green threads, tasks: name, id, function, file, source…">
<span id="filter-status"></span>
<button type="button" id="expand-all">Expand all</button>
<button type="button" id="collapse-all">Collapse all</button>
<a id="download-json" href="#" download="{esc(file_name)}">Download JSON</a>
</div>
</header>
<main>
{sections}
</main>
<script type="application/json" id="report-data">{script_json(report)}</script>
<script>{SCRIPT}</script>
</body>
</html>
"""

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
with its source line, and a filter box that narrows threads, green threads
and tasks down to those whose names, ids, functions, files or source lines
contain the words typed.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any, Callable, Dict, List, Tuple

from ..model import Report, Section
from .common import error_text, is_stack_data, parked_at, stack_total, unit_name
from .html_assets import CSP, SCRIPT, STYLE
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
        label = f"Green thread 0x{ident:x}" if isinstance(ident, int) else "Green thread"
        if member.get("name"):
            label += f" ({member['name']})"
        return label
    name = member.get("name") or member.get("id") or member.get("ident")
    return f"{unit_name(section_id)[0].capitalize()} {name}" if name is not None else "?"


def member_facts(member: Dict[str, Any]) -> str:
    parts = []
    for key, value in member.items():
        if key == "error" and isinstance(value, dict):  # a unit's error: Type: message
            parts.append(f"error: {esc(error_text(value))}")
        elif key == "os" and isinstance(value, dict):
            parts.append(esc(os_line(value)))
        elif key == "wait" and isinstance(value, dict):
            parts.append(f'<span class="wait">{esc(wait_line(value))}</span>')
        elif isinstance(value, bool):
            if value:
                parts.append(esc(key))
        elif isinstance(value, (dict, list)):
            parts.append(f"{esc(key)}: {esc(json.dumps(value, ensure_ascii=False))}")
        else:
            parts.append(f"{esc(key)}: {esc(value)}")
    return ", ".join(parts)


def frames_html(stack: List[Dict[str, Any]]) -> str:
    if not stack:
        return '<p class="empty">No Traceback!</p>'
    items = []
    for frame in stack:
        code = frame.get("code") or ""
        source = f'<code class="src">{esc(code)}</code>' if code else ""
        items.append(
            f'<li><span class="loc">{esc(frame.get("file"))}:{esc(frame.get("line"))}</span>'
            f' in <span class="fn">{esc(frame.get("function"))}</span>{source}</li>'
        )
    return '<ol class="stack">' + "".join(items) + "</ol>"


def where_parked(stack: List[Dict[str, Any]]) -> str:
    """Where an entry's stack is parked (see :func:`gurumeditation.render.common.parked_at`)."""
    return parked_at([(f.get("file", ""), f.get("line", ""), f.get("function", "")) for f in stack])


def search_text(entry: Dict[str, Any], labels: List[str]) -> str:
    words: List[str] = list(labels)
    for member in entry.get("members") or []:
        if isinstance(member, dict):
            words += [str(v) for v in member.values() if not isinstance(v, (dict, list))]
    for frame in entry.get("stack") or []:
        words += [str(frame.get("file", "")), str(frame.get("function", ""))]
        words.append(str(frame.get("code", "")))
    return " ".join(words).lower()


def stack_section_html(section_id: str, data: Dict[str, Any]) -> str:
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
        else:
            title = labels[0] if labels else names[0]
            facts = member_facts(members[0]) if members else ""
            detail = f'<p class="facts">{facts}</p>' if facts else ""
        where = where_parked(entry.get("stack") or [])
        parts.append(
            f'<details class="unit"{opened} data-count="{count}" '
            f'data-search="{esc(search_text(entry, labels))}">'
            f'<summary><span class="count" title="{esc(plural(count, names))}">×{count}</span> '
            f'<span class="label">{esc(title)}</span> <span class="where">{esc(where)}</span>'
            f"</summary>{detail}{frames_html(entry.get('stack') or [])}</details>"
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


def process_html(proc: Dict[str, Any]) -> str:
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
    children = "".join(process_html(c) for c in proc.get("children") or [])
    return f"<li>{line}" + (f"<ul>{children}</ul>" if children else "") + "</li>"


def processes_html(data: Dict[str, Any]) -> str:
    tree = f'<ul class="procs">{process_html(data.get("process") or {})}</ul>'
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


def section_html(index: int, section: Section) -> str:
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
        body = stack_section_html(sid, data)
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
    sections = "\n".join(
        section_html(i, s) for i, s in enumerate(report.get("sections", [])) if isinstance(s, dict)
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

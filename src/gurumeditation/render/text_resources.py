"""Classic-layout bodies of the sections an operator reads after the stacks:
this process's resources (inside Processes), Open Files, Python Runtime,
Packages, Memory and GC.

Functions of the section data only (see each section module's docstring for
its shape), never of the live process.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_bytes(value: Optional[int]) -> str:
    if value is None:
        return "?"
    size = float(value)
    for unit in _UNITS:
        if abs(size) < 1024 or unit == _UNITS[-1]:
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"  # pragma: no cover


def _seconds(value: Optional[float]) -> str:
    return "?" if value is None else f"{value:.2f} s"


def _limit(value: Optional[int], name: str) -> str:
    if value is None:
        return "unlimited"
    if name in ("address_space", "data"):
        return human_bytes(value)
    return str(value)


# -- Processes: this process's resources -----------------------------------------


def resources_lines(res: Dict[str, Any], pad: str = "  ") -> List[str]:
    lines: List[str] = []
    if "rss_bytes" in res or "vms_bytes" in res:
        mem = f"{pad}memory: rss {human_bytes(res.get('rss_bytes'))}"
        if res.get("rss_peak_bytes") is not None:
            mem += f" (peak {human_bytes(res['rss_peak_bytes'])})"
        lines.append(mem + f", virtual {human_bytes(res.get('vms_bytes'))}")
    cpu = (
        f"{pad}cpu: user {_seconds(res.get('cpu_user_s'))}, "
        f"system {_seconds(res.get('cpu_system_s'))}"
    )
    if res.get("threads") is not None:
        cpu += f"; threads: {res['threads']}"
    if res.get("uptime_s") is not None:
        cpu += f"; up {_seconds(res['uptime_s'])}"
    if res.get("nice") is not None:
        cpu += f"; nice {res['nice']}"
    lines.append(cpu)
    cgroup = res.get("cgroup")
    if cgroup:
        limit = cgroup.get("memory_limit_bytes")
        lines.append(
            f"{pad}cgroup v{cgroup.get('version')} {cgroup.get('path')}: memory "
            f"{human_bytes(cgroup.get('memory_usage_bytes'))} used, "
            + ("no limit" if limit is None else f"limit {human_bytes(limit)}")
        )
    limits = res.get("limits") or {}
    if limits:
        parts = []
        for name, lim in limits.items():
            soft, hard = lim.get("soft"), lim.get("hard")
            text = f"{name.replace('_', ' ')} {_limit(soft, name)}"
            if hard != soft:
                text += f" (hard {_limit(hard, name)})"
            parts.append(text)
        lines.append(f"{pad}limits: " + ", ".join(parts))
    return lines


# -- Open Files ------------------------------------------------------------------


def fd_line(entry: Dict[str, Any]) -> str:
    head = f"fd {entry.get('fd', '?'):<5} {entry.get('kind', '?'):<11}"
    if entry.get("kind") == "socket" and "protocol" in entry:
        if entry.get("protocol") is None:
            return f"{head} {entry.get('target', '')} (protocol unknown)"
        where = entry.get("local") or ""
        if entry.get("peer"):
            where += f" → {entry['peer']}"
        return f"{head} {entry['protocol']} {entry.get('state') or '?'} {where}".rstrip()
    return f"{head} {entry.get('target', '')}"


def open_files_lines(data: Dict[str, Any]) -> List[str]:
    total = data.get("total", 0)
    kinds = ", ".join(f"{count} {kind}" for kind, count in (data.get("by_kind") or {}).items())
    lines = [f"{total} open file descriptors" + (f": {kinds}" if kinds else ""), ""]
    lines += [fd_line(entry) for entry in data.get("fds", [])]
    if data.get("more"):
        lines.append(f"... and {data['more']} more")
    lines += [f"note: {note}" for note in data.get("notes", [])]
    return lines + [""]


# -- Python Runtime ----------------------------------------------------------------


def _on(value: Any) -> str:
    if value is None:
        return "n/a"
    return "on" if value else "off"


def python_runtime_lines(data: Dict[str, Any]) -> List[str]:
    lines = [
        f"{data.get('implementation')} {data.get('version')} {data.get('build', '')}".rstrip(),
        f"executable = {data.get('executable')}",
        f"prefix = {data.get('prefix')}"
        + (f" (virtualenv of {data.get('base_prefix')})" if data.get("virtualenv") else ""),
        f"platform = {data.get('platform')}",
        f"switch interval = {data.get('switch_interval_s')} s",
        f"recursion limit = {data.get('recursion_limit')}",
        f"encodings = filesystem {data.get('filesystem_encoding')}, "
        f"default {data.get('default_encoding')}",
        f"GIL = {_on(data.get('gil_enabled'))}"
        + (" (free-threading build)" if data.get("free_threading_build") else ""),
        f"faulthandler = {_on(data.get('faulthandler'))}",
        f"tracemalloc = {_on(data.get('tracemalloc'))}",
        "asyncio debug = "
        + (
            "asyncio not loaded"
            if data.get("asyncio_debug") is None
            else _on(data["asyncio_debug"])
        ),
    ]
    for hook in ("trace_hook", "profile_hook"):
        if data.get(hook):
            lines.append(f"{hook.replace('_', ' ')} = {data[hook]} (this thread)")
    flags = data.get("flags") or {}
    set_flags = [f"{k}={v}" for k, v in flags.items() if v not in (0, False, -1)]
    lines.append("flags = " + (", ".join(set_flags) if set_flags else "(none set)"))
    if data.get("xoptions"):
        lines.append("-X options = " + ", ".join(f"{k}={v}" for k, v in data["xoptions"].items()))
    if data.get("warnoptions"):
        lines.append("-W options = " + ", ".join(data["warnoptions"]))
    lines.append("sys.path = ")
    lines += [f"  {p!r}" if p == "" else f"  {p}" for p in data.get("path", [])]
    return lines + [""]


# -- Packages ------------------------------------------------------------------------


def packages_lines(data: Dict[str, Any]) -> List[str]:
    dists = data.get("distributions", [])
    lines = [f"{len(dists)} installed distributions provide loaded modules", ""]
    for dist in dists:
        mods = dist.get("modules") or []
        line = f"{dist.get('name')} {dist.get('version')}"
        if mods and mods != [str(dist.get("name", "")).lower()]:
            line += f" ({', '.join(mods)})"
        lines.append(line)
    unpackaged = data.get("unpackaged", [])
    if unpackaged:
        lines += ["", f"Loaded from no installed distribution ({len(unpackaged)}):"]
        lines += [f"  {u.get('module')}  {u.get('file') or ''}".rstrip() for u in unpackaged]
    extensions = data.get("extensions", [])
    if extensions:
        lines += ["", f"Extension modules ({len(extensions)}):"]
        lines += [f"  {e.get('module')}  {e.get('file')}" for e in extensions]
    lines += [f"note: {note}" for note in data.get("notes", [])]
    return lines + [""]


# -- Memory and GC ---------------------------------------------------------------------


def memory_lines(data: Dict[str, Any]) -> List[str]:
    gc_data = data.get("gc") or {}
    lines = [
        f"garbage collector: {'enabled' if gc_data.get('enabled') else 'DISABLED'}",
        "thresholds = " + ", ".join(str(t) for t in gc_data.get("thresholds", [])),
        "counts = " + ", ".join(str(c) for c in gc_data.get("counts", [])),
    ]
    tracked = gc_data.get("tracked") or []
    for gen, stats in enumerate(gc_data.get("generations", [])):
        line = (
            f"generation {gen}: {stats.get('collections')} collections, "
            f"{stats.get('collected')} collected, {stats.get('uncollectable')} uncollectable"
        )
        if gen < len(tracked) and tracked[gen] is not None:
            line += f", {tracked[gen]} objects tracked"
        lines.append(line)
    if gc_data.get("tracked_total") is not None:
        lines.append(f"objects tracked = {gc_data['tracked_total']}")
    lines.append(f"gc.garbage = {gc_data.get('garbage')}")
    if gc_data.get("frozen"):
        lines.append(f"frozen objects = {gc_data['frozen']}")
    if gc_data.get("callbacks"):
        lines.append(f"gc callbacks = {gc_data['callbacks']}")
    if gc_data.get("debug_flags"):
        lines.append(f"gc debug flags = {gc_data['debug_flags']}")
    if data.get("allocated_blocks") is not None:
        lines.append(f"allocated blocks = {data['allocated_blocks']}")
    tm = data.get("tracemalloc")
    if tm:
        lines += [
            "",
            f"tracemalloc: {human_bytes(tm.get('current_bytes'))} traced now, "
            f"peak {human_bytes(tm.get('peak_bytes'))}, "
            f"{tm.get('traced_blocks')} blocks, own overhead "
            f"{human_bytes(tm.get('overhead_bytes'))}, "
            f"traceback limit {tm.get('traceback_limit')}",
        ]
        top = tm.get("top") or []
        if top:
            lines.append(f"top {len(top)} allocation sites:")
        for site in top:
            lines.append(
                f"  {site.get('file')}:{site.get('line')}: "
                f"{human_bytes(site.get('size_bytes'))} in {site.get('count')} blocks"
            )
    else:
        lines.append("tracemalloc: not tracing")
    lines += [f"note: {note}" for note in data.get("notes", [])]
    return lines + [""]

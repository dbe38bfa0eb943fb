"""Python Runtime: interpreter, paths, switches and hooks, one fact a line."""

from __future__ import annotations

from typing import Any, Dict, List


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

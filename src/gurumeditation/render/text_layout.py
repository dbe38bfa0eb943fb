"""The building blocks of the classic text layout, shared by every section
body: 72-column banners, nested ``key = value`` lines, frames, byte sizes."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

WIDTH = 72


def section_banner(title: str) -> List[str]:
    return ["=" * WIDTH, "====" + title.center(WIDTH - 8) + "====", "=" * WIDTH]


def unit_banner(title: str) -> str:
    return "------" + title.center(WIDTH - 12) + "------"


def scalar(value: Any) -> str:
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
    text = scalar(value)
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


def frame_lines(stack: List[Dict[str, Any]]) -> List[str]:
    """A stack the classic way: ``file:line in function``, the source line in
    backticks, a blank line after every frame."""
    if not stack:
        return ["No Traceback!", ""]
    lines: List[str] = []
    for frame in stack:
        lines.append(f"{frame['file']}:{frame['line']} in {frame['function']}")
        if frame.get("code"):
            lines.append(f"    `{frame['code']}`")
        lines.append("")
    return lines


def short_frame_lines(title: str, frames: List[Dict[str, Any]]) -> List[str]:
    """A short stack under ``title:``, one ``file:line in function`` a line."""
    lines = [f"{title}:"]
    for frame in frames:
        lines.append(f"    {frame['file']}:{frame['line']} in {frame['function']}")
    return lines


def thread_ref(member: Dict[str, Any]) -> str:
    """``#ident (name)`` of the thread a unit or loop runs in."""
    ref = f"#{member['thread']}"
    if member.get("thread_name"):
        ref += f" ({member['thread_name']})"
    return ref


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

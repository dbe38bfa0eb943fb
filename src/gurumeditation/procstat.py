"""``/proc/PID/stat`` read one way for every part of this package (the CLI,
the discovery scan, the sidecar, the Processes section): stdlib only, so the
sidecar can import it.

The command name (field 2) may itself hold spaces and parentheses, so the
line is split after the *last* ``)``: index 0 of :func:`fields` is the state
(field 3 of proc(5)), so field N of proc(5) is index N - 3.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover  (imported when arming a bare interpreter: no typing)
    from typing import Dict, List, Optional, Set

#: Index in :func:`fields` of the state letter, the parent pid and the start
#: time in clock ticks since boot (proc(5) fields 3, 4 and 22).
STATE, PPID, START_TICKS = 0, 1, 19


def split(text: str) -> List[str]:
    """The fields of a ``stat`` line after the command name."""
    return text[text.rindex(")") + 2 :].split()


def fields(pid: int, proc: str = "/proc") -> Optional[List[str]]:
    """The fields of ``/proc/PID/stat`` after the command name; ``None``
    where there is no ``/proc`` or the pid is gone."""
    try:
        with open(f"{proc}/{pid}/stat", "rb") as f:
            return split(f.read().decode("ascii", "replace"))
    except (OSError, ValueError):
        return None


def _field(pid: int, index: int) -> Optional[str]:
    got = fields(pid)
    return got[index] if got is not None and len(got) > index else None


def state(pid: int) -> str:
    """The state letter of ``pid`` (``Z``: a zombie; ``?``: gone)."""
    return _field(pid, STATE) or "?"


def ppid(pid: int) -> Optional[int]:
    value = _field(pid, PPID)
    return int(value) if value is not None and value.isdigit() else None


def start_ticks(pid: int) -> Optional[int]:
    """When ``pid`` started, in clock ticks since boot; ``None`` where unknown
    (tells a process from a later one that reuses its pid)."""
    value = _field(pid, START_TICKS)
    return int(value) if value is not None and value.isdigit() else None


def descendants(root: int, proc: str = "/proc") -> Set[int]:
    """``root`` and every process below it, as ``/proc`` shows them now (the
    benchmarks and tests find a server's workers so)."""
    import os

    children: Dict[int, List[int]] = {}
    for name in os.listdir(proc):
        if name.isdigit():
            got = fields(int(name), proc)
            if got is not None and len(got) > PPID and got[PPID].isdigit():
                children.setdefault(int(got[PPID]), []).append(int(name))
    found = {root}
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found

"""Processes: this process and its children, recursively.

Read from ``/proc`` (psutil is used only where there is no ``/proc``).  User
names come from ``/etc/passwd`` read directly, never through NSS, so a report
cannot hang on a directory service.  A process that cannot be read (it exited,
or a security policy hides it) gives a note instead of a lost section.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Dict, List, Optional, Tuple

from ..report import Context, SectionSpec

PROC = "/proc"

_STATES = {
    "R": "running",
    "S": "sleeping",
    "D": "disk-sleep",
    "Z": "zombie",
    "T": "stopped",
    "t": "tracing-stop",
    "X": "dead",
    "x": "dead",
    "I": "idle",
    "K": "wake-kill",
    "W": "waking",
    "P": "parked",
}


def read_text(path: str) -> str:
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def parse_stat(text: str) -> Tuple[str, str, int]:
    """(comm, state letter, ppid) from ``/proc/PID/stat``; the command name may
    itself contain spaces and parentheses, so split at the last ')'."""
    open_paren = text.index("(")
    close_paren = text.rindex(")")
    comm = text[open_paren + 1 : close_paren]
    rest = text[close_paren + 2 :].split()
    return comm, rest[0], int(rest[1])


def user_names() -> Dict[int, str]:
    names: Dict[int, str] = {}
    try:
        with open("/etc/passwd", encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split(":")
                if len(parts) > 2 and parts[2].isdigit():
                    names.setdefault(int(parts[2]), parts[0])
    except OSError:
        pass
    return names


def real_uid(pid: int) -> Optional[int]:
    for line in read_text(f"{PROC}/{pid}/status").splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    return None


def process_facts(pid: int, names: Dict[int, str]) -> Dict[str, Any]:
    facts: Dict[str, Any] = {"pid": pid}
    try:
        comm, state, ppid = parse_stat(read_text(f"{PROC}/{pid}/stat"))
        facts.update(ppid=ppid, name=comm, state=_STATES.get(state, state))
    except (OSError, ValueError, IndexError) as exc:
        facts["error"] = f"{type(exc).__name__}: {exc}"
        return facts
    try:
        uid = real_uid(pid)
        facts["uid"] = uid
        facts["user"] = names.get(uid, str(uid)) if uid is not None else None
    except OSError as exc:
        facts["uid"] = None
        facts["user"] = None
        facts["error"] = f"{type(exc).__name__}: {exc}"
    try:
        raw = read_text(f"{PROC}/{pid}/cmdline")
        facts["cmdline"] = [a for a in raw.split("\0") if a] if raw else []
    except OSError:
        facts["cmdline"] = []
    return facts


def children_by_parent() -> Dict[int, List[int]]:
    tree: Dict[int, List[int]] = {}
    for entry in os.listdir(PROC):
        if not entry.isdigit():
            continue
        try:
            _, _, ppid = parse_stat(read_text(f"{PROC}/{entry}/stat"))
        except (OSError, ValueError, IndexError):
            continue  # exited while we looked
        tree.setdefault(ppid, []).append(int(entry))
    for kids in tree.values():
        kids.sort()
    return tree


def collect_proc(ctx: Context) -> Dict[str, Any]:
    names = user_names()
    notes: List[str] = []
    try:
        tree = children_by_parent()
    except OSError as exc:
        tree = {}
        notes.append(f"children not listed: cannot read {PROC}: {exc}")

    def node(pid: int, depth: int) -> Dict[str, Any]:
        facts = process_facts(pid, names)
        cmd = facts.get("cmdline")
        if cmd:
            facts["cmdline"] = ctx.redactor.argv(cmd)
        kids = tree.get(pid, []) if depth < 32 else []
        facts["children"] = [node(k, depth + 1) for k in kids if k != pid]
        return facts

    return {"process": node(os.getpid(), 0), "notes": notes}


def collect_psutil(ctx: Context) -> Dict[str, Any]:
    psutil = sys.modules.get("psutil")
    if psutil is None:
        return {
            "process": {"pid": os.getpid(), "ppid": os.getppid(), "children": []},
            "notes": ["no /proc and psutil is not loaded: process details unavailable"],
        }

    def node(proc: Any, depth: int) -> Dict[str, Any]:
        facts: Dict[str, Any] = {"pid": proc.pid}
        try:
            with proc.oneshot():
                uids = proc.uids()
                facts.update(
                    ppid=proc.ppid(),
                    name=proc.name(),
                    state=proc.status(),
                    uid=uids.real,
                    user=proc.username(),
                    cmdline=ctx.redactor.argv(proc.cmdline()),
                )
        except Exception as exc:  # AccessDenied, NoSuchProcess, ...
            facts["error"] = f"{type(exc).__name__}: {exc}"
        try:
            kids = proc.children() if depth < 32 else []
        except Exception:
            kids = []
        facts["children"] = [node(k, depth + 1) for k in kids]
        return facts

    return {"process": node(psutil.Process(os.getpid()), 0), "notes": []}


def collect(ctx: Context) -> Dict[str, Any]:
    if os.path.isdir(PROC) and os.path.exists(f"{PROC}/self/stat"):
        return collect_proc(ctx)
    return collect_psutil(ctx)


SECTION = SectionSpec("processes", "Processes", collect)

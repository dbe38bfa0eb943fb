"""Processes: this process and its children, recursively, and what this
process uses (memory, CPU, threads, cgroup memory, resource limits).

Read from ``/proc`` (psutil is used only where there is no ``/proc``).  User
names come from ``/etc/passwd`` read directly, never through NSS, so a report
cannot hang on a directory service.  A process that cannot be read (it exited,
or a security policy hides it) gives a note instead of a lost section.

Data: :class:`~gurumeditation.model.ProcessesData`.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple, cast

from .. import procstat
from ..model import Cgroup, Limit, ProcessesData, ProcessNode, Resources, unit_error
from ..report import Context, SectionSpec
from ..why import procfs

try:  # POSIX only; imported here, at setup, never while reporting
    import resource as _resource
except ImportError:  # pragma: no cover
    _resource = None  # type: ignore[assignment]

PROC = "/proc"
CGROUP_ROOT = "/sys/fs/cgroup"

#: A cgroup v1 memory limit at or above this is the kernel's "no limit".
_V1_UNLIMITED = 1 << 62

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

#: Resource limits shown, by the name used in the report.
_LIMITS = (
    ("open_files", "RLIMIT_NOFILE"),
    ("address_space", "RLIMIT_AS"),
    ("data", "RLIMIT_DATA"),
    ("processes", "RLIMIT_NPROC"),
    ("core", "RLIMIT_CORE"),
)

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
    return procfs.read_file(path)


def parse_stat(text: str) -> Tuple[str, str, int]:
    """(comm, state letter, ppid) from ``/proc/PID/stat``; the command name may
    itself contain spaces and parentheses, so split at the last ')'."""
    open_paren = text.index("(")
    close_paren = text.rindex(")")
    comm = text[open_paren + 1 : close_paren]
    rest = procstat.split(text)
    return comm, rest[0], int(rest[1])


#: The user names last read, under the identity of the ``/etc/passwd`` they
#: were read from (inode, size, modification time): read again only when that
#: changed.
_USERS: Dict[Tuple[int, int, int], Dict[int, str]] = {}
PASSWD = "/etc/passwd"


def user_names() -> Dict[int, str]:
    try:
        st = os.stat(PASSWD)
    except OSError:
        return {}
    stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
    known = _USERS.get(stamp)
    if known is not None:
        return known
    names: Dict[int, str] = {}
    try:
        with open(PASSWD, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split(":")
                if len(parts) > 2 and parts[2].isdigit():
                    names.setdefault(int(parts[2]), parts[0])
    except OSError:
        return names
    _USERS.clear()
    _USERS[stamp] = names
    return names


def prepare() -> None:
    """At setup: the user names read (a report reads them again only when
    ``/etc/passwd`` changed)."""
    user_names()


def real_uid(pid: int) -> Optional[int]:
    for line in read_text(f"{PROC}/{pid}/status").splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    return None


def process_facts(pid: int, names: Dict[int, str]) -> ProcessNode:
    """Facts of one process; its ``children`` are filled in by the caller
    (after the other facts: the document's key order)."""
    facts: Dict[str, Any] = {"pid": pid}
    try:
        comm, state, ppid = parse_stat(read_text(f"{PROC}/{pid}/stat"))
        facts.update(ppid=ppid, name=comm, state=_STATES.get(state, state))
    except (OSError, ValueError, IndexError) as exc:
        facts["error"] = unit_error(exc)
        return cast(ProcessNode, facts)
    try:
        uid = real_uid(pid)
        facts["uid"] = uid
        facts["user"] = names.get(uid, str(uid)) if uid is not None else None
    except OSError as exc:
        facts["uid"] = None
        facts["user"] = None
        facts["error"] = unit_error(exc)
    try:
        raw = read_text(f"{PROC}/{pid}/cmdline")
        facts["cmdline"] = [a for a in raw.split("\0") if a] if raw else []
    except OSError:
        facts["cmdline"] = []
    return cast(ProcessNode, facts)


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


def direct_children(pid: int) -> List[int]:
    """Children of ``pid`` from ``/proc/PID/task/TID/children`` (a child
    belongs to the thread that forked it): a few reads instead of one per
    process on the machine.  Raises ``FileNotFoundError`` when the kernel does
    not provide these files (``CONFIG_PROC_CHILDREN``)."""
    kids: List[int] = []
    tasks = os.listdir(f"{PROC}/{pid}/task")
    for tid in tasks:
        try:
            text = read_text(f"{PROC}/{pid}/task/{tid}/children")
        except FileNotFoundError:
            if not os.path.exists(f"{PROC}/{pid}/task/{tid}"):
                continue  # the thread ended meanwhile
            raise
        kids.extend(int(k) for k in text.split())
    return sorted(set(kids))


def _children_or_none(pid: int) -> List[int]:
    try:
        return direct_children(pid)
    except OSError:
        return []  # exited meanwhile, or hidden


def child_lister() -> Callable[[int], List[int]]:
    """A function giving the children of a pid: from the children files, else
    (an older or differently built kernel) from one scan of every process."""
    me = os.getpid()
    try:
        own = direct_children(me)
    except FileNotFoundError:
        tree = children_by_parent()
        return lambda pid: tree.get(pid, [])
    # this process's children were just read: not a second time
    return lambda pid: own if pid == me else _children_or_none(pid)


def collect_proc(ctx: Context) -> ProcessesData:
    names = user_names()
    notes: List[str] = []
    children_of: Callable[[int], List[int]]
    try:
        children_of = child_lister()
    except OSError as exc:
        children_of = lambda pid: []  # noqa: E731
        notes.append(f"children not listed: cannot read {PROC}: {exc}")

    def node(pid: int, depth: int) -> ProcessNode:
        facts = process_facts(pid, names)
        cmd = facts.get("cmdline")
        if cmd:
            facts["cmdline"] = ctx.redactor.argv(cmd)
        kids = children_of(pid) if depth < 32 else []
        facts["children"] = [node(k, depth + 1) for k in kids if k != pid]
        return facts

    return {"process": node(os.getpid(), 0), "notes": notes}


# -- this process's resources --------------------------------------------------


def self_resources_proc(notes: List[str]) -> Resources:
    res: Resources = {}
    try:
        fields = procstat.split(read_text(f"{PROC}/self/stat"))
        start_ticks = int(fields[19])
        res["cpu_user_s"] = round(int(fields[11]) / _CLOCK_TICKS, 3)
        res["cpu_system_s"] = round(int(fields[12]) / _CLOCK_TICKS, 3)
        res["nice"] = int(fields[16])
        res["threads"] = int(fields[17])
        res["vms_bytes"] = int(fields[20])
        res["rss_bytes"] = int(fields[21]) * _PAGE_SIZE
        uptime = float(read_text(f"{PROC}/uptime").split()[0])
        res["uptime_s"] = round(max(0.0, uptime - start_ticks / _CLOCK_TICKS), 3)
    except (OSError, ValueError, IndexError) as exc:
        notes.append(f"process usage unreadable: {type(exc).__name__}: {exc}")
    try:
        for line in read_text(f"{PROC}/self/status").splitlines():
            if line.startswith("VmHWM:"):
                res["rss_peak_bytes"] = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        pass
    return res


def self_resources_fallback(notes: List[str]) -> Resources:
    """Without ``/proc``: psutil when the process loaded it, else ``os.times``."""
    res: Resources = {}
    psutil = sys.modules.get("psutil")
    if psutil is not None:
        try:
            proc = psutil.Process(os.getpid())
            with proc.oneshot():
                mem = proc.memory_info()
                cpu = proc.cpu_times()
                res.update(
                    {
                        "rss_bytes": int(mem.rss),
                        "vms_bytes": int(mem.vms),
                        "cpu_user_s": round(float(cpu.user), 3),
                        "cpu_system_s": round(float(cpu.system), 3),
                        "threads": int(proc.num_threads()),
                        "uptime_s": round(max(0.0, time.time() - float(proc.create_time())), 3),
                        "nice": int(proc.nice()),
                    }
                )
            return res
        except Exception as exc:
            notes.append(f"psutil could not read this process: {type(exc).__name__}: {exc}")
    times = os.times()
    res.update({"cpu_user_s": round(times.user, 3), "cpu_system_s": round(times.system, 3)})
    try:
        res["nice"] = os.nice(0)
    except OSError:
        pass
    return res


def _read_int(path: str) -> Optional[int]:
    """An integer file of the cgroup tree; ``None`` for ``max`` (no limit)."""
    text = read_text(path).strip()
    return None if text == "max" else int(text)


def _cgroup_dirs(base: str, rel: str) -> List[str]:
    # Inside a cgroup namespace the process's own cgroup is mounted at the root.
    rel = rel.lstrip("/")
    return [os.path.join(base, rel), base] if rel else [base]


def cgroup_memory(notes: List[str]) -> Optional[Cgroup]:
    """Memory limit and usage of this process's cgroup (v2, else v1 memory
    controller); ``None`` when the process is in no limited cgroup we can
    read."""
    try:
        lines = read_text(f"{PROC}/self/cgroup").splitlines()
    except OSError:
        return None
    v2_path: Optional[str] = None
    v1_path: Optional[str] = None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            v2_path = parts[2]
        elif "memory" in parts[1].split(","):
            v1_path = parts[2]
    candidates: List[Tuple[int, str, str, str, str]] = []
    if v2_path is not None:
        for root in (CGROUP_ROOT, f"{CGROUP_ROOT}/unified"):
            for d in _cgroup_dirs(root, v2_path):
                candidates.append((2, v2_path, d, "memory.max", "memory.current"))
    if v1_path is not None:
        for d in _cgroup_dirs(f"{CGROUP_ROOT}/memory", v1_path):
            candidates.append((1, v1_path, d, "memory.limit_in_bytes", "memory.usage_in_bytes"))
    for version, rel, d, limit_name, usage_name in candidates:
        limit_file = os.path.join(d, limit_name)
        if not os.path.exists(limit_file):
            continue
        try:
            limit = _read_int(limit_file)
            usage = _read_int(os.path.join(d, usage_name))
        except (OSError, ValueError) as exc:
            notes.append(f"cgroup memory unreadable: {type(exc).__name__}: {exc}")
            return None
        if limit is not None and limit >= _V1_UNLIMITED:
            limit = None
        return {
            "version": version,
            "path": rel,
            "memory_limit_bytes": limit,
            "memory_usage_bytes": usage,
        }
    return None


def resource_limits() -> Dict[str, Limit]:
    limits: Dict[str, Limit] = {}
    if _resource is None:
        return limits
    infinity = _resource.RLIM_INFINITY
    for name, const in _LIMITS:
        which = getattr(_resource, const, None)
        if which is None:
            continue
        try:
            soft, hard = _resource.getrlimit(which)
        except (OSError, ValueError):
            continue
        limits[name] = {
            "soft": None if soft == infinity else int(soft),
            "hard": None if hard == infinity else int(hard),
        }
    return limits


def self_resources(notes: List[str]) -> Resources:
    if os.path.exists(f"{PROC}/self/stat"):
        res = self_resources_proc(notes)
    else:
        res = self_resources_fallback(notes)
    res["cgroup"] = cgroup_memory(notes)
    res["limits"] = resource_limits()
    return res


def collect_psutil(ctx: Context) -> ProcessesData:
    psutil = sys.modules.get("psutil")
    if psutil is None:
        return {
            "process": {"pid": os.getpid(), "ppid": os.getppid(), "children": []},
            "notes": ["no /proc and psutil is not loaded: process details unavailable"],
        }

    names = user_names()  # psutil's username() would ask NSS

    def node(proc: Any, depth: int) -> ProcessNode:
        facts: Dict[str, Any] = {"pid": proc.pid}
        try:
            with proc.oneshot():
                uids = proc.uids()
                facts.update(
                    ppid=proc.ppid(),
                    name=proc.name(),
                    state=proc.status(),
                    uid=uids.real,
                    user=names.get(uids.real, str(uids.real)),
                    cmdline=ctx.redactor.argv(proc.cmdline()),
                )
        except Exception as exc:  # AccessDenied, NoSuchProcess, ...
            facts["error"] = unit_error(exc)
        try:
            kids = proc.children() if depth < 32 else []
        except Exception:
            kids = []
        facts["children"] = [node(k, depth + 1) for k in kids]
        return cast(ProcessNode, facts)

    return {"process": node(psutil.Process(os.getpid()), 0), "notes": []}


def collect(ctx: Context) -> ProcessesData:
    if os.path.isdir(PROC) and os.path.exists(f"{PROC}/self/stat"):
        data = collect_proc(ctx)
    else:
        data = collect_psutil(ctx)
    data["resources"] = self_resources(data["notes"])
    return data


SECTION = SectionSpec("processes", "Processes", collect)

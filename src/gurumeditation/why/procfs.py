"""Per-thread OS facts from ``/proc/self/task/<native id>/`` (no ptrace, no
privileges): scheduler state, CPU time, the kernel wait channel and the
current system call with its file descriptor described the way Open Files
describes it; time on CPU from the thread's kernel CPU clock.

:func:`sample` reads every thread once; two samples a few milliseconds apart
tell which threads ran meanwhile (nanoseconds on CPU from the thread's CPU clock), which
is how a thread holding the GIL in a busy loop is told from one that sleeps:
a thread waiting for the GIL sleeps in ``futex`` at any single instant.
"""

from __future__ import annotations

import os
import platform
import time
from typing import Dict, List, Optional, Tuple

from .. import procstat, unpatched
from ..model import ThreadOsFacts

PROC = "/proc"

#: ``/proc/<pid>/stat`` state letters.
STATES = {
    "R": "running",
    "S": "sleeping",
    "D": "disk wait",
    "T": "stopped",
    "t": "stopped (traced)",
    "Z": "zombie",
    "X": "dead",
    "I": "idle",
    "P": "parked",
    "W": "waking",
}

_X86_64 = {
    0: "read", 1: "write", 3: "close", 7: "poll", 16: "ioctl", 17: "pread64", 19: "readv",
    20: "writev", 23: "select", 24: "sched_yield", 34: "pause", 35: "nanosleep", 42: "connect",
    43: "accept", 44: "sendto", 45: "recvfrom", 46: "sendmsg", 47: "recvmsg", 61: "wait4",
    73: "flock", 74: "fsync", 130: "rt_sigsuspend", 202: "futex", 230: "clock_nanosleep",
    232: "epoll_wait", 247: "waitid", 257: "openat", 270: "pselect6", 271: "ppoll",
    281: "epoll_pwait", 288: "accept4", 426: "io_uring_enter", 441: "epoll_pwait2",
}  # fmt: skip
_AARCH64 = {
    22: "epoll_pwait", 29: "ioctl", 32: "flock", 56: "openat", 57: "close", 63: "read",
    64: "write", 65: "readv", 66: "writev", 67: "pread64", 72: "pselect6", 73: "ppoll",
    82: "fsync", 95: "waitid", 98: "futex", 101: "nanosleep", 115: "clock_nanosleep",
    124: "sched_yield", 133: "rt_sigsuspend", 202: "accept", 203: "connect", 206: "sendto",
    207: "recvfrom", 211: "sendmsg", 212: "recvmsg", 242: "accept4", 260: "wait4",
    426: "io_uring_enter", 441: "epoll_pwait2",
}  # fmt: skip
SYSCALLS: Dict[int, str] = {"x86_64": _X86_64, "aarch64": _AARCH64}.get(platform.machine(), {})

#: System calls whose first argument is a file descriptor.
FD_SYSCALLS = frozenset(
    "read write readv writev pread64 ioctl accept accept4 connect sendto recvfrom sendmsg "
    "recvmsg epoll_wait epoll_pwait epoll_pwait2 flock fsync close io_uring_enter".split()
)

#: System calls in which a thread waits for I/O or time, not for another thread.
IDLE_SYSCALLS = frozenset(
    "read readv recvfrom recvmsg accept accept4 poll ppoll select pselect6 epoll_wait "
    "epoll_pwait epoll_pwait2 nanosleep clock_nanosleep pause rt_sigsuspend io_uring_enter "
    "wait4 waitid".split()
)

#: CPUCLOCK_PERTHREAD_MASK | CPUCLOCK_SCHED: the low bits of a thread's CPU clock id.
_THREAD_SCHED_CLOCK = 6

try:
    _TICK = float(os.sysconf("SC_CLK_TCK"))
except (ValueError, OSError, AttributeError):
    _TICK = 100.0


class TaskSample:
    """What one read of ``/proc/self/task/<tid>/`` gave."""

    __slots__ = ("fd", "oncpu_ns", "state", "stime", "syscall", "tid", "utime", "wchan")

    def __init__(self, tid: int) -> None:
        self.tid = tid
        self.state = ""
        self.utime = 0.0
        self.stime = 0.0
        self.oncpu_ns: Optional[int] = None
        self.wchan = ""
        self.syscall = ""
        self.fd: Optional[int] = None


def read_file(path: str, limit: int = 1 << 20) -> str:
    """The text of a ``/proc`` (or other small) file, at most ``limit``
    bytes, read with bare ``os`` calls: a buffered ``open`` costs more than
    the read itself (200 threads times 4 files), and the unpatched ones:
    eventlet's green ``os.read`` would start a hub in our thread.  Raises
    ``OSError`` like ``open``."""
    prims = unpatched.get()
    fd = prims.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        chunks = []
        size = 0
        while size < limit:
            chunk = prims.read(fd, min(65536, limit - size))
            if not chunk:
                break
            chunks.append(bytes(chunk))
            size += len(chunk)
    finally:
        prims.close(fd)
    return b"".join(chunks).decode("utf-8", "replace")


def _read(path: str) -> Optional[str]:
    """The text of a small /proc file; ``None`` when it cannot be read."""
    try:
        return read_file(path, 1024)
    except OSError:
        return None


def read_task(tid: int, full: bool = True) -> Optional[TaskSample]:
    """One thread's facts; ``None`` when it is gone.  ``full=False`` reads
    ``stat`` and the CPU clock only (what tells its state and whether it ran)."""
    base = f"{PROC}/self/task/{tid}/"
    stat = _read(base + "stat")
    if stat is None:
        return None
    sample = TaskSample(tid)
    try:
        rest = procstat.split(stat)
    except ValueError:  # not a stat line
        rest = []
    if len(rest) > 12:
        sample.state = rest[0]
        sample.utime = int(rest[11]) / _TICK
        sample.stime = int(rest[12]) / _TICK
    sample.oncpu_ns = read_oncpu(tid)
    if not full:
        return sample
    wchan = _read(base + "wchan")
    if wchan and wchan.strip() not in ("", "0"):
        sample.wchan = wchan.strip()
    call = _read(base + "syscall")
    if call:
        fields = call.split()
        if fields and fields[0] not in ("running", "-1"):
            try:
                nr = int(fields[0])
            except ValueError:
                nr = -1
            if nr >= 0:
                sample.syscall = SYSCALLS.get(nr, f"syscall {nr}")
                if sample.syscall in FD_SYSCALLS and len(fields) > 1:
                    try:
                        sample.fd = int(fields[1], 16)
                    except ValueError:
                        pass
    return sample


def task_ids() -> List[int]:
    try:
        return sorted(int(name) for name in os.listdir(f"{PROC}/self/task") if name.isdigit())
    except OSError:
        return []


def sample(tids: Optional[List[int]] = None, full: bool = True) -> Dict[int, TaskSample]:
    """Every thread of this process (or ``tids``), by native id."""
    found: Dict[int, TaskSample] = {}
    for tid in task_ids() if tids is None else tids:
        got = read_task(tid, full)
        if got is not None:
            found[tid] = got
    return found


def describe_fd(fd: int) -> str:
    """``fd 7: tcp 10.0.0.5:41234 → 10.0.0.9:5672`` (Open Files' words)."""
    from ..render.text_sections.open_files import fd_line
    from ..sections.open_files import describe

    entry = describe(fd)
    if entry is None:
        return f"fd {fd}"
    text = fd_line(dict(entry))
    # fd_line pads for a column; here one short phrase
    return "fd " + " ".join(text[3:].split()).replace(" ", ": ", 1)


def os_facts(
    first: TaskSample, later: Optional[TaskSample], producer: bool, describe: bool = True
) -> ThreadOsFacts:
    """The document's facts of one thread from its first sample and (when
    taken) a later one; ``producer``: the thread writing the report (it is
    running by definition, and not marked)."""
    facts: ThreadOsFacts = {
        "state": STATES.get(first.state, first.state or "unknown"),
        "cpu_user_s": round(first.utime, 2),
        "cpu_system_s": round(first.stime, 2),
    }
    if first.wchan:
        facts["wchan"] = first.wchan
    if first.syscall and not producer:
        text = first.syscall
        if first.fd is not None:
            text += f"({describe_fd(first.fd) if describe else f'fd {first.fd}'})"
        facts["syscall"] = text
    if not producer and first.state == "R":
        facts["running"] = True
    if later is not None:
        add_ran(facts, first, later.oncpu_ns, producer)
    return facts


def read_oncpu(tid: int) -> Optional[int]:
    """Nanoseconds thread ``tid`` (a native id) has been on CPU: its kernel
    CPU clock (``clock_gettime`` of the clock id Linux derives from a thread
    id: no file opened, ~1 µs; a thread that is gone is an error, never
    another thread's clock), else ``schedstat``."""
    try:
        return time.clock_gettime_ns(((~tid) << 3) | _THREAD_SCHED_CLOCK)
    except (OSError, OverflowError, AttributeError, ValueError):
        pass
    text = _read(f"{PROC}/self/task/{tid}/schedstat")
    try:
        return int(text.split()[0]) if text else None
    except (ValueError, IndexError):
        return None


def add_ran(
    facts: ThreadOsFacts, first: TaskSample, later_ns: Optional[int], producer: bool
) -> None:
    """``oncpu_ms`` between two reads, and ``running`` when it is enough."""
    if later_ns is None or first.oncpu_ns is None:
        return
    ran = max(0, later_ns - first.oncpu_ns) / 1e6
    facts["oncpu_ms"] = round(ran, 3)
    if not producer and ran >= RAN_MS:
        facts["running"] = True


#: Seconds at least between the two reads of every thread (the first by
#: Threads, the second by the Diagnosis at the end of the run, which sleeps
#: what is left of it with the GIL released; a report usually takes longer).
WINDOW_S = 0.005

#: Milliseconds on CPU between two samples that make a thread "running".
RAN_MS = 0.5


def pause(seconds: float) -> None:
    """Sleep ``seconds`` releasing the GIL, in a real OS wait even when
    ``time`` is monkey patched (an unpatched lock acquired with a timeout)."""
    from .. import unpatched

    lock = unpatched.get().allocate_lock()
    lock.acquire()
    lock.acquire(True, seconds)


def idle_syscall(text: str) -> bool:
    return text.split("(", 1)[0] in IDLE_SYSCALLS


def pair(
    tid: int, first: Dict[int, TaskSample], later: Dict[int, TaskSample]
) -> Tuple[Optional[TaskSample], Optional[TaskSample]]:
    return first.get(tid), later.get(tid)

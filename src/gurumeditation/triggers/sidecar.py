"""The sidecar: a tiny separate process that drains the native dump pipe.

It exists for the one case no thread of the service can handle: the
interpreter is frozen (a thread holds the GIL inside native code), so no
Python code runs at all, not even our helper thread.  CPython's
``faulthandler`` still writes every thread's Python stack into a pipe from its
C-level signal handler; this process reads that dump and:

1. pokes the service's watcher thread (writes the time it saw the dump into
   a second pipe);
2. waits up to ``ack_timeout`` for an acknowledgement (a byte on a third
   pipe) — the watcher can only send it when the interpreter runs;
3. acknowledged: the dump is dropped (the full report is written in the
   service); not acknowledged: it sends the service the *dump signal*, on
   which faulthandler dumps every thread (safe now: no thread runs Python),
   and writes that dump to the report destination (a new file in
   ``log_dir``, or the standard error it inherited) under a header that says
   the interpreter did not respond.

It sleeps in ``read()`` between signals (no CPU while idle), keeps the pipe
drained (so the C-level handler never blocks on a full pipe), and exits when
the service is gone (end of file on the dump pipe).  It is started with
``python -S -I``, detaches from the service (double fork, own session: it is
neither a child to reap nor shown among the service's processes) and imports
nothing of this package but :mod:`gurumeditation.sinks`, the channel, and the text
layout when it writes a dump.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

#: Dumps kept per incident (a storm of signals may queue many).
MAX_DUMP = 256 * 1024
#: While frozen, at most one dump is written per this many seconds.
REPEAT_GAP = 5.0

def dump_text(
    dump: bytes,
    service: str,
    pid: int,
    signame: str,
    waited: float,
    truncated: bool,
    own: Optional[Set[int]] = None,
    trigger: str = "",
    follows: bool = True,
) -> str:
    """The native dump in the classic layout of a full report: the classic
    opening, the stacks as faulthandler wrote them, and the closing About This
    Report section with who wrote it and why (imported only now: the sidecar
    stays small until the interpreter freezes)."""
    from gurumeditation.render.text import ABOUT_TITLE, prefix_lines
    from gurumeditation.render.text_layout import section_banner
    from gurumeditation.terminal import escape

    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"
    body, dropped = without_threads(dump.decode("utf-8", "replace"), own or set())
    lines = prefix_lines() + section_banner("Threads (native dump)")
    lines.append(escape(body.rstrip("\n")))
    if dropped:
        lines.append(f"[{dropped} helper threads of gurumeditation left out]")
    if truncated:
        lines.append(f"[dump truncated at {MAX_DUMP} bytes]")
    lines += section_banner(ABOUT_TITLE)
    lines.append(f"Report of {escape(service)} (pid {pid}) at {stamp}")
    lines.append(
        f"Trigger: {trigger or 'signal ' + signame}; "
        f"written by the gurumeditation sidecar process {os.getpid()}"
    )
    lines.append(
        f"Note: the interpreter did not respond within {int(waited * 1000)} ms "
        "(a thread holds the GIL in native code?): above are the Python stacks of every "
        "thread as CPython's faulthandler dumped them at the signal."
        + (" The full report follows if the interpreter comes back." if follows else "")
    )
    return "\n".join(lines) + "\n"


def write_dump(
    text: str, dest: str, service: str, max_reports: int, file_pid: int = 0
) -> None:
    from gurumeditation.sinks import LogDirSink, deliver, write_fd

    if dest == "-":
        write_fd(2, text.encode("utf-8", "replace"))
        return
    sink = LogDirSink(dest, service, max_reports=max_reports, pid=file_pid or None)
    deliver(sink, {"": text})


def read_some(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return b"?"  # spurious wake-up: treat as "still open"
    except OSError:
        return b""


class AckChannel:
    """What the watcher tells us: ``a`` = the interpreter runs (an answer to
    the latest poke); ``i<hex>,<hex>...\n`` = the idents of the service's
    own helper threads (left out of the dump); ``p<pid>\n`` = the pid to
    put in the dump's file name (the service forked since we started:
    several processes share its name now); ``h<seconds> <probe>\n`` = the
    watchdog's heartbeat: the interpreter runs, and a silence of that many
    seconds means it is frozen — unless the main thread answers the
    ``probe`` signal (0: none to send) with an ``r``: it ran Python."""

    def __init__(self, fd: Optional[int]) -> None:
        self.fd = fd
        self.own: Set[int] = set()
        self.file_pid = 0
        #: the watchdog's seconds (0: no watchdog) and its last heartbeat
        self.beat_period = 0.0
        self.last_beat = 0.0
        #: the watchdog's probe signal (0: none) and how many answers came
        self.probe = 0
        self.ran = 0
        self._rest = b""
        if fd is not None:
            os.set_blocking(fd, False)

    def read(self) -> bool:
        """Read what is waiting; ``True`` when it holds an answer.  End of
        file (the watcher is gone) closes the channel."""
        if self.fd is None:
            return False
        acked = False
        while True:
            try:
                data = os.read(self.fd, 4096)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:
                self.fd = None
                break
            acked = self._parse(self._rest + data) or acked
        return acked

    def _parse(self, buf: bytes) -> bool:
        acked = False
        while buf:
            if buf[:1] == b"i":
                end = buf.find(b"\n")
                if end < 0:
                    break
                try:
                    self.own = {int(x, 16) for x in buf[1:end].split(b",") if x}
                except ValueError:
                    pass
                buf = buf[end + 1 :]
                continue
            if buf[:1] == b"p":
                end = buf.find(b"\n")
                if end < 0:
                    break
                if buf[1:end].isdigit():
                    self.file_pid = int(buf[1:end])
                buf = buf[end + 1 :]
                continue
            if buf[:1] == b"h":
                end = buf.find(b"\n")
                if end < 0:
                    break
                period, _, probe = buf[1:end].partition(b" ")
                try:
                    self.beat_period, self.probe = float(period), int(probe or 0)
                    self.last_beat = time.monotonic()
                except ValueError:
                    pass
                buf = buf[end + 1 :]
                continue
            if buf[:1] == b"a":
                acked = True
            elif buf[:1] == b"r":
                self.ran += 1
            buf = buf[1:]
        self._rest = buf[-4096:]
        return acked


_THREAD_LINE = re.compile(r"^(?:Current thread|Thread) 0x([0-9a-fA-F]+)")


def without_threads(dump: str, own: Set[int]) -> tuple[str, int]:
    """``dump`` without the blocks of the threads in ``own``, and how many
    were left out."""
    if not own:
        return dump, 0
    kept: List[str] = []
    dropped = 0
    skipping = False
    for line in dump.split("\n"):
        match = _THREAD_LINE.match(line)
        if match:
            skipping = int(match.group(1), 16) in own
            dropped += skipping
        if not skipping:
            kept.append(line)
    return "\n".join(kept), dropped


def start_ticks(pid: int) -> int:
    from gurumeditation import procstat

    return procstat.start_ticks(pid) or 0


def same_process(pid: int, ticks: int) -> bool:
    """``pid`` still names the service (not a recycled pid): same start time."""
    return bool(ticks) and start_ticks(pid) == ticks


def all_threads_dump(dump_fd: int, pid: int, dump_signal: int, ticks: int = 0) -> bytes:
    """Ask the service for the dump of every thread and read it (until the
    pipe stays quiet for a moment).  The signal goes only to the very
    process we serve (its start time checked just before)."""
    if not dump_signal or not same_process(pid, ticks):
        return b""
    try:
        os.kill(pid, dump_signal)
    except OSError:
        return b""
    parts: List[bytes] = []
    size = 0
    deadline = time.monotonic() + 0.3
    quiet = 0.15  # before the first byte: the handler may take a moment
    while size < MAX_DUMP:
        remaining = min(deadline - time.monotonic(), quiet)
        if remaining <= 0:
            break
        ready, _, _ = select.select([dump_fd], [], [], remaining)
        if not ready:
            break
        more = read_some(dump_fd)
        if not more:
            break
        parts.append(more)
        size += len(more)
        quiet = 0.05
    return b"".join(parts)


#: The service gets this long to claim a connection (else: frozen, we answer).
HANDOFF = 0.5
#: An asker gets this long to send its request line.
REQUEST_TIMEOUT = 2.0
MAX_REQUEST = 4096


class Service:
    """What the sidecar knows of the process it serves."""

    def __init__(
        self,
        pid: int,
        ticks: int,
        service: str,
        signame: str,
        dump_fd: int,
        dump_signal: int,
        own: Callable[[], Set[int]],
    ) -> None:
        self.pid = pid
        self.ticks = ticks
        self.service = service
        self.signame = signame
        self.dump_fd = dump_fd
        self.dump_signal = dump_signal
        self.own = own


class FrontDoor:
    """The channel's listening socket, held here so that a frozen
    interpreter still answers (see :mod:`gurumeditation.triggers.channel`)."""

    def __init__(self, door_fd: Optional[int], svc: Service, listener_fd: int = -1) -> None:
        import socket

        self.socket = socket
        self.svc = svc
        self.door: Any = None
        if door_fd is not None and door_fd >= 0:
            self.door = socket.socket(fileno=door_fd)
        self.listener: Any = None
        if listener_fd >= 0:  # handed over by the sidecar of the service's tree
            self.listener = socket.socket(fileno=listener_fd)
            self.listener.setblocking(False)
        #: the service may have changed uid: :func:`serve` follows it (or hands it on)
        self.follow_wanted = False
        self.info: Dict[str, Any] = {}
        self.seq = 0
        #: connections still sending their request: sock -> (data, deadline)
        self.reading: Dict[Any, Tuple[bytes, float]] = {}
        #: connections handed to the service: seq -> (sock, request, deadline)
        self.pending: Dict[int, Tuple[Any, bytes, float]] = {}

    def fds(self) -> List[int]:
        found = [s.fileno() for s in self.reading]
        if self.door is not None:
            found.append(self.door.fileno())
        if self.listener is not None:
            found.append(self.listener.fileno())
        return found

    def next_deadline(self) -> Optional[float]:
        times = [d for _, d in self.reading.values()] + [d for _, _, d in self.pending.values()]
        return min(times) if times else None

    def on_ready(self, ready: List[int]) -> None:
        if self.door is not None and self.door.fileno() in ready:
            self.on_door()
        if self.listener is not None and self.listener.fileno() in ready:
            self.on_accept()
        for sock in [s for s in self.reading if s.fileno() in ready]:
            self.on_request_data(sock)

    def on_timers(self) -> None:
        now = time.monotonic()
        for sock, (_data, deadline) in list(self.reading.items()):
            if now >= deadline:
                del self.reading[sock]
                sock.close()
        for seq, (sock, request, deadline) in list(self.pending.items()):
            if now >= deadline:
                del self.pending[seq]
                self.answer(sock, request)

    # -- the door -----------------------------------------------------------
    def on_door(self) -> None:
        from gurumeditation.triggers.channel import recv_fds

        try:
            message, fds = recv_fds(self.door)
        except OSError:
            message, fds = b"", []
        if not message and not fds:
            self.door.close()
            self.door = None  # the service's thread is gone: we answer alone
            return
        kind = message[:1]
        for fd in fds:  # never into a sidecar handed another process (sidecar_tree)
            os.set_inheritable(fd, False)
        if kind == b"L" and len(fds) == 1:
            old, self.listener = self.listener, self.socket.socket(fileno=fds[0])
            self.listener.setblocking(False)
            if old is not None:
                old.close()
            try:
                self.info = json.loads(message[1:].decode("ascii"))
            except ValueError:
                self.info = {}
            self.follow_wanted = True
            return
        for fd in fds:
            os.close(fd)
        if kind == b"X" and self.listener is not None:
            self.listener.close()
            self.listener = None
        elif kind == b"T":
            try:
                seq = int(message[1:])
            except ValueError:
                return
            entry = self.pending.pop(seq, None)
            self.door_send((b"G" if entry else b"N") + b"%d" % seq, [])
            if entry is not None:
                entry[0].close()  # the service has its own copy now

    def door_send(self, message: bytes, fds: List[int]) -> bool:
        from gurumeditation.triggers.channel import send_fds

        if self.door is None:
            return False
        try:
            send_fds(self.door, message, fds)
            return True
        except OSError:
            return False

    # -- askers -------------------------------------------------------------
    def on_accept(self) -> None:
        from gurumeditation.triggers.channel import may_ask, peer_cred

        try:
            conn, _addr = self.listener.accept()
        except OSError:
            return
        try:
            _pid, uid, _gid = peer_cred(conn)
        except OSError:
            conn.close()
            return
        owner = process_euid(self.svc.pid)
        gone = not same_process(self.svc.pid, self.svc.ticks) or process_state(self.svc.pid) == "Z"
        if owner is None or gone or not may_ask(uid, owner):
            conn.close()  # the kernel says who asks: not the service's user, not root
            return
        self.follow_wanted = True  # the service dropped root since: so do we
        conn.setblocking(False)
        self.reading[conn] = (b"", time.monotonic() + REQUEST_TIMEOUT)

    def on_request_data(self, sock: Any) -> None:
        data, deadline = self.reading[sock]
        try:
            more = sock.recv(MAX_REQUEST)
        except BlockingIOError:
            return
        except OSError:
            more = b""
        data += more
        if b"\n" in data:
            del self.reading[sock]
            self.hand_over(sock, data.split(b"\n", 1)[0])
        elif not more or len(data) >= MAX_REQUEST:
            del self.reading[sock]
            sock.close()
        else:
            self.reading[sock] = (data, deadline)

    def hand_over(self, sock: Any, request: bytes) -> None:
        self.seq += 1
        if self.door_send(b"C%d\n" % self.seq + request, [sock.fileno()]):
            self.pending[self.seq] = (sock, request, time.monotonic() + HANDOFF)
        else:
            self.answer(sock, request)

    def answer(self, sock: Any, request: bytes) -> None:
        """The service did not take it: the interpreter is frozen."""
        from gurumeditation.triggers.channel import header_line, parse_request

        svc = self.svc
        facts = {
            "pid": svc.pid,
            "startTicks": svc.ticks or None,
            "protocol": 1,
            "answeredBy": "sidecar",
            "responding": False,
        }
        try:
            sock.setblocking(True)
            sock.settimeout(5.0)
            parsed, problem = parse_request(request)
            if process_state(svc.pid) in ("T", "t"):
                sock.sendall(
                    header_line(
                        dict(
                            facts,
                            ok=False,
                            stopped=True,
                            error=f"process {svc.pid} is stopped (SIGSTOP, or traced): "
                            "none of its threads can answer until it is continued",
                        )
                    )
                )
            elif parsed is None:
                sock.sendall(header_line(dict(facts, ok=False, error=f"bad request: {problem}")))
            elif parsed["op"] == "info":
                sock.sendall(header_line(dict(self.info, **facts, ok=True, op="info", size=0)))
            else:
                dump = all_threads_dump(svc.dump_fd, svc.pid, svc.dump_signal, svc.ticks)
                text = dump_text(
                    dump[:MAX_DUMP],
                    svc.service,
                    svc.pid,
                    svc.signame,
                    HANDOFF,
                    len(dump) > MAX_DUMP,
                    svc.own(),
                    trigger="cli gurumeditation report",
                )
                if not dump.strip():
                    text += "[no dump: no spare signal for it, or the process is gone]\n"
                body = text.encode("utf-8", "replace")
                fields = dict(
                    facts, ok=True, op="report", format="text", nativeDump=True, size=len(body)
                )
                sock.sendall(header_line(fields) + body)
        except OSError:
            pass
        finally:
            sock.close()


def process_state(pid: int) -> str:
    """The state letter of ``pid`` (``/proc/PID/stat`` field 3)."""
    from gurumeditation import procstat

    return procstat.state(pid)


def process_euid(pid: int) -> Optional[int]:
    ids = process_ids(pid)
    return ids[0] if ids else None


def status_fields(pid: int, *keys: str) -> Dict[str, List[str]]:
    """The fields of the ``/proc/PID/status`` lines named ``keys`` (``Uid``,
    ``SigCgt``...); those missing (or the process gone) are left out."""
    found: Dict[str, List[str]] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in keys:
                    found[key] = rest.split()
    except OSError:
        pass
    return found


def process_ids(pid: int) -> Optional[Tuple[int, int]]:
    """(effective uid, effective gid) of ``pid``."""
    got = status_fields(pid, "Uid", "Gid")
    try:
        return int(got["Uid"][1]), int(got["Gid"][1])
    except (KeyError, IndexError, ValueError):
        return None


def uid_to_follow(pid: int) -> Optional[Tuple[int, int]]:
    """The (uid, gid) to drop to for ``pid``: we run as root and it does
    not (it dropped root after arming); ``None``: nothing to follow."""
    ids = process_ids(pid)
    if ids is None or os.geteuid() != 0 or ids[0] == 0:
        return None
    return ids


def follow_uid(pid: int) -> None:
    """The service dropped root after arming: so do we (its dumps are
    written as it would write them, it is signalled as by itself)."""
    ids = uid_to_follow(pid)
    if ids is None:
        return
    try:
        os.setgroups([])
        os.setgid(ids[1])
        os.setuid(ids[0])
    except OSError:
        pass


#: What :func:`serve` returns when it handed its service to a sidecar of its own.
HANDED_ON = "handed on"


def serve(
    dump_fd: int,
    poke_fd: int,
    ack_fd: Optional[int],
    dest: str,
    service: str,
    pid: int,
    signame: str,
    ack_timeout: float,
    max_reports: int,
    dump_signal: int = 0,
    door_fd: Optional[int] = None,
    ticks: int = 0,
    file_pid: int = 0,
    listener_fd: int = -1,
    keep: Optional[List[Any]] = None,
    follow: Optional[Callable[[Any], bool]] = None,
) -> str:
    """Serve one process until it is gone ("").  ``keep`` gets its ack
    channel (its ``own`` threads outlive it); ``follow(front)``: the process
    may have changed uid — ``False`` when it was handed to a sidecar of its
    own (:data:`HANDED_ON`: nothing of it is ours any more)."""
    os.set_blocking(poke_fd, False)
    channel = AckChannel(ack_fd)
    if keep is not None:
        keep[:] = [channel]
    svc = Service(pid, ticks, service, signame, dump_fd, dump_signal, lambda: channel.own)
    front = FrontDoor(door_fd, svc, listener_fd)
    last_written = -REPEAT_GAP
    frozen = False  # the watchdog's heartbeat stopped, and its dump is written
    while True:
        deadline = front.next_deadline()
        if channel.beat_period and not frozen:
            beat_due = channel.last_beat + channel.beat_period
            deadline = beat_due if deadline is None else min(deadline, beat_due)
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        watched = [channel.fd] if channel.fd is not None and channel.beat_period else []
        try:
            ready, _, _ = select.select([dump_fd] + front.fds() + watched, [], [], timeout)
        except InterruptedError:
            continue
        if dump_fd not in ready:
            if channel.fd is not None:
                beat = channel.last_beat
                channel.read()
                if channel.last_beat != beat:
                    frozen = False
            front.on_ready(ready)
            if front.follow_wanted:
                front.follow_wanted = False
                if follow is None:
                    follow_uid(pid)
                elif not follow(front):
                    return HANDED_ON
            front.on_timers()
            if (
                channel.beat_period
                and not frozen
                and time.monotonic() >= channel.last_beat + channel.beat_period
            ):
                patience = max(ack_timeout, channel.beat_period)
                probed = send_probe(svc, channel.probe)
                if still_runs(channel, poke_fd, dump_fd, patience):
                    channel.last_beat = time.monotonic()  # late, not frozen
                elif frozen_dump(svc, channel, dest, max_reports, file_pid, probed):
                    frozen = True
                else:
                    channel.last_beat = time.monotonic()  # its stacks moved: it runs
            continue
        chunk = read_some(dump_fd)
        if not chunk:
            return ""  # the service is gone
        first = time.monotonic()
        channel.read()  # a late answer to an earlier dump is no answer to this one
        try:
            os.write(poke_fd, b"%.6f\n" % first)
        except OSError:
            pass  # the watcher is gone or behind: the dump still gets written
        parts = [chunk]
        size = len(chunk)
        acked = False
        deadline = first + ack_timeout
        eof = False
        while not acked and not eof:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            wait = [dump_fd] + ([channel.fd] if channel.fd is not None else [])
            ready, _, _ = select.select(wait, [], [], remaining)
            if channel.fd is not None and channel.fd in ready:
                acked = channel.read()
            if dump_fd in ready:
                more = read_some(dump_fd)
                if not more:
                    eof = True
                elif size < MAX_DUMP:
                    parts.append(more)
                    size += len(more)
        if not acked and time.monotonic() - last_written >= REPEAT_GAP:
            dump = all_threads_dump(dump_fd, pid, dump_signal, ticks) if not eof else b""
            if not dump.strip():  # no dump signal: the receiving thread's stack
                dump = b"".join(parts)
            text = dump_text(
                dump[:MAX_DUMP],
                service,
                pid,
                signame,
                ack_timeout,
                len(dump) > MAX_DUMP,
                channel.own,
            )
            try:
                write_dump(text, dest, service, max_reports, channel.file_pid or file_pid)
            except Exception:
                pass
            last_written = time.monotonic()
        if eof:
            return ""
        front.on_timers()


def still_runs(channel: AckChannel, poke_fd: int, dump_fd: int, timeout: float) -> bool:
    """The watchdog's heartbeat is late: is the interpreter frozen, or were
    its threads only kept from the GIL for a while?  A busy thread that gives
    the GIL up and takes it back at once (an event loop polling with a zero
    timeout) starves the others for as long as it runs on CPython 3.9 and
    3.10: a waiting thread asks for the GIL only when a whole switch interval
    passed with no hand-over.  Asks the watcher (PING on the poke pipe) and
    waits ``timeout`` for its answer, a heartbeat, or the main thread's
    answer to the probe the caller sent (:func:`send_probe`: its
    Python-level handler runs between two bytecodes of a busy main thread);
    a dump signal arriving meanwhile is left to the main loop."""
    beat, ran = channel.last_beat, channel.ran
    try:
        os.write(poke_fd, b"?\n")
    except OSError:
        return False
    deadline = time.monotonic() + timeout
    while channel.fd is not None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            ready, _, _ = select.select([channel.fd, dump_fd], [], [], remaining)
        except InterruptedError:
            continue
        if channel.fd in ready and (
            channel.read() or channel.last_beat != beat or channel.ran != ran
        ):
            return True
        if dump_fd in ready:
            return True  # a signal's dump: the main loop handles it
    return False


def catches(pid: int, signum: int) -> bool:
    """``pid`` has a handler for ``signum`` (the ``SigCgt`` mask of
    ``/proc/PID/status``): never a signal that would end or stop it."""
    if signum <= 0:
        return False
    try:
        return bool(int(status_fields(pid, "SigCgt")["SigCgt"][0], 16) >> (signum - 1) & 1)
    except (KeyError, IndexError, ValueError):
        return False


def send_probe(svc: Service, signum: int) -> bool:
    """The watchdog's probe to the very process we serve, where its handler
    is in place (``False``: not sent)."""
    if signum <= 0 or not same_process(svc.pid, svc.ticks) or not catches(svc.pid, signum):
        return False
    try:
        os.kill(svc.pid, signum)
    except OSError:
        return False
    return True


#: Between the dumps that tell a frozen interpreter from a busy one.
PROGRESS_GAP = 0.15


def same_stacks(dump: bytes) -> bytes:
    """A dump as it compares with another: which thread the signal landed on
    ("Current thread") is no progress."""
    return dump.replace(b"Current thread ", b"Thread ")


def frozen_dump(
    svc: Service,
    channel: AckChannel,
    dest: str,
    max_reports: int,
    file_pid: int = 0,
    probed: bool = False,
) -> bool:
    """The watchdog's heartbeat stopped and neither the watcher nor the
    main thread answered (:func:`still_runs`; ``probed``: the probe was
    sent): one thread holds the GIL in native code — the C-level dump of
    every thread, once per freeze (``True``).  Without a probe, only where
    the stacks do not move either (they moved: it runs, ``False``)."""
    if not same_process(svc.pid, svc.ticks):
        return True
    dump = all_threads_dump(svc.dump_fd, svc.pid, svc.dump_signal, svc.ticks)
    if not dump.strip():
        return True
    # no probe to send (the watchdog armed outside the main thread, or it
    # waits in signal.pause()): frozen means nothing moves — a busy thread's
    # stack changes between two dumps taken a moment apart (not always: a
    # loop spending its time on one line looks the same each time)
    for _ in range(0 if probed else 2):
        time.sleep(PROGRESS_GAP)
        again = all_threads_dump(svc.dump_fd, svc.pid, svc.dump_signal, svc.ticks)
        if again.strip() and same_stacks(again) != same_stacks(dump):
            return False
    seconds = channel.beat_period
    text = dump_text(
        dump[:MAX_DUMP],
        svc.service,
        svc.pid,
        svc.signame,
        seconds,
        len(dump) > MAX_DUMP,
        channel.own,
        trigger=f"watchdog (the interpreter gave no heartbeat for {seconds:g} s)",
        follows=False,
    )
    try:
        write_dump(text, dest, svc.service, max_reports, channel.file_pid or file_pid)
    except Exception:
        pass
    return True


def main(argv: List[str]) -> None:
    """``dump_fd poke_fd ack_fd door_fd dest service pid signame ack_timeout
    max_reports dump_signal start_ticks [file_pid [fatal_path [adopt_fd
    [listener_fd]]]]`` (``ack_fd``/``door_fd`` -1: none; ``dest`` ``-``:
    standard error; ``dump_signal`` 0: none; ``file_pid`` 0: no pid in the
    dump's file name; ``fatal_path`` ``-``: report_on "fatal" is off;
    ``adopt_fd``: the tree's adoption socket, see
    :mod:`gurumeditation.triggers.sidecar_tree`)."""
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(signum, signal.SIG_IGN)
    # detach: the service's process tree does not hold us, nobody has to reap us
    if os.fork() > 0:
        os._exit(0)
    from gurumeditation.triggers import sidecar_tree

    try:
        sidecar_tree.main(argv)
    except BaseException:
        pass
    os._exit(0)


def after_service(
    fatal_path: str,
    service: str,
    pid: int,
    ticks: int,
    max_reports: int,
    file_pid: int = 0,
    channel: Any = None,
) -> None:
    """The service is gone (or disarmed us): the fatal dump it left, if it
    died, becomes a report (see :mod:`gurumeditation.triggers.fatal`)."""
    try:
        for _ in range(50):  # the end of file may come a moment before the death
            if not same_process(pid, ticks) or process_state(pid) in ("Z", "X", "?"):
                break
            time.sleep(0.02)
        else:
            return  # alive: it only re-armed, the file is still in use
        from gurumeditation.triggers import fatal

        told = getattr(channel, "file_pid", 0) or file_pid
        fatal.finalize(fatal_path, service, max_reports, getattr(channel, "own", None), told)
    except BaseException:
        pass


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])

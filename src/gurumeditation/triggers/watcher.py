"""The watcher: a real OS thread that steps in when the main thread is stuck.

Python runs signal handlers only in the main thread (CPython issue 85300).
When the main thread sits in native code that does not return on a signal
(a C library waiting on a mutex, with the GIL released), the Python-level
handler never runs.  The watcher learns of every signal at C level — the
sidecar pokes it when faulthandler's dump arrives (see
:mod:`~gurumeditation.triggers.native_dump`) — acknowledges at once (that
tells the sidecar the interpreter runs), then gives the main thread
``deadline`` seconds to enter its handler.  If it does not, the watcher asks
for the report itself (:attr:`on_stuck`), from a real thread, with the reason
in the header.

Idle, it sleeps in ``select()`` on the poke pipe: no timer, no polling.  Only
while a signal is unanswered does it look every few milliseconds.  It exits
when the pipe reaches end of file (the sidecar is gone).
"""

from __future__ import annotations

import time
from typing import Callable, List, Optional

from .. import unpatched
from . import native_dump
from .gate import ReportGate
from .native_dump import NativeDump

#: How long the main thread gets to enter its handler.
DEADLINE = 0.25
#: A handler entry this long before the sidecar saw the dump still counts as
#: an answer to it (the sidecar may be scheduled after the main thread).
MARGIN = 0.25
#: How often the watcher looks while a signal is unanswered.
POLL = 0.01


#: What the sidecar writes on the poke pipe to ask only "do you run?" (the
#: watcher answers ``a`` as to a dump, and expects no signal handler).
PING = b"?\n"


def parse_stamps(buffer: bytes) -> tuple[List[float], bytes]:
    """Complete ``<monotonic>\\n`` lines of ``buffer`` and the rest."""
    *lines, rest = buffer.split(b"\n")
    stamps: List[float] = []
    for line in lines:
        try:
            stamps.append(float(line))
        except ValueError:
            pass
    return stamps, rest[-64:]


class Watcher:
    def __init__(
        self,
        dump: NativeDump,
        gate: ReportGate,
        on_stuck: Callable[[float], None],
        deadline: float = DEADLINE,
    ) -> None:
        self.dump = dump
        self.gate = gate
        self.on_stuck = on_stuck
        self.deadline = deadline
        self.ident = 0
        #: how many times the watcher stepped in (tests read it)
        self.stepped_in = 0

    def start(self) -> int:
        self.ident = unpatched.real_thread(self.run)
        self.announce()
        return self.ident

    def announce(self) -> None:
        """Tell the sidecar our own threads (it leaves them out of a dump),
        and the pid for its file names once several processes share the
        service name."""
        ack = self.dump.ack_fd
        if ack is None:
            return
        idents = ",".join(f"{i:x}" for i in sorted(unpatched.OWN_THREADS))
        message = b"i" + idents.encode() + b"\n"
        if self.dump.file_pid:
            message += b"p%d\n" % self.dump.file_pid
        try:
            unpatched.get().write(ack, message)
        except OSError:
            pass

    def heartbeat(self, seconds: float, probe: int = 0) -> None:
        """Tell the sidecar the interpreter runs; silent for ``seconds``, it
        dumps every thread at C level unless the main thread answers the
        ``probe`` signal (0: none to send; the watchdog calls this)."""
        ack = self.dump.ack_fd
        if ack is None:
            return
        native_dump.TELL_FD[0] = ack if probe else -1
        try:
            unpatched.get().write(ack, b"h%.3f %d\n" % (seconds, probe))
        except OSError:
            pass

    def run(self) -> None:
        prims = unpatched.get()
        fd = self.dump.poke_fd
        ack = self.dump.ack_fd
        if fd is None:
            return
        self.dump.reap_launcher()
        seen: Optional[float] = None  # when the unanswered signal was seen
        due = 0.0  # when the main thread's time is up
        rest = b""
        try:
            while True:
                try:
                    ready = prims.select([fd], [], [], None if seen is None else POLL)[0]
                    data = prims.read(fd, 65536) if ready else None
                except InterruptedError:
                    continue
                except (OSError, ValueError):
                    return
                if data is not None:
                    if not data:
                        return  # end of file: the sidecar (or the dump pipe) is gone
                    now = time.monotonic()
                    if ack is not None:
                        try:
                            prims.write(ack, b"a")  # the interpreter runs
                        except OSError:
                            pass
                    stamps, rest = parse_stamps(rest + data)
                    # the sidecar's PING only asks whether the interpreter runs
                    # (the watchdog's heartbeat was late): no signal to answer
                    only_pings = not stamps and not data.replace(PING, b"").strip()
                    if seen is None and not only_pings:
                        seen, due = (min(stamps) if stamps else now), now + self.deadline
                if seen is not None:
                    if self.gate.busy or self.gate.main_entered >= seen - MARGIN:
                        seen = None  # the main thread answered (or a report is on its way)
                    elif time.monotonic() >= due:
                        seen = None
                        self.stepped_in += 1
                        try:
                            self.on_stuck(self.deadline)
                        except Exception:
                            pass
        finally:
            self.dump.poke_fd = self.dump.ack_fd = None
            for own_fd in (fd, ack):
                if own_fd is not None:
                    native_dump.untell(own_fd)
                    try:
                        prims.close(own_fd)
                    except OSError:
                        pass

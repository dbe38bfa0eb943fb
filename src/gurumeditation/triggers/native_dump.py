"""The native dump: CPython's ``faulthandler`` answers the signal in C.

A Python-level signal handler runs only in the main thread, between
bytecodes.  When the main thread is stuck in native code, or no thread can
run Python at all (one holds the GIL in native code), that handler never
runs.  ``faulthandler.register(signum, file=fd, chain=True)`` installs a
C-level handler that, at the signal, writes a Python stack to ``fd`` —
without the GIL — and then calls the handler that was installed before it:
Python's own C handler, which trips the usual Python-level handler.  So it
must be armed *after* that handler is in place, never over the default
action (``chain`` would then kill the process).

Only the stack of the thread that received the signal is dumped then: it is
just the notification.  Walking *every* thread's frames without the GIL
while other threads run Python can read a frame as it is freed (we saw the
SIGSEGV under a signal storm), so the dump of every thread is asked for only
when the interpreter is known to be frozen — nobody is running Python then:
the sidecar sends a second, otherwise unused signal (:attr:`NativeDump.dump_signal`,
a real-time signal found at its default action) on which faulthandler is
registered with ``all_threads=True`` and no chaining.

A storm of signals is the catch: with ``chain=True`` faulthandler's handler
runs with ``SA_NODEFER`` on the alternate signal stack it sets up for the
main thread (about 60 KiB), so every signal arriving while it runs nests one
more handler there, and a couple of hundred back-to-back signals overflow it:
the process dies of SIGSEGV.  We give the main thread a larger alternate
stack (:data:`ALT_STACK_SIZE`, allocated once and never freed — only the
pages a storm touches ever become resident) and arm faulthandler only where
that worked.

Where the dump goes: into a pipe that is always drained, never into a file
directly (every signal would then leave a dump behind) and never into a pipe
nobody reads (the C handler would block for good once it is full; the write
end is non-blocking as well, so a full pipe loses a dump, never a thread).
The reader is the sidecar process (:mod:`gurumeditation.triggers.sidecar`):
it pokes our watcher thread and writes the dump to the report destination
only when the watcher does not acknowledge in time — the interpreter is
frozen.  Where no sidecar can be started (no usable ``sys.executable``), the
watcher drains the dump pipe itself: stuck main threads are still covered,
frozen interpreters are not.
"""

from __future__ import annotations

import _thread
import os
import sys

from .. import procstat
from .signal import signal_name

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover  (imported when a bare interpreter arms)
    import signal as _signal
    from typing import Any, Callable, List, Optional
else:  # not signal (it costs enum): see gurumeditation.early
    import _signal


def start_ticks(pid: int) -> int:
    """``/proc/PID/stat`` start time (0 where unknown): the sidecar signals
    only the process that started then, never a recycled pid."""
    return procstat.start_ticks(pid) or 0



#: How long the sidecar waits for the watcher before writing the dump.
ACK_TIMEOUT = 0.5

#: Alternate signal stack given to the main thread (see the module docs).
ALT_STACK_SIZE = 8 << 20

_alt_stack: Optional[int] = None  # address of our stack (never freed)
_alt_stack_thread = 0  # the thread it was given to

_SIDECAR_CODE = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from gurumeditation.triggers.sidecar import main; main(sys.argv[2:])"
)


def usable_executable() -> Optional[str]:
    """``sys.executable`` when it is a Python interpreter we can start
    (embedded interpreters such as uWSGI report their own binary)."""
    exe = getattr(sys, "executable", "") or ""
    base = os.path.basename(exe).lower()
    if exe and base.startswith(("python", "pypy")) and os.access(exe, os.X_OK):
        return exe
    return None


def enlarge_alt_stack(size: int = ALT_STACK_SIZE) -> bool:
    """Give the calling thread an alternate signal stack of ``size`` bytes
    (allocated once per process: a forked child keeps its copy).  ``True``
    when the thread has one at least that large."""
    global _alt_stack, _alt_stack_thread
    if _alt_stack is not None and _alt_stack_thread != _thread.get_ident():
        # given to the main thread already (the loader arms from its own
        # thread, see gurumeditation.early): one stack is never shared
        return True
    try:
        import ctypes

        class StackT(ctypes.Structure):
            _fields_ = [
                ("ss_sp", ctypes.c_void_p),
                ("ss_flags", ctypes.c_int),
                ("ss_size", ctypes.c_size_t),
            ]

        libc = ctypes.CDLL(None, use_errno=True)
        current = StackT()
        if libc.sigaltstack(None, ctypes.byref(current)) != 0:
            return False
        if current.ss_flags & 1:  # SS_ONSTACK: we are running on it right now
            return False
        if current.ss_sp and current.ss_size >= size and not current.ss_flags & 2:
            return True
        if _alt_stack is None:
            libc.malloc.restype = ctypes.c_void_p
            libc.malloc.argtypes = [ctypes.c_size_t]
            address = libc.malloc(size)
            if not address:
                return False
            _alt_stack = int(address)
            _alt_stack_thread = _thread.get_ident()
        new = StackT(_alt_stack, 0, size)
        return bool(libc.sigaltstack(ctypes.byref(new), None) == 0)
    except Exception:
        return False


#: The spare signal claimed for the all-threads dump (it stays claimed: a
#: late one from an exiting sidecar must never meet the default action,
#: which for a real-time signal ends the process).
_dump_signal = 0
_parking_fd = -1


def realtime_range() -> tuple[int, int]:
    """(SIGRTMIN, SIGRTMAX), or (0, 0) where there are none (the constants
    are in :mod:`signal` since 3.11; glibc tells older Pythons)."""
    if hasattr(_signal, "SIGRTMIN") and hasattr(_signal, "SIGRTMAX"):
        return int(_signal.SIGRTMIN), int(_signal.SIGRTMAX)
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        return int(libc.__libc_current_sigrtmin()), int(libc.__libc_current_sigrtmax())
    except Exception:
        return 0, 0


def claim_dump_signal(fd: int) -> int:
    """Register faulthandler's all-threads dump into ``fd`` on a spare
    real-time signal (one still at its default action), once per process;
    returns it, or 0 when there is none."""
    global _dump_signal
    import faulthandler

    if not hasattr(faulthandler, "register"):
        return 0
    low, high = realtime_range()
    if not low:
        return 0
    candidates = [_dump_signal] if _dump_signal else []
    candidates += [
        s for s in range(high - 2, low + 3, -1) if _signal.getsignal(s) == _signal.SIG_DFL
    ]
    for signum in candidates:
        try:
            faulthandler.register(signum, file=fd, all_threads=True, chain=False)
        except (ValueError, OSError, RuntimeError):
            continue
        _dump_signal = signum
        return signum
    return 0


def park_dump_signal() -> None:
    """Point the claimed dump signal at ``/dev/null`` (never back to its
    default action)."""
    global _parking_fd
    if not _dump_signal:
        return
    try:
        import faulthandler

        if _parking_fd < 0:
            _parking_fd = os.open(os.devnull, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
        faulthandler.register(_dump_signal, file=_parking_fd, all_threads=False, chain=False)
    except Exception:
        pass


#: The native dump :func:`prearm` armed in the main thread, until the
#: loader's :class:`NativeDump` takes it over.
_prearmed: Optional[NativeDump] = None


def prearm(signum: int, service: str, log_dir: Optional[str], max_reports: int) -> bool:
    """What arming needs of the main thread, done there first (see
    :mod:`gurumeditation.early`): the native dump armed as
    :meth:`NativeDump.arm` does — faulthandler on top of our handler, this
    thread's larger alternate stack, the sidecar started — with the
    settings the loader will most likely arrive at; the loader takes it over
    when they are the same.  A signal the main thread cannot answer meanwhile
    (the interpreter frozen) is answered by the sidecar.  ``False``: nothing
    armed."""
    global _prearmed
    if _prearmed is not None:
        return False
    dump = NativeDump(signum, service, log_dir, max_reports)
    try:
        if not dump.arm(attach_door=False):
            return False
    except Exception:
        dump.close()
        return False
    _prearmed = dump
    return True


def announce_prearmed(idents: Any) -> None:
    """Tell the prearmed dump's sidecar our threads (the loader), as the
    watcher does once it runs: a dump leaves them out."""
    pre = _prearmed
    if pre is None or pre.ack_fd is None:
        return
    try:
        os.write(pre.ack_fd, b"i" + ",".join(f"{i:x}" for i in sorted(idents)).encode() + b"\n")
    except OSError:
        pass


def _take_prearmed(wanted: NativeDump) -> Optional[NativeDump]:
    """The prearmed dump when it was armed as ``wanted`` would be; else it
    is taken down (its sidecar sees end of file and exits)."""
    global _prearmed
    pre, _prearmed = _prearmed, None
    if pre is None:
        return None
    same = (pre.signum, pre.service, pre.log_dir, pre.max_reports, pre.ack_timeout) == (
        wanted.signum,
        wanted.service,
        wanted.log_dir,
        wanted.max_reports,
        wanted.ack_timeout,
    )
    if same and pre.armed:
        return pre
    pre.disarm()
    pre.close()
    _close(pre.door)
    pre.reap_launcher()
    return None


#: The sidecar's ack pipe, where the watchdog's probe handler tells it the
#: main thread ran Python (-1: nowhere; set by the watcher's heartbeat).
TELL_FD = [-1]


def untell(fd: int) -> None:
    """``fd`` is about to be closed: the probe handler must never write into
    whatever reuses its number."""
    if TELL_FD[0] == fd:
        TELL_FD[0] = -1


def _close(fd: Optional[int]) -> None:
    if fd is not None and fd >= 0:
        untell(fd)
        try:
            os.close(fd)
        except OSError:
            pass


class NativeDump:
    """faulthandler armed for ``signum``, writing into a drained pipe.

    After :meth:`arm`, :attr:`poke_fd` is what the watcher thread waits on
    and :attr:`ack_fd` (``None`` without a sidecar) where it acknowledges.
    """

    def __init__(
        self,
        signum: int,
        service: str,
        log_dir: Optional[str],
        max_reports: int = 0,
        ack_timeout: float = ACK_TIMEOUT,
    ) -> None:
        self.signum = signum
        self.service = service
        self.log_dir = log_dir
        self.max_reports = max_reports
        self.ack_timeout = ack_timeout
        self.dump_fd: Optional[int] = None
        self.poke_fd: Optional[int] = None
        self.ack_fd: Optional[int] = None
        #: pid of the short-lived launcher the watcher reaps (0: none)
        self.launcher = 0
        self.armed = False
        #: the spare signal that dumps every thread (0: none found)
        self.dump_signal = 0
        #: ``True`` while the Python-level handler of ``signum`` is ours
        self.still_ours: Optional[Callable[[], bool]] = None
        #: the pid the sidecar puts in its dump's file name (``None``: none,
        #: see :class:`gurumeditation.sinks.LogDirSink`)
        self.file_pid: Optional[int] = None
        #: the file report_on "fatal" dumps into: the sidecar makes it a
        #: report when the service is gone ("": none)
        self.fatal_path = ""
        #: our end of the door to the sidecar until the channel has it
        self.door: Optional[int] = None
        #: the adoption socket of our sidecar's tree (kept for our forked
        #: children), and the one a forked child inherited (see arm)
        self.adopt: Optional[int] = None
        self.inherited_adopt: Optional[int] = None

    @property
    def with_sidecar(self) -> bool:
        return self.ack_fd is not None

    def arm(self, on_signal: bool = True, attach_door: bool = True) -> bool:
        """Open the pipes, start the sidecar, register faulthandler.
        ``False`` (nothing armed) where faulthandler cannot do it.
        ``on_signal=False``: the report signal is not ours right now (a
        server holds it): everything but faulthandler on it, which
        :meth:`reregister` adds once the signal is ours again.
        ``attach_door``: hand the sidecar's door to the channel now (else
        :meth:`attach_door` later: the channel is not imported yet)."""
        import faulthandler

        if not hasattr(faulthandler, "register"):
            return False
        pre = _take_prearmed(self)
        if pre is not None:  # armed in the main thread already: take it over
            self.dump_fd, self.poke_fd, self.ack_fd = pre.dump_fd, pre.poke_fd, pre.ack_fd
            self.launcher, self.dump_signal, self.door = pre.launcher, pre.dump_signal, pre.door
            self.adopt = pre.take_adopt()
            _close(self.inherited_adopt)
            self.inherited_adopt = None
            self.armed = True
            if attach_door:
                self.attach_door()
            return True
        dump_r, dump_w = os.pipe()
        os.set_blocking(dump_w, False)
        self.dump_signal = claim_dump_signal(dump_w)
        inherited, self.inherited_adopt = self.inherited_adopt, None
        try:
            if inherited is None or not self._join_tree(dump_r, inherited):
                _close(inherited)  # the tree's sidecar is gone: one of our own
                self._start_sidecar(dump_r)
        except Exception:
            self._close_sidecar_ends()
        if attach_door:
            self.attach_door()
        if self.poke_fd is None:  # no sidecar: the watcher drains the dump itself
            self.poke_fd = dump_r
        else:
            _close(dump_r)
        self.dump_fd = dump_w
        if on_signal and not self.reregister():
            self.close()
            return False
        return True

    def reregister(self) -> bool:
        """faulthandler on the report signal, on top of the Python-level
        handler in place now (ours: see :meth:`arm`)."""
        import faulthandler

        if self.dump_fd is None:
            return False
        if self.armed:  # its sigaction may have been replaced since: afresh
            self.unregister()
        try:
            faulthandler.register(self.signum, file=self.dump_fd, all_threads=False, chain=True)
        except Exception:
            return False
        # after register: faulthandler installs its own (small) stack first
        if not enlarge_alt_stack():
            faulthandler.unregister(self.signum)
            return False
        self.armed = True
        return True

    def unregister(self) -> None:
        """faulthandler off the report signal (pipes and sidecar stay).
        faulthandler puts back the C handler it saw when registered; where
        the Python-level handler was set to the default action or ignored
        since, that stale C handler is corrected (from the main thread)."""
        if not self.armed:
            return
        self.armed = False
        import signal

        try:
            import faulthandler

            faulthandler.unregister(self.signum)
            current = signal.getsignal(self.signum)
            if current in (signal.SIG_DFL, signal.SIG_IGN):
                signal.signal(self.signum, current)
        except Exception:
            pass

    def _sidecar_ends(self) -> List[int]:
        """The poke and ack pipes and the door (ours kept here); the ends
        the sidecar gets: poke write, ack read, its end of the door."""
        import _socket

        poke_r, poke_w = os.pipe()
        ack_r, ack_w = os.pipe()
        os.set_blocking(ack_w, False)
        self.poke_fd, self.ack_fd = poke_r, ack_w
        # the door of the request channel: the sidecar accepts, we answer
        ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        self.door = ours.detach()
        return [poke_w, ack_r, theirs.detach()]

    def _sidecar_args(self) -> List[str]:
        """What a sidecar is told of us (see :mod:`.sidecar_tree`)."""
        return [
            self.log_dir or "-",
            self.service,
            str(os.getpid()),
            signal_name(self.signum),
            repr(self.ack_timeout),
            str(self.max_reports),
            str(self.dump_signal),
            str(start_ticks(os.getpid())),
            str(self.file_pid or 0),
            self.fatal_path or "-",
        ]

    def _join_tree(self, dump_r: int, adopt: int) -> bool:
        """Be served by the sidecar of our process tree (a forked child):
        our pipes' far ends sent over the adoption socket we inherited.
        ``False``: that sidecar is gone (or will not hear us)."""
        import _socket
        import array

        theirs = self._sidecar_ends()
        args = [a.encode("utf-8", "surrogateescape") for a in self._sidecar_args()]
        message = b"A" + b"\0".join(args)
        fds = array.array("i", [dump_r, *theirs]).tobytes()
        sock = _socket.socket(fileno=adopt)
        try:
            sock.sendmsg(
                [message],
                [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)],
                _socket.MSG_NOSIGNAL | _socket.MSG_DONTWAIT,
            )
            sent = True
        except OSError:
            sent = False
        finally:
            sock.detach()
        for fd in theirs:
            _close(fd)
        if not sent:
            self._close_sidecar_ends()
            return False
        self.adopt = adopt
        return True

    def _start_sidecar(self, dump_r: int) -> None:
        exe = usable_executable()
        if exe is None or not hasattr(os, "posix_spawn"):
            return
        import _socket

        theirs = self._sidecar_ends()
        # the adoption socket: our forked children (and theirs) share this sidecar
        adopt_ours, adopt_theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        sources = [dump_r, *theirs, adopt_theirs.fileno()]
        base = max(sources) + 1
        targets = [base + i for i in range(len(sources))]
        actions: List[Any] = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        ]
        actions += [(os.POSIX_SPAWN_DUP2, s, t) for s, t in zip(sources, targets)]
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        argv = [
            exe,
            "-S",
            "-I",
            "-c",
            _SIDECAR_CODE,
            os.path.dirname(package_root),
            *(str(t) for t in targets[:4]),
            *self._sidecar_args(),
            str(targets[4]),
        ]
        try:
            self.launcher = os.posix_spawn(
                exe, argv, dict(os.environ), file_actions=actions, setsid=True
            )
        except BaseException:
            for fd in theirs:
                _close(fd)
            adopt_ours.close()
            adopt_theirs.close()
            self._close_sidecar_ends()
            raise
        for fd in theirs:
            _close(fd)
        adopt_theirs.close()
        self.adopt = adopt_ours.detach()

    def attach_door(self) -> None:
        """Hand our end of the door to the sidecar to the request channel."""
        door, self.door = self.door, None
        if door is not None:
            from . import channel

            channel.attach_door(door)

    def _close_sidecar_ends(self) -> None:
        """Our ends of what :meth:`_sidecar_ends` made (no sidecar after all)."""
        _close(self.poke_fd)
        _close(self.ack_fd)
        _close(self.door)
        self.poke_fd = self.ack_fd = self.door = None

    def reap_launcher(self) -> None:
        """Wait for the launcher (it exits once the sidecar has detached);
        called from the watcher thread."""

        pid, self.launcher = self.launcher, 0
        if pid:
            try:
                from .. import unpatched

                unpatched.get().waitpid(pid, 0)
            except OSError:
                pass

    def pause(self, paused: bool) -> None:
        """While a report is being written, signals skip faulthandler and go
        straight to Python's handler: no dump is needed then (a report is on
        its way), and a dump taken while the receiving thread runs Python
        can read a frame that is only half set up (CPython 3.11 crashed so,
        in our storm tests).  Resuming puts faulthandler back only on top of
        our own Python-level handler (``still_ours``)."""
        if not self.armed or self.dump_fd is None:
            return
        try:
            import faulthandler

            if paused:
                faulthandler.unregister(self.signum)
            elif self.still_ours is None or self.still_ours():
                faulthandler.register(self.signum, file=self.dump_fd, all_threads=False, chain=True)
        except Exception:
            pass

    def disarm(self) -> None:
        """Unregister faulthandler (the handler from before is back) and close
        the dump pipe: the sidecar sees end of file and exits, then the
        watcher sees end of file and exits (it closes its own ends)."""
        self.unregister()
        park_dump_signal()
        _close(self.dump_fd)
        self.dump_fd = None

    def take_adopt(self) -> Optional[int]:
        """The adoption socket, for a forked child's new native dump (it is
        no longer closed with this one)."""
        adopt, self.adopt = self.adopt, None
        return adopt

    def close(self) -> None:
        """Close every descriptor (a forked child: the watcher that owned the
        read ends does not exist there)."""
        for fd in (self.dump_fd, self.poke_fd, self.ack_fd, self.adopt, self.inherited_adopt):
            _close(fd)
        self.adopt = self.inherited_adopt = None
        self.dump_fd = self.poke_fd = self.ack_fd = None

"""One sidecar for a process tree: the process that started it and every
forked child (and theirs) that asks to be adopted, each served by a thread
of its own (:func:`gurumeditation.triggers.sidecar.serve`).

A pre-fork server with 16 workers used to carry 17 sidecar processes.  Now a
forked child that re-arms sends the sidecar of its tree, over the *adoption
socket* it inherited (a ``SOCK_SEQPACKET`` pair made when the first sidecar
was started), one message: ``A`` and the arguments a sidecar is started
with, NUL-separated, with the read end of its dump pipe, the write end of its
poke pipe, the read end of its ack pipe and its end of a new door.  From then
on nothing differs from a sidecar of its own.

Who may be adopted: the kernel tells who sent the message
(``SCM_CREDENTIALS``); a message is taken only for the very process that
sent it (pid and start time), and only when it runs as the sidecar does.
One that runs as another user — or that changes uid while other processes
share this sidecar (a worker dropping root) — is handed to a sidecar of its
own, started as this one was, with the pipes and sockets it has: a sidecar
never writes a file or sends a signal for another user's process.  A
message for another process (a lie about the pid) is dropped.

The sidecar lives while any process of the tree it serves lives.
"""

from __future__ import annotations

import array
import os
import socket
import threading
from typing import Any, Dict, List, Optional, Tuple

from gurumeditation.triggers import sidecar

#: The arguments after the four descriptors: dest service pid signame
#: ack_timeout max_reports dump_signal start_ticks file_pid fatal_path.
ARGS = 10
PID, TICKS, MAX_REPORTS, FILE_PID, FATAL, SERVICE = 2, 7, 5, 8, 9, 1
#: The longest adoption message taken (paths in it included).
MAX_MESSAGE = 16384
_INT = array.array("i").itemsize


def _close(fds: List[int]) -> None:
    for fd in fds:
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass


def valid(args: List[str]) -> bool:
    """The ten arguments of an adoption, well formed."""
    if len(args) != ARGS:
        return False
    try:
        float(args[4])
        return all(int(args[i]) >= 0 for i in (PID, MAX_REPORTS, 6, TICKS, FILE_PID))
    except ValueError:
        return False


def unpack(ancillary: List[Tuple[int, int, bytes]]) -> Tuple[List[int], Optional[Tuple[int, int]]]:
    """The descriptors and the sender's (pid, uid) of one message."""
    fds: List[int] = []
    cred: Optional[Tuple[int, int]] = None
    for level, kind, data in ancillary:
        if level != socket.SOL_SOCKET:
            continue
        if kind == socket.SCM_RIGHTS:
            got = array.array("i")
            got.frombytes(data[: len(data) - len(data) % _INT])
            fds.extend(got)
        elif kind == socket.SCM_CREDENTIALS and len(data) >= 3 * _INT:
            pid, uid, _gid = array.array("i", data[: 3 * _INT])
            cred = (pid, uid)
    return fds, cred


class Tree:
    """The processes this sidecar serves (by pid: their start time)."""

    def __init__(self, prefix: List[str]) -> None:
        #: how this sidecar was started, up to its own arguments: a sidecar
        #: of its own for one process is started the same way
        self.prefix = prefix
        self.lock = threading.Lock()
        self.served: Dict[int, int] = {}
        self.threads: List[threading.Thread] = []
        #: adoptions dropped (forged or malformed)
        self.dropped = 0

    # -- serving -----------------------------------------------------------
    def run(self, fds: List[int], args: List[str], listener: int = -1) -> None:
        """Serve one process in the calling thread until it is gone (its
        fatal dump then made a report) or handed on."""
        pid, ticks = int(args[PID]), int(args[TICKS])
        with self.lock:
            self.served[pid] = ticks
        keep: List[Any] = []
        outcome = ""
        try:
            outcome = sidecar.serve(
                fds[0],
                fds[1],
                None if fds[2] < 0 else fds[2],
                args[0],
                args[SERVICE],
                pid,
                args[3],
                float(args[4]),
                int(args[MAX_REPORTS]),
                int(args[6]),
                None if fds[3] < 0 else fds[3],
                ticks,
                int(args[FILE_PID]),
                listener,
                keep,
                lambda front: self.follow(front, fds, args),
            )
        except BaseException:
            pass
        finally:
            with self.lock:
                self.served.pop(pid, None)
        if outcome != sidecar.HANDED_ON and args[FATAL] != "-":
            sidecar.after_service(
                args[FATAL],
                args[SERVICE],
                pid,
                ticks,
                int(args[MAX_REPORTS]),
                int(args[FILE_PID]),
                keep[0] if keep else None,
            )

    def follow(self, front: Any, fds: List[int], args: List[str]) -> bool:
        """The process may have changed uid.  Alone here: this sidecar
        follows it (as a sidecar of its own would).  Sharing: it is handed
        to a sidecar of its own (``False``)."""
        pid = int(args[PID])
        if sidecar.uid_to_follow(pid) is None:
            return True
        with self.lock:
            alone = len(self.served) <= 1
        if alone:
            sidecar.follow_uid(pid)
            return True
        door = front.door.fileno() if front.door is not None else -1
        listener = front.listener.fileno() if front.listener is not None else -1
        self.hand_on([fds[0], fds[1], fds[2], door], args, listener)
        pending = [entry[0] for entry in front.pending.values()]
        for sock in (front.door, front.listener, *front.reading, *pending):
            if sock is not None:
                sock.close()
        _close(fds[:3])
        return False

    def hand_on(self, fds: List[int], args: List[str], listener: int = -1) -> bool:
        """Start a sidecar of its own for one process with its descriptors
        (the caller closes its copies)."""
        sources = [*fds, listener]
        base = max([*sources, 2]) + 1
        targets = [base + i for i in range(len(sources))]
        actions: List[Any] = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        ]
        described = []
        for source, target in zip(sources, targets):
            if source >= 0:
                actions.append((os.POSIX_SPAWN_DUP2, source, target))
                described.append(str(target))
            else:
                described.append("-1")
        argv = [*self.prefix, *described[:4], *args, "-1", described[4]]
        try:
            launcher = os.posix_spawn(
                argv[0], argv, dict(os.environ), file_actions=actions, setsid=True
            )
            os.waitpid(launcher, 0)  # it exits once its child has detached
        except OSError:
            return False
        return True

    # -- adopting ------------------------------------------------------------
    def adopt_from(self, fd: int) -> None:
        """Take adoptions from the tree's adoption socket until every
        process that holds it is gone (end of file)."""
        sock = socket.socket(fileno=fd)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        except OSError:
            sock.close()
            return  # no word from the kernel on who asks: adopt nobody
        room = socket.CMSG_SPACE(8 * _INT) + socket.CMSG_SPACE(3 * _INT)
        while True:
            try:
                message, ancillary, flags, _addr = sock.recvmsg(MAX_MESSAGE, room)
            except InterruptedError:
                continue
            except OSError:
                break
            fds, cred = unpack(ancillary)
            for got in fds:  # never into a sidecar handed another process
                os.set_inheritable(got, False)
            if not message and not fds:
                break
            if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                self.drop(fds)
                continue
            self.adopt(message, fds, cred)
        sock.close()

    def adopt(self, message: bytes, fds: List[int], cred: Optional[Tuple[int, int]]) -> bool:
        """One adoption: served by a new thread, handed on, or dropped."""
        args = [a.decode("utf-8", "surrogateescape") for a in message[1:].split(b"\0")]
        if message[:1] != b"A" or len(fds) != 4 or cred is None or not valid(args):
            return self.drop(fds)
        pid, ticks = int(args[PID]), int(args[TICKS])
        if cred[0] != pid or not sidecar.same_process(pid, ticks):
            return self.drop(fds)  # only a process itself may ask for itself
        if sidecar.process_euid(pid) != os.geteuid():
            handed = self.hand_on(fds, args)
            _close(fds)
            return handed
        thread = threading.Thread(target=self.run, args=(fds, args), daemon=True)
        with self.lock:
            self.threads = [t for t in self.threads if t.is_alive()] + [thread]
        thread.start()
        return True

    def drop(self, fds: List[int]) -> bool:
        _close(fds)
        with self.lock:
            self.dropped += 1
        return False

    def wait(self) -> None:
        """Until every adopted process is gone."""
        while True:
            with self.lock:
                alive = [t for t in self.threads if t.is_alive()]
            if not alive:
                return
            for thread in alive:
                thread.join()


def own_prefix() -> List[str]:
    """This sidecar's command line up to its own arguments (``exe -S -I -c
    CODE package_root``)."""
    try:
        with open("/proc/self/cmdline", "rb") as f:
            parts = [p.decode("utf-8", "surrogateescape") for p in f.read().split(b"\0")]
        at = parts.index("-c")
        return parts[: at + 3]
    except (OSError, ValueError):
        return []


def main(argv: List[str]) -> None:
    """``dump poke ack door`` descriptors, the ten :data:`ARGS`, then
    ``[adopt [listener]]`` (the adoption socket and a listening socket
    handed over with the process; -1: none)."""
    fds = [int(a) for a in argv[:4]]
    args = list(argv[4 : 4 + ARGS])
    while len(args) < ARGS:  # older callers: no file pid, no fatal path
        args.append("0" if len(args) == FILE_PID else "-")
    rest = argv[4 + ARGS :]
    adopt = int(rest[0]) if rest else -1
    listener = int(rest[1]) if len(rest) > 1 else -1
    for fd in [*fds, adopt, listener]:
        if fd >= 0:  # passed to us (inheritable): never into a sidecar handed another process
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass
    tree = Tree(own_prefix())
    if adopt >= 0:
        if tree.prefix:
            threading.Thread(target=tree.adopt_from, args=(adopt,), daemon=True).start()
        else:
            _close([adopt])
    tree.run(fds, args, listener)
    tree.wait()

"""The request channel: ``gurumeditation list`` and ``report`` ask here, no signal needed.

Every armed process listens on an abstract-namespace Unix stream socket of
its own, ``\\0gurumeditation/<pid>/<nonce>`` (``nonce``: 16 random bytes in
hex).  There is no file: the command finds the channels in
``/proc/net/unix``, and the kernel checks both ends:

* the process (and its sidecar) reads the asker's ``SO_PEERCRED`` and
  answers only its own user or root, else closes the connection;
* the asker reads the listener's ``SO_PEERCRED``: the pid and uid of the
  process that called ``listen()`` — always the service itself, even when its
  sidecar accepts on the inherited descriptor — so a squatter that bound a
  name with another process's pid in it is recognised and refused.

Protocol (version 1).  The asker sends one JSON line (at most
:data:`MAX_REQUEST` bytes): ``{"op": "info"}`` or ``{"op": "report",
"format": "text"|"json"|"html"}``.  The answer is one JSON line (at most
:data:`MAX_HEADER` bytes) — ``{"ok": true, "op": ..., "pid": ...,
"startTicks": ..., "size": N, ...}`` or ``{"ok": false, "error": "..."}`` —
followed by exactly ``size`` bytes of report.  Then the connection closes.

Who answers: a real OS thread of ours (:class:`Channel`), so a main thread
stuck in native code does not matter; the report is made through the gate
like any other, with a sink that writes to the connection.  When a sidecar
runs (see :mod:`~gurumeditation.triggers.native_dump`) it holds the
listening socket and is the front door: it accepts, checks the asker, reads
the request and passes the connection over a private ``SOCK_SEQPACKET``
socket pair (the *door*) with ``SCM_RIGHTS``.  This thread claims it
(``T<seq>``) and writes only once the sidecar confirms (``G<seq>``); a
connection not claimed within the sidecar's hand-off time (the interpreter
is frozen) is answered by the sidecar itself with faulthandler's dump of
every thread (``N<seq>`` to a late claim).  Door messages, service to
sidecar: ``L<info json>`` + the listening socket, ``T<seq>``, ``X`` (stop
listening); sidecar to service: ``C<seq>\\n<request>`` + the connection,
``G<seq>``, ``N<seq>``.

Everything here uses the C-level ``_socket`` module and the unpatched
primitives: under eventlet or gevent monkey patching the ``socket`` module
is green and would wait on a hub nothing runs in this thread.
"""

from __future__ import annotations

import _socket
import array
import json
import os
import struct
from typing import Any, Callable, Dict, List, Optional, Tuple

from .. import early as _early
from .. import unpatched

PREFIX = _early.CHANNEL_PREFIX
#: Bytes of a request line, of an answer's header line, of a door message.
MAX_REQUEST = 4096
MAX_HEADER = 64 * 1024
MAX_DOOR = 128 * 1024
#: How long an asker may take to send its request; how long a write of the
#: answer may block on an asker that does not read.
REQUEST_TIMEOUT = 2.0
SEND_TIMEOUT = 10.0
#: How long the thread waits for a report made by another thread (one in flight).
REPORT_WAIT = 60.0
OPS = ("info", "report")
#: options.FORMATS, written out: the sidecar reads requests too and must not
#: import the options (tests/test_options.py checks that they agree)
FORMATS = ("text", "json", "html")
SUFFIXES = {"text": "", "json": ".json", "html": ".html"}

Describe = Callable[[], Dict[str, Any]]
#: ``submit(sink, fmt)``: ask for a report through the gate, written by ``sink``.
Submit = Callable[[Any, str], None]

_CRED = struct.Struct("3i")


def peer_cred(sock: Any) -> Tuple[int, int, int]:
    """(pid, uid, gid) of the other end of a Unix socket, as the kernel saw it."""
    pid, uid, gid = _CRED.unpack(
        sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, _CRED.size)
    )
    return int(pid), int(uid), int(gid)


def may_ask(uid: int, owner: int) -> bool:
    """Only the process's user and root may ask."""
    return uid == 0 or uid == owner


def parse_request(line: bytes) -> Tuple[Optional[Dict[str, str]], str]:
    """A request line: (request, "") or (None, what is wrong with it)."""
    try:
        request = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, "not a JSON line"
    if not isinstance(request, dict):
        return None, "not a JSON object"
    op = request.get("op")
    if op not in OPS:
        return None, f"op must be one of {', '.join(OPS)}"
    fmt = request.get("format", "text")
    if op == "report" and fmt not in FORMATS:
        return None, f"format must be one of {', '.join(FORMATS)}"
    return {"op": str(op), "format": str(fmt)}, ""


def header_line(fields: Dict[str, Any]) -> bytes:
    return json.dumps(fields, ensure_ascii=True, default=str).encode("ascii") + b"\n"


def send_fds(sock: Any, message: bytes, fds: List[int]) -> None:
    ancillary = []
    if fds:
        ancillary = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
    sock.sendmsg([message], ancillary)


def recv_fds(sock: Any) -> Tuple[bytes, List[int]]:
    """One door message and the descriptors that came with it (``b""``: end of file)."""
    size = array.array("i").itemsize
    message, ancillary, _flags, _addr = sock.recvmsg(MAX_DOOR, _socket.CMSG_SPACE(4 * size))
    fds: List[int] = []
    for level, kind, data in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            got = array.array("i")
            got.frombytes(data[: len(data) - len(data) % size])
            fds.extend(got)
    return bytes(message), fds


def _close_fd(fd: Optional[int]) -> None:
    if fd is not None and fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass


class ChannelSink:
    """Takes the rendered report for the asker's connection.  It only keeps
    it: the channel's own thread writes it out, so a thread of the service
    that made the report (one in flight picks ours up) never waits on an
    asker that does not read."""

    #: Only keeps the body: waits on nobody (see :func:`...pipeline.run`).
    prompt = True

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.description = "the gurumeditation channel"
        self.body: Optional[bytes] = None
        self.done = unpatched.get().allocate_lock()
        self.done.acquire()

    def write(self, contents: Dict[str, str]) -> List[str]:
        if self.body is not None:
            return []
        text = contents.get(SUFFIXES[self.fmt])
        if text is None:
            text = next(iter(contents.values()), "")
        self.body = text.encode("utf-8", "replace")
        self.done.release()
        return [self.description]


class Channel:
    """This process's channel and the real thread that answers it."""

    def __init__(self, describe: Describe, submit: Submit) -> None:
        self.describe = describe
        self.submit = submit
        self.pid = 0
        self.uid = -1
        self.name = ""
        self.sock: Any = None
        self.door: Any = None
        self._next_door: Optional[int] = None
        self._stop_door = False
        self._wake_r = self._wake_w = -1
        self._backlog: List[Tuple[bytes, List[int]]] = []
        self.closed = False
        self.ident = 0
        self.answered = 0

    # -- set-up (any thread) ------------------------------------------------
    def start(self) -> str:
        """Listen and start the answering thread; returns the socket's name.
        Raises ``OSError`` when the socket cannot be made."""
        self._listen()
        if self._wake_r < 0:
            self._wake_r, self._wake_w = os.pipe()
            os.set_blocking(self._wake_w, False)
        self.closed = False
        # the sidecar gets the listening socket before setup returns (a
        # process stopped right after arming is still answered by it)
        self._take_next_door()
        self.ident = unpatched.real_thread(self._run)
        return self.name

    def _listen(self) -> None:
        early = _early.take_listener()  # listening since setup_autorun returned
        uid = os.geteuid()
        if early is not None and early[2] != uid:
            early[0].close()  # made before a uid change: listen anew under the new uid
            early = None
        if early is not None:
            sock, name, uid = early
        else:
            sock, name = _early.channel_socket()
        old, self.sock = self.sock, sock
        self.pid, self.uid, self.name = os.getpid(), uid, name
        if old is not None:
            old.close()

    def attach_door(self, fd: int) -> None:
        """The door to a (new) sidecar: the thread hands it the listening socket."""
        _close_fd(self._next_door)
        self._next_door = fd
        self._wake()

    def refresh(self) -> None:
        """The settings changed: tell the sidecar (it answers info when frozen)."""
        self._wake()

    def _wake(self) -> None:
        if self._wake_w >= 0:
            try:
                unpatched.get().write(self._wake_w, b"w")
            except OSError:
                pass

    def close(self) -> None:
        """Stop answering (this process is no service: the CLI itself)."""
        self.closed = True
        self._stop_door = True
        self._wake()

    def after_fork_in_child(self) -> None:
        """A forked child answers under its own pid: the parent's socket and
        door are closed here (the parent keeps them), a new socket is made."""
        if self.pid == os.getpid():
            return
        for sock in (self.sock, self.door):
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass
        self.sock = self.door = None
        for fd in (self._wake_r, self._wake_w):
            _close_fd(fd)
        self._wake_r = self._wake_w = -1
        for _message, fds in self._backlog:
            for fd in fds:
                _close_fd(fd)
        self._backlog = []
        if not self.closed:
            self.start()

    # -- the thread ---------------------------------------------------------
    def _run(self) -> None:
        prims = unpatched.get()
        while not self.closed or self._stop_door:
            self._take_next_door()
            if self._stop_door:
                self._stop_door = False
                self._send_door(b"X", [])
            if self.closed:
                break
            while self._backlog:
                self._on_door_message(*self._backlog.pop(0))
            watch = [self._wake_r]
            listening = self.door is None and self.sock is not None
            if self.door is not None:
                watch.append(self.door.fileno())
            elif listening:
                watch.append(self.sock.fileno())
            try:
                ready = prims.select(watch, [], [], None)[0]
            except InterruptedError:
                continue
            except (OSError, ValueError):
                return
            if self._wake_r in ready:
                try:
                    prims.read(self._wake_r, 4096)
                except OSError:
                    pass
                continue
            if self.door is not None and self.door.fileno() in ready:
                try:
                    message, fds = recv_fds(self.door)
                except OSError:
                    message, fds = b"", []
                if not message and not fds:
                    self._drop_door()  # the sidecar is gone: accept ourselves
                    continue
                self._on_door_message(message, fds)
            elif listening and self.sock.fileno() in ready:
                try:
                    fd, _addr = self.sock._accept()
                except OSError:
                    continue
                self._serve(_socket.socket(fileno=fd), None)
        self._drop_door()
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _take_next_door(self) -> None:
        fd, self._next_door = self._next_door, None
        if fd is None:
            return
        self._drop_door()
        try:
            self.door = _socket.socket(fileno=fd)
        except OSError:
            _close_fd(fd)
            return
        self._send_listen()

    def _drop_door(self) -> None:
        door, self.door = self.door, None
        if door is not None:
            try:
                door.close()
            except OSError:
                pass

    def _send_door(self, message: bytes, fds: List[int]) -> bool:
        if self.door is None:
            return False
        try:
            self.door.settimeout(SEND_TIMEOUT)
            send_fds(self.door, message, fds)
            return True
        except OSError:
            self._drop_door()
            return False
        finally:
            if self.door is not None:
                self.door.settimeout(None)

    def _facts(self) -> Dict[str, Any]:
        from ..discovery import start_ticks

        return {"pid": os.getpid(), "startTicks": start_ticks(os.getpid()), "protocol": 1}

    def _info(self) -> Dict[str, Any]:
        try:
            info = dict(self.describe())
        except Exception as exc:
            info = {"error": f"cannot describe the process: {type(exc).__name__}"}
        info.update(self._facts())
        info["channel"] = "@" + self.name
        return info

    def _send_listen(self) -> None:
        if self.sock is None:
            return
        info = json.dumps(self._info(), ensure_ascii=True, default=str).encode("ascii")
        self._send_door(b"L" + info[: MAX_DOOR - 1], [self.sock.fileno()])

    def _on_door_message(self, message: bytes, fds: List[int]) -> None:
        if message[:1] != b"C" or len(fds) != 1:
            for fd in fds:
                _close_fd(fd)
            return
        seq, _, request = message[1:].partition(b"\n")
        conn = _socket.socket(fileno=fds[0])
        if not self._claim(seq):
            conn.close()
            return
        self._serve(conn, request)

    def _claim(self, seq: bytes) -> bool:
        """Ask the sidecar for the connection; ``True`` when it is ours to answer."""
        if not self._send_door(b"T" + seq, []):
            return False
        door = self.door
        if door is None:
            return False
        try:
            door.settimeout(REQUEST_TIMEOUT)
            while True:
                message, fds = recv_fds(door)
                if not message and not fds:
                    self._drop_door()
                    return False
                if message[:1] in (b"G", b"N") and message[1:] == seq:
                    return message[:1] == b"G"
                self._backlog.append((message, fds))
        except OSError:
            return False
        finally:
            if self.door is not None:
                self.door.settimeout(None)

    def _serve(self, conn: Any, request_line: Optional[bytes]) -> None:
        try:
            conn.settimeout(REQUEST_TIMEOUT)
            _pid, uid, _gid = peer_cred(conn)
            if not may_ask(uid, os.geteuid()):
                return  # the kernel says who asks: not our user, not root
            if request_line is None:
                request_line = self._read_request(conn)
                if request_line is None:
                    return
            request, problem = parse_request(request_line)
            conn.settimeout(SEND_TIMEOUT)
            if request is None:
                conn.sendall(
                    header_line(dict(self._facts(), ok=False, error=f"bad request: {problem}"))
                )
                return
            if os.geteuid() != self.uid:
                self._relisten()
                conn.sendall(
                    header_line(
                        dict(
                            self._facts(),
                            ok=False,
                            relisten=True,
                            error=f"the process changed uid to {os.geteuid()}: "
                            "it listens anew, ask again",
                        )
                    )
                )
                return
            self.answered += 1
            if request["op"] == "info":
                conn.sendall(header_line(dict(self._info(), ok=True, op="info", size=0)))
                return
            self._report(conn, request["format"])
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _read_request(self, conn: Any) -> Optional[bytes]:
        data = b""
        while b"\n" not in data and len(data) < MAX_REQUEST:
            more = conn.recv(MAX_REQUEST - len(data))
            if not more:
                break
            data += more
        if b"\n" not in data:
            return None
        return data.split(b"\n", 1)[0]

    def _report(self, conn: Any, fmt: str) -> None:
        facts = dict(self._facts(), answeredBy="service")
        try:
            facts["signal"] = self.describe().get("signalState")
        except Exception:
            pass
        sink = ChannelSink(fmt)
        self.submit(sink, fmt)
        # a report in flight in another thread makes ours when it is done
        if not sink.done.acquire(True, REPORT_WAIT) or sink.body is None:
            conn.sendall(header_line(dict(facts, ok=False, error="no report within 60 s (busy)")))
            return
        body = sink.body
        fields = dict(facts, ok=True, op="report", format=fmt, size=len(body))
        conn.sendall(header_line(fields) + body)

    def _relisten(self) -> None:
        """After a uid change: a socket whose credentials name the new uid."""
        try:
            self._listen()
        except OSError:
            return
        self._send_listen()


#: This process's channel (``None`` until armed with ``discoverable``).
CHANNEL: Optional[Channel] = None
#: A door handed over before the channel exists (the sidecar starts first).
_early_door: List[int] = []


def attach_door(fd: int) -> None:
    """Called by the native dump with the service's end of the door to its sidecar."""
    channel = CHANNEL
    if channel is None:
        for old in _early_door:
            _close_fd(old)
        _early_door[:] = [fd]
    else:
        channel.attach_door(fd)


def take_early_door() -> Optional[int]:
    return _early_door.pop() if _early_door else None

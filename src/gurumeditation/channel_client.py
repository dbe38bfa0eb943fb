"""The command's end of the request channel (see :mod:`gurumeditation.triggers.channel`).

Nothing the asked process sends is trusted: the kernel's ``SO_PEERCRED``
names the listener (pid and uid must be those of the process asked for, and
its start time unchanged), the answer is bounded in size (header line
:data:`~gurumeditation.triggers.channel.MAX_HEADER`, body :data:`MAX_BODY`)
and in time (one deadline for connect, request and answer: a peer that never
accepts, stalls or streams forever costs ``timeout`` seconds, no more).
"""

from __future__ import annotations

import json
import select
import socket
import time
from typing import Any, Dict, List, Optional, Tuple

from . import discovery
from .triggers.channel import MAX_HEADER, peer_cred

#: The largest report the command accepts.
MAX_BODY = 64 << 20


class ChannelError(Exception):
    """What went wrong, and the exit code ``gurumeditation report`` gives it."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


# exit codes (the CLI's)
NO_PROCESS, NOT_ENABLED, PERMISSION, TIMEOUT, FAILED = 3, 4, 5, 6, 1


class Squatter(ChannelError):
    pass


class UidChanged(ChannelError):
    pass


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise ChannelError("", TIMEOUT)
    return left


def connect(pid: int, name: str, deadline: float) -> socket.socket:
    """A connection to channel ``name`` whose listener the kernel says is ``pid``."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(_remaining(deadline))
        try:
            sock.connect(b"\0" + name.encode("ascii"))
        except socket.timeout:
            raise ChannelError("", TIMEOUT) from None
        except OSError as exc:
            raise ChannelError(f"cannot connect to @{name}: {exc.strerror}", NOT_ENABLED) from None
        peer_pid, peer_uid, _gid = peer_cred(sock)
        if peer_pid != pid:
            raise Squatter(
                f"channel @{name} is held by pid {peer_pid} (uid {peer_uid}), not by process "
                f"{pid}: a squatted name, refused",
                NOT_ENABLED,
            )
        owner = discovery.process_owner(pid)
        if owner is not None and owner != peer_uid:
            raise UidChanged(
                f"process {pid} listened as uid {peer_uid} and now runs as uid {owner}",
                NOT_ENABLED,
            )
        return sock
    except BaseException:
        sock.close()
        raise


def _recv_until(sock: socket.socket, deadline: float, want: int, buf: bytearray) -> bool:
    """Read into ``buf`` until it holds ``want`` bytes; ``False`` at end of file."""
    while len(buf) < want:
        ready, _, _ = select.select([sock], [], [], _remaining(deadline))
        if not ready:
            continue
        more = sock.recv(min(1 << 20, want - len(buf)))
        if not more:
            return False
        buf += more
    return True


def exchange(
    pid: int, name: str, request: Dict[str, str], deadline: float
) -> Tuple[Dict[str, Any], bytes]:
    """Send ``request`` over channel ``name`` of ``pid``; (header, body)."""
    ticks = discovery.start_ticks(pid)
    sock = connect(pid, name, deadline)
    try:
        sock.settimeout(_remaining(deadline))
        try:
            sock.sendall(json.dumps(request).encode("ascii") + b"\n")
        except socket.timeout:
            raise ChannelError("", TIMEOUT) from None
        except OSError:
            pass  # refused: the end of file below tells
        sock.setblocking(False)
        buf = bytearray()
        while b"\n" not in buf:
            if len(buf) > MAX_HEADER:
                raise ChannelError(
                    f"process {pid} sent an answer header over {MAX_HEADER} bytes", FAILED
                )
            ready, _, _ = select.select([sock], [], [], _remaining(deadline))
            if not ready:
                continue
            try:
                more = sock.recv(MAX_HEADER + 1 - len(buf))
            except ConnectionResetError:
                more = b""
            if not more:
                if _dies(pid, ticks, deadline):  # not a refusal: it died first
                    raise ChannelError(f"no such process: {pid} exited while answering", NO_PROCESS)
                raise ChannelError("", PERMISSION if not buf else FAILED)
            buf += more
        line, _, rest = bytes(buf).partition(b"\n")
        try:
            header = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ChannelError(f"process {pid} sent an answer that is not JSON", FAILED) from None
        if not isinstance(header, dict):
            raise ChannelError(f"process {pid} sent an answer that is not a JSON object", FAILED)
        if header.get("pid") != pid or (ticks and header.get("startTicks") not in (None, ticks)):
            raise ChannelError(f"the answer on @{name} is not from process {pid}", FAILED)
        size = header.get("size", 0)
        if not isinstance(size, int) or size < 0 or size > MAX_BODY:
            raise ChannelError(
                f"process {pid} announced a report of {size!r} bytes: refused", FAILED
            )
        body = bytearray(rest[:size])
        if not _recv_until(sock, deadline, size, body):
            raise ChannelError(
                f"process {pid} closed the channel in the middle of its answer", FAILED
            )
        if not _same_process(pid, ticks):
            raise ChannelError(f"no such process: {pid} exited while answering", NO_PROCESS)
        return header, bytes(body)
    finally:
        sock.close()


def _same_process(pid: int, ticks: Optional[int]) -> bool:
    """``pid`` is still the process we asked: same start time, not a zombie."""
    return discovery.start_ticks(pid) == ticks and discovery.process_state(pid) not in ("Z", "X")


#: How long an end of file with no answer may be the process dying (its
#: descriptors close a moment before it is a zombie), not a refusal.
DYING = 0.3


def _dies(pid: int, ticks: Optional[int], deadline: float) -> bool:
    """``pid`` closed on us without a word: whether it is ending."""
    until = min(deadline, time.monotonic() + DYING)
    while _same_process(pid, ticks):
        if time.monotonic() >= until:
            return False
        time.sleep(0.01)
    return True


def channels_of(pid: int) -> List[str]:
    return [name for p, name in discovery.scan() if p == pid]


def ask(
    pid: int, request: Dict[str, str], deadline: float, problems: Optional[List[str]] = None
) -> Tuple[Dict[str, Any], bytes]:
    """Ask process ``pid`` over its genuine channel; squatted names are
    refused (and told in ``problems``).  A process that changed uid since it
    listened is poked once to listen anew."""
    problems = problems if problems is not None else []
    for attempt in range(2):
        names = channels_of(pid)
        relisten = False
        for name in names:
            try:
                header, body = exchange(pid, name, request, deadline)
            except Squatter as exc:
                problems.append(str(exc))
                continue
            except UidChanged as exc:
                if attempt == 0:
                    _poke(pid, name, deadline)
                    relisten = True
                    continue
                problems.append(str(exc))
                continue
            if header.get("relisten") and attempt == 0:
                relisten = True
                continue
            return header, body
        if not relisten:
            break
        time.sleep(0.05)
    detail = "; ".join(problems)
    raise ChannelError(
        f"not enabled: process {pid} has no gurumeditation channel (it has not armed "
        "gurumeditation: setup_autorun(), GURUMEDITATION=1 or 'gurumeditation run'; or "
        "armed it with discoverable=False)" + (f" [{detail}]" if detail else ""),
        NOT_ENABLED,
    )


def _poke(pid: int, name: str, deadline: float) -> None:
    """Have a process that changed uid listen under its new uid: it does
    so on any request (its credentials are not checked by us here: the
    pid is the kernel's word, only the uid is out of date)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(min(2.0, _remaining(deadline)))
        sock.connect(b"\0" + name.encode("ascii"))
        if peer_cred(sock)[0] != pid:
            return
        sock.sendall(b'{"op": "info"}\n')
        sock.recv(MAX_HEADER)
    except (OSError, ChannelError):
        pass
    finally:
        sock.close()

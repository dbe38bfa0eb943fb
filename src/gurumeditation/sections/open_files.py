"""Open Files: every open file descriptor of this process.

Read from ``/proc/self/fd`` (psutil's ``open_files()``/``net_connections()``
when there is no ``/proc`` and the process loaded psutil).  A listed
socket's protocol, state and addresses are asked of the socket itself, on a
duplicate of its descriptor (``getsockname``, ``getpeername``, ``SO_ACCEPTCONN``,
``TCP_INFO``: a few system calls per socket, and the application's descriptor
is never wrapped or closed).  When that is not possible (a default socket
timeout is set, which would make the wrapper switch the shared file
description to non-blocking; or the duplicate fails), the socket is matched
by inode against ``/proc/net/{tcp,tcp6,udp,udp6,unix}`` instead — correct
but slower: the kernel walks its whole connection hash table for each file
(~2 ms for tcp and again for tcp6 here).  Addresses are numeric only:
nothing here ever asks a resolver (no DNS, no NSS), so a report cannot hang
on one.

Redaction: the section redacts what it shows itself (``redacted=True``):
kinds, protocols, states and numeric addresses are this module's own
vocabulary; a path (a file's, a unix socket's) is passed through the
redactor when it contains ``=`` or ``@``, the marks of a ``key=value`` pair
or of URL credentials.  A path is not searched for bare token formats: at
~30 µs a string, searching 200 paths would cost more than the section's
whole budget.

The count by kind covers every descriptor; the list stops after
``Context.max_fds`` entries (lowest numbers first) and says how many more
there were.

Data: :class:`~gurumeditation.model.OpenFilesData`.
"""

from __future__ import annotations

import _socket
import os
import socket
import stat
import sys
from collections import Counter
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple, cast

from .. import unpatched
from ..model import OpenFile, OpenFilesData
from ..report import Context, SectionSpec

PROC = "/proc"
DEFAULT_MAX_FDS = 200

_TCP_STATES = {
    "01": "ESTABLISHED",
    "02": "SYN_SENT",
    "03": "SYN_RECV",
    "04": "FIN_WAIT1",
    "05": "FIN_WAIT2",
    "06": "TIME_WAIT",
    "07": "CLOSE",
    "08": "CLOSE_WAIT",
    "09": "LAST_ACK",
    "0A": "LISTEN",
    "0B": "CLOSING",
    "0C": "NEW_SYN_RECV",
}
# A UDP socket uses the TCP codes; "CLOSE" there means bound, not connected.
_UDP_STATES = dict(_TCP_STATES, **{"07": "UNCONN"})
_UNIX_STATES = {"01": "UNCONNECTED", "02": "CONNECTING", "03": "CONNECTED", "04": "DISCONNECTING"}
_UNIX_TYPES = {"0001": "stream", "0002": "dgram", "0005": "seqpacket"}
_UNIX_ACCEPTING = 0x10000  # __SO_ACCEPTCON: a listening unix socket

_ANON_KINDS = {
    "[eventfd]": "eventfd",
    "[eventpoll]": "epoll",
    "inotify": "inotify",
    "[signalfd]": "signalfd",
    "[timerfd]": "timerfd",
    "[pidfd]": "pidfd",
    "[io_uring]": "io_uring",
    "[fanotify]": "fanotify",
}
_NAMESPACES = ("net:", "mnt:", "pid:", "uts:", "ipc:", "user:", "cgroup:", "time:")


#: Kind by the text before the first ":" of a link that is not a path.
_PREFIX_KINDS = {"socket": "socket", "pipe": "pipe"}
_PREFIX_KINDS.update((ns.rstrip(":"), "namespace") for ns in _NAMESPACES)


def classify(target: str) -> str:
    """The kind of descriptor from its ``/proc/self/fd`` link text (a path
    under ``/dev`` is refined to a device kind by the caller)."""
    if target[:1] == "/":
        return "memfd" if target.startswith("/memfd:") else "file"
    prefix, sep, rest = target.partition(":")
    if not sep:
        return "unknown"
    if prefix == "anon_inode":
        return _ANON_KINDS.get(rest, "anon")
    return _PREFIX_KINDS.get(prefix, "unknown")


def _inode(target: str) -> Optional[int]:
    start = target.find("[")
    end = target.find("]", start)
    if start < 0 or end < 0:
        return None
    try:
        return int(target[start + 1 : end])
    except ValueError:
        return None


def _device_kind(path: str) -> str:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "file"
    if stat.S_ISCHR(mode):
        return "char device"
    if stat.S_ISBLK(mode):
        return "block device"
    return "file"


# -- sockets -------------------------------------------------------------------


def _ipv4(hex_addr: str) -> str:
    # the kernel prints the 32-bit address in host byte order
    raw = bytes.fromhex(hex_addr)
    if sys.byteorder == "little":
        raw = raw[::-1]
    return socket.inet_ntop(socket.AF_INET, raw)


def _ipv6(hex_addr: str) -> str:
    raw = bytes.fromhex(hex_addr)
    if sys.byteorder == "little":
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, raw)


def _endpoint(text: str, v6: bool) -> str:
    """``0100007F:1F90`` → ``127.0.0.1:8080``; numeric, never resolved."""
    hex_addr, _, hex_port = text.partition(":")
    port = int(hex_port, 16)
    if v6:
        return f"[{_ipv6(hex_addr)}]:{port}"
    return f"{_ipv4(hex_addr)}:{port}"


def _net_rows(
    table: str,
    inode_field: int,
    wanted: Set[int],
    found: Dict[int, Dict[str, Any]],
    notes: List[str],
    maxsplit: int = -1,
) -> Iterator[Tuple[int, List[str]]]:
    """(inode, fields) of each row of ``/proc/net/<table>`` whose socket is
    wanted and not found yet; an unreadable table is noted."""
    try:
        with open(f"{PROC}/net/{table}", "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()[1:]
    except OSError as exc:
        notes.append(f"/proc/net/{table} unreadable: {type(exc).__name__}: {exc}")
        return
    for line in lines:
        parts = line.split(None, maxsplit)
        if len(parts) <= inode_field:
            continue
        try:
            inode = int(parts[inode_field])
        except ValueError:
            continue
        if inode in wanted and inode not in found:
            yield inode, parts


def _inet_sockets(
    proto: str, wanted: Set[int], found: Dict[int, Dict[str, Any]], notes: List[str]
) -> None:
    v6 = proto.endswith("6")
    states = _TCP_STATES if proto.startswith("tcp") else _UDP_STATES
    for inode, parts in _net_rows(proto, 9, wanted, found, notes):
        state = states.get(parts[3], parts[3])
        try:
            local: Optional[str] = _endpoint(parts[1], v6)
            peer: Optional[str] = _endpoint(parts[2], v6)
        except (ValueError, OSError):
            local = peer = None
        if state in ("LISTEN", "UNCONN"):
            peer = None
        found[inode] = {"protocol": proto, "state": state, "local": local, "peer": peer}


def _unix_sockets(wanted: Set[int], found: Dict[int, Dict[str, Any]], notes: List[str]) -> None:
    for inode, parts in _net_rows("unix", 6, wanted, found, notes, maxsplit=7):
        try:
            flags = int(parts[3], 16)
        except ValueError:
            flags = 0
        state = "LISTEN" if flags & _UNIX_ACCEPTING else _UNIX_STATES.get(parts[5], parts[5])
        kind = _UNIX_TYPES.get(parts[4])
        found[inode] = {
            "protocol": "unix" if kind in (None, "stream") else f"unix-{kind}",
            "state": state,
            "local": parts[7] if len(parts) > 7 else None,
            "peer": None,
        }


_SOCK_TYPES = {_socket.SOCK_STREAM: "", _socket.SOCK_DGRAM: "-dgram"}
_SEQPACKET = getattr(_socket, "SOCK_SEQPACKET", None)
_TCP_INFO = getattr(_socket, "TCP_INFO", 11)
_SOL_TCP = getattr(_socket, "SOL_TCP", 6)
_AF_INET6 = getattr(_socket, "AF_INET6", None)
_AF_UNIX = getattr(_socket, "AF_UNIX", None)


def _address(family: int, addr: Any) -> Optional[str]:
    if family == _socket.AF_INET:
        return f"{addr[0]}:{addr[1]}"
    if family == _AF_INET6:
        return f"[{addr[0]}]:{addr[1]}"
    if family == _AF_UNIX:
        if isinstance(addr, bytes):  # abstract namespace
            return "@" + addr[1:].decode("utf-8", "replace") if addr[:1] == b"\0" else None
        return str(addr) or None
    return None


def _protocol_and_state(sock: Any, family: int, kind: int, peer: Any) -> Tuple[str, Optional[str]]:
    """(protocol, state) of an open socket, asked of the socket itself."""
    inet = family in (_socket.AF_INET, _AF_INET6)
    suffix = "6" if family == _AF_INET6 else ""
    if inet and kind == _socket.SOCK_STREAM:
        code = sock.getsockopt(_SOL_TCP, _TCP_INFO, 1)[0]
        return "tcp" + suffix, _TCP_STATES.get(f"{code:02X}", str(code))
    if inet and kind == _socket.SOCK_DGRAM:
        return "udp" + suffix, "ESTABLISHED" if peer is not None else "UNCONN"
    if family == _AF_UNIX:
        protocol = "unix" + (
            "-seqpacket" if kind == _SEQPACKET else _SOCK_TYPES.get(kind, f"-{kind}")
        )
        if sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ACCEPTCONN):
            return protocol, "LISTEN"
        return protocol, "CONNECTED" if peer is not None else "UNCONNECTED"
    return f"family {int(family)}", None


def probe_socket(fd: int) -> Optional[Dict[str, Any]]:
    """Protocol, state and addresses asked of the socket behind ``fd``, via a
    duplicate descriptor (closing it leaves the application's open); ``None``
    when it cannot be asked."""
    try:
        dup = os.dup(fd)
    except OSError:
        return None
    try:
        sock = _socket.socket(fileno=dup)
    except OSError:
        os.close(dup)
        return None
    try:
        family, kind = sock.family, sock.type
        try:
            local: Any = sock.getsockname()
        except OSError:
            local = None
        try:
            peer: Any = sock.getpeername()
        except OSError:
            peer = None
        protocol, state = _protocol_and_state(sock, family, kind, peer)
        if state in ("LISTEN", "UNCONN"):
            peer = None
        return {
            "protocol": protocol,
            "state": state,
            "local": None if local is None else _address(family, local),
            "peer": None if peer is None else _address(family, peer),
        }
    except OSError:
        return None
    finally:
        sock.close()


def socket_details(inodes: Set[int], notes: List[str]) -> Dict[int, Dict[str, Any]]:
    """Protocol, state and addresses of the sockets with these inodes, from
    the kernel's socket tables."""
    found: Dict[int, Dict[str, Any]] = {}
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        if len(found) == len(inodes):
            return found
        _inet_sockets(proto, inodes, found, notes)
    if len(found) < len(inodes):
        _unix_sockets(inodes, found, notes)
    return found


# -- collectors ------------------------------------------------------------------


def _by_kind(kinds: List[str]) -> Dict[str, int]:
    counts = Counter(kinds)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def read_fds(fd_dir: str) -> List[Tuple[int, str]]:
    """(fd, link text) of every open descriptor, by number.  The descriptor
    ``listdir`` itself used is gone by the time its link is read, and so are
    descriptors closed meanwhile: both are skipped.  (Bytes names and links:
    ~20% cheaper than letting ``os`` encode and decode each one.)"""
    names = os.listdir(os.fsencode(fd_dir))
    raw: List[Tuple[bytes, bytes]] = []
    append = raw.append
    readlink = os.readlink
    dir_fd = unpatched.get().open(fd_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in names:
            try:
                append((name, readlink(name, dir_fd=dir_fd)))
            except FileNotFoundError:
                continue  # closed meanwhile
            except OSError:
                append((name, b""))  # open, but hidden from us: kind "unknown"
    finally:
        os.close(dir_fd)
    links: List[Tuple[int, str]] = []
    for name, target in raw:
        try:
            fd = int(name)
        except ValueError:
            continue
        if fd != dir_fd:
            links.append((fd, target.decode("utf-8", "surrogateescape")))
    links.sort()
    return links


def nothing_listed(note: str) -> OpenFilesData:
    """The section when no descriptor can be listed, saying why."""
    return {"total": 0, "by_kind": {}, "fds": [], "more": 0, "notes": [note]}


def describe(fd: int) -> Optional[OpenFile]:
    """One descriptor as Open Files lists it (kind, target; a socket's
    protocol, state and addresses); ``None`` when it is not open.  Used for a
    thread blocked in a system call on it (:mod:`..why.procfs`)."""
    fd_dir = f"{PROC}/self/fd"
    try:
        target = os.readlink(f"{fd_dir}/{fd}")
    except FileNotFoundError:
        return None
    except OSError:
        target = ""
    kind = classify(target)
    if target.startswith("/dev/") and kind == "file":
        kind = _device_kind(f"{fd_dir}/{fd}")
    entry: Dict[str, Any] = {"fd": fd, "kind": kind, "target": target}
    if kind == "socket":
        details = probe_socket(fd) if _socket.getdefaulttimeout() is None else None
        if details is None:
            inode = _inode(target)
            details = socket_details({inode}, []).get(inode) if inode is not None else None
        if details is not None:
            entry.update(details)
    elif kind == "file" and target.endswith(" (deleted)"):
        entry["deleted"] = True
    return cast(OpenFile, entry)


def collect_proc(limit: int) -> OpenFilesData:
    notes: List[str] = []
    fd_dir = f"{PROC}/self/fd"
    try:
        links = read_fds(fd_dir)
    except OSError as exc:
        return nothing_listed(f"descriptors not listed: cannot read {fd_dir}: {exc}")
    kinds = [classify(target) for _, target in links]
    for i, (fd, target) in enumerate(links):
        if target.startswith("/dev/") and kinds[i] == "file":
            kinds[i] = _device_kind(f"{fd_dir}/{fd}")
    hidden = kinds.count("unknown") and sum(1 for _, target in links if not target)
    if hidden:
        notes.append(f"{hidden} descriptors whose target could not be read (permission)")
    listed: List[Dict[str, Any]] = []
    socket_inodes = False
    for (fd, target), kind in zip(links[:limit], kinds[:limit]):
        entry: Dict[str, Any] = {"fd": fd, "kind": kind, "target": target}
        if kind == "socket":
            socket_inodes = True
        elif kind == "file" and target.endswith(" (deleted)"):
            entry["deleted"] = True
        listed.append(entry)
    if socket_inodes:
        # asking the socket itself is cheap, but wrapping a descriptor while a
        # default timeout is set would make the shared file non-blocking
        can_probe = _socket.getdefaulttimeout() is None
        pending: List[Dict[str, Any]] = []
        for entry in listed:
            if entry["kind"] == "socket":
                details = probe_socket(entry["fd"]) if can_probe else None
                if details is None:
                    pending.append(entry)
                else:
                    entry.update(details)
        if pending:
            wanted = {i for i in (_inode(e["target"]) for e in pending) if i is not None}
            found = socket_details(wanted, notes)
            for entry in pending:
                entry.update(
                    found.get(_inode(entry["target"]) or -1)
                    or {"protocol": None, "state": None, "local": None, "peer": None}
                )
    return {
        "total": len(links),
        "by_kind": _by_kind(kinds),
        "fds": cast("List[OpenFile]", listed),  # records built field by field
        "more": max(0, len(links) - len(listed)),
        "notes": notes,
    }


def _psutil_address(addr: Any) -> Optional[str]:
    if not addr:
        return None
    if isinstance(addr, str):
        return addr
    host = str(addr[0])
    return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"


def collect_psutil(limit: int) -> OpenFilesData:
    """No ``/proc``: regular files and inet/unix sockets from psutil (which
    lists no pipes or other descriptors)."""
    psutil = sys.modules.get("psutil")
    if psutil is None:
        return nothing_listed("no /proc and psutil is not loaded: descriptors unavailable")
    notes: List[str] = ["no /proc: only files and sockets psutil lists are shown"]
    entries: List[Dict[str, Any]] = []
    proc = psutil.Process(os.getpid())
    try:
        for f in proc.open_files():
            entries.append({"fd": int(f.fd), "kind": "file", "target": str(f.path)})
    except Exception as exc:
        notes.append(f"files not listed: {type(exc).__name__}: {exc}")
    try:
        lister = getattr(proc, "net_connections", None) or proc.connections
        conns = lister("all")
        for c in conns:
            family, kind = int(c.family), int(c.type)
            suffix = "6" if family == _AF_INET6 else ""
            if family == _AF_UNIX:
                protocol = "unix"
            elif kind == _socket.SOCK_STREAM:
                protocol = "tcp" + suffix
            else:
                protocol = "udp" + suffix
            entries.append(
                {
                    "fd": int(c.fd),
                    "kind": "socket",
                    "target": "socket",
                    "protocol": protocol,
                    "state": str(c.status) if c.status and c.status != "NONE" else None,
                    "local": _psutil_address(c.laddr),
                    "peer": _psutil_address(c.raddr),
                }
            )
    except Exception as exc:
        notes.append(f"sockets not listed: {type(exc).__name__}: {exc}")
    entries.sort(key=lambda e: e["fd"])
    return {
        "total": len(entries),
        "by_kind": _by_kind([e["kind"] for e in entries]),
        "fds": cast("List[OpenFile]", entries[:limit]),  # records built field by field
        "more": max(0, len(entries) - limit),
        "notes": notes,
    }


def redact_paths(ctx: Context, entries: List[OpenFile]) -> None:
    """Mask credentials in the paths an application chose (see the module
    documentation for what is searched)."""
    for entry in entries:
        record = cast("Dict[str, Any]", entry)
        keys = ("local", "peer") if entry["kind"] == "socket" else ("target",)
        for key in keys:
            text = record.get(key)
            if text and ("=" in text or "@" in text):
                record[key] = ctx.redactor.text(text)


def collect(ctx: Context) -> OpenFilesData:
    limit = getattr(ctx, "max_fds", DEFAULT_MAX_FDS)
    limit = DEFAULT_MAX_FDS if limit is None else max(0, int(limit))
    if os.path.isdir(f"{PROC}/self/fd"):
        data = collect_proc(limit)
    else:
        data = collect_psutil(limit)
    redact_paths(ctx, data["fds"])
    return data


SECTION = SectionSpec("open_files", "Open Files", collect, redacted=True)

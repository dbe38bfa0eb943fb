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
nothing of this package but :mod:`gurumeditation.sinks`.
"""

from __future__ import annotations

import os
import re
import select
import signal
import sys
import time
from typing import List, Optional, Set

#: Dumps kept per incident (a storm of signals may queue many).
MAX_DUMP = 256 * 1024
#: While frozen, at most one dump is written per this many seconds.
REPEAT_GAP = 5.0

WIDTH = 72


def banner(title: str) -> List[str]:
    return ["=" * WIDTH, "====" + title.center(WIDTH - 8) + "====", "=" * WIDTH]


def dump_text(
    dump: bytes,
    service: str,
    pid: int,
    signame: str,
    waited: float,
    truncated: bool,
    own: Optional[Set[int]] = None,
) -> str:
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"
    lines = banner("Guru Meditation")
    lines.append("|" * WIDTH)
    lines.append(f"Report of {service} (pid {pid}) at {stamp}")
    lines.append(
        f"Trigger: signal {signame}; written by the gurumeditation sidecar process {os.getpid()}"
    )
    lines.append(
        f"Note: the interpreter did not respond within {int(waited * 1000)} ms "
        "(a thread holds the GIL in native code?): below are the Python stacks of every "
        "thread as CPython's faulthandler dumped them at the signal. The full report "
        "follows if the interpreter comes back."
    )
    lines += ["", ""]
    lines += banner("Threads (native dump)")
    body, dropped = without_threads(dump.decode("utf-8", "replace"), own or set())
    text = "\n".join(lines) + "\n" + body.rstrip("\n") + "\n"
    if dropped:
        text += f"[{dropped} helper threads of gurumeditation left out]\n"
    if truncated:
        text += f"[dump truncated at {MAX_DUMP} bytes]\n"
    return text


def write_dump(text: str, dest: str, service: str, max_reports: int) -> None:
    from gurumeditation.sinks import LogDirSink, deliver, write_fd

    if dest == "-":
        write_fd(2, text.encode("utf-8", "replace"))
        return
    deliver(LogDirSink(dest, service, max_reports=max_reports), {"": text})


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
    own helper threads (left out of the dump)."""

    def __init__(self, fd: Optional[int]) -> None:
        self.fd = fd
        self.own: Set[int] = set()
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
            if buf[:1] == b"a":
                acked = True
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


def all_threads_dump(dump_fd: int, pid: int, dump_signal: int) -> bytes:
    """Ask the service for the dump of every thread and read it (until the
    pipe stays quiet for a moment)."""
    if not dump_signal:
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
) -> None:
    os.set_blocking(poke_fd, False)
    channel = AckChannel(ack_fd)
    last_written = -REPEAT_GAP
    while True:
        chunk = read_some(dump_fd)
        if not chunk:
            return  # the service is gone
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
            dump = all_threads_dump(dump_fd, pid, dump_signal) if not eof else b""
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
                write_dump(text, dest, service, max_reports)
            except Exception:
                pass
            last_written = time.monotonic()
        if eof:
            return


def main(argv: List[str]) -> None:
    """``dump_fd poke_fd ack_fd dest service pid signame ack_timeout
    max_reports dump_signal`` (``ack_fd`` -1: none; ``dest`` ``-``: standard
    error; ``dump_signal`` 0: none)."""
    for signum in (signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    # detach: the service's process tree does not hold us, nobody has to reap us
    if os.fork() > 0:
        os._exit(0)
    dump_fd, poke_fd, ack_fd = int(argv[0]), int(argv[1]), int(argv[2])
    try:
        serve(
            dump_fd,
            poke_fd,
            None if ack_fd < 0 else ack_fd,
            argv[3],
            argv[4],
            int(argv[5]),
            argv[6],
            float(argv[7]),
            int(argv[8]),
            int(argv[9]) if len(argv) > 9 else 0,
        )
    except BaseException:
        pass
    os._exit(0)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])

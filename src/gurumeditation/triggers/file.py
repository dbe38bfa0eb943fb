"""The file trigger: touching a file writes a report (oslo.reports'
``file_event_handler``).

A real OS thread watches the file — never a green thread, so a CPU-bound
greenthread cannot starve it — and asks for a report whenever the file's
modification time (or identity) changes: ``touch``, a write, or the file
appearing.  The file may be missing at start, and may be deleted and created
again later: the trigger keeps working.

On Linux the thread sleeps in ``read()`` on an inotify descriptor watching
the file's *directory* (through ``ctypes``: no polling, no dependency), so
a missing or re-created file is seen as well.  Elsewhere, or where inotify
cannot be used, it polls the file every ``interval`` seconds.

Rate limit: at most one report per ``interval`` seconds
(``file_event_handler_interval``, default 1 s), however often the file is
touched.  A touch within ``interval`` of the last report is not lost: one
report follows when the interval is over, for all the touches meanwhile.

The thread is a daemon ``threading.Thread`` when ``threading`` is the real
one (as oslo.reports' watcher is), and a thread started with the unpatched
``_thread`` primitives under eventlet or gevent monkey patching (a green
thread would starve behind a CPU-bound greenthread).
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
import threading
import time
from typing import Any, Callable, Optional, Tuple

from .. import unpatched

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_IGNORED = 0x00008000
IN_CLOEXEC = 0o2000000

WATCH_MASK = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
)
_EVENT = struct.Struct("iIII")

#: Events closer together than this make one touch (one report).
QUIET = 0.05
#: ... but a burst never delays the report by more than this.
MAX_SETTLE = 0.5

#: (inode, mtime in ns) of the file, or ``None`` when it does not exist.
Signature = Optional[Tuple[int, int]]


def signature(path: str) -> Signature:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns)


class Inotify:
    """The few libc calls we need, or ``None`` from :meth:`load`."""

    def __init__(self, libc: Any) -> None:
        self.libc = libc

    @classmethod
    def load(cls) -> Optional[Inotify]:
        if not sys.platform.startswith("linux"):
            return None
        try:
            # the symbols the interpreter is linked with (libc among them): no
            # library search, nothing looked up on disk
            libc = ctypes.CDLL(None, use_errno=True)
            libc.inotify_init1.argtypes = [ctypes.c_int]
            libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
            return cls(libc)
        except (OSError, AttributeError):
            return None

    def init(self) -> int:
        fd = int(self.libc.inotify_init1(IN_CLOEXEC))
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        return fd

    def add_watch(self, fd: int, directory: str) -> int:
        wd = int(self.libc.inotify_add_watch(fd, os.fsencode(directory), WATCH_MASK))
        if wd < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch failed", directory)
        return wd


def event_names(data: bytes) -> list[Tuple[int, bytes]]:
    """(mask, name) of every inotify event in ``data``."""
    events = []
    offset = 0
    while offset + _EVENT.size <= len(data):
        _wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
        offset += _EVENT.size
        name = data[offset : offset + length].rstrip(b"\0")
        offset += length
        events.append((mask, name))
    return events


def threading_is_green() -> bool:
    """Whether eventlet or gevent monkey patched ``threading`` (then a
    ``threading.Thread`` would be a green thread)."""
    patcher = sys.modules.get("eventlet.patcher")
    try:
        if patcher is not None and patcher.is_monkey_patched("thread"):
            return True
    except Exception:
        return True
    monkey = sys.modules.get("gevent.monkey")
    try:
        return bool(monkey is not None and monkey.is_module_patched("threading"))
    except Exception:
        return True


class FileTrigger:
    def __init__(self, path: str, on_touch: Callable[[str], None], interval: float = 1.0) -> None:
        self.path = os.path.abspath(path)
        self.on_touch = on_touch
        self.interval = max(float(interval or 1.0), 0.05)
        self.inotify = Inotify.load()
        self.fd: Optional[int] = None
        self.ident = 0
        self.stopped = False
        #: how the file is watched: "inotify" or "poll" (set by :meth:`start`)
        self.mode = ""
        self._last: Signature = None
        #: monotonic time of the last report asked for (rate limit)
        self._fired = float("-inf")
        # stop() writes here: the thread wakes up from its wait and ends
        self._stop_r, self._stop_w = os.pipe()

    def start(self) -> int:
        self._last = signature(self.path)
        if self.inotify is not None:
            try:
                self.fd = self.inotify.init()
                self.mode = "inotify"
            except OSError:
                self.fd = None
        if self.fd is None:
            self.mode = "poll"
        if threading_is_green():
            self.ident = unpatched.real_thread(self.run)
            return self.ident
        thread = threading.Thread(
            target=self._own_run, name="gurumeditation-file-trigger", daemon=True
        )
        thread.start()
        self.ident = thread.ident or 0
        if self.ident:
            unpatched.OWN_THREADS.add(self.ident)  # hidden from reports from now on
        return self.ident

    def _own_run(self) -> None:
        ident = threading.get_ident()
        unpatched.OWN_THREADS.add(ident)
        try:
            self.run()
        except BaseException:
            pass  # a helper thread never prints a traceback into the service
        finally:
            unpatched.OWN_THREADS.discard(ident)

    def restarted(self) -> FileTrigger:
        """A new trigger on the same file (in a forked child), started."""
        trigger = FileTrigger(self.path, self.on_touch, self.interval)
        trigger.start()
        return trigger

    def stop(self) -> None:
        """Stop asking for reports: the thread wakes up and ends (it closes
        the descriptors)."""
        self.stopped = True
        try:
            os.write(self._stop_w, b"x")
        except OSError:
            pass

    def _wait(self, fd: Optional[int], timeout: Optional[float]) -> bool:
        """Sleep until ``fd`` is readable (``True``), ``timeout`` passes or
        :meth:`stop` is called (``False``)."""
        watch = [self._stop_r] + ([fd] if fd is not None else [])
        try:
            ready = unpatched.get().select(watch, [], [], timeout)[0]
        except InterruptedError:
            return False
        except (OSError, ValueError):
            self.stopped = True
            return False
        if self._stop_r in ready:
            self.stopped = True
            return False
        return fd is not None and fd in ready

    def _close_all(self) -> None:
        for fd in (self.fd, self._stop_r, self._stop_w):
            if fd is not None and fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.fd = None
        self._stop_r = self._stop_w = -1

    def forget_after_fork(self) -> None:
        """In a forked child: the watching thread does not exist here; close
        the inherited descriptor."""
        self.stopped = True
        self._close_all()

    def check(self) -> None:
        current = signature(self.path)
        changed = current is not None and current != self._last
        if changed and not self.stopped:
            # rate limit: wait until `interval` after the last report; the
            # touches meanwhile make this one report
            wait = self._fired + self.interval - time.monotonic()
            if wait > 0 and (self._wait(None, wait) or self.stopped):
                return
            self._last = signature(self.path)
            self._fired = time.monotonic()
            try:
                self.on_touch(self.path)
            except Exception:
                pass
        else:
            self._last = current

    def run(self) -> None:
        try:
            if self.fd is not None:
                self._run_inotify(self.fd)
            else:
                self._run_polling()
        finally:
            self._close_all()

    def _run_polling(self) -> None:
        while not self.stopped:
            self._wait(None, self.interval)
            if not self.stopped:
                self.check()

    def _more(self, fd: int, settle: float) -> bytes:
        """More events arriving within :data:`QUIET` (and before ``settle``)."""
        prims = unpatched.get()
        remaining = min(QUIET, settle - time.monotonic())
        if remaining <= 0:
            return b""
        try:
            if not prims.select([fd], [], [], remaining)[0]:
                return b""
            return prims.read(fd, 65536)
        except OSError:
            return b""

    def _run_inotify(self, fd: int) -> None:
        assert self.inotify is not None
        prims = unpatched.get()
        directory, name = os.path.split(self.path)
        wanted = os.fsencode(name)
        while not self.stopped:
            # (re)watch the directory; while it does not exist, look for it
            # every interval (the only polling left, and only in that case)
            try:
                self.inotify.add_watch(fd, directory)
            except OSError:
                self._wait(None, self.interval)
                continue
            self.check()  # the file may have changed while nothing watched
            watching = True
            while watching and not self.stopped:
                if not self._wait(fd, None):
                    continue
                try:
                    data = prims.read(fd, 65536)
                except InterruptedError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                touched = False
                settle = time.monotonic() + MAX_SETTLE
                while True:
                    for mask, event_name in event_names(data):
                        if mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF):
                            watching = False  # the directory went away
                        if event_name == wanted:
                            touched = True
                    # one report per burst (create + write, touch + utime...):
                    # wait until the events stop for a moment
                    data = self._more(fd, settle)
                    if not data:
                        break
                if touched:
                    self.check()

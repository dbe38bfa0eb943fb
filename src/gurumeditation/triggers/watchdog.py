"""The stall watchdog (``watchdog=SECONDS``) and the memory threshold
(``rss_limit=BYTES``): one real OS thread of ours that looks a few times a
second, with no per-call or per-switch tracing.

What it watches, and how each one says it is alive:

* **The main thread** stalls when it cannot get back to Python: stuck in a
  C call that a signal does not interrupt (a C library's mutex, a read that
  does not return on a signal).  Each look compares the main thread's
  innermost frame (``sys._current_frames()``: the frame object and its last
  instruction) with the last one.  Unchanged for ``SECONDS``, the watchdog
  *probes*: it sends a real-time signal of ours to the main thread
  (``pthread_kill``) whose Python-level handler only notes the time.  A main
  thread idle in ``Event.wait()``, ``time.sleep()``, ``select()`` or
  ``join()`` is woken by the signal, runs the handler within
  :data:`PROBE_DEADLINE` and goes back to waiting — no stall, and no probe
  again for another ``SECONDS``.  One that does not answer is stalled.
* **asyncio loops, in any thread** (found through their tasks, see
  :mod:`..glue.asyncio`): a heartbeat posted with ``call_soon_threadsafe``
  runs as soon as the loop gets back to its poll; one still not run after
  ``SECONDS`` means a callback or a coroutine keeps the loop from it.
* **The gevent or eventlet hub** (of the thread that armed): a repeating
  timer on the hub (:mod:`..glue.gevent`, :mod:`..glue.eventlet`) notes the
  time at each run; none for ``SECONDS`` means a greenlet keeps the hub.

A stall is told once, by the thread it happens in: a loop on the main thread
seen by two watchers is one stall, one report.  When everything stalled in
that thread moves again, one line on stderr says it recovered after N s,
and the next report's ``trigger.recovered`` says so too.

The memory threshold reads ``/proc/self/statm`` at each look: one report
when the resident size goes above ``rss_limit``, the next only after it came
back below.

Every report is submitted from a :class:`~gurumeditation.unpatched.Runner`
(the watchdog keeps watching while it is written), through the armed gate.
A frozen interpreter (a thread holding the GIL in C) stops this thread too:
the native dump on the report signal (:mod:`.native_dump`) covers that.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import weakref
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Callable, Dict, List, Optional, Tuple

from .. import unpatched
from ..glue import asyncio as _asyncio_glue
from ..glue import eventlet as _eventlet_glue
from ..glue import gevent as _gevent_glue
from . import native_dump

#: How long the main thread gets to answer a probe.
PROBE_DEADLINE = 0.25
#: The longest time between two looks.
MAX_TICK = 0.5

#: (what, seconds, where) of a stall, or (rss, limit) — what a report is asked for with.
OnStall = Callable[[str, float, str], bool]
OnRss = Callable[[int, int], bool]


def tick_for(seconds: float) -> float:
    """The time between two looks for a watchdog of ``seconds``."""
    if seconds <= 0:
        return 1.0
    return max(0.02, min(seconds / 4.0, MAX_TICK))


def where(frame: Optional[FrameType]) -> str:
    """``file:line in func`` of ``frame`` ("" for none)."""
    if frame is None:
        return ""
    code = frame.f_code
    return f"{code.co_filename}:{frame.f_lineno} in {code.co_name}"


#: Calls a probe would end rather than interrupt: ``signal.pause()`` returns
#: once any handler ran (a main thread parked there for good would go on).
SIGNAL_WAITS = frozenset({"pause"})


def waits_for_signal(frame: FrameType) -> bool:
    """Whether ``frame`` is calling ``signal.pause()`` (read from the names
    its code loaded just before the call it is in; ``dis`` is imported when
    the watchdog is armed)."""
    dis = sys.modules.get("dis")
    if dis is None:
        return False
    try:
        names = [
            ins.argval
            for ins in dis.get_instructions(frame.f_code)
            if ins.offset <= frame.f_lasti and ins.opname.startswith("LOAD_")
        ][-3:]
    except Exception:
        return False
    return any(name in SIGNAL_WAITS for name in names)


def resident_bytes() -> Optional[int]:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


#: When the main thread last ran the probe handler (monotonic), and the signal
#: claimed for it (kept for the process: a re-armed watchdog takes it again,
#: and a late probe only notes the time).
ANSWERED = [0.0]
_claimed = 0


def _answer(signum: int, frame: Optional[FrameType]) -> None:
    ANSWERED[0] = time.monotonic()
    fd = native_dump.TELL_FD[0]  # the sidecar probes too (see Watchdog.beat)
    if fd >= 0:
        try:  # the real write: eventlet's green one would switch to its hub from here
            unpatched.get().write(fd, b"r")  # the main thread ran Python
        except Exception:
            pass  # a handler that raises would raise in whatever the main thread runs


def probe_signal(taken: Tuple[int, ...] = ()) -> int:
    """The probe signal: the one claimed before, else a real-time signal
    still at its default action, none of ``taken`` (0: none)."""
    taken = (*taken, native_dump._dump_signal)  # faulthandler's: Python sees SIG_DFL there
    realtime_range = native_dump.realtime_range
    if _claimed and signal.getsignal(_claimed) == _answer:
        return _claimed
    low, high = realtime_range()
    if not low:
        return 0
    for signum in range(low + 2, high - 4):
        if signum in taken:
            continue
        try:
            if signal.getsignal(signum) == signal.SIG_DFL:
                return signum
        except ValueError:
            continue
    return 0


def claim_probe(taken: Tuple[int, ...] = ()) -> int:
    """Install the probe's handler (main thread only); its signal, or 0."""
    global _claimed
    signum = probe_signal(taken)
    if not signum:
        return 0
    try:
        if signal.getsignal(signum) != _answer:
            signal.signal(signum, _answer)
    except (ValueError, OSError):
        return 0
    _claimed = signum
    return signum


@dataclass
class Episode:
    """A stall of one thread: since when, what stalled in it."""

    since: float
    label: str
    what: List[str] = field(default_factory=list)
    reported: bool = False


@dataclass
class LoopState:
    ref: Any  # weakref to the loop
    thread: int = 0
    posted: float = 0.0  # when the pending heartbeat was posted (0: none pending)
    sent: int = 0  # heartbeats posted
    stalled: bool = False


class Watchdog:
    def __init__(
        self,
        seconds: float,
        rss_limit: int,
        on_stall: OnStall,
        on_rss: OnRss,
        tell: Callable[[str], Any],
    ) -> None:
        self.seconds = seconds
        self.rss_limit = rss_limit
        self.on_stall = on_stall
        self.on_rss = on_rss
        self.tell = tell
        self.tick = tick_for(seconds if seconds > 0 else 0.0)
        self.stopped = False
        self.ident = 0
        # the main thread
        self.main_ident = 0
        self.probe_signum = 0
        self._main_key: Any = None
        self._main_since = 0.0
        self._probe_sent = 0.0
        self._main_stalled = False
        # loops and hubs
        self.loops: Dict[int, LoopState] = {}
        self._loops_found = 0.0
        self.hub_beat = 0.0
        self.hub_thread = 0
        self.hub_what = ""
        self._hub_stalled = False
        self._hub_stop: Optional[Callable[[], None]] = None
        # stalls by thread ident; the last recovery, until a report takes it
        self.episodes: Dict[int, Episode] = {}
        self.recovered: Optional[Dict[str, Any]] = None
        self._rss_above = False
        #: stalls reported, recoveries told, rss reports (tests and benchmarks read them)
        self.stalls = 0
        self.recoveries = 0
        self.rss_reports = 0
        #: tells the sidecar the interpreter runs, the silence that means frozen
        #: and the probe it may send meanwhile (see Watcher.heartbeat); None: none
        self.heartbeat: Optional[Callable[[float, int], None]] = None
        self._beat_sent = 0.0

    # -- arming (main thread) -------------------------------------------------
    def arm_main(self, taken: Tuple[int, ...] = ()) -> None:
        """Claim the probe signal (call from the main thread)."""
        if self.seconds <= 0 or not hasattr(signal, "pthread_kill"):
            return
        self.main_ident = unpatched.this_thread_ident()
        import dis  # noqa: F401  (read by waits_for_signal, never imported by this thread)

        self.probe_signum = claim_probe(taken)

    def arm_hub(self) -> None:
        """A heartbeat timer on the calling thread's gevent or eventlet hub."""
        if self.seconds <= 0:
            return
        ident = unpatched.this_thread_ident()

        def beat() -> None:
            self.hub_beat = time.monotonic()

        for what, glue in (("gevent hub", _gevent_glue), ("eventlet hub", _eventlet_glue)):
            stop = glue.start_heartbeat(beat, self.tick)
            if stop is not None:
                self.hub_beat = time.monotonic()
                self.hub_thread, self.hub_what, self._hub_stop = ident, what, stop
                return

    def start(self) -> int:
        self.ident = unpatched.real_thread(self.run)
        return self.ident

    def stop(self) -> None:
        self.stopped = True
        stop, self._hub_stop = self._hub_stop, None
        if stop is not None:
            try:
                stop()
            except Exception:
                pass

    # -- the thread -----------------------------------------------------------------
    def run(self) -> None:
        sleep = unpatched.get().sleep
        if self.heartbeat is not None and self.seconds > 0:  # the sidecar watches from now on
            self.beat(time.monotonic(), sys._current_frames())
        while not self.stopped:
            sleep(self.tick)
            if self.stopped:
                return
            now = time.monotonic()
            try:
                self.look(now)
            except Exception:
                pass

    def beat(self, now: float, frames: Dict[int, FrameType]) -> None:
        """The heartbeat to the sidecar: a silence of ``seconds`` + one look
        means frozen — unless the main thread still answers the probe (a
        busy thread can keep ours from the GIL that long: the sidecar sends
        the probe before it calls the interpreter frozen).  No probe while
        the main thread waits in ``signal.pause()``: it would end the wait."""
        heartbeat = self.heartbeat
        if heartbeat is None:
            return
        self._beat_sent = now
        main = frames.get(self.main_ident) if self.main_ident else None
        probe = self.probe_signum if main is not None and not waits_for_signal(main) else 0
        heartbeat(self.seconds + self.tick, probe)

    def look(self, now: float) -> None:
        if self.seconds > 0:
            frames = sys._current_frames()
            try:
                if self.heartbeat is not None and now - self._beat_sent >= self.seconds / 2:
                    self.beat(now, frames)
                self.look_loops(now, frames)
                self.look_hub(now, frames)
                self.look_main(now, frames)  # last: a probe waits for its answer
            finally:
                del frames
        if self.rss_limit > 0:
            self.look_rss()

    def look_main(self, now: float, frames: Dict[int, FrameType]) -> None:
        if not self.probe_signum:
            return
        frame = frames.get(self.main_ident)
        if frame is None:
            return
        key = (id(frame), frame.f_lasti)
        if key != self._main_key:  # it ran Python since the last look
            self._main_key, self._main_since, self._probe_sent = key, now, 0.0
            if self._main_stalled:
                self._main_stalled = False
                self.moved(self.main_ident, "main thread", now)
            return
        if self._probe_sent and ANSWERED[0] >= self._probe_sent:  # idle, and answering
            self._probe_sent = 0.0
            self._main_since = now
            if self._main_stalled:
                self._main_stalled = False
                self.moved(self.main_ident, "main thread", now)
            return
        if not self._probe_sent:
            if now - self._main_since < self.seconds or waits_for_signal(frame):
                return
            self._probe_sent = now
            try:
                signal.pthread_kill(self.main_ident, self.probe_signum)
            except (OSError, ValueError):
                self._probe_sent = 0.0
                return
            unpatched.get().sleep(PROBE_DEADLINE)  # its time to answer, then look again
            now = time.monotonic()
            if ANSWERED[0] >= self._probe_sent:
                self._probe_sent, self._main_since = 0.0, now
                return
        if not self._main_stalled and now - self._probe_sent >= PROBE_DEADLINE:
            self._main_stalled = True
            self.stalled(self.main_ident, "main thread", self._main_since, where(frame), now)
        elif self._main_stalled:
            self.retry(self.main_ident, where(frame), now)

    def look_loops(self, now: float, frames: Dict[int, FrameType]) -> None:
        asyncio = sys.modules.get("asyncio")
        if asyncio is None:
            return
        if now - self._loops_found >= max(self.seconds, 1.0):
            self._loops_found = now
            self.find_loops(asyncio)
        for key, state in list(self.loops.items()):
            loop = state.ref()
            if loop is None or _closed(loop):
                del self.loops[key]
                continue
            ident = _asyncio_glue.loop_thread(loop)
            if ident is None:  # not running: no stall, nothing pending
                state.posted = 0.0
                continue
            state.thread = ident
            what = f"asyncio loop 0x{key:x} in thread {_thread_name(ident)}"
            if not state.posted:
                if state.stalled:
                    state.stalled = False
                    self.moved(ident, what, now)
                self.post(loop, state, now)
            elif now - state.posted >= self.seconds:
                if not state.stalled:
                    state.stalled = True
                    self.stalled(ident, what, state.posted, where(frames.get(ident)), now)
                else:
                    self.retry(ident, where(frames.get(ident)), now)

    def find_loops(self, asyncio: Any) -> None:
        try:
            tasks = _asyncio_glue.all_tasks(asyncio)
            loops = _asyncio_glue.find_loops(asyncio, tasks)
        except Exception:
            return
        for loop in loops:
            if id(loop) not in self.loops:
                try:
                    self.loops[id(loop)] = LoopState(weakref.ref(loop))
                except TypeError:
                    continue

    def post(self, loop: Any, state: LoopState, now: float) -> None:
        """A heartbeat on ``loop``; pending until the loop runs it (the
        time is set first: the loop may run it before this returns)."""
        state.sent += 1
        seq = state.sent

        def beat() -> None:
            if state.sent == seq:
                state.posted = 0.0

        state.posted = now
        try:
            loop.call_soon_threadsafe(beat)
        except Exception:  # closed meanwhile
            state.posted = 0.0

    def look_hub(self, now: float, frames: Dict[int, FrameType]) -> None:
        if self._hub_stop is None:
            return
        gap = now - self.hub_beat
        if gap < self.seconds:
            if self._hub_stalled:
                self._hub_stalled = False
                self.moved(self.hub_thread, self.hub_what, now)
            return
        if not self._hub_stalled:
            self._hub_stalled = True
            self.stalled(
                self.hub_thread,
                self.hub_what,
                self.hub_beat,
                where(frames.get(self.hub_thread)),
                now,
            )
        else:
            self.retry(self.hub_thread, where(frames.get(self.hub_thread)), now)

    def look_rss(self) -> None:
        rss = resident_bytes()
        if rss is None:
            return
        if rss <= self.rss_limit:
            self._rss_above = False
        elif not self._rss_above:
            if self.on_rss(rss, self.rss_limit):
                self._rss_above = True
                self.rss_reports += 1

    # -- episodes -------------------------------------------------------------------
    def stalled(self, ident: int, what: str, since: float, at: str, now: float) -> None:
        """``what`` (in thread ``ident``) made no progress since ``since``."""
        episode = self.episodes.get(ident)
        if episode is not None:  # the same stall, seen by a second watcher
            if what not in episode.what:
                episode.what.append(what)
            return
        episode = self.episodes[ident] = Episode(since, what, [what])
        self.retry(ident, at, now)

    def retry(self, ident: int, at: str, now: float) -> None:
        """Ask for the stall's report (again, if the runner was busy)."""
        episode = self.episodes.get(ident)
        if episode is None or episode.reported:
            return
        if self.on_stall(" and ".join(episode.what), now - episode.since, at):
            episode.reported = True
            self.stalls += 1

    def moved(self, ident: int, what: str, now: float) -> None:
        """``what`` moves again; the stall of its thread ends with its last member."""
        episode = self.episodes.get(ident)
        if episode is None:
            return
        if what in episode.what:
            episode.what.remove(what)
        if episode.what:
            return
        del self.episodes[ident]
        seconds = round(now - episode.since, 3)
        self.recoveries += 1
        self.recovered = {"what": episode.label, "seconds": seconds}
        self.tell(f"gurumeditation: {episode.label} recovered after {seconds:.1f} s")

    def forget_after_fork(self) -> None:
        """A forked child: its own main thread, loops and stalls from now on."""
        self.main_ident = unpatched.this_thread_ident()
        self.loops.clear()
        self.episodes.clear()
        self._main_key, self._probe_sent, self._main_stalled = None, 0.0, False
        self._loops_found = 0.0

    def take_recovered(self) -> Optional[Dict[str, Any]]:
        recovered, self.recovered = self.recovered, None
        return recovered


def _closed(loop: Any) -> bool:
    try:
        return bool(loop.is_closed())
    except Exception:
        return True


def _thread_name(ident: int) -> str:
    thread = unpatched.thread_objects({ident: None}).get(ident)  # type: ignore[dict-item]
    name = getattr(thread, "name", None)
    return str(name) if name else str(ident)

"""One report in flight, at most one queued — whoever asks for it.

Every trigger (the signal handler in the main thread, the watcher that steps
in for a stuck main thread, the file watcher) passes its request through one
:class:`ReportGate`.  A request that arrives while a report is being written
never nests and never waits: it replaces the queued request (if any) and
returns at once; the thread writing the report picks it up when it is done.
So a storm of signals costs one report in flight plus one follow-up.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

Job = Callable[[], None]


class ReportGate:
    def __init__(self, allocate_lock: Callable[[], Any]) -> None:
        # an unpatched lock: it is shared by the main thread and real helper threads
        self._lock = allocate_lock()
        #: called with ``True`` when a report starts to be written, ``False``
        #: when the last one is done (the native dump pauses meanwhile)
        self.on_flight: Optional[Callable[[bool], None]] = None
        self._queued: Optional[Job] = None
        #: monotonic time the main thread's signal handler last started (0: never)
        self.main_entered = 0.0
        #: how many jobs ran (tests and benchmarks read it)
        self.runs = 0

    @property
    def busy(self) -> bool:
        return bool(self._lock.locked())

    def submit(self, job: Job) -> bool:
        """Run ``job`` now in this thread, or queue it when a report is in
        flight.  Returns ``True`` when this thread ran it (and any follow-up)."""
        self._queued = job
        ran = False
        while self._queued is not None:
            if not self._lock.acquire(False):
                return ran  # the thread in flight picks up the queued job
            try:
                self._flight(True)
                while self._queued is not None:
                    current, self._queued = self._queued, None
                    self.runs += 1
                    try:
                        current()
                    except Exception:
                        pass  # jobs report their own failures
                    ran = True
            finally:
                self._flight(False)
                self._lock.release()
            # a job queued between our last check and the release is not
            # lost: the loop condition sees it and we try again
        return ran

    def _flight(self, writing: bool) -> None:
        hook = self.on_flight
        if hook is not None:
            try:
                hook(writing)
            except Exception:
                pass

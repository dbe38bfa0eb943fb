"""Why a unit of work is stuck, not only where: per-thread OS facts
(:mod:`.procfs`), what a blocked thread, greenlet or task waits on
(:mod:`.waits`), who holds it (:mod:`.tracking` for locks that record no
owner), and the wait-for graph whose cycles are deadlocks (:mod:`.graph`).

Nothing here is imported by ``import gurumeditation`` or by arming (except
:mod:`.tracking`, and only when ``track_locks`` is on); the sections that use
it import it when a report is made.
"""

"""What one report run learns once and every section of it may read: typed
per-run state (not options: those say how to report, this is what the run
found)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, List, Optional, Tuple

from .stacks import SourceCache

if TYPE_CHECKING:
    from .why.graph import WhyState


@dataclass
class RunState:
    #: ``gc.isenabled()`` before the run paused the collector.
    gc_was_enabled: Optional[bool] = None
    #: ``gc.get_count()`` before the run allocated anything.
    gc_counts: Optional[Tuple[int, ...]] = None
    #: Source lines read for the stack sections, shared by all of them.
    sources: Optional[SourceCache] = None
    #: What the stack sections found out about waits (read by Diagnosis).
    waits: Optional[WhyState] = None
    #: (id, title, "Type: message") of the sections that failed, set before
    #: the sections collected last (``SectionSpec.first``) run.
    failed: Optional[List[Tuple[str, str, str]]] = None

    def source_cache(self, redact: Callable[[str], str]) -> SourceCache:
        """The run's source-line cache, made on first use with ``redact``."""
        if self.sources is None:
            self.sources = SourceCache(redact)
        return self.sources

    def why(self, redact: Optional[Callable[[str], str]] = None) -> WhyState:
        """The run's wait-for graph, made on first use (``redact``: the
        report's ``Redactor.text``, for the names a wait carries)."""
        if self.waits is None:
            from .why.graph import WhyState

            self.waits = WhyState(redact)
        return self.waits

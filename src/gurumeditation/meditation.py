"""One report of this process: what the facade's classes are made of.

Kept apart from :mod:`gurumeditation.pipeline` so that the facade can be
imported without the report machinery (see :mod:`gurumeditation.early`):
the methods import it when they run, which is after it was loaded.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, ClassVar, Optional, Sequence, Tuple

    from .model import Report
    from .options import ReportOptions
    from .pipeline import ReportRequest


class Meditation:
    """One report of this process, made for ``request`` with ``options``:
    :meth:`report` collects the document, :meth:`run` renders it as text.
    The facade's classes are made this way; a pipeline run collects once and
    lets :meth:`run` render what it collected."""

    #: The report format :meth:`run` returns.
    output_format: ClassVar[str] = "text"

    def __init__(self, request: ReportRequest, options: ReportOptions) -> None:
        self.request = request
        self.options = options
        #: Set while a pipeline run renders what it collected.
        self.document: Optional[Report] = None

    def registered_sections(self) -> Sequence[Tuple[str, Callable[[], Any]]]:
        """Sections registered by the service: (title, generator)."""
        return ()

    def report(self) -> Report:
        """The report as a plain document (the JSON model)."""
        if self.document is not None:
            return self.document
        from .pipeline import collect  # imported by the loader (see early): no lock

        return collect(self.request, self.options.resolved(), self.registered_sections())

    def run(self) -> str:
        """The report rendered in :attr:`output_format` (classic text)."""
        from . import render

        return render.render(self.report(), self.output_format)

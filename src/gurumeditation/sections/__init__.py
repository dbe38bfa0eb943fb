"""Report sections: one module each, every collector returning plain data.

:data:`BUILTIN` lists the built-in sections in report order; registered
sections follow them.  A module is named for what it shows, its section's
``id`` (kept for the document's readers) may be older: ``service_version``
writes ``package`` (the service's version), ``distributions`` writes
``packages`` (installed distributions), ``green`` writes ``green_threads``,
``tasks`` writes ``asyncio_tasks``, ``config`` writes ``configuration``.
What a section knows of an outside library is in :mod:`..glue`; no section
imports another.
"""

from __future__ import annotations

from typing import List, Optional

from ..options import ReportOptions
from ..redact import Redactor
from ..report import SectionSpec
from . import (
    config,
    diagnosis,
    distributions,
    environment,
    green,
    memory,
    open_files,
    processes,
    python_runtime,
    service_version,
    tasks,
    threads,
)

#: The classic five, in the classic order; new built-in sections go after them.
BUILTIN: List[SectionSpec] = [
    service_version.SECTION,
    threads.SECTION,
    green.SECTION,
    processes.SECTION,
    config.SECTION,
    tasks.SECTION,
    environment.SECTION,
    open_files.SECTION,
    python_runtime.SECTION,
    distributions.SECTION,
    memory.SECTION,
    diagnosis.SECTION,  # collected last, placed first (SectionSpec.first)
]


def prepare(options: Optional[ReportOptions] = None) -> None:
    """Work done once at setup so that reports stay cheap (the first one
    too): the installed distributions indexed and the loaded modules sorted out,
    the user names read; with the armed ``options``,
    the redactor's decisions on the environment's and the configuration's
    names made, the source files of the stacks running now read."""
    distributions.prepare()
    processes.prepare()
    if options is None:
        return
    redact = options.redact
    redactor = Redactor(extra_keys=redact.keys, allow_keys=redact.allow)
    environment.prepare(redactor)
    config.prepare(options.conf, redactor)
    threads.prepare()

"""Report sections: one module each, every collector returning plain data.

:data:`BUILTIN` lists the built-in sections in report order; registered
sections follow them.
"""

from __future__ import annotations

from typing import List

from ..report import SectionSpec
from . import (
    config,
    environment,
    green,
    memory,
    open_files,
    package,
    packages,
    processes,
    python_runtime,
    tasks,
    threads,
)

#: The classic five, in the classic order; new built-in sections go after them.
BUILTIN: List[SectionSpec] = [
    package.SECTION,
    threads.SECTION,
    green.SECTION,
    processes.SECTION,
    config.SECTION,
    tasks.SECTION,
    environment.SECTION,
    open_files.SECTION,
    python_runtime.SECTION,
    packages.SECTION,
    memory.SECTION,
]


def prepare() -> None:
    """Work done once at setup so that reports stay cheap."""
    packages.prepare()

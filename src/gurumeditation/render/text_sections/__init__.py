"""The body of each built-in section in the classic text layout, one module
per section: functions of the section's data only (its shape is the section's
TypedDict in :mod:`gurumeditation.model`), never of the live process."""

from __future__ import annotations

from typing import Any, Callable, Dict, List

from . import (
    configuration,
    diagnosis,
    distributions,
    environment,
    memory,
    open_files,
    processes,
    python_runtime,
    registered,
    service_version,
    stacks,
)

#: Body renderers by section id; a section id not listed here is rendered as
#: nested ``key = value`` lines of its data (a registered section as
#: :func:`registered.registered_lines` says).
BODY: Dict[str, Callable[[Dict[str, Any]], List[str]]] = {
    "package": service_version.package_lines,
    "threads": stacks.threads_lines,
    "green_threads": stacks.green_lines,
    "processes": processes.processes_lines,
    "configuration": configuration.configuration_lines,
    "open_files": open_files.open_files_lines,
    "python_runtime": python_runtime.python_runtime_lines,
    "packages": distributions.packages_lines,
    "memory": memory.memory_lines,
    "asyncio_tasks": stacks.tasks_lines,
    "environment": environment.environment_lines,
    "diagnosis": diagnosis.diagnosis_lines,
}

registered_lines = registered.registered_lines

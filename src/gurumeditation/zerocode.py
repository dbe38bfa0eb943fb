"""Zero-code enable: ``GURUMEDITATION=1`` arms any Python process at start-up.

The wheel installs ``gurumeditation.pth`` into site-packages; ``site`` runs
its one line at every interpreter start-up.  That line only looks at
``os.environ`` (already imported by ``site``) and imports this module when
``GURUMEDITATION`` is set to something other than an "off" value, so a
process without the variable pays for one dictionary look-up.

``GURUMEDITATION`` is on for ``1``, ``true``, ``yes``, ``on`` (any case), off
for ``0``, ``false``, ``no``, ``off`` or empty; anything else leaves reports
off and says so in one line on stderr.  Configured by the environment (see
:class:`gurumeditation.options.ReportOptions`, whose fields name them):

* ``GURUMEDITATION_LOG_DIR``: write reports as files there (default: stderr),
* ``GURUMEDITATION_SIGNAL``: ``USR2`` (default), ``SIGUSR1``, ``12``...
* ``GURUMEDITATION_FORMAT``: ``text`` (default), ``json``, ``html`` or
  several, comma-separated,
* ``GURUMEDITATION_SERVICE``: the service name (default: the program's name).
* ``GURUMEDITATION_FILE_EVENT_HANDLER``: a file whose touch writes a report.
* ``GURUMEDITATION_WATCHDOG``, ``GURUMEDITATION_REPORT_ON``,
  ``GURUMEDITATION_RSS_LIMIT``: reports that come by themselves (a stall,
  ``term,exception,fatal,abort``, a memory threshold such as ``2G``).

The variables are inherited by every process started from that environment:
spawned ``multiprocessing`` children (spawn, forkserver), a server's spawned
workers (uvicorn, hypercorn) are armed alike; forked children are re-armed by
the at-fork hook.  ``gurumeditation run`` sets them for its program's
children.

A service that calls ``setup_autorun`` itself later replaces these settings
with its own (the variables still fill in what it leaves out) and is not
armed twice (same signal handler, one listing).

**Unmodified OpenStack services.**  A service that calls oslo.reports'
``oslo_reports.guru_meditation_report.TextGuruMeditation.setup_autorun(...)``
(and ``register_section``) gets this library's report, with its own
registered sections, version object and ``conf``: zero-code arming leaves a
finder on ``sys.meta_path`` (:class:`OsloReportsRoute`) that, when that
module is imported, lets oslo.reports' own module load and then routes its
public API — ``GuruMeditation``, ``TextGuruMeditation`` — to
:mod:`gurumeditation.guru_meditation_report` (oslo.reports' classes stay
there as ``_oslo_GuruMeditation`` and ``_oslo_TextGuruMeditation``).  No
code change, no shim on ``PYTHONPATH``.  ``[oslo_reports]`` options of the
``conf`` are read when a report is made, and a ``file_event_handler`` that
the configuration names only once it is parsed (octavia calls
``setup_autorun`` before parsing ``CONF``) starts the file trigger then.
"""

from __future__ import annotations

import os
import sys

from .early import ENABLE_ON, ENV_ENABLE

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover  (runs at every armed start-up: no typing)
    from typing import Any, List

#: The line of ``gurumeditation.pth`` (``site`` executes lines starting with
#: ``import``).
PTH_LINE = (
    "import os; os.environ.get('GURUMEDITATION', '').strip().lower() not in "
    "('', '0', 'false', 'no', 'off') "
    "and __import__('gurumeditation.zerocode').zerocode.arm_from_environment()"
)


#: The module whose public API zero-code arming routes to ours.
OSLO_REPORTS_MODULE = "oslo_reports.guru_meditation_report"
ROUTED_NAMES = ("GuruMeditation", "TextGuruMeditation")


def route_oslo_reports(module: Any) -> None:
    """Point oslo.reports' facade classes at ours (theirs kept aside)."""
    from . import guru_meditation_report as ours

    for name in ROUTED_NAMES:
        original = getattr(module, name, None)
        if original is not None and original is not getattr(ours, name):
            setattr(module, "_oslo_" + name, original)
        setattr(module, name, getattr(ours, name))
    module.__gurumeditation_routed__ = True


class _RoutingLoader:
    """oslo.reports' own loader, then :func:`route_oslo_reports`."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: Any) -> Any:
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        try:
            route_oslo_reports(module)
        except Exception as exc:
            from . import options as _options

            _options._tell(f"oslo.reports not routed: {type(exc).__name__}: {exc}")

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename... for tracebacks
        return getattr(self._loader, name)


class OsloReportsRoute:
    """A ``sys.meta_path`` finder that finds nothing itself: for
    :data:`OSLO_REPORTS_MODULE` it asks the finders after it and wraps the
    loader they give (:class:`_RoutingLoader`)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != OSLO_REPORTS_MODULE:
            return None
        import sys

        finders = list(sys.meta_path)
        after = finders[finders.index(self) + 1 :] if self in finders else finders
        for finder in after:
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec = find(name, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _RoutingLoader(spec.loader)
                return spec
        return None

    def invalidate_caches(self) -> None:
        pass


def install_oslo_reports_route() -> None:
    """Route oslo.reports' facade to ours: now when it is already imported,
    else when it is."""
    import sys

    loaded = sys.modules.get(OSLO_REPORTS_MODULE)
    if loaded is not None:
        route_oslo_reports(loaded)
    if not any(isinstance(f, OsloReportsRoute) for f in sys.meta_path):
        sys.meta_path.insert(0, OsloReportsRoute())


def arm_from_environment() -> List[str]:
    """Arm this process as the ``GURUMEDITATION*`` variables say.  Never
    raises (a bad setting is told on stderr, and the program runs on):
    returns the problems found (those of a setting the loader reads after
    this returned are told on stderr only)."""
    global _armed
    if _armed:
        # ``site`` runs the lines of a venv's .pth files twice (once for the
        # venv, once more for the same directory as a prefix): arm once
        return _told()
    if os.environ.get(ENV_ENABLE, "").strip().lower() not in ENABLE_ON:
        from . import options as _options

        _options.enabled()  # tells why not
        return _options.told()
    _armed = True
    try:
        install_oslo_reports_route()
    except Exception as exc:
        from . import options as _options

        _options._tell(f"oslo.reports not routed: {type(exc).__name__}: {exc}")
    try:
        from .guru_meditation_report import TextGuruMeditation

        TextGuruMeditation.setup_autorun(None)
    except Exception as exc:
        from . import options as _options

        _options._tell(f"{ENV_ENABLE}=1: {type(exc).__name__}: {exc}")
    return _told()


#: ``True`` once :func:`arm_from_environment` armed this process.
_armed = False


def _told() -> List[str]:
    # armed in two steps (see early), nothing that can be wrong was read
    # here: the options may not even be imported yet
    told = getattr(sys.modules.get(__package__ + ".options"), "told", None)
    return list(told()) if told is not None else []

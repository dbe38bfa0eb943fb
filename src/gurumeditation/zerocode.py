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

A service that calls ``setup_autorun`` itself later replaces these settings
with its own (the variables still fill in what it leaves out) and is not
armed twice (same signal handler, one listing).
"""

from __future__ import annotations

import os
import sys

from .early import ENABLE_ON, ENV_ENABLE

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover  (runs at every armed start-up: no typing)
    from typing import List

#: The line of ``gurumeditation.pth`` (``site`` executes lines starting with
#: ``import``).
PTH_LINE = (
    "import os; os.environ.get('GURUMEDITATION', '').strip().lower() not in "
    "('', '0', 'false', 'no', 'off') "
    "and __import__('gurumeditation.zerocode').zerocode.arm_from_environment()"
)


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

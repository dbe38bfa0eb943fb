"""Zero-code enable: ``GURUMEDITATION=1`` arms any Python process at start-up.

The wheel installs ``gurumeditation.pth`` into site-packages; ``site`` runs
its one line at every interpreter start-up.  That line only looks at
``os.environ`` (already imported by ``site``) and imports this module when
``GURUMEDITATION`` is set to something other than ``""``/``0``, so a process
without the variable pays for one dictionary look-up.

Configured by the environment:

* ``GURUMEDITATION_LOG_DIR``: write reports as files there (default: stderr),
* ``GURUMEDITATION_SIGNAL``: ``USR2`` (default), ``SIGUSR1``, ``12``...
* ``GURUMEDITATION_FORMAT``: ``text`` (default), ``json``, ``html`` or
  several, comma-separated,
* ``GURUMEDITATION_SERVICE``: the service name (default: the program's name).

A service that calls ``setup_autorun`` itself later replaces these settings
with its own and is not armed twice (same signal handler, one listing).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import List, Optional, Sequence, Tuple

ENV_ENABLE = "GURUMEDITATION"
ENV_LOG_DIR = "GURUMEDITATION_LOG_DIR"
ENV_SIGNAL = "GURUMEDITATION_SIGNAL"
ENV_FORMAT = "GURUMEDITATION_FORMAT"
ENV_SERVICE = "GURUMEDITATION_SERVICE"

#: The line of ``gurumeditation.pth`` (``site`` executes lines starting with
#: ``import``).
PTH_LINE = (
    "import os; os.environ.get('GURUMEDITATION', '') not in ('', '0') "
    "and __import__('gurumeditation.autoenable').autoenable.arm_from_environment()"
)


def enabled(environ: Optional[dict] = None) -> bool:  # type: ignore[type-arg]
    env = os.environ if environ is None else environ
    return env.get(ENV_ENABLE, "") not in ("", "0")


def parse_signal(text: str) -> int:
    """``USR2``, ``SIGUSR2``, ``sigusr2`` or ``12`` → the signal number."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(getattr(signal.Signals, name))
    except AttributeError:
        raise ValueError(f"unknown signal {text!r}") from None


def parse_formats(text: str) -> Tuple[str, ...]:
    formats = tuple(f.strip().lower() for f in text.split(",") if f.strip())
    return formats or ("text",)


def program_name(argv: Sequence[str]) -> str:
    """The service name for a process armed before ``__main__`` exists: the
    script's name, or the module of ``python -m module`` (read from
    ``/proc/self/cmdline``, since ``sys.argv`` only says ``-m`` this early)."""
    argv0 = argv[0] if argv else ""
    if argv0 == "-m":
        try:
            with open("/proc/self/cmdline", "rb") as f:
                args = f.read().decode("utf-8", "replace").split("\0")
            return args[args.index("-m") + 1] or "python"
        except (OSError, ValueError, IndexError):
            return "python"
    if argv0 and argv0 not in ("-c", "-"):
        base = os.path.basename(argv0.rstrip("/"))
        return base[:-3] if base.endswith(".py") else base or "python"
    return "python"


def arm_from_environment() -> List[str]:
    """Arm this process as the ``GURUMEDITATION_*`` variables say.  Never
    raises (a bad setting is told on stderr, and the program runs on):
    returns the problems found."""
    problems: List[str] = []
    try:
        signum = parse_signal(os.environ.get(ENV_SIGNAL) or "USR2")
    except ValueError as exc:
        problems.append(str(exc))
        signum = int(signal.SIGUSR2)
    from .render import SUFFIXES

    formats = parse_formats(os.environ.get(ENV_FORMAT) or "text")
    unknown = [f for f in formats if f not in SUFFIXES]
    if unknown:
        problems.append(
            f"unknown report format(s) {', '.join(unknown)}: choose from text, json, html"
        )
        formats = tuple(f for f in formats if f in SUFFIXES) or ("text",)
    service = os.environ.get(ENV_SERVICE) or program_name(getattr(sys, "argv", []))
    try:
        from .guru_meditation_report import TextGuruMeditation

        TextGuruMeditation.setup_autorun(
            None,
            service_name=service,
            log_dir=os.environ.get(ENV_LOG_DIR) or None,
            signum=signum,
            formats=formats,
        )
    except Exception as exc:
        problems.append(f"{type(exc).__name__}: {exc}")
    for problem in problems:
        try:
            sys.stderr.write(f"gurumeditation ({ENV_ENABLE}=1): {problem}\n")
        except Exception:
            pass
    return problems

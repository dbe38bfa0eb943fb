"""Which processes of this host have reports enabled — without a single file.

An armed process listens on a channel of its own (an abstract Unix socket,
see :mod:`gurumeditation.triggers.channel`); ``gurumeditation list`` finds
the channels in ``/proc/net/unix`` and asks each for its facts.  Nothing is
written anywhere, nothing is left behind by a killed process (its socket
goes with it), and root never opens a path another user controls.

This module is both sides: :func:`register` (the service) and
:func:`scan` plus the ``/proc`` facts (the command; the conversation itself
is :mod:`gurumeditation.channel_client`).
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import procstat
from .model import SignalState
from .triggers import channel as _channel

#: What :func:`register` was told (the live settings win when there are some).
_facts: Dict[str, Any] = {}
_fork_hook: List[bool] = []


# -- /proc facts ----------------------------------------------------------------


def start_ticks(pid: int) -> Optional[int]:
    """When ``pid`` started, in clock ticks since boot; ``None`` where there
    is no ``/proc`` or the pid is gone."""
    return procstat.start_ticks(pid)


def uptime_of(pid: int) -> Optional[float]:
    """Seconds since ``pid`` started (from ``/proc``)."""
    ticks = start_ticks(pid)
    if ticks is None:
        return None
    try:
        with open("/proc/uptime", encoding="ascii") as f:
            boot_seconds = float(f.read().split()[0])
        return max(0.0, boot_seconds - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


def pid_alive(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}") if os.path.isdir("/proc") else _kill0(pid)


def _kill0(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_owner(pid: int) -> Optional[int]:
    """The effective uid of ``pid`` now (``/proc/PID/status``)."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("Uid:"):
                    return int(line.split()[2])
    except (OSError, ValueError, IndexError):
        pass
    return None


def process_state(pid: int) -> str:
    """The state letter of ``pid`` (``Z``: a zombie; ``?``: gone)."""
    return procstat.state(pid)


def process_ppid(pid: int) -> Optional[int]:
    return procstat.ppid(pid)


def short_command(pid: int, width: int = 48) -> str:
    """The command line of ``pid`` as ``ps`` shows it to anyone, cut to ``width``."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read(4096)
    except OSError:
        return "?"
    words = [w.decode("utf-8", "replace") for w in raw.rstrip(b"\0").split(b"\0") if w]
    if words:
        words[0] = os.path.basename(words[0]) or words[0]
    text = " ".join(words) or "?"
    return text if len(text) <= width else text[: width - 3] + "..."


# -- the command's side: finding channels -----------------------------------------

_NAME = re.compile(r"^@" + re.escape(_channel.PREFIX) + r"([0-9]{1,10})/([0-9a-f]{32})$")
_LISTENING = 0x10000  # __SO_ACCEPTCON


def scan(net_unix: str = "/proc/net/unix") -> List[Tuple[int, str]]:
    """(pid, socket name) of every listening channel in this network
    namespace, by pid.  The pid is only what the name claims: the kernel's
    word for it is ``SO_PEERCRED`` (see :mod:`gurumeditation.channel_client`)."""
    found = set()
    try:
        with open(net_unix, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []
    for line in lines[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            flags = int(fields[3], 16)
        except ValueError:
            continue
        match = _NAME.match(fields[7])
        if match and flags & _LISTENING:
            found.add((int(match.group(1)), fields[7][1:]))
    return sorted(found)


# -- the service's side -------------------------------------------------------------


def register(
    service: str,
    signum: int,
    signal_name: str,
    log_dir: Optional[str],
    formats: Sequence[str],
) -> str:
    """Open this process's channel (or tell it the new settings); returns
    its name.  Raises ``OSError`` when it cannot."""
    _facts.update(
        service=service,
        signum=signum,
        signal=signal_name,
        logDir=os.path.abspath(log_dir) if log_dir else None,
        formats=list(formats),
        armedAt=time.time(),
    )
    channel = _channel.CHANNEL
    if channel is None or channel.closed:
        channel = _channel.Channel(describe, submit)
        early = _channel.take_early_door()
        if early is not None:
            channel.attach_door(early)
        channel.start()
        _channel.CHANNEL = channel
        if not _fork_hook and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_after_fork_in_child)
            _fork_hook.append(True)
    else:
        channel.refresh()
    _announce_threads()
    return "@" + channel.name


def _announce_threads() -> None:
    """The sidecar leaves our helper threads out of a native dump: the
    channel's thread is one more."""
    from .arming import ARMED

    watcher = ARMED.watcher
    if watcher is not None:
        watcher.announce()


def _after_fork_in_child() -> None:
    channel = _channel.CHANNEL
    if channel is None:
        return
    try:
        channel.after_fork_in_child()
        _announce_threads()
    except Exception:
        pass


def unregister() -> None:
    """Stop answering (the ``gurumeditation`` command armed by ``GURUMEDITATION=1``)."""
    channel = _channel.CHANNEL
    if channel is not None:
        channel.close()


def channel_name() -> Optional[str]:
    from . import early

    early.ensure_loaded()  # the channel is opened by the loader
    channel = _channel.CHANNEL
    if channel is None or channel.closed or channel.pid != os.getpid():
        return None
    return "@" + channel.name


def handler_name(handler: Any) -> str:
    """Who a signal handler is, for people (``signal.getsignal``'s answer)."""
    if handler is None:
        return "a handler installed outside Python"
    if handler == signal.SIG_DFL:
        return "the default action (SIG_DFL)"
    if handler == signal.SIG_IGN:
        return "SIG_IGN (ignored)"
    owner = getattr(handler, "__self__", None)
    func = getattr(handler, "__func__", handler)
    module = getattr(func, "__module__", None) or type(owner).__module__
    qualname = getattr(func, "__qualname__", None)
    if qualname:
        return f"{module}.{qualname}" if module else str(qualname)
    return repr(handler)[:200]


def signal_state() -> Optional[SignalState]:
    """Whether the report signal is still ours: ``{"name", "ours",
    "takenOverBy"}``, or ``None`` when no signal is armed."""
    from .arming import ARMED

    trigger = ARMED.signal_trigger
    if trigger is None or not trigger.installed:
        return None
    from .triggers.signal import signal_name

    try:
        current = signal.getsignal(trigger.signum)
    except (ValueError, OSError):
        return None
    state: SignalState = {"name": signal_name(trigger.signum), "ours": current == trigger.handle}
    if not state["ours"]:
        state["takenOverBy"] = handler_name(current)
    return state


def describe() -> Dict[str, Any]:
    """The facts ``info`` answers (run in the channel's thread)."""
    from .arming import ARMED

    armed = ARMED.options
    facts = dict(_facts)
    if armed is not None:
        try:
            current = armed.resolved()  # a conf parsed after setup_autorun counts
        except Exception:
            current = armed
        facts.update(
            service=current.service_name,
            logDir=os.path.abspath(current.log_dir) if current.log_dir else None,
            formats=list(current.formats or ("text",)),
        )
    state = signal_state()
    facts["signalState"] = state
    answers = ["channel"]
    if state is not None:
        facts["signal"] = state["name"]
        facts["signalOurs"] = state["ours"]
        if state["ours"]:
            answers.append(state["name"])
        else:
            facts["signalTakenOverBy"] = state["takenOverBy"]
    else:
        facts["signal"] = ""
    from . import servers

    try:
        facts["role"] = servers.role()
    except Exception:
        facts["role"] = None
    facts.update(
        answersTo=answers,
        ppid=os.getppid(),
        uid=os.geteuid(),
        executable=sys.executable or "",
    )
    return facts


def submit(sink: Any, fmt: str) -> None:
    """A report for the channel, through the gate like every trigger's."""
    from .arming import ARMED
    from .pipeline import ReportRequest

    ARMED.submit(
        ReportRequest(
            "cli",
            "gurumeditation report",
            producer_name="gurumeditation-channel",
            sink=sink,
            formats=(fmt,),
        )
    )

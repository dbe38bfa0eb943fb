"""Which processes of this host have reports enabled.

An armed process records itself in a per-user runtime directory: one file
``<pid>.json`` with its pid, service name, signal, where reports go, in
which formats, and the process's start time.  ``gurumeditation list`` reads
them; ``gurumeditation report PID`` finds the signal there.

The directory is ``$XDG_RUNTIME_DIR/gurumeditation/`` when that variable
names a directory of this user, else ``<temp dir>/gurumeditation-<uid>/``.
It is created 0700; one that is not a real directory owned by this user is
refused (someone else could read the entries or plant requests in it).

An entry is removed when its process exits (``atexit``).  One left behind
(the process was killed) is stale: its pid is gone, or now names another
process (the start time in ``/proc/PID/stat`` differs) — readers ignore and
delete it.
"""

from __future__ import annotations

import atexit
import json
import os
import stat
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence

DIR_NAME = "gurumeditation"
ENTRY_SUFFIX = ".json"

#: The runtime directory this process registered in, and its pid then
#: (a forked child is not the registered process).
_registered: Dict[str, Any] = {}


class RuntimeDirError(OSError):
    """The runtime directory exists but is not safe to use."""


def _owned_dir(path: str, uid: int) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == uid


def runtime_dir(create: bool = False, uid: Optional[int] = None, xdg: Optional[str] = None) -> str:
    """The runtime directory of ``uid`` (default: this user).  With
    ``create``, a missing one is made 0700.  Raises :class:`RuntimeDirError`
    when it exists but is a symlink, not a directory, or owned by another user
    (a directory of ours with wider permissions is narrowed to 0700)."""
    me = os.getuid()
    uid = me if uid is None else uid
    if xdg is None and uid == me:
        xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isabs(xdg) and _owned_dir(xdg, uid):
        path = os.path.join(xdg, DIR_NAME)
    else:
        path = os.path.join(tempfile.gettempdir(), f"{DIR_NAME}-{uid}")
    if create:
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
    check_private(path, uid)
    return path


def check_private(path: str, uid: int) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        raise RuntimeDirError(f"{path} is not a directory (a symlink or a file): refusing it")
    if st.st_uid != uid:
        raise RuntimeDirError(f"{path} belongs to uid {st.st_uid}, not {uid}: refusing it")
    if stat.S_IMODE(st.st_mode) & 0o077:
        if uid != os.getuid():
            raise RuntimeDirError(f"{path} is open to other users: refusing it")
        os.chmod(path, 0o700)


# -- /proc facts ----------------------------------------------------------------


def start_ticks(pid: int) -> Optional[int]:
    """When ``pid`` started, in clock ticks since boot (``/proc/PID/stat``
    field 22); ``None`` where there is no ``/proc`` or the pid is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read().decode("ascii", "replace")
        return int(text[text.rindex(")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def uptime_of(pid: int, entry: Optional[Dict[str, Any]] = None) -> Optional[float]:
    """Seconds since ``pid`` started (from ``/proc``), else since it armed."""
    ticks = start_ticks(pid)
    if ticks is not None:
        try:
            with open("/proc/uptime", encoding="ascii") as f:
                boot_seconds = float(f.read().split()[0])
            return max(0.0, boot_seconds - ticks / os.sysconf("SC_CLK_TCK"))
        except (OSError, ValueError, IndexError):
            pass
    if entry and isinstance(entry.get("armedAt"), (int, float)):
        return max(0.0, time.time() - float(entry["armedAt"]))
    return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- this process ---------------------------------------------------------------


def entry_path(directory: str, pid: int) -> str:
    return os.path.join(directory, f"{pid}{ENTRY_SUFFIX}")


def register(
    service: str,
    signum: int,
    signal_name: str,
    log_dir: Optional[str],
    formats: Sequence[str],
) -> str:
    """Record this process as armed; returns the entry's path.  Raises
    ``OSError`` (:class:`RuntimeDirError` included) when it cannot."""
    directory = runtime_dir(create=True)
    pid = os.getpid()
    entry = {
        "pid": pid,
        "service": service,
        "signal": signal_name,
        "signum": signum,
        "logDir": os.path.abspath(log_dir) if log_dir else None,
        "formats": list(formats),
        "startTicks": start_ticks(pid),
        "armedAt": time.time(),
        "executable": sys.executable or "",
        "argv0": sys.argv[0] if getattr(sys, "argv", None) else "",
    }
    write_entry(directory, entry)
    first = not _registered
    _registered.update(dir=directory, pid=pid, path=entry_path(directory, pid), entry=entry)
    if first:
        atexit.register(unregister)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_register_forked_child)
    return entry_path(directory, pid)


def _register_forked_child() -> None:
    """A forked child of a registered process is armed too (same handlers,
    same settings): list it under its own pid.  Never raises."""
    try:
        saved = _registered.get("entry")
        if not saved or _registered.get("pid") == os.getpid():
            return
        pid = os.getpid()
        entry = dict(saved, pid=pid, startTicks=start_ticks(pid), armedAt=time.time())
        write_entry(_registered["dir"], entry)
        _registered.update(pid=pid, path=entry_path(_registered["dir"], pid), entry=entry)
    except Exception:
        pass


def write_entry(directory: str, entry: Dict[str, Any]) -> None:
    """Write ``entry`` as ``<pid>.json``, atomically, 0600."""
    path = entry_path(directory, int(entry["pid"]))
    tmp = f"{path}.{time.monotonic_ns()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(entry, f)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def unregister() -> None:
    """Remove this process's entry (at exit; not from a forked child)."""
    if _registered.get("pid") != os.getpid():
        return
    try:
        os.unlink(_registered["path"])
    except OSError:
        pass
    _registered.clear()


def registered_dir() -> Optional[str]:
    """The runtime directory this very process registered in, if any."""
    if _registered.get("pid") == os.getpid():
        return str(_registered["dir"])
    return None


# -- readers --------------------------------------------------------------------


def read_entry(path: str) -> Optional[Dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as f:
            entry = json.load(f)
    except (OSError, ValueError):
        return None
    return entry if isinstance(entry, dict) and isinstance(entry.get("pid"), int) else None


def is_current(entry: Dict[str, Any]) -> bool:
    """The entry's process still runs (same pid, same start time)."""
    pid = int(entry["pid"])
    if not pid_alive(pid):
        return False
    recorded = entry.get("startTicks")
    if recorded is None:
        return True
    now = start_ticks(pid)
    return now is None or now == recorded


def entries(directory: Optional[str] = None, clean: bool = True) -> List[Dict[str, Any]]:
    """The armed processes recorded in ``directory`` (default: this user's),
    by pid; stale entries are skipped and, with ``clean``, deleted."""
    if directory is None:
        directory = runtime_dir(create=False)
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    found = []
    for name in names:
        stem = name[: -len(ENTRY_SUFFIX)]
        if clean and ".request." in name:
            _drop_if_unanswerable(os.path.join(directory, name), name.split(".", 1)[0])
        if not name.endswith(ENTRY_SUFFIX) or not stem.isdigit():
            continue
        path = os.path.join(directory, name)
        entry = read_entry(path)
        if entry is not None and entry["pid"] == int(stem) and is_current(entry):
            found.append(entry)
        elif clean:
            try:
                os.unlink(path)
            except OSError:
                pass
    found.sort(key=lambda e: int(e["pid"]))
    return found


#: A request file is dropped once its process is gone, or after this long.
REQUEST_MAX_AGE_S = 300.0


def _drop_if_unanswerable(path: str, pid_text: str) -> None:
    """Remove a report request left behind (its process died, or nobody
    answered it for a long time)."""
    try:
        old = time.time() - os.lstat(path).st_mtime > REQUEST_MAX_AGE_S
        if old or not pid_text.isdigit() or not pid_alive(int(pid_text)):
            os.unlink(path)
    except OSError:
        pass


def find(pid: int, directory: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """The current entry of ``pid``, or ``None``."""
    if directory is None:
        directory = runtime_dir(create=False)
    entry = read_entry(entry_path(directory, pid))
    if entry is None or entry["pid"] != pid:
        return None
    if not is_current(entry):
        try:
            os.unlink(entry_path(directory, pid))
        except OSError:
            pass
        return None
    return entry

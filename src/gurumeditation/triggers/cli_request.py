"""Reports asked for by ``gurumeditation report PID``.

The command line cannot read a report off the process's stderr, so it says
where it wants it: it drops a request file into the runtime directory the
process registered in (see :mod:`gurumeditation.discovery`) — the output
path and the format — then sends the process its signal.  When a report is
made, :func:`take` picks up the requests addressed to this process, and the
report is written to each requested path instead of the usual sink.

Only this user (or root) can write in the runtime directory (it is 0700 and
checked), so only they can ask.  The output is written under a temporary
name, created 0600 without following a symlink, and renamed into place when
complete: a reader that sees the file sees all of it.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Dict, List

MARK = ".request."
SUFFIX = ".json"
#: Requests older than this are dropped unanswered (the asker gave up).
MAX_AGE_S = 300.0

Request = Dict[str, Any]


def write_request(directory: str, pid: int, fmt: str, output: str) -> str:
    """Ask process ``pid`` (registered in ``directory``) for a report in
    ``fmt`` written to ``output``; returns the request file's path."""
    request = {"pid": pid, "format": fmt, "output": os.path.abspath(output), "at": time.time()}
    nonce = f"{os.getpid()}-{time.monotonic_ns()}"
    path = os.path.join(directory, f"{pid}{MARK}{nonce}{SUFFIX}")
    tmp = os.path.join(directory, f".{pid}{MARK}{nonce}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(request, f)
    os.replace(tmp, path)
    return path


def take(directory: str, pid: int) -> List[Request]:
    """The pending requests for ``pid``, oldest first, removed from the
    directory (each is answered once)."""
    prefix = f"{pid}{MARK}"
    try:
        names = sorted(n for n in os.listdir(directory) if n.startswith(prefix))
    except OSError:
        return []
    found = []
    now = time.time()
    for name in names:
        path = os.path.join(directory, name)
        try:
            with open(path, encoding="utf-8") as f:
                request = json.load(f)
            os.unlink(path)
        except (OSError, ValueError):
            continue
        if (
            isinstance(request, dict)
            and request.get("pid") == pid
            and isinstance(request.get("output"), str)
            and os.path.isabs(request["output"])
            and now - float(request.get("at", 0)) < MAX_AGE_S
        ):
            found.append(request)
    return found


def answer(request: Request, text: str) -> str:
    """Write ``text`` where ``request`` asked; returns the path."""
    output = str(request["output"])
    tmp = f"{output}.{os.getpid()}.partial"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        data = memoryview(text.encode("utf-8", "replace"))
        while data:
            data = data[os.write(fd, data) :]
    finally:
        os.close(fd)
    os.replace(tmp, output)
    return output

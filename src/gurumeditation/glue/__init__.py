"""What this library knows of other libraries' internals: one module each.

Every module here reads only what the process has loaded (``sys.modules``)
and imports nothing of the library it knows, so ``import gurumeditation``
stays cheap and a process without eventlet never pays for eventlet's glue:
each function answers "nothing" (``None``, an empty set) when its library is
not loaded.  Sections ask these modules; they never ask the libraries.

* :mod:`.greenlet`: greenlet objects, their ``parent`` chains, their states,
  which OS thread they belong to, and finding them on the heap.
* :mod:`.eventlet`: hub classes, the running hub, the wrappers that run a
  greenthread's function, the originals kept by monkey patching.
* :mod:`.gevent`: the ``Hub`` class, the running hub, ``Greenlet`` names and
  spawning stacks, the originals kept by monkey patching.
* :mod:`.asyncio`: task registries of every Python version, event loops, the
  task running in each loop, await chains, futures a task waits on.

Glue for servers (gunicorn, uWSGI, uvicorn, hypercorn) lives beside this, in
:mod:`gurumeditation.servers`, one module per server, with the same rule:
consulted only when its module is in ``sys.modules``.
"""

from __future__ import annotations

import sys
from typing import Any, Optional


def loaded(name: str) -> Optional[Any]:
    """The module ``name`` if the process imported it, else ``None`` (never imports)."""
    return sys.modules.get(name)

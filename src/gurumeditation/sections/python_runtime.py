"""Python Runtime: which interpreter, started how, tuned how.

Redaction: the section redacts itself (``redacted=True``): every
free-form string an application or its command line could set (executable,
prefixes, ``sys.path`` entries, ``-X`` and ``-W`` options, hook names) goes
through the redactor; flags and numbers are shown as they are.

Everything comes from ``sys`` and from modules the process already loaded
(``faulthandler``, ``tracemalloc``, ``asyncio`` are looked up in
``sys.modules``, never imported here).

Data: :class:`~gurumeditation.model.PythonRuntimeData`.
"""

from __future__ import annotations

import sys
from typing import Any, Dict, List, Optional, cast

from ..model import PythonRuntimeData, safe_repr
from ..report import Context, SectionSpec

try:  # built into CPython (tracing may be on from -X tracemalloc without the
    # tracemalloc module ever imported); imported here, at setup
    import _tracemalloc
except ImportError:  # pragma: no cover  (PyPy)
    _tracemalloc = None  # type: ignore[assignment]

#: Attributes of a struct sequence such as ``sys.flags`` that are not fields.
_NOT_FIELDS = {"count", "index", "n_fields", "n_sequence_fields", "n_unnamed_fields"}


def struct_fields(value: Any) -> Dict[str, Any]:
    """The named fields of a ``sys.flags``-like struct sequence."""
    names = getattr(value, "__match_args__", None)
    if names is None:
        names = [n for n in dir(value) if not n.startswith("_") and n not in _NOT_FIELDS]
    out: Dict[str, Any] = {}
    for name in names:
        field = getattr(value, name, None)
        out[name] = field if isinstance(field, (bool, int, float, str)) else safe_repr(field)
    return out


def _hook_name(hook: Any) -> Optional[str]:
    if hook is None:
        return None
    module = getattr(hook, "__module__", None)
    name = getattr(hook, "__qualname__", None) or getattr(type(hook), "__qualname__", None)
    if name:
        return f"{module}.{name}" if module else str(name)
    return safe_repr(hook)


def asyncio_debug() -> Optional[bool]:
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return None
    loop: Any = None
    try:
        loop = asyncio.events._get_running_loop()
    except Exception:
        loop = None
    if loop is None:
        try:
            policy = asyncio.events._event_loop_policy
            local = getattr(policy, "_local", None)
            loop = getattr(local, "_loop", None)
        except Exception:
            loop = None
    if loop is not None:
        try:
            return bool(loop.get_debug())
        except Exception:
            pass
    try:
        return bool(asyncio.coroutines._is_debug_mode())
    except Exception:
        return bool(sys.flags.dev_mode)


def gil_facts() -> Dict[str, bool]:
    free_threading = "t" in getattr(sys, "abiflags", "")
    is_enabled = getattr(sys, "_is_gil_enabled", None)
    gil = True
    if callable(is_enabled):
        try:
            gil = bool(is_enabled())
        except Exception:
            pass
    return {"free_threading_build": free_threading, "gil_enabled": gil}


def collect(ctx: Context) -> PythonRuntimeData:
    faulthandler = sys.modules.get("faulthandler")
    tracemalloc_c = _tracemalloc
    version_text = sys.version.split("\n")
    first, _, build = " ".join(version_text).partition(" ")
    xoptions: Dict[str, Any] = {
        str(k): ctx.redactor.value(str(k), v if isinstance(v, (bool, str)) else safe_repr(v))
        for k, v in getattr(sys, "_xoptions", {}).items()
    }
    text = ctx.redactor.text
    path: List[str] = [text(str(p)) for p in sys.path]
    data: Dict[str, Any] = {
        "implementation": sys.implementation.name,
        "version": first,
        "build": build.strip(),
        "executable": text(sys.executable or ""),
        "prefix": text(sys.prefix),
        "base_prefix": text(getattr(sys, "base_prefix", sys.prefix)),
        "virtualenv": sys.prefix != getattr(sys, "base_prefix", sys.prefix),
        "platform": sys.platform,
        "flags": struct_fields(sys.flags),
        "xoptions": xoptions,
        "warnoptions": [text(str(w)) for w in sys.warnoptions],
        "path": path,
        "switch_interval_s": sys.getswitchinterval(),
        "recursion_limit": sys.getrecursionlimit(),
        "filesystem_encoding": sys.getfilesystemencoding(),
        "default_encoding": sys.getdefaultencoding(),
    }
    data.update(gil_facts())
    data["faulthandler"] = bool(faulthandler is not None and faulthandler.is_enabled())
    data["tracemalloc"] = bool(tracemalloc_c is not None and tracemalloc_c.is_tracing())
    data["asyncio_debug"] = asyncio_debug()
    for key, hook in (("trace_hook", sys.gettrace()), ("profile_hook", sys.getprofile())):
        name = _hook_name(hook)
        data[key] = None if name is None else text(name)
    return cast(PythonRuntimeData, data)  # built key by key, in the document's order


SECTION = SectionSpec("python_runtime", "Python Runtime", collect, redacted=True)

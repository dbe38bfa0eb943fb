"""Packages: the installed distributions that provide the modules this
process has loaded, with their versions, and the extension modules' files.

Cheap while reporting: an index of the installed distributions (which
top-level modules each provides) is built once per ``sys.path`` entry —
ahead of time by ``setup_autorun`` (see :func:`prepare`), else by the first
report — and a report only looks the loaded top-level modules up in it.
Nothing is imported while reporting.

The index follows the packaging specifications directly (``*.dist-info``
and ``*.egg-info`` directories on ``sys.path``, their ``METADATA`` or
``PKG-INFO`` headers for name and version, ``top_level.txt`` or ``RECORD``
for the modules, a ``.pth`` file listed in ``RECORD`` for the source
directory of an editable install).  That is what
``importlib.metadata.packages_distributions()`` reads too, at a fraction of
its cost (it parses every ``RECORD`` into path objects: ~180 ms for 100
distributions here, and importing ``importlib.metadata`` costs ~35 ms more).

Redaction: the section redacts itself (``redacted=True``).  Distribution
names, versions and module names are identifiers, shown as they are; a file
path or install location goes through the redactor when it contains ``=`` or
``@`` (the marks of a ``key=value`` pair or URL credentials) — searching
every path for bare token formats would cost more than the section.

Data: :class:`~gurumeditation.model.DistributionsData`.
"""

from __future__ import annotations

import importlib.machinery
import os
import re
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Set, Tuple

from ..model import DistributionsData, InstalledDistribution, ModuleFile
from ..report import Context, SectionSpec

_EXTENSION_SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES)
_SKIP_TOP = {"..", "__pycache__", ""}
_HIDDEN_MODULES = {"__main__", "__mp_main__"}
#: sys.modules aliases made by monkey patchers (eventlet's
#: ``__original_module_select``, ``__patched_module_dns``): not modules of
#: their own.
_ALIAS_PREFIXES = ("__original_module_", "__patched_module_")
_STDLIB_NAMES: Set[str] = set(getattr(sys, "stdlib_module_names", ()))
_STDLIB_DIR = os.path.dirname(os.__file__) if getattr(os, "__file__", None) else ""


class Distribution:
    __slots__ = ("location", "metadata", "name", "tops", "version")

    def __init__(
        self, name: str, version: str, location: str, tops: Set[str], metadata: str = ""
    ) -> None:
        self.name = name
        self.version = version
        self.location = location
        self.tops = tops
        #: its core metadata file (``METADATA``/``PKG-INFO``), "" when unknown
        self.metadata = metadata

    def vendor(self) -> Optional[str]:
        """Who makes it, from its core metadata: ``Author``, else the name
        of ``Author-email``, else ``Maintainer`` (``None``: none said)."""
        if not self.metadata:
            return None
        try:
            text = _read(self.metadata, 16384)
        except OSError:
            return None
        fields: Dict[str, str] = {}
        for line in text.splitlines():
            if not line.strip():
                break
            key, sep, value = line.partition(":")
            if sep and key in ("Author", "Author-email", "Maintainer", "Maintainer-email"):
                fields.setdefault(key, value.strip())
        for key in ("Author", "Author-email", "Maintainer", "Maintainer-email"):
            value = fields.get(key, "")
            if key.endswith("-email"):  # "Name <address>, Other <address>": the names
                names = [part.split("<")[0].strip().strip('"') for part in value.split(",")]
                value = ", ".join(n for n in names if n)
            if value and value.upper() != "UNKNOWN":
                return value
        return None


class Index:
    """Installed distributions by the top-level module names they provide,
    built per ``sys.path`` entry."""

    def __init__(self) -> None:
        self.entries: Set[str] = set()
        self.by_top: Dict[str, List[Distribution]] = {}
        #: Source directories of editable installs (from their .pth files).
        self.roots: List[Tuple[str, Distribution]] = []
        self.count = 0
        self.build_ms = 0.0
        self.lock = threading.Lock()

    def add_entries(self, entries: List[str]) -> bool:
        """Index the ``sys.path`` entries not indexed yet; True if any was."""
        new = [e for e in entries if e not in self.entries]
        if not new:
            return False
        started = time.perf_counter()
        for entry in new:
            self.entries.add(entry)
            for dist, roots in scan_entry(entry):
                self.count += 1
                for top in dist.tops:
                    self.by_top.setdefault(top, []).append(dist)
                for root in roots:
                    self.roots.append((root, dist))
        self.build_ms += (time.perf_counter() - started) * 1000.0
        return True

    def find(self, top: str, file: Optional[str]) -> List[Distribution]:
        found = self.by_top.get(top)
        if found:
            return found
        if file:
            for root, dist in self.roots:
                if file.startswith(root):
                    return [dist]
        return []


def _read(path: str, limit: int = -1) -> str:
    with open(path, "rb") as f:
        return f.read(limit).decode("utf-8", "replace")


def metadata_name_version(text: str) -> Tuple[Optional[str], Optional[str]]:
    """``Name`` and ``Version`` from the header block of core metadata."""
    name = version = None
    for line in text.splitlines():
        if not line.strip():
            break
        if line.startswith("Name:"):
            name = line[5:].strip()
        elif line.startswith("Version:"):
            version = line[8:].strip()
        if name and version:
            break
    return name, version


def _module_of(component: str) -> Optional[str]:
    """The top-level module a RECORD path's first component provides."""
    if component in _SKIP_TOP or component.endswith((".dist-info", ".egg-info", ".data", ".pth")):
        return None
    if component.endswith(".py"):
        return component[:-3]
    if component.endswith(_EXTENSION_SUFFIXES):
        return component.split(".", 1)[0]
    if "." in component:
        return None  # a data file next to the packages
    return component


#: The first component of a path in a RECORD and what follows it: "/" (a
#: directory) or "," (a file at the top of the install location).  One match
#: swallows the following lines under the same directory, so a RECORD of
#: thousands of lines costs a few matches (~5x faster than one per line).
_RECORD_FIRST = re.compile(r'^"?([^/,\r\n]*)([/,])[^\n]*(?:\n"?\1/[^\n]*)*', re.MULTILINE)


def record_tops(record: str) -> Tuple[Set[str], List[str]]:
    """Top-level modules and ``.pth`` files listed in a RECORD."""
    tops: Set[str] = set()
    pths: List[str] = []
    for first, sep in set(_RECORD_FIRST.findall(record)):
        if sep == "," and first.endswith(".pth"):
            pths.append(first)
            continue
        module = _module_of(first)
        if module:
            tops.add(module)
    pths.sort()
    return tops, pths


def _pth_roots(entry: str, pths: List[str]) -> List[str]:
    roots: List[str] = []
    for pth in pths:
        try:
            lines = _read(os.path.join(entry, pth), 65536).splitlines()
        except OSError:
            continue
        for line in lines:
            line = line.strip()
            if line and not line.startswith(("#", "import ")) and os.path.isabs(line):
                roots.append(line.rstrip("/") + "/")
    return roots


def scan_entry(entry: str) -> List[Tuple[Distribution, List[str]]]:
    """Distributions installed in one ``sys.path`` directory."""
    found: List[Tuple[Distribution, List[str]]] = []
    try:
        names = os.listdir(entry or ".")
    except OSError:
        return found  # not a directory (a zip, a missing entry)
    for dirname in names:
        if dirname.endswith(".dist-info"):
            meta_file = "METADATA"
        elif dirname.endswith(".egg-info"):
            meta_file = "PKG-INFO"
        else:
            continue
        path = os.path.join(entry, dirname)
        if not os.path.isdir(path):
            continue
        stem = dirname.rsplit(".", 1)[0]
        guess_name, _, guess_version = stem.partition("-")
        try:
            name, version = metadata_name_version(_read(os.path.join(path, meta_file), 8192))
        except OSError:
            name = version = None
        tops: Set[str] = set()
        pths: List[str] = []
        try:
            tops = {t.strip() for t in _read(os.path.join(path, "top_level.txt")).split()}
            tops.discard("")
        except OSError:
            pass
        if not tops:
            try:
                tops, pths = record_tops(_read(os.path.join(path, "RECORD")))
            except OSError:
                pass
        if not tops and not pths:
            tops = {(name or guess_name).replace("-", "_").lower()}
        dist = Distribution(
            name or guess_name,
            version or guess_version.split("-")[0] or "?",
            entry,
            tops,
            os.path.join(path, meta_file),
        )
        found.append((dist, _pth_roots(entry, pths)))
    return found


_INDEX = Index()


def prepare(paths: Optional[List[str]] = None) -> Index:
    """Index the distributions on ``sys.path`` now (at setup) and sort out
    the modules loaded so far, so that a report only has to look up the
    modules loaded since."""
    with _INDEX.lock:
        _INDEX.add_entries(list(sys.path if paths is None else paths))
        if paths is None:
            _sort_loaded(_INDEX)  # the modules loaded so far, classified once
    return _INDEX


#: ``from pkg.mod import func`` in the wrapper pip and installers write for a
#: console script (``/usr/bin/uvicorn``, ``.venv/bin/gunicorn``)
_WRAPPER_IMPORT = re.compile(r"^from ([A-Za-z_][A-Za-z0-9_.]*) import ", re.MULTILINE)


def main_module_top() -> Tuple[Optional[str], Optional[str]]:
    """(top-level module, file) of the program this process runs:
    ``python -m pkg.mod`` gives ``pkg``; a console script's wrapper the
    package it imports its entry point from; a script its own file (found
    in a distribution only when installed editable from there)."""
    main = sys.modules.get("__main__")
    file = _file_of(main) if main is not None else None
    name = getattr(getattr(main, "__spec__", None), "name", None)
    if name and name not in _HIDDEN_MODULES:
        return str(name).split(".")[0], file
    if file is None:  # a multiprocessing spawn child of `python -m pkg`: argv is the parent's
        argv = getattr(sys, "argv", None) or [""]
        file = argv[0] if argv[0] and os.path.isfile(argv[0]) else None
    if file is None:
        return None, None
    here = os.path.abspath(file)
    for entry in sys.path:
        root = os.path.abspath(entry) if entry else ""
        if root and here.startswith(root + os.sep) and "site-packages" in root:
            first = here[len(root) + 1 :].split(os.sep)[0]
            return (first[:-3] if first.endswith(".py") else first), file
    if not file.endswith((".py", ".pyc", "/")):
        try:
            head = _read(file, 2048)
        except OSError:
            head = ""
        match = _WRAPPER_IMPORT.search(head) if head.startswith("#!") else None
        if match:
            return match.group(1).split(".")[0], None
    return None, file


def main_distribution() -> Optional[Distribution]:
    """The installed distribution the main module comes from (the index
    as :func:`prepare` built it; nothing imported), or ``None``."""
    top, file = main_module_top()
    if top is None and file is None:
        return None
    with _INDEX.lock:
        if not _INDEX.entries:
            _INDEX.add_entries([str(p) for p in sys.path])
        found = _INDEX.find(top or "", file)
    return found[0] if found else None


def _file_of(module: Any) -> Optional[str]:
    try:
        file = getattr(module, "__file__", None)
        if file:
            return str(file)
        path = getattr(module, "__path__", None)  # a namespace package
        if path:
            for p in path:
                return str(p) + "/"
    except Exception:
        pass
    return None


def _is_stdlib(name: str, file: Optional[str]) -> bool:
    if name in _STDLIB_NAMES or name in sys.builtin_module_names:
        return True
    if file is None:
        return True  # frozen or built in
    if _STDLIB_DIR and file.startswith(_STDLIB_DIR + os.sep):
        return "site-packages" not in file and "dist-packages" not in file
    return False


def _redact_path(ctx: Context, path: Optional[str]) -> Optional[str]:
    if path and ("=" in path or "@" in path):
        return ctx.redactor.text(path)
    return path


def _update_index(index: Any, notes: List[str]) -> bool:
    """Index the ``sys.path`` entries not indexed yet; whether that was done
    now (during the report), with a note saying so or why it was not."""
    before = index.build_ms
    if not index.lock.acquire(timeout=1.0):
        notes.append("package index busy (being built by another thread): lookups may be partial")
        return False
    try:
        built = bool(index.add_entries([str(p) for p in sys.path]))
    finally:
        index.lock.release()
    if built:
        notes.append(
            f"package index built during this report ({index.build_ms - before:.1f} ms): "
            "setup_autorun builds it ahead of time"
        )
    return built


#: (file, whether an extension module, the distributions providing it when it
#: is a top-level module, whether a top-level module of no distribution)
_Outcome = Tuple[Optional[str], bool, Tuple[Distribution, ...], bool]


#: What each loaded module was found to be, by name: the module object it
#: was found of and its :func:`_classify` outcome.  Kept from one report to
#: the next (and made at setup, :func:`prepare`), so a report classifies only
#: the modules loaded since; emptied when the index changes.
_SEEN: Dict[str, Tuple[Any, _Outcome]] = {}
#: The index's (distributions, path entries) when :data:`_SEEN` was made.
_SEEN_GENERATION = (-1, -1)


def _classify(index: Any, name: str, module: Any) -> _Outcome:
    file = _file_of(module)
    extension = bool(file and file.endswith(_EXTENSION_SUFFIXES))
    if "." in name or name in _HIDDEN_MODULES:
        return file, extension, (), False
    dists = tuple(index.find(name, file))
    return file, extension, dists, not dists and not _is_stdlib(name, file)


def _sort_loaded(
    index: Any,
) -> Tuple[Dict[int, Tuple[Distribution, List[str]]], List[ModuleFile], List[ModuleFile]]:
    """The loaded modules sorted out: top-level modules by the distribution
    providing them, top-level modules of none (not of the standard library),
    and extension modules."""
    global _SEEN, _SEEN_GENERATION
    by_dist: Dict[int, Tuple[Distribution, List[str]]] = {}
    unpackaged: List[ModuleFile] = []
    extensions: List[ModuleFile] = []
    generation = (index.count, len(index.entries))
    seen = _SEEN if _SEEN_GENERATION == generation else {}
    fresh: Dict[str, Tuple[Any, _Outcome]] = {}
    for name, module in list(sys.modules.items()):
        if module is None or name.startswith(_ALIAS_PREFIXES):
            continue
        hit = seen.get(name)
        if hit is None or hit[0] is not module:
            hit = (module, _classify(index, name, module))
        fresh[name] = hit
        file, extension, dists, alone = hit[1]
        if extension:
            extensions.append({"module": name, "file": file})
        for dist in dists:
            by_dist.setdefault(id(dist), (dist, []))[1].append(name)
        if alone:
            unpackaged.append({"module": name, "file": file})
    _SEEN, _SEEN_GENERATION = fresh, generation
    return by_dist, unpackaged, extensions


def collect(ctx: Context) -> DistributionsData:
    notes: List[str] = []
    index = _INDEX
    built = _update_index(index, notes)
    by_dist, unpackaged, extensions = _sort_loaded(index)
    distributions: List[InstalledDistribution] = [
        {
            "name": dist.name,
            "version": dist.version,
            "modules": sorted(mods),
            "location": dist.location,
        }
        for dist, mods in by_dist.values()
    ]
    distributions.sort(key=lambda d: (d["name"].lower(), d["location"]))
    for dist_facts in distributions:
        dist_facts["location"] = _redact_path(ctx, dist_facts["location"]) or ""
    for item in unpackaged + extensions:
        item["file"] = _redact_path(ctx, item["file"])
    unpackaged.sort(key=lambda u: u["module"])
    extensions.sort(key=lambda e: e["module"])
    return {
        "distributions": distributions,
        "unpackaged": unpackaged,
        "extensions": extensions,
        "index": {
            "distributions": index.count,
            "path_entries": len(index.entries),
            "build_ms": round(index.build_ms, 3),
            "built_during_report": built,
        },
        "notes": notes,
    }


SECTION = SectionSpec("packages", "Packages", collect, redacted=True)

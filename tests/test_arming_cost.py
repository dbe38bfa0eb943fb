"""Arming in two steps (issue 16): ``setup_autorun`` from a bare interpreter
imports only what a bare interpreter has (and a few of our modules), a
loader thread of ours imports the rest right after, and a report asked for
meanwhile is never lost, never made twice and never deadlocks on an import
lock — the signal handler runs in the main thread, which may be inside an
import."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import wait_for_reports
from helpers import script

#: What arming a bare interpreter must not import (each costs milliseconds).
HEAVY = (
    "dataclasses",
    "typing",
    "re",
    "inspect",
    "enum",
    "signal",
    "socket",
    "tempfile",
    "gurumeditation.options",
    "gurumeditation.report",
    "gurumeditation.sections",
    "gurumeditation.arming",
)

#: What the main thread imports while arming: the loader thread starts
#: before ``setup_autorun`` returns and may import its first modules while
#: the main thread waits for the GIL, so only the main thread's imports count.
ARM_BARE = """
import sys, _thread
main = _thread.get_ident()
by_main = set()
class Recorder:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if _thread.get_ident() == main:
            by_main.add(name)
        return None
sys.meta_path.insert(0, Recorder)
before = set(sys.modules)
from gurumeditation import TextGuruMeditation
TextGuruMeditation.setup_autorun('1', service_name='bare', log_dir=sys.argv[1])
added = sorted((set(sys.modules) - before) & by_main)
sys.meta_path.remove(Recorder)
from gurumeditation import early
early.ensure_loaded()
import threading
loaded = sorted(n for n in sys.modules if n.startswith('gurumeditation.'))
main_ok = threading.main_thread().ident == threading.get_ident()
print(len(added), ','.join(added))
print(','.join(loaded))
print(main_ok, repr(early.STATE.failure))
"""


def test_arming_a_bare_interpreter_imports_little_and_the_loader_the_rest(
    tmp_path: Path,
) -> None:
    out = subprocess.run(
        [sys.executable, "-c", ARM_BARE, str(tmp_path / "logs")],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    first, second, third = out.stdout.strip().splitlines()
    count, added = first.split(" ", 1)
    added_names = set(added.split(","))
    assert int(count) <= 40, added
    assert not added_names & set(HEAVY), sorted(added_names & set(HEAVY))
    loaded = set(second.split(","))
    for name in (
        "gurumeditation.arming",
        "gurumeditation.pipeline",
        "gurumeditation.sections.threads",
        "gurumeditation.render.text",
        "gurumeditation.sinks",
        "gurumeditation.triggers.watcher",
        "gurumeditation.discovery",
    ):
        assert name in loaded, (name, sorted(loaded))
    # threading was imported by the main thread, not by the loader
    assert third == "True ''", (third, out.stderr)


IN_IMPORT_MODULE = """
import os, signal, sys
from gurumeditation import early
LOADING = early.STATE.loading
os.kill(os.getpid(), signal.SIGUSR2)  # the handler runs here, inside this import
WRITTEN_AT_ONCE = bool([n for n in os.listdir(sys.argv[1]) if not n.startswith('.')])
"""

IN_IMPORT = """
import os, signal, sys, time
calls = []
signal.signal(signal.SIGUSR2, lambda s, f: calls.append(s))
from gurumeditation import TextGuruMeditation
TextGuruMeditation.setup_autorun('1', service_name='inimport', log_dir=sys.argv[1])
sys.path.insert(0, sys.argv[2])
import module_that_signals as m
deadline = time.monotonic() + 20
while not [n for n in os.listdir(sys.argv[1]) if not n.startswith('.')]:
    if time.monotonic() > deadline:
        break
    time.sleep(0.01)
time.sleep(0.5)  # a second report or a second chained call would show by now
print('READY', m.LOADING, m.WRITTEN_AT_ONCE, len(calls), flush=True)
while True:
    time.sleep(0.05)
"""


def test_a_signal_inside_an_import_while_loading_is_answered_once_ready(
    service, tmp_path: Path
) -> None:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    modules = tmp_path / "mods"
    modules.mkdir()
    (modules / "module_that_signals.py").write_text(IN_IMPORT_MODULE)
    svc = service(IN_IMPORT, args=[str(log_dir), str(modules)])
    _, loading, at_once, calls = svc.ready_line.split()
    # the loader was still running: the handler did not wait for it (this
    # thread holds the lock of the module it imports), it noted the signal
    assert loading == "True"
    assert at_once == "False"
    [path] = wait_for_reports(log_dir, 1)
    text = path.read_text()
    # sent again once ready: written by the main thread as any report
    assert "written by thread MainThread (main thread)" in text
    assert "module_that_signals" in text or "<module>" in text
    # the handler from before was called once, for the one signal sent
    assert calls == "1"
    time.sleep(0.3)
    assert len([p for p in log_dir.iterdir() if not p.name.startswith(".")]) == 1
    assert svc.alive()
    assert "Traceback" not in svc.stderr()


FORK_WHILE_LOADING = """
import os, sys, time
from gurumeditation import TextGuruMeditation
TextGuruMeditation.setup_autorun('1', service_name='forked', log_dir=sys.argv[1])
from gurumeditation import early
was_loading = early.STATE.loading
pid = os.fork()  # waits for the loader first
if pid == 0:
    open(sys.argv[1] + '.child-ready', 'w').close()  # its fork hooks have run
    while True:
        time.sleep(0.05)
print('READY', pid, was_loading, early.STATE.loading, flush=True)
while True:
    time.sleep(0.05)
"""


def test_a_fork_while_loading_waits_and_the_child_is_armed(service, tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    svc = service(FORK_WHILE_LOADING, args=[str(log_dir)])
    _, child, was_loading, still_loading = svc.ready_line.split()
    assert was_loading == "True"
    assert still_loading == "False"
    ready = Path(str(log_dir) + ".child-ready")
    try:
        deadline = time.monotonic() + 20
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(int(child), signal.SIGUSR2)
        [path] = wait_for_reports(log_dir, 1)
        text = path.read_text()
        assert f"(pid {child})" in text, text
        os.kill(int(child), 0)  # the child lives on
    finally:
        os.kill(int(child), signal.SIGKILL)


def test_an_interpreter_frozen_right_after_arming_gets_its_native_dump(
    service, tmp_path: Path
) -> None:
    """Frozen (the main thread holds the GIL in native code) as soon as
    ``setup_autorun`` returned: the loader cannot run, but the first step
    armed faulthandler and started the sidecar, which writes the dump."""
    log_dir = tmp_path / "logs"
    svc = service(script("frozen_interpreter"), args=[str(log_dir), "3", "at-once"])
    time.sleep(0.3)  # frozen_here() has begun
    start = time.monotonic()
    svc.signal()
    first = wait_for_reports(log_dir, 1, timeout=20)
    elapsed = time.monotonic() - start
    assert elapsed < 1.0, f"dump after {elapsed:.3f} s"
    dump = first[0].read_text()
    assert "written by the gurumeditation sidecar process" in dump
    assert " in frozen_here" in dump
    assert "/gurumeditation/" not in dump  # the loader, stuck too, is left out
    # the interpreter comes back: the loader finishes, the full report follows
    assert svc.readline().strip() == "BACK"
    files = wait_for_reports(log_dir, 2, timeout=20)
    full = next(p.read_text() for p in files if p != first[0])
    assert "(main thread)" in full and "did not respond" not in full
    assert svc.alive()
    assert "Traceback" not in svc.stderr()


LOADER_FAILS = """
import os, signal, sys, time
sys.modules['gurumeditation.pipeline'] = None  # the loader's imports fail
from gurumeditation import TextGuruMeditation, early
TextGuruMeditation.setup_autorun('1', service_name='broken')
os.kill(os.getpid(), signal.SIGUSR2)  # waits for the loader, which fails
early.ensure_loaded()
os.kill(os.getpid(), signal.SIGUSR2)  # after: no report, no loop, no death
print('READY', repr(early.STATE.failure[:40]), flush=True)
while True:
    time.sleep(0.05)
"""


def test_a_failed_loader_is_told_and_the_process_lives_on(service) -> None:
    svc = service(LOADER_FAILS)
    assert "ImportError" in svc.ready_line or "ModuleNotFoundError" in svc.ready_line
    assert "gurumeditation: arming failed:" in svc.stderr()
    assert "RecursionError" not in svc.stderr()
    assert svc.alive()

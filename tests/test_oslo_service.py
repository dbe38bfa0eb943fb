"""oslo.service ``ProcessLauncher`` with 2 workers on eventlet and
``gc.freeze()`` before the fork, armed zero-code: the parent and both
workers listed and answering; greenlets in the permanent generation (not
seen by ``gc.get_objects()``) are found — the parent's hub (marked hub) and
its main greenlet parked in ``launcher.wait()``, each worker's main
greenlet and hub and the green thread in flight; ``SIGUSR2`` to every
process writes its report and every process lives on."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

from helpers import members, report_files, script, section_data, text_lines
from test_cli import env_for, gm, listing
from test_uwsgi import wait_listed

pytestmark = pytest.mark.servers
pytest.importorskip("oslo_service", reason="the servers extra is not installed")


@pytest.fixture
def xdg(tmp_path: Path) -> Path:
    path = tmp_path / "xdg"
    path.mkdir(mode=0o700)
    return path


def green(doc: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [dict(m, stack=[f["function"] for f in e["stack"]])
            for m, e in members(section_data(doc, "green_threads"))]  # fmt: skip


def test_process_launcher_with_frozen_heap(service, xdg: Path, tmp_path: Path) -> None:
    log_dir = tmp_path / "reports"
    log_dir.mkdir(mode=0o700)
    release = tmp_path / "release"
    env = env_for(xdg, GURUMEDITATION="1", GURUMEDITATION_LOG_DIR=str(log_dir))
    svc = service(script("oslo_service_launcher"), env=env, args=[str(release)])
    entries = wait_listed(xdg, 3)
    pids = sorted(e["pid"] for e in entries)
    assert len(pids) == 3 and svc.pid in pids, entries
    workers = [p for p in pids if p != svc.pid]
    docs = {}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for pid in pids:
            out = gm(xdg, "report", str(pid), "-f", "json")
            assert out.returncode == 0, out.stderr
            docs[pid] = json.loads(out.stdout)
        if all(any("slow_green_work" in m["stack"] for m in green(docs[w])) for w in workers):
            break
        time.sleep(0.2)
    out = gm(xdg, "report", str(svc.pid), "-f", "json")  # a second one: after ours ran once
    parent = green(json.loads(out.stdout))
    assert [m for m in parent if m.get("hub")], parent  # the hub, frozen, found and marked
    # our answering thread made no hub of its own (eventlet's green os.open would)
    assert len([m for m in parent if m.get("hub")]) == 1, parent
    mains = [m for m in parent if m.get("main") and not m.get("hub")
             and m.get("thread_name") == "MainThread"]  # fmt: skip
    assert len(mains) == 1, parent
    (main,) = mains
    assert "wait" in main["stack"] and main["state"] in ("suspended", "running")
    for w in workers:
        glets = green(docs[w])
        assert [m for m in glets if m.get("hub")]
        assert len([m for m in glets if m.get("main") and not m.get("hub")]) == 1, glets
        assert any("slow_green_work" in m["stack"] for m in glets), glets
    for n, pid in enumerate(pids, 1):
        os.kill(pid, signal.SIGUSR2)
        deadline = time.monotonic() + 20
        while len(report_files(log_dir)) < n and time.monotonic() < deadline:
            time.sleep(0.05)
    texts = [p.read_text() for p in report_files(log_dir)]
    assert sorted(int(text_lines(t, "Processes")[0].split()[1]) for t in texts) == pids
    time.sleep(0.5)
    assert sorted(e["pid"] for e in listing(xdg)) == pids and svc.alive()
    release.touch()

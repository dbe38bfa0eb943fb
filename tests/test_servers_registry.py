"""The server modules (``gurumeditation.servers``) are loaded only where
their server is, and ``gurumeditation run`` arms its program's children:
real processes, real ``multiprocessing`` spawn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

PLAIN = """
import json, sys
from gurumeditation import TextGuruMeditation
from gurumeditation import discovery, family, servers
TextGuruMeditation.setup_autorun(None, discoverable=False)
print(json.dumps({
    "server_modules": sorted(m for m in sys.modules if m.startswith("gurumeditation.servers.")),
    "present": servers.present(),
    "role": servers.role(),
    "file_pid": family.file_pid(),
}))
"""

WITH_GUNICORN = """
import json, os, sys
import gunicorn.arbiter, gunicorn.workers.base
from gurumeditation import TextGuruMeditation
from gurumeditation import servers
TextGuruMeditation.setup_autorun(None, discoverable=False)
wrapped = gunicorn.workers.base.Worker.__dict__["init_signals"]
print(json.dumps({
    "server_modules": sorted(m for m in sys.modules if m.startswith("gurumeditation.servers.")),
    "present": servers.present(),
    "role": servers.role(),
    "wrapped": getattr(wrapped, "_gurumeditation_rearms", False),
}))
"""

SPAWNS = """
import json, multiprocessing, sys

def child(queue):
    import os
    from gurumeditation.arming import ARMED
    from gurumeditation import family
    options = ARMED.options.resolved() if ARMED.options else None
    queue.put({
        "armed": options is not None,
        "service": options.service_name if options else None,
        "log_dir": options.log_dir if options else None,
        "formats": list(options.formats) if options else None,
        "file_pid": family.file_pid() == os.getpid(),
    })

if __name__ == "__main__":
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=child, args=(queue,))
    proc.start()
    print("CHILD", json.dumps(queue.get(timeout=60)), flush=True)
    proc.join()
    print("ARGV", json.dumps(sys.argv[1:]), flush=True)
"""


def clean_env() -> dict:  # type: ignore[type-arg]
    return {k: v for k, v in os.environ.items() if not k.startswith("GURUMEDITATION")}


def run_code(code: str) -> dict:  # type: ignore[type-arg]
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=60, env=clean_env(),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_no_server_module_without_its_server() -> None:
    facts = run_code(PLAIN)
    assert facts == {"server_modules": [], "present": [], "role": None, "file_pid": None}


def test_gunicorn_module_loaded_with_gunicorn_only() -> None:
    facts = run_code(WITH_GUNICORN)
    assert facts["server_modules"] == ["gurumeditation.servers.gunicorn"]
    assert facts["present"] == ["gunicorn"]
    assert facts["role"] is None  # neither an arbiter nor a worker set its signals up
    assert facts["wrapped"] is True


def test_run_arms_spawned_children_and_passes_module_args_on(tmp_path: Path) -> None:
    program = tmp_path / "spawns.py"
    program.write_text(textwrap.dedent(SPAWNS))
    log_dir = tmp_path / "reports"
    out = subprocess.run(
        [sys.executable, "-m", "gurumeditation", "run", "--log-dir", str(log_dir),
         "--format", "json", "--service", "jobs", "--", str(program), "--flag", "x"],
        capture_output=True, text=True, timeout=120, env=clean_env(), cwd=str(tmp_path),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    child = json.loads(lines["CHILD"])
    assert child == {
        "armed": True, "service": "jobs", "log_dir": str(log_dir), "formats": ["json"],
        "file_pid": True,
    }  # fmt: skip
    assert json.loads(lines["ARGV"]) == ["--flag", "x"]
    # -m MODULE: every word after it is the module's, options included
    data = tmp_path / "data.json"
    data.write_text('{"b": 1, "a": 2}')
    out = subprocess.run(
        [sys.executable, "-m", "gurumeditation", "run", "-m", "json.tool", "--sort-keys",
         "--compact", str(data)],
        capture_output=True, text=True, timeout=60, env=clean_env(),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == '{"a":2,"b":1}'


# gunicorn's real Worker.init_signals, on a worker object made without its
# server: SIGUSR2 arrives right after gunicorn reset it to the default action
# (inside init_signals), the moment that killed workers
SIGNAL_IN_THE_WINDOW = """
import os, signal, sys, time
import gunicorn.workers.base as base
from gurumeditation import TextGuruMeditation
TextGuruMeditation.setup_autorun(None, discoverable=False, log_dir=sys.argv[1])

def signals_then_usr2():
    for s in base.Worker.SIGNALS:
        yield s
        if s == signal.SIGUSR2:  # reset by now: the default action would kill us
            assert signal.getsignal(signal.SIGUSR2) == signal.SIG_DFL
            os.kill(os.getpid(), signal.SIGUSR2)

worker = base.Worker.__new__(base.Worker)
worker.PIPE = os.pipe()
for fd in worker.PIPE:
    os.set_blocking(fd, False)  # as gunicorn's init_process makes them
worker.SIGNALS = signals_then_usr2()
worker.init_signals()
signal.set_wakeup_fd(-1)
print("ALIVE", signal.getsignal(signal.SIGUSR2).__qualname__, flush=True)
time.sleep(1)  # the sidecar saw the watcher answer (exiting at once looks frozen to it)
"""


def test_gunicorn_worker_survives_a_signal_during_its_signal_setup(tmp_path: Path) -> None:
    log_dir = tmp_path / "reports"
    out = subprocess.run(
        [sys.executable, "-c", SIGNAL_IN_THE_WINDOW, str(log_dir)],
        capture_output=True, text=True, timeout=60, env=clean_env(),
    )  # fmt: skip
    assert out.returncode == 0, (out.returncode, out.stderr)
    assert out.stdout.strip() == "ALIVE SignalTrigger.handle"
    names = sorted(p.name for p in log_dir.iterdir())
    assert len(names) == 1, names
    text = (log_dir / names[0]).read_text()
    assert "Trigger: signal SIGUSR2" in text and "did not respond" not in text

"""Reports that come by themselves (issue 15): the stall watchdog (asyncio
loops in the main thread and in another thread, the main thread stuck in
native code, the gevent hub; none for an idle main thread or a busy loop),
report_on term / exception / fatal, and the memory threshold — each in a
real process, with the latency from the stall to the report measured."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from helpers import report_files, script, wait_for_reports

STALLS = script("auto_stalls")
CRASH = script("auto_crash")
WATCHDOG = 1.0


def line_times(svc: Any, word: str, timeout: float = 20) -> List[float]:
    """The times the service printed with ``word`` (monotonic, wall clock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = svc.readline()
        if not line:
            raise AssertionError(f"service ended before {word}:\n{svc.stderr()}")
        if line.startswith(word):
            return [float(x) for x in line.split()[1:]] or [time.monotonic()]
    raise AssertionError(f"no {word} within {timeout} s")


def line_time(svc: Any, word: str, timeout: float = 20) -> float:
    """The monotonic time the service printed with ``word``."""
    return line_times(svc, word, timeout)[0]


def started_at(doc: Dict[str, Any]) -> float:
    """The wall-clock time a report was started (its header's timestamp)."""
    import calendar

    stamp = doc["header"]["timestamp"]  # 2026-01-02T03:04:05.000006Z
    whole, fraction = stamp.rstrip("Z").split(".")
    return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + float("0." + fraction)


def json_reports(log_dir: Path) -> List[Dict[str, Any]]:
    return [json.loads(p.read_text()) for p in report_files(log_dir) if p.suffix == ".json"]


def wait_json(log_dir: Path, count: int, timeout: float = 20) -> Tuple[List[Dict[str, Any]], float]:
    """``count`` JSON reports, and the monotonic time the last one was seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = [p for p in report_files(log_dir) if p.suffix == ".json"]
        if len(files) >= count:
            seen = time.monotonic()
            try:
                return [json.loads(p.read_text()) for p in files], seen
            except ValueError:
                pass  # not linked yet? (files are linked complete; retry anyway)
        time.sleep(0.02)
    raise AssertionError(f"{count} JSON reports not in {log_dir}: {report_files(log_dir)}")


STALL_CASES = [
    # mode, what stalled, where (function of the innermost frame)
    ("loop-block", "asyncio loop", "in blocker"),
    ("loop-thread", "asyncio loop", "in blocker"),
    ("main-mutex", "main thread", "in stuck_here"),
    ("gevent-hub", "gevent hub", "in hog"),
    ("eventlet-hub", "eventlet hub", "in hog"),
    # the loop and the main thread stall together: one stall, whichever watcher sees it first
    ("loop-mutex", "asyncio loop|main thread", "in mutex_blocker"),
]


@pytest.mark.parametrize("mode,what,where", STALL_CASES)
def test_one_report_per_stall_then_recovered(
    service: Any, tmp_path: Path, mode: str, what: str, where: str
) -> None:
    log_dir = tmp_path / "logs"
    svc = service(STALLS, args=[str(log_dir), mode])
    blocked, blocked_wall = line_times(svc, "BLOCK")
    docs, seen = wait_json(log_dir, 1, timeout=WATCHDOG + 10)
    detected = started_at(docs[0]) - blocked_wall
    written = seen - blocked
    print(f"[{mode}] stall of {what}: detected {detected:.2f} s, file {written:.2f} s after it began")
    assert detected <= WATCHDOG + 1.0, f"report started {detected:.2f} s after the stall began"
    assert written <= WATCHDOG + 3.0, f"report complete {written:.2f} s after the stall began"
    trigger = docs[0]["header"]["trigger"]
    assert trigger["kind"] == "watchdog"
    stall = trigger["stall"]
    assert stall["what"].startswith(tuple(what.split("|"))), stall
    assert WATCHDOG <= stall["seconds"] < WATCHDOG + 1.0, stall
    assert stall["where"].endswith(where), stall
    assert stall["where"].split(":")[0].endswith("auto_stalls.py"), stall
    line_time(svc, "UNBLOCK")
    line_time(svc, "DONE")
    time.sleep(0.6)
    assert len(json_reports(log_dir)) == 1, "one stall, one report"
    text = svc.wait_stderr("recovered after", timeout=5)
    assert text.count("recovered after") == 1, text
    recovered_line = next(x for x in text.splitlines() if "recovered after" in x)
    assert stall["what"] in recovered_line, recovered_line
    # the text report says it too
    text_report = next(p for p in report_files(log_dir) if not p.suffix).read_text()
    assert f"Stall: {stall['what']} made no progress for" in text_report
    assert "Traceback" not in svc.stderr()
    # the next report carries the recovery
    svc.signal()
    docs, _ = wait_json(log_dir, 2)
    later = [d for d in docs if d["header"]["trigger"]["kind"] == "signal"]
    assert len(later) == 1
    recovered = later[0]["header"]["trigger"]["recovered"]
    assert recovered["what"] == stall["what"]
    assert 1.5 < recovered["seconds"] < 5, recovered
    assert svc.alive()


def test_frozen_interpreter_still_gets_the_c_level_dump(service: Any, tmp_path: Path) -> None:
    """A thread holds the GIL in native code for 4 s: the watchdog's own thread
    cannot run either; its heartbeat stops and the sidecar writes the C-level
    dump of every thread — with no signal sent (watchdog armed by the
    environment)."""
    log_dir = tmp_path / "logs"
    svc = service(
        script("frozen_interpreter"),
        args=[str(log_dir), "4"],
        env={"GURUMEDITATION_WATCHDOG": "1"},
    )
    start = time.monotonic()
    files = wait_for_reports(log_dir, 1, timeout=10)
    print(f"[frozen] C-level dump {time.monotonic() - start:.2f} s after READY (frozen at +0.3 s)")
    dump = files[0].read_text()
    assert re.search(r"Trigger: watchdog \(the interpreter gave no heartbeat for 1\.\d+ s\)", dump)
    assert " in frozen_here" in dump and "in parked_worker" in dump
    assert "/gurumeditation/" not in dump
    assert svc.readline().strip() == "BACK"
    time.sleep(1.5)
    assert len(report_files(log_dir)) == 1  # one freeze, one dump
    assert svc.alive()


def test_main_thread_in_signal_pause_is_not_woken(service: Any, tmp_path: Path) -> None:
    """A probe would end ``signal.pause()`` (it returns after any handler):
    the watchdog leaves a main thread parked there alone."""
    log_dir = tmp_path / "logs"
    svc = service(STALLS, args=[str(log_dir), "main-pause"])
    line_time(svc, "BLOCK")
    time.sleep(3 * WATCHDOG + 0.5)
    assert svc.alive()
    assert report_files(log_dir) == []
    svc.signal()  # the report signal is a handled signal: pause returns, as it always would
    wait_json(log_dir, 1)
    assert svc.readline().strip() == "PAUSE RETURNED"


@pytest.mark.parametrize("mode", ["main-wait", "loop-busy", "main-hog"])
def test_no_report_when_idle_or_progressing(service: Any, tmp_path: Path, mode: str) -> None:
    """The main thread idle 10 s in Event.wait, sleep, select and join; a loop
    kept busy 4 s by short callbacks; the main thread running Python 4 s with
    the GIL kept from every other thread (the watchdog's heartbeat stops, the
    main thread answers the sidecar's probe): progress, no stall, no dump."""
    log_dir = tmp_path / "logs"
    svc = service(STALLS, args=[str(log_dir), mode])
    line_time(svc, "BLOCK")
    line_time(svc, "UNBLOCK", timeout=30)
    line_time(svc, "DONE")
    time.sleep(WATCHDOG + 0.5)
    assert report_files(log_dir) == []
    assert "recovered" not in svc.stderr()
    # the watchdog is armed all the same: a signal still gets a report, no recovery in it
    svc.signal()
    docs, _ = wait_json(log_dir, 1)
    assert "recovered" not in docs[0]["header"]["trigger"]
    assert svc.alive()


def run_to_end(service: Any, log_dir: Path, mode: str, *args: str) -> Any:
    svc = service(CRASH, args=[str(log_dir), mode, *args])
    svc.proc.wait(timeout=30)
    return svc


def only_report(log_dir: Path, kind: str) -> Dict[str, Any]:
    docs, _ = wait_json(log_dir, 1)
    assert len(docs) == 1, [d["header"]["trigger"] for d in docs]
    assert docs[0]["header"]["trigger"]["kind"] == kind, docs[0]["header"]["trigger"]
    return docs[0]


def test_sigterm_reports_then_dies_of_it(service: Any, tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    svc = service(CRASH, args=[str(log_dir), "term"])
    svc.signal(signal.SIGTERM)
    assert svc.proc.wait(timeout=20) == -signal.SIGTERM
    doc = only_report(log_dir, "term")
    assert doc["header"]["trigger"]["detail"] == "SIGTERM"
    assert doc["header"]["producer"]["main"] is True


def test_sigterm_still_ends_a_main_thread_stuck_in_native_code(
    service: Any, tmp_path: Path
) -> None:
    """Our handler cannot run in a main thread stuck in C; without us SIGTERM's
    default action would end it at once, so it still must: the guard writes
    the report from its own thread, then the process dies of SIGTERM."""
    log_dir = tmp_path / "logs"
    svc = service(CRASH, args=[str(log_dir), "term-stuck"])
    time.sleep(0.5)  # in stuck_here
    sent = time.monotonic()
    svc.signal(signal.SIGTERM)
    assert svc.proc.wait(timeout=20) == -signal.SIGTERM
    print(f"[term-stuck] dead of SIGTERM {time.monotonic() - sent:.2f} s after it, report written")
    doc = only_report(log_dir, "term")
    assert doc["header"]["producer"]["thread"] == "gurumeditation-term-guard"
    assert "did not respond" in doc["header"]["producer"]["reason"]
    threads = next(s for s in doc["sections"] if s["id"] == "threads")["data"]
    assert "stuck_here" in [f["function"] for e in threads["entries"] for f in e["stack"]]


def test_sigterm_to_a_child_forked_in_c_leaves_the_parent_alone(
    service: Any, tmp_path: Path
) -> None:
    """A child forked by C code (no Python fork hooks: it shares the guard's
    pipe) gets SIGTERM: the parent's guard hears of it, finds its own main
    thread free and answering — the signal was not its own — and does nothing."""
    log_dir = tmp_path / "logs"
    svc = service(
        """
        import ctypes, os, sys, time
        from gurumeditation import TextGuruMeditation
        TextGuruMeditation.setup_autorun(
            "1", service_name="svc", log_dir=sys.argv[1], report_on=["term"], formats=["json"]
        )
        libc = ctypes.CDLL(None)
        pid = libc.fork()
        if pid == 0:
            libc.pause()
            os._exit(7)
        print(f"READY {pid}", flush=True)
        while True:
            time.sleep(0.05)
        """,
        args=[str(log_dir)],
    )
    child = int(svc.ready_line.split()[1])
    time.sleep(0.3)
    os.kill(child, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{child}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            state = "gone"
        if state in ("Z", "gone"):
            break
        time.sleep(0.05)
    assert state in ("Z", "gone"), "the child did not end"
    time.sleep(1.0)  # the parent's guard had its time
    assert svc.alive(), svc.stderr()
    assert not [d for d in json_reports(log_dir) if d["header"]["pid"] == svc.pid]


def test_sigterm_then_the_applications_handler(service: Any, tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    svc = service(CRASH, args=[str(log_dir), "term-handler"])
    svc.signal(signal.SIGTERM)
    assert svc.proc.wait(timeout=20) == 3  # the application's own sys.exit(3)
    assert svc.readline().strip() == "APP HANDLER"
    only_report(log_dir, "term")


def test_sigint_is_still_keyboard_interrupt(service: Any, tmp_path: Path) -> None:
    plain = service(
        "import time\nprint('READY', flush=True)\ntime.sleep(600)\n", name="plain"
    )
    plain.signal(signal.SIGINT)
    usual = plain.proc.wait(timeout=20)  # Python re-raises SIGINT at exit: -2
    log_dir = tmp_path / "logs"
    svc = service(CRASH, args=[str(log_dir), "term"])
    svc.signal(signal.SIGINT)
    assert svc.proc.wait(timeout=20) == usual
    assert "KeyboardInterrupt" in svc.stderr()
    assert "KeyboardInterrupt" in plain.stderr()
    doc = only_report(log_dir, "term")  # not an "exception": Ctrl-C is no crash
    assert doc["header"]["trigger"]["detail"] == "SIGINT"


@pytest.mark.parametrize(
    "mode,hook,status,thread",
    [
        ("main-exc", "sys.excepthook", 1, "MainThread"),
        ("thread-exc", "threading.excepthook", 0, "doomed-worker"),
        ("task-exc", "asyncio", 0, "MainThread"),
    ],
)
def test_uncaught_exception_reports_it(
    service: Any, tmp_path: Path, mode: str, hook: str, status: int, thread: str
) -> None:
    log_dir = tmp_path / "logs"
    svc = run_to_end(service, log_dir, mode)
    assert svc.proc.returncode == status
    stderr = svc.stderr()
    # the usual traceback on stderr, as Python prints it (the application's own output)
    assert "ValueError:" in stderr and "failed with password=" in stderr
    doc = only_report(log_dir, "exception")
    exc = doc["header"]["trigger"]["exception"]
    assert exc["type"] == "ValueError"
    assert exc["hook"] == hook
    assert exc["thread"] == thread
    assert "Traceback (most recent call last)" in exc["traceback"]
    assert "in fail" in exc["traceback"]
    # what the report says of the exception passes the redactor
    dumped = json.dumps(doc)
    assert "hunter2-secret-value" not in dumped
    assert "password=***" in exc["message"]
    if mode == "task-exc":
        assert exc["context"] == "Task exception was never retrieved"
    text = next(p for p in report_files(log_dir) if not p.suffix).read_text()
    assert "Exception: ValueError:" in text and "hunter2-secret-value" not in text
    page = next(p for p in report_files(log_dir) if p.suffix == ".html").read_text()
    assert "Exception: ValueError:" in page and "hunter2-secret-value" not in page


def test_asyncio_imported_after_arming_is_covered_too(service: Any, tmp_path: Path) -> None:
    """Zero-code arming happens before the application imports asyncio: the
    hook is put in place when asyncio is imported (and only then)."""
    log_dir = tmp_path / "logs"
    svc = service(
        """
        import gc, inspect, sys
        from gurumeditation import TextGuruMeditation
        TextGuruMeditation.setup_autorun(
            "1", service_name="svc", log_dir=sys.argv[1], report_on=["exception"],
            formats=["json"], setup_signal=False,
        )
        assert "asyncio" not in sys.modules
        print("READY", flush=True)
        import asyncio
        assert "def call_exception_handler" in inspect.getsource(asyncio.base_events)
        async def main():
            async def broken():
                raise KeyError("late")
            task = asyncio.get_running_loop().create_task(broken())
            await asyncio.sleep(0.1)
            del task
            gc.collect()
        asyncio.run(main())
        """,
        args=[str(log_dir)],
    )
    assert svc.proc.wait(timeout=30) == 0
    doc = only_report(log_dir, "exception")
    assert doc["header"]["trigger"]["exception"]["type"] == "KeyError"
    assert "Task exception was never retrieved" in svc.stderr()


def test_segfault_leaves_a_dump_report_and_dies_as_before(service: Any, tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    svc = run_to_end(service, log_dir, "segv")
    assert svc.proc.returncode == -signal.SIGSEGV
    files = wait_for_reports(log_dir, 1, timeout=10)
    assert len(files) == 1
    text = files[0].read_text()
    assert "Fatal Python error: Segmentation fault" in text
    assert "in string_at" in text and "auto_crash.py" in text
    assert "Trigger: fatal" in text
    assert "/gurumeditation/" not in text.split("About This Report")[0]  # our threads left out
    deadline = time.monotonic() + 5
    while any(p.name.startswith(".svc.fatal.") for p in log_dir.iterdir()):
        assert time.monotonic() < deadline, list(log_dir.iterdir())
        time.sleep(0.05)


def test_rss_limit_one_report_per_crossing(service: Any, tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    svc = service(CRASH, args=[str(log_dir), "rss", "exception"])
    above = line_time(svc, "ABOVE")
    docs, seen = wait_json(log_dir, 1)
    print(f"[rss] report {seen - above:.2f} s after the allocation")
    assert seen - above < 2.0
    line_time(svc, "BELOW")
    line_time(svc, "ABOVE")
    line_time(svc, "DONE")
    docs = json_reports(log_dir)
    assert [d["header"]["trigger"]["kind"] for d in docs] == ["rss", "rss"]
    for doc in docs:
        memory = doc["header"]["trigger"]["memory"]
        assert memory["rss_bytes"] > memory["limit_bytes"]
        memory_section = next(s for s in doc["sections"] if s["id"] == "memory")["data"]
        top = memory_section["tracemalloc"]["top"]  # tracing: the top allocation sites
        assert top[0]["file"].endswith("auto_crash.py") and top[0]["size_bytes"] >= 150 << 20


def http_get(sock_path: Path, path: str, timeout: float = 10.0) -> bytes:
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(sock_path))
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        chunks = []
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        except OSError:
            pass
        return b"".join(chunks)


@pytest.mark.servers
def test_gunicorn_timed_out_worker_reports_before_it_dies(service: Any, tmp_path: Path) -> None:
    pytest.importorskip("gunicorn")
    import threading

    log_dir = tmp_path / "logs"
    sock = tmp_path / "gunicorn.sock"
    svc = service(script("auto_gunicorn"), args=[str(log_dir), str(sock)])
    first_worker = int(svc.ready_line.split()[1])
    deadline = time.monotonic() + 10
    while not sock.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    answers: List[bytes] = []
    slow = threading.Thread(target=lambda: answers.append(http_get(sock, "/slow", 20)))
    sent = time.monotonic()
    slow.start()
    doc = only_report(log_dir, "abort")
    print(f"[gunicorn] abort report {time.monotonic() - sent:.2f} s after the request (timeout 2 s)")
    assert doc["header"]["pid"] == first_worker
    assert doc["header"]["trigger"]["detail"] == "SIGABRT"
    threads = doc["sections"][[s["id"] for s in doc["sections"]].index("threads")]["data"]
    functions = [f["function"] for e in threads["entries"] for f in e["stack"]]
    assert "slow_request" in functions  # where the request was when the arbiter gave up
    # then gunicorn goes on as usual: the worker dies, a new one boots and serves
    second = svc.wait_ready(30)
    assert int(second.split()[1]) != first_worker
    slow.join(25)
    assert b"200 OK" in http_get(sock, "/")
    stderr = svc.stderr()
    assert f"WORKER TIMEOUT (pid:{first_worker})" in stderr
    assert stderr.count("Booting worker") >= 2
    assert "SIGKILL" not in stderr.split("WORKER TIMEOUT")[1].split("Booting worker")[0]
    assert len(json_reports(log_dir)) == 1


def test_zero_code_arming_from_the_environment(service: Any, tmp_path: Path) -> None:
    """GURUMEDITATION=1 and the variables alone: no code change, a report on
    the uncaught exception, the exit status and traceback as usual."""
    log_dir = tmp_path / "logs"
    svc = service(
        "raise RuntimeError('no code change')\n",
        env={
            "GURUMEDITATION": "1",
            "GURUMEDITATION_LOG_DIR": str(log_dir),
            "GURUMEDITATION_FORMAT": "json",
            "GURUMEDITATION_REPORT_ON": "exception,term",
            "GURUMEDITATION_WATCHDOG": "5",
        },
        ready=False,
    )
    assert svc.proc.wait(timeout=30) == 1
    assert "RuntimeError: no code change" in svc.stderr()
    doc = only_report(log_dir, "exception")
    assert doc["header"]["trigger"]["exception"]["message"] == "no code change"


def test_fatal_after_a_fork_each_process_has_its_own_file(service: Any, tmp_path: Path) -> None:
    """A forked child arms its own fatal file; it exits cleanly (its file goes),
    then the parent crashes: the parent's dump is still there, as a report."""
    log_dir = tmp_path / "logs"
    svc = service(
        """
        import ctypes, os, sys, time
        from gurumeditation import TextGuruMeditation
        TextGuruMeditation.setup_autorun(
            "1", service_name="svc", log_dir=sys.argv[1], report_on=["fatal"]
        )
        print("READY", flush=True)
        pid = os.fork()
        if pid == 0:
            time.sleep(0.5)
            sys.exit(0)
        os.waitpid(pid, 0)
        time.sleep(0.5)
        print("PARENT CRASHES", flush=True)
        ctypes.string_at(0)
        """,
        args=[str(log_dir)],
    )
    assert svc.proc.wait(timeout=30) == -signal.SIGSEGV
    files = wait_for_reports(log_dir, 1, timeout=10)
    text = files[0].read_text()
    assert f"(pid {svc.pid})" in text and "in string_at" in text
    time.sleep(0.5)
    assert len(report_files(log_dir)) == 1
    assert [p.name for p in log_dir.iterdir() if p.name.startswith(".")] == []


def test_fatal_dump_without_a_sidecar_is_adopted_by_the_next_process(
    service: Any, tmp_path: Path
) -> None:
    """No sidecar (no report signal armed): the dump stays in its hidden file
    until the next process of the service arms ``fatal`` and makes it a report."""
    log_dir = tmp_path / "logs"
    code = """
        import ctypes, sys
        from gurumeditation import TextGuruMeditation
        TextGuruMeditation.setup_autorun(
            "1", service_name="svc", log_dir=sys.argv[1], report_on=["fatal"], setup_signal=False
        )
        print("READY", flush=True)
        if sys.argv[2] == "crash":
            ctypes.string_at(0)
        """
    first = service(code, args=[str(log_dir), "crash"], name="first")
    assert first.proc.wait(timeout=30) == -signal.SIGSEGV
    hidden = [p for p in log_dir.iterdir() if p.name.startswith(".svc.fatal.")]
    assert len(hidden) == 1 and hidden[0].stat().st_size > 0
    assert report_files(log_dir) == []
    second = service(code, args=[str(log_dir), "stay"], name="second")
    assert second.proc.wait(timeout=30) == 0
    files = report_files(log_dir)
    assert len(files) == 1
    text = files[0].read_text()
    assert "Fatal Python error: Segmentation fault" in text and "in string_at" in text
    assert f"(pid {first.pid})" in text
    assert not hidden[0].exists()
    assert [p.name for p in log_dir.iterdir() if p.name.startswith(".")] == []  # exit: none left


def test_watchdog_in_a_forked_child(service: Any, tmp_path: Path) -> None:
    """The watchdog re-arms in a forked child (as in a gunicorn worker of a
    preloaded application): the child's stuck main thread is its own stall."""
    log_dir = tmp_path / "logs"
    svc = service(
        """
        import ctypes, os, sys, threading, time
        from gurumeditation import TextGuruMeditation
        TextGuruMeditation.setup_autorun(
            "1", service_name="svc", log_dir=sys.argv[1], watchdog=1, formats=["json"]
        )
        pid = os.fork()
        if pid == 0:
            libc = ctypes.CDLL(None)
            mutex = ctypes.create_string_buffer(64)
            libc.pthread_mutex_lock(mutex)
            threading.Timer(3.0, libc.pthread_mutex_unlock, args=(mutex,)).start()
            libc.pthread_mutex_lock(mutex)
            time.sleep(1.0)
            os._exit(0)
        print(f"READY {pid}", flush=True)
        os.waitpid(pid, 0)
        print("CHILD DONE", flush=True)
        time.sleep(600)
        """,
        args=[str(log_dir)],
    )
    child = int(svc.ready_line.split()[1])
    assert svc.readline().strip() == "CHILD DONE"
    docs = json_reports(log_dir)
    assert [d["header"]["pid"] for d in docs] == [child], [d["header"] for d in docs]
    assert docs[0]["header"]["trigger"]["stall"]["what"] == "main thread"
    assert "main thread recovered after" in svc.stderr()
    assert svc.alive()

"""A frozen interpreter (a thread holds the GIL inside native code): the
C-level dump of every thread's Python stack appears within 1 s, the process
lives on, and the full report follows once the interpreter is back."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import List, Tuple

from conftest import report_files, wait_for_reports
from helpers import script

FROZEN = script("frozen_interpreter")


def test_frozen_interpreter_gets_a_native_dump_within_1s(service, tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    svc = service(FROZEN, args=[str(log_dir), "5"])
    time.sleep(0.8)  # frozen_here() has begun: the whole interpreter is stuck
    start = time.monotonic()
    svc.signal()
    first = wait_for_reports(log_dir, 1, timeout=20)
    elapsed = time.monotonic() - start
    print(f"frozen interpreter: native dump after {elapsed * 1000:.0f} ms")
    assert elapsed < 1.0, f"dump after {elapsed:.3f} s"
    dump = first[0].read_text()
    assert "written by the gurumeditation sidecar process" in dump
    assert "the interpreter did not respond" in dump
    assert "Threads (native dump)" in dump
    assert " in frozen_here" in dump  # the main thread, where it holds the GIL
    assert "in parked_worker" in dump  # ... and every other thread
    assert "/gurumeditation/" not in dump  # but none of our own helper threads
    assert "helper threads of gurumeditation left out" in dump
    assert svc.alive()
    # the interpreter comes back: the full report follows (written by the main thread)
    assert svc.readline().strip() == "BACK"
    files = wait_for_reports(log_dir, 2, timeout=20)
    full = next(p.read_text() for p in files if p != first[0])
    assert "(main thread)" in full
    assert "====                           Processes" in full
    assert "did not respond" not in full
    assert svc.alive()
    assert "Traceback" not in svc.stderr()
    assert len(report_files(log_dir)) == 2


def test_frozen_parent_of_a_fork_names_its_dump_with_its_pid(service, tmp_path: Path) -> None:
    """The process forked after it was armed (its sidecar started before):
    the sidecar's dump and the full report both carry the pid in their names."""
    import os
    import signal

    log_dir = tmp_path / "logs"
    svc = service(FROZEN, args=[str(log_dir), "3", "fork"])
    child = int(svc.ready_line.split()[1])
    try:
        assert svc.readline().strip() == "FREEZING"
        time.sleep(0.5)  # frozen_here() has begun
        svc.signal()
        (dump,) = wait_for_reports(log_dir, 1, timeout=20)
        assert "written by the gurumeditation sidecar process" in dump.read_text()
        assert dump.name.startswith(f"svc_{svc.pid}_gurumeditation_"), dump.name
        assert svc.readline().strip() == "BACK"
        files = wait_for_reports(log_dir, 2, timeout=20)
        assert all(p.name.startswith(f"svc_{svc.pid}_gurumeditation_") for p in files), files
    finally:
        os.kill(child, signal.SIGKILL)


# -- telling a frozen interpreter from a busy one (no process of its own) -------


def spare_realtime_signal() -> int:
    from gurumeditation.triggers import native_dump

    low, high = native_dump.realtime_range()
    return next(s for s in range(low + 5, high - 5) if signal.getsignal(s) == signal.SIG_DFL)


def test_the_ack_channel_reads_the_heartbeat_its_probe_and_the_answers() -> None:
    from gurumeditation.triggers import sidecar

    r, w = os.pipe()
    try:
        channel = sidecar.AckChannel(r)
        os.write(w, b"h1.250 34\nrr")
        assert channel.read() is False  # no answer to a poke
        assert (channel.beat_period, channel.probe, channel.ran) == (1.25, 34, 2)
        os.write(w, b"h2.000 0\nar")
        assert channel.read() is True
        assert (channel.beat_period, channel.probe, channel.ran) == (2.0, 0, 3)
        os.write(w, b"h3.0 x\n")  # a broken line changes nothing
        channel.read()
        assert (channel.beat_period, channel.probe) == (2.0, 0)
    finally:
        os.close(r)
        os.close(w)


def test_the_probe_goes_only_where_a_handler_waits_for_it() -> None:
    from gurumeditation.triggers import sidecar

    signum = spare_realtime_signal()
    me = os.getpid()
    assert not sidecar.catches(me, signum)  # the default action would end us
    got: List[int] = []
    try:
        signal.signal(signum, signal.SIG_IGN)
        assert not sidecar.catches(me, signum)
        signal.signal(signum, lambda s, f: got.append(s))
        assert sidecar.catches(me, signum)
        ticks = sidecar.start_ticks(me)
        svc = sidecar.Service(me, ticks, "t", "SIGUSR2", -1, 0, set)
        assert sidecar.send_probe(svc, signum)
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.01)
        assert got == [signum]
        # never to a recycled pid (other start time), never signal 0 or none
        assert not sidecar.send_probe(sidecar.Service(me, ticks + 1, "t", "", -1, 0, set), signum)
        assert not sidecar.send_probe(svc, 0)
        assert not sidecar.catches(me, 0)
    finally:
        signal.signal(signum, signal.SIG_DFL)


def test_no_probe_is_offered_while_the_main_thread_waits_in_pause() -> None:
    """signal.pause() returns after any handler: the heartbeat then offers the
    sidecar no probe (the thread in pause stands in for the main thread)."""
    from gurumeditation.triggers import watchdog

    beats: List[Tuple[float, int]] = []
    dog = watchdog.Watchdog(1.0, 0, lambda *a: True, lambda *a: True, lambda s: None)
    dog.heartbeat = lambda seconds, probe: beats.append((seconds, probe))
    dog.probe_signum = 42
    signal.signal(signal.SIGUSR1, lambda s, f: None)
    import dis  # noqa: F401  (arm_main imports it for waits_for_signal)

    def wait() -> None:
        signal.pause()

    paused = threading.Thread(target=wait)
    paused.start()
    try:
        time.sleep(0.2)
        dog.main_ident = paused.ident or 0
        dog.beat(time.monotonic(), sys._current_frames())
        dog.main_ident = threading.get_ident()
        dog.beat(time.monotonic(), sys._current_frames())
    finally:
        signal.pthread_kill(paused.ident or 0, signal.SIGUSR1)
        paused.join(5)
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    assert beats == [(1.0 + dog.tick, 0), (1.0 + dog.tick, 42)]

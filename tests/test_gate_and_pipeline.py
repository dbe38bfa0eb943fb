"""The gate every trigger passes (one report in flight, at most one queued)
and the pipeline behind it (request → collect → render → deliver), on
literal requests with a sink of the test's own."""

from __future__ import annotations

import json
import threading
from typing import Any, Callable, Dict, List

import pytest

from gurumeditation import pipeline
from gurumeditation.arming import Armed
from gurumeditation.options import ReportOptions
from gurumeditation.pipeline import Meditation, ReportRequest
from gurumeditation.triggers.gate import ReportGate


def gate() -> ReportGate:
    return ReportGate(threading.Lock)


def test_gate_runs_a_job_in_the_asking_thread() -> None:
    ran: List[int] = []
    g = gate()
    assert g.submit(lambda: ran.append(threading.get_ident())) is True
    assert ran == [threading.get_ident()] and g.runs == 1 and not g.busy


def test_gate_queues_one_request_while_in_flight_and_the_last_one_wins() -> None:
    """Requests during a report never nest: the newest replaces the queued
    one, and the thread in flight runs it when done."""
    g = gate()
    order: List[str] = []

    def first() -> None:
        order.append("first")
        assert g.busy
        assert g.submit(lambda: order.append("second")) is False  # queued, not run
        assert g.submit(lambda: order.append("third")) is False  # replaces "second"

    assert g.submit(first) is True
    assert order == ["first", "third"] and g.runs == 2


def test_gate_tells_when_reports_start_and_stop_and_survives_a_failing_job() -> None:
    g = gate()
    flights: List[bool] = []
    g.on_flight = flights.append

    def broken() -> None:
        raise RuntimeError("the job tells its own failure")

    assert g.submit(broken) is True
    assert flights == [True, False] and not g.busy


class ListSink:
    """A trigger's own destination: keeps what it is given."""

    def __init__(self) -> None:
        self.got: List[Dict[str, str]] = []

    def write(self, contents: Dict[str, str]) -> List[str]:
        self.got.append(dict(contents))
        return [f"<list {len(self.got)}>"]


OPTIONS = ReportOptions.build(environ={}, service_name="svc", version="1.0")


def test_pipeline_keeps_the_triggers_identity_sink_and_formats() -> None:
    sink = ListSink()
    request = ReportRequest("test", "fake trigger", sink=sink, formats=("json", "text"))
    assert pipeline.run(request, OPTIONS) == ["<list 1>"]
    (contents,) = sink.got
    assert set(contents) == {".json", ""}
    doc = json.loads(contents[".json"])
    assert doc["header"]["trigger"] == {"kind": "test", "detail": "fake trigger"}
    assert doc["header"]["service"] == "svc"
    assert "Trigger: test fake trigger" in contents[""]


def test_pipeline_uses_the_requests_options_over_the_armed_ones() -> None:
    sink = ListSink()
    mine = ReportOptions.build(environ={}, service_name="mine", formats="json")
    pipeline.run(ReportRequest("test", sink=sink, options=mine), OPTIONS)
    (contents,) = sink.got
    assert list(contents) == [".json"]
    assert json.loads(contents[".json"])["header"]["service"] == "mine"


def test_pipeline_text_goes_through_the_makers_run_once_collected() -> None:
    """Text comes from the maker's run(); JSON from the same document."""
    collected: List[int] = []

    class Counting(Meditation):
        def report(self) -> Any:
            if self.document is None:
                collected.append(1)
            return super().report()

        def run(self) -> str:
            return "text of " + self.report()["header"]["trigger"]["kind"]

    sink = ListSink()
    pipeline.run(ReportRequest("api", sink=sink, formats=("text", "json")), OPTIONS, Counting)
    (contents,) = sink.got
    assert contents[""] == "text of api" and json.loads(contents[".json"])
    assert collected == [1]


def test_a_failing_run_tells_its_traceback_and_loses_the_service_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Failing(Meditation):
        def run(self) -> str:
            raise LookupError("renderer on fire")

    sink = ListSink()
    assert pipeline.run(ReportRequest("api", sink=sink), OPTIONS, Failing) == []
    err = capsys.readouterr().err
    assert "LookupError: renderer on fire" in err
    assert err.rstrip().endswith("Unable to run Guru Meditation Report!")
    assert sink.got == []


def test_armed_submit_folds_a_request_made_during_a_report() -> None:
    """A request arriving while a report is written is written next by the
    thread in flight, under its own identity, without the asker's frame."""
    armed = Armed()
    armed.gate = gate()
    armed.options = OPTIONS
    sink = ListSink()
    frames: List[Any] = []

    class Recording(Meditation):
        def run(self) -> str:
            frames.append(self.request.frame)
            return self.request.kind

    armed.maker = Recording
    inner = ReportRequest("file", "/watched", sink=sink)
    asked: List[Callable[[], None]] = []

    class Asking(ListSink):
        def write(self, contents: Dict[str, str]) -> List[str]:
            if not asked:
                asked.append(lambda: None)
                armed.submit(inner)  # arrives while this report is in flight
            return super().write(contents)

    outer = ReportRequest("signal", "SIGUSR2", frame=None, sink=Asking())
    armed.submit(outer)
    assert armed.gate.runs == 2
    assert [c[""] for c in sink.got] == ["file"]
    assert frames == [None, None]


def test_collector_stays_off_until_the_report_is_delivered(tmp_path) -> None:
    """The cyclic collector is off from the request to the delivery to a sink
    that waits on nobody (what the report's allocations owe is collected
    after the file is complete), back on before delivering to one that may
    wait (stderr), on again afterwards; Memory and GC shows it as it was."""
    import gc
    import json

    from gurumeditation.options import ReportOptions
    from gurumeditation.pipeline import ReportRequest, run

    seen = []

    def shown(contents) -> bool:
        doc = json.loads(contents[".json"])
        memory = next(s for s in doc["sections"] if s["id"] == "memory")
        return bool(memory["data"]["gc"]["enabled"])

    class Sink:
        prompt = True

        def write(self, contents):
            seen.append((gc.isenabled(), shown(contents)))
            return ["here"]

    class SlowSink(Sink):
        prompt = False

    options = ReportOptions.build(log_dir=str(tmp_path))
    assert gc.isenabled()
    assert run(ReportRequest("api", sink=Sink(), formats=("json",)), options) == ["here"]
    assert seen == [(False, True)]
    assert gc.isenabled()
    run(ReportRequest("api", sink=SlowSink(), formats=("json",)), options)
    assert seen[1] == (True, True)
    gc.disable()
    try:
        run(ReportRequest("api", sink=Sink(), formats=("json",)), options)
        assert seen[2] == (False, False)
        assert not gc.isenabled()
    finally:
        gc.enable()

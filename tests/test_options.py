"""The options a report is made with: one frozen object, its precedence
(explicit > conf > environment > default), and the checks on what it is given."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from pathlib import Path
from typing import Any, Dict

import pytest
from oslo_config import cfg

from gurumeditation import opts
from gurumeditation.options import (
    RedactRules,
    ReportOptions,
    enabled,
    parse_formats,
    parse_signal,
    service_name,
)

ENV: Dict[str, str] = {}


def conf_with(**values: Any) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    opts.set_defaults(conf)
    conf([], project="svc", default_config_files=[])
    for name, value in values.items():
        conf.set_override(name, value, group="oslo_reports")
    return conf


def test_defaults_come_from_the_one_definition() -> None:
    """Every field is an option with a doc; defaults resolve to the documented ones."""
    options = ReportOptions.build(environ=ENV).resolved()
    assert options.formats == ("text",) and options.log_dir is None
    assert options.signum == signal.SIGUSR2 and options.max_fds == 200
    assert options.file_event_handler == "" and options.file_event_handler_interval == 1.0
    fields = {f.name: f for f in dataclasses.fields(ReportOptions)}
    for name in ReportOptions.names():
        assert fields[name].metadata["doc"], name


def test_precedence_explicit_conf_environment_default(tmp_path: Path) -> None:
    env = {"GURUMEDITATION_LOG_DIR": str(tmp_path / "env"), "GURUMEDITATION_FORMAT": "json"}
    conf = conf_with(log_dir=str(tmp_path / "conf"))
    # environment over default (formats: conf leaves its default ['text'] set, which counts)
    assert ReportOptions.build(environ=env).resolved().log_dir == str(tmp_path / "env")
    # conf over environment
    from_conf = ReportOptions.build(environ=env, conf=conf).resolved()
    assert from_conf.log_dir == str(tmp_path / "conf")
    # explicit over conf
    given = ReportOptions.build(environ=env, conf=conf, log_dir=str(tmp_path / "arg"))
    assert given.resolved().log_dir == str(tmp_path / "arg")


def test_conf_is_read_when_a_report_is_made(tmp_path: Path) -> None:
    """A configuration parsed after the options were built counts (issue 12)."""
    conf = conf_with()
    options = ReportOptions.build(environ=ENV, conf=conf)
    assert options.resolved().log_dir is None
    conf.set_override("log_dir", str(tmp_path), group="oslo_reports")
    conf.set_override("formats", ["html", "json"], group="oslo_reports")
    later = options.resolved()
    assert later.log_dir == str(tmp_path) and later.formats == ("html", "json")


def test_replace_overrides_and_the_object_is_frozen(tmp_path: Path) -> None:
    options = ReportOptions.build(environ=ENV, conf=conf_with(log_dir="/from/conf"))
    changed = dataclasses.replace(options, max_fds=3, log_dir=str(tmp_path))
    assert changed.max_fds == 3 and options.max_fds == 200
    assert changed.resolved().log_dir == str(tmp_path)  # replaced beats conf
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.max_fds = 1  # type: ignore[misc]


def test_build_on_a_base_keeps_what_it_does_not_change() -> None:
    base = ReportOptions.build(environ=ENV, service_name="svc", gc_scan=True)
    derived = ReportOptions.build(base, include_env=False)
    assert (derived.service_name, derived.gc_scan, derived.include_env) == ("svc", True, False)


def test_unknown_option_is_a_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match="'grup'"):
        ReportOptions.build(environ=ENV, grup=False)
    from gurumeditation import TextGuruMeditation

    with pytest.raises(TypeError, match="unexpected keyword argument 'grup'"):
        TextGuruMeditation("1", grup=False)
    with pytest.raises(TypeError, match="'colour'"):
        TextGuruMeditation.setup_autorun("1", setup_signal=False, colour="red")


def test_relative_log_dir_is_made_absolute_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    options = ReportOptions.build(environ=ENV, log_dir="reports")
    monkeypatch.chdir("/")
    assert options.resolved().log_dir == str(tmp_path / "reports")


def test_redact_joined_with_conf() -> None:
    conf = conf_with(redact_keys=["badge"], redact_allow=["policy_password"])
    options = ReportOptions.build(environ=ENV, conf=conf, redact={"keys": ["ssn"]})
    assert options.redact == RedactRules(keys=("ssn",))
    assert options.resolved().redact == RedactRules(("ssn", "badge"), (), ("policy_password",))
    with pytest.raises(ValueError, match="regular expression"):
        ReportOptions.build(environ=ENV, redact={"values": ["(x"]})


def test_parse_formats() -> None:
    assert parse_formats("JSON, text,json") == ("json", "text")
    assert parse_formats([]) == ("text",)
    with pytest.raises(ValueError, match="unknown report format 'pdf'"):
        parse_formats("text,pdf")


@pytest.mark.parametrize(
    "name", ["TERM", "SIGINT", "QUIT", "HUP", "KILL", "STOP", "TSTP", "ABRT", "SEGV", "BUS",
             "FPE", "ILL", "CHLD", "SIGALRM", "PIPE"],
)  # fmt: skip
def test_signals_that_stop_or_kill_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="cannot be the report signal"):
        parse_signal(name)
    with pytest.raises(ValueError, match="cannot be the report signal"):
        ReportOptions.build(
            environ=ENV, signum=int(getattr(signal, "SIG" + name.replace("SIG", "")))
        )


def test_report_signals_accepted() -> None:
    assert parse_signal("USR1") == parse_signal("SIGUSR1") == parse_signal("10") == 10
    assert parse_signal(signal.SIGUSR2) == signal.SIGUSR2
    assert parse_signal(str(signal.SIGRTMIN + 1)) == signal.SIGRTMIN + 1
    with pytest.raises(ValueError, match="unknown signal 'NOPE'"):
        parse_signal("NOPE")


def test_bad_environment_value_is_told_once_and_left_out(capfd: pytest.CaptureFixture[str]) -> None:
    env = {"GURUMEDITATION_SIGNAL": "TERM", "GURUMEDITATION_FORMAT": "pdf,json"}
    options = ReportOptions.build(environ=env).resolved()
    ReportOptions.build(environ=env)
    assert options.signum == signal.SIGUSR2 and options.formats == ("json",)
    err = capfd.readouterr().err
    assert err.count("GURUMEDITATION_SIGNAL: SIGTERM cannot be the report signal") == 1
    assert err.count("GURUMEDITATION_FORMAT: unknown report format 'pdf'") == 1


@pytest.mark.parametrize("value", ["1", "true", "YES", "On", " on "])
def test_enabled_values(value: str) -> None:
    assert enabled({"GURUMEDITATION": value})


@pytest.mark.parametrize("value", ["", "0", "false", "No", "OFF"])
def test_disabled_values_are_silent(value: str, capfd: pytest.CaptureFixture[str]) -> None:
    assert not enabled({"GURUMEDITATION": value})
    assert capfd.readouterr().err == ""


def test_other_values_are_refused_with_one_line(capfd: pytest.CaptureFixture[str]) -> None:
    assert not enabled({"GURUMEDITATION": "maybe"})
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "GURUMEDITATION='maybe'" in err and "reports stay off" in err


def test_service_name_from_argv() -> None:
    assert service_name(["/srv/app/service.py", "x"]) == "service"
    assert service_name(["/usr/bin/nova-api"]) == "nova-api"
    assert service_name(["-c"]) == "python"
    assert service_name([]) == "python"
    assert os.sep not in service_name()


@pytest.fixture
def armed_state() -> Any:
    from gurumeditation.arming import ARMED

    saved = (ARMED.options, ARMED.maker)
    yield ARMED
    ARMED.options, ARMED.maker = saved


def test_timestamp_fmt_of_the_armed_class_names_the_files(tmp_path: Path, armed_state: Any) -> None:
    """oslo.reports' class attribute is honoured: a subclass may change it."""
    from gurumeditation import TextGuruMeditation

    class Yearly(TextGuruMeditation):
        timestamp_fmt = "%Y"

    Yearly.setup_autorun("1", "yearly", str(tmp_path), setup_signal=False, discoverable=False)
    assert armed_state.options.timestamp_fmt == "%Y"
    Yearly.handle_signal("1", "yearly", str(tmp_path), None)
    (name,) = os.listdir(tmp_path)
    assert name == "yearly_gurumeditation_" + time.strftime("%Y", time.gmtime())


def test_automatic_report_options_from_each_source(tmp_path: Path) -> None:
    """watchdog, report_on and rss_limit: argument > [oslo_reports] > environment > off."""
    from gurumeditation.options import parse_report_on, parse_size, parse_watchdog

    off = ReportOptions.build(environ=ENV).resolved()
    assert (off.watchdog, off.report_on, off.rss_limit) == (0.0, (), 0)
    env = {
        "GURUMEDITATION_WATCHDOG": "2.5",
        "GURUMEDITATION_REPORT_ON": "term, Exception",
        "GURUMEDITATION_RSS_LIMIT": "512M",
    }
    from_env = ReportOptions.build(environ=env).resolved()
    assert from_env.watchdog == 2.5 and from_env.report_on == ("term", "exception")
    assert from_env.rss_limit == 512 << 20
    # registered but unset in conf: the environment still counts
    assert ReportOptions.build(environ=env, conf=conf_with()).resolved().watchdog == 2.5
    conf = conf_with(watchdog=7.0, report_on=["abort"], rss_limit="2G")
    from_conf = ReportOptions.build(environ=env, conf=conf).resolved()
    assert (from_conf.watchdog, from_conf.report_on, from_conf.rss_limit) == (
        7.0,
        ("abort",),
        2 << 30,
    )
    given = ReportOptions.build(
        environ=env, conf=conf, watchdog=1, report_on=("fatal",), rss_limit=1000
    ).resolved()
    assert (given.watchdog, given.report_on, given.rss_limit) == (1.0, ("fatal",), 1000)
    assert parse_size("1.5GiB") == 3 << 29 and parse_size("64k") == 65536
    for bad, parse in (("lots", parse_size), ("-1", parse_size), ("0.01", parse_watchdog)):
        with pytest.raises(ValueError):
            parse(bad)
    with pytest.raises(ValueError, match="unknown report_on event 'oom'"):
        parse_report_on("term,oom")
    with pytest.raises(ValueError, match="report_on"):
        ReportOptions.build(environ=ENV, report_on="segv")


def test_the_channel_knows_the_formats_the_options_do() -> None:
    from gurumeditation import options
    from gurumeditation.triggers import channel

    assert channel.FORMATS == tuple(options.FORMATS)
    assert channel.SUFFIXES == options.FORMATS

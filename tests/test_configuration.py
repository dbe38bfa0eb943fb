"""The Configuration section with a real oslo.config ConfigOpts, mappings,
argparse namespaces and dataclasses."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
from oslo_config import cfg

from gurumeditation import TextGuruMeditation, opts
from gurumeditation.options import conf_option


def config_body(text: str) -> List[str]:
    body = text.split("====                         Configuration                          ====\n")[
        1
    ]
    lines = body.split("\n")[1:]
    end = lines.index("=" * 72) if "=" * 72 in lines else len(lines)
    return lines[:end]


def make_conf(tmp_path: Path, ini: str = "") -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    conf.register_opts(
        [
            cfg.StrOpt("host", default="node-1"),
            cfg.IntOpt("workers", default=4),
            cfg.StrOpt("admin_password", default="hunter2", secret=True),
            cfg.IntOpt("secret_port", secret=True),
            cfg.ListOpt("backends", default=["zfs", "ceph", "lvm"]),
        ]
    )
    conf.register_opts(
        [
            cfg.StrOpt("connection", default="sqlite://", secret=True),
            cfg.IntOpt("max_retries", default=10),
            cfg.DictOpt("extra", default={"b": "2", "a": "1"}),
        ],
        group="database",
    )
    opts.set_defaults(conf)
    files = []
    if ini:
        path = tmp_path / "svc.conf"
        path.write_text(ini)
        files = [str(path)]
    conf([], project="svc", default_config_files=files)
    return conf


def test_oslo_config_layout_and_secret_masking(tmp_path: Path) -> None:
    conf = make_conf(tmp_path)
    lines = config_body(TextGuruMeditation("1", conf=conf).run())
    assert lines[:8] == [
        "",
        "database: ",
        "  connection = ***",
        "",
        "  extra: ",
        "    a = 1",
        "    b = 2",
        "  max_retries = 10",
    ]
    text = "\n".join(lines)
    assert "  admin_password = ***" in text
    assert "hunter2" not in text
    # list values keep their order
    assert "  backends = \n    zfs\n    ceph\n    lvm" in text
    assert (
        "\noslo_reports: \n  file_event_handler = None\n  file_event_handler_interval = 1\n"
        "  formats = \n    text\n  log_dir = None" in text
    )


def test_invalid_value_shows_its_error_and_the_rest_goes_on(tmp_path: Path) -> None:
    conf = make_conf(tmp_path, "[DEFAULT]\nworkers = many\nsecret_port = not-a-port-s3cr3t\n")
    lines = config_body(TextGuruMeditation("1", conf=conf).run())
    text = "\n".join(lines)
    workers = [line for line in lines if line.startswith("  workers = ")]
    assert len(workers) == 1 and "<unreadable:" in workers[0] and "many" in workers[0]
    # a secret that fails to parse is never read, so its error cannot leak it
    assert "  secret_port = ***" in text
    assert "not-a-port-s3cr3t" not in text
    assert "  host = node-1" in text


def test_private_config_opts_is_honoured(tmp_path: Path) -> None:
    private = cfg.ConfigOpts()
    private.register_opt(cfg.StrOpt("only_in_private", default="yes"))
    private([], project="p", default_config_files=[])
    cfg.CONF.register_opt(cfg.StrOpt("only_in_global", default="no"))
    try:
        text = "\n".join(config_body(TextGuruMeditation("1", conf=private).run()))
    finally:
        cfg.CONF.unregister_opt(cfg.StrOpt("only_in_global", default="no"))
    assert "only_in_private = yes" in text
    assert "only_in_global" not in text


def test_log_dir_option_is_read_when_registered(tmp_path: Path) -> None:
    conf = make_conf(tmp_path, f"[oslo_reports]\nlog_dir = {tmp_path}\n")
    assert conf_option(conf, "oslo_reports", "log_dir") == str(tmp_path)
    bare = cfg.ConfigOpts()
    bare([], project="bare", default_config_files=[])
    assert conf_option(bare, "oslo_reports", "log_dir") is None  # no NoSuchOptError


def test_list_opts_matches_oslo_reports_names() -> None:
    [(group, options)] = opts.list_opts()
    assert group == "oslo_reports"
    by_name = {o.name: o for o in options}
    assert set(by_name) >= {"log_dir", "file_event_handler", "file_event_handler_interval"}
    assert by_name["file_event_handler_interval"].default == 1
    assert by_name["log_dir"].default is None


def test_entry_point_is_registered() -> None:
    from importlib.metadata import entry_points

    if sys.version_info >= (3, 10):
        group = entry_points(group="oslo.config.opts")
    else:  # 3.9: a dict of group name to entry points, no selection by keyword
        group = entry_points().get("oslo.config.opts", [])
    eps = [ep for ep in group if ep.name == "gurumeditation"]
    assert eps and eps[0].load() is opts.list_opts


@dataclasses.dataclass
class Settings:
    name: str = "svc"
    ratio: float = 0.5
    db: Dict[str, Any] = dataclasses.field(default_factory=lambda: {"pool": 5})


@pytest.mark.parametrize(
    "conf",
    [
        {"name": "svc", "ratio": 0.5, "db": {"pool": 5}},
        argparse.Namespace(name="svc", ratio=0.5, db={"pool": 5}),
        Settings(),
    ],
    ids=["mapping", "namespace", "dataclass"],
)
def test_other_configuration_objects(conf: Any) -> None:
    lines = config_body(TextGuruMeditation("1", conf=conf).run())
    assert lines == ["", "db: ", "  pool = 5", "", "default: ", "  name = svc", "  ratio = 0.5"]

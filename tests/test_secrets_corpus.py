"""No secret leaves in a report: a real service with real oslo.config, real
environment variables, a registered section, a child process and its own
command line, all full of planted secrets; a real SIGUSR2 writes the report
as text, JSON and HTML into log_dir, and none of the secrets is in any of
them, while their harmless neighbours are still shown."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Dict, List

import pytest

from conftest import wait_for_reports
from gurumeditation import render
from gurumeditation.render import json as json_render

# -- the corpus: every planted secret, by where it is planted ------------------

CONFIG_SECRETS = [
    "CfgSecretOpt-01",  # secret=True StrOpt
    "NotAnInt-SecretParse-02",  # secret=True IntOpt whose value fails to parse
    "RabbitPw-03",  # URL credentials in a non-secret option, two hosts
    "RabbitPw-04",
    "DbPw-05",  # [database] connection (not flagged secret)
    "DictPw-06",  # DictOpt value under a secret-named key
    "DictUrlPw-07",  # URL credentials inside a DictOpt value
    "ListUrlPw-08",  # URL credentials inside a ListOpt item
    "PlainStrApiKey-09",  # option named api_key, not flagged secret
    "BadIntPw-10",  # in an IntOpt's unparsable value: its error must not leak it
    "KsAuthPw-11",  # [keystone_authtoken] password, not flagged secret
    "MemcacheSecret-12",  # memcache_secret_key
    "CustomSsn-13",  # extra key word from [oslo_reports] redact_keys
    "ACME-424242",  # extra value pattern from [oslo_reports] redact_values
    "ArgKey-37",  # extra key word from setup_autorun(redact=...)
]
ENV_SECRETS = {
    "DB_PASSWORD": "EnvDbPw-14",
    "AWS_SECRET_ACCESS_KEY": "EnvAwsSecret-15xyz",
    "AWS_ACCESS_KEY_ID": "AKIAABCDEFGHIJKLMNOP",
    "DATABASE_URL": "postgres://app:EnvUrlPw-17@pg/app",
    "GITHUB_TOKEN": "ghp_EnvGithub18abcdefghijklmnopqrstuvwx",
    "PGPASSWORD": "EnvPgPw-19",
    "MYAPP_CONFIG_BLOB": "Authorization: Bearer EnvBearer-20tok",
    "SOME_JWT_HOLDER": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJlbnYifQ.EnvJwtSig21",
    "X_API_KEY": "EnvApiKey-22",
    "SERVICE_OPTS": "--password EnvFlagPw-23 --verbose",
    "HTTP_PROXY": "http://proxyuser:EnvProxyPw-38@proxy:3128",
}
#: the part of each environment value that is the secret
ENV_SECRET_PARTS = [
    "EnvDbPw-14",
    "EnvAwsSecret-15xyz",
    "AKIAABCDEFGHIJKLMNOP",
    "EnvUrlPw-17",
    "ghp_EnvGithub18abcdefghijklmnopqrstuvwx",
    "EnvPgPw-19",
    "EnvBearer-20tok",
    "EnvJwtSig21",
    "EnvApiKey-22",
    "EnvFlagPw-23",
    "EnvProxyPw-38",
]
REGISTERED_SECRETS = [
    "RegDictPw-24",  # dict value under db_password
    "RegPairKey-25",  # ('api_key', ...) pair in a list
    "RegStrPw-26",  # URL credentials in a string
    "RegPemBody27",  # PEM private key block
    "RegObjTok-28",  # token=... in an object's str()
    "UmVnQmFzaWMyOQ==",  # Authorization: Basic ... header in a nested dict
    "AKIAQRSTUVWXYZ234567",  # AWS access key id in a free string
    "RegJsonPw-39",  # "password": "..." in a JSON string
]
CLI_SECRETS = [
    "CliPw-30",  # --password X
    "CliUrlPw-31",  # --db-url=mysql://root:X@db/x
    "CliTok-32",  # --os-token X
    "ChildKey-33",  # a child process's --api-key X
    "CliUserPw-40",  # -u user:X
]
OTHER_SECRETS = [
    "ThreadPw-34",  # URL credentials in a thread name
    "SrcLinePw-35",  # password="..." in a source line on a stack
    "RegErrPw-36",  # URL credentials in the message of a section that raised
]
CORPUS = CONFIG_SECRETS + ENV_SECRET_PARTS + REGISTERED_SECRETS + CLI_SECRETS + OTHER_SECRETS

#: shown as they are: harmless neighbours of the secrets (no over-masking)
NEIGHBOURS_TEXT = [
    "auth_url = http://keystone:5000/v3",
    "max_retries = 7",
    "tokenizer_workers = 4",
    "password_min_length = 12",
    "transport_url = rabbit://nova:***@rabbit1:5672,nova2:***@rabbit2:5672/nova",
    "connection = mysql+pymysql://nova:***@dbhost/nova?charset=utf8",
    "admin_password = ***",
    "TOKENIZERS_PARALLELISM = false",
    "APP_MODE = production",
    "DATABASE_URL = postgres://app:***@pg/app",
    "DB_PASSWORD = ***",
    "SERVICE_OPTS = --password *** --verbose",
    "HTTP_PROXY = http://proxyuser:***@proxy:3128",
    "auth_user = svc-user",
    "--password *** --db-url=mysql://root:***@db/x",
    "--os-token *** --log-level debug",
    "--api-key ***",
    "order_ref = ***",
    "amqp://guest:***@mq/",
    "worker amqp://t:***@mq",
    'wait_here(event, password="***")',
]

CONF_FILE = """
[DEFAULT]
admin_password = CfgSecretOpt-01
secret_number = NotAnInt-SecretParse-02
transport_url = rabbit://nova:RabbitPw-03@rabbit1:5672,nova2:RabbitPw-04@rabbit2:5672/nova
backend_settings = user:bob,password:DictPw-06,url:https://u:DictUrlPw-07@h/
mirrors = https://m1.example,https://mirror:ListUrlPw-08@m2.example/
api_key = PlainStrApiKey-09
db_port = mysql://u:BadIntPw-10@h
auth_url = http://keystone:5000/v3
max_retries = 7
tokenizer_workers = 4
password_min_length = 12
customer_ssn = CustomSsn-13
order_ref = ACME-424242
argkey = ArgKey-37

[database]
connection = mysql+pymysql://nova:DbPw-05@dbhost/nova?charset=utf8

[keystone_authtoken]
password = KsAuthPw-11
memcache_secret_key = MemcacheSecret-12
auth_user = svc-user

[oslo_reports]
redact_keys = ssn
redact_values = ACME-[0-9]{6}
"""

SERVICE = """
import subprocess, sys, threading, time
from oslo_config import cfg
from gurumeditation import TextGuruMeditation, opts

CONF = cfg.ConfigOpts()
CONF.register_opts([
    cfg.StrOpt('admin_password', secret=True),
    cfg.IntOpt('secret_number', secret=True),
    cfg.StrOpt('transport_url'),
    cfg.DictOpt('backend_settings'),
    cfg.ListOpt('mirrors'),
    cfg.StrOpt('api_key'),
    cfg.IntOpt('db_port'),
    cfg.StrOpt('auth_url'),
    cfg.IntOpt('max_retries'),
    cfg.IntOpt('tokenizer_workers'),
    cfg.IntOpt('password_min_length'),
    cfg.StrOpt('customer_ssn'),
    cfg.StrOpt('order_ref'),
    cfg.StrOpt('argkey'),
])
CONF.register_opts([cfg.StrOpt('connection')], group='database')
CONF.register_opts([
    cfg.StrOpt('password'),
    cfg.StrOpt('memcache_secret_key'),
    cfg.StrOpt('auth_user'),
], group='keystone_authtoken')
opts.set_defaults(CONF)
CONF([], project='svc', default_config_files=[sys.argv[1]])

class Conn:
    def __str__(self):
        return 'Conn(host=db, token=RegObjTok-28)'

def plugins():
    return {
        'db_password': 'RegDictPw-24',
        'db_user': 'svc',
        'pairs': [('api_key', 'RegPairKey-25'), ('region', 'north')],
        'log': ['connecting to amqp://guest:RegStrPw-26@mq/ now', 'ok'],
        'tls': {'key': '-----BEGIN PRIVATE KEY-----\\nRegPemBody27\\n-----END PRIVATE KEY-----'},
        'conn': str(Conn()),
        'headers': {'Authorization': 'Basic UmVnQmFzaWMyOQ==', 'Accept': 'text/plain'},
        'note': 'deployed with AKIAQRSTUVWXYZ234567 by ops',
        'payload': '{"user": "u1", "password": "RegJsonPw-39"}',
    }

def broken():
    raise RuntimeError('cannot reach amqp://guest:RegErrPw-36@mq/')

TextGuruMeditation.register_section('Plugins', plugins)
TextGuruMeditation.register_section('Connection', Conn)
TextGuruMeditation.register_section('Broken', broken)
TextGuruMeditation.setup_autorun(
    '1.0', service_name='corpus', log_dir=sys.argv[2], conf=CONF,
    formats=('text', 'json', 'html'), redact={'keys': ['argkey']},
)

child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)',
                          '--api-key', 'ChildKey-33'])

def wait_here(event, password):
    event.wait()

stop = threading.Event()
threading.Thread(target=wait_here, args=(stop, 'x'), name='worker amqp://t:ThreadPw-34@mq',
                 daemon=True).start()

def park(event):
    wait_here(event, password="SrcLinePw-35")

threading.Thread(target=park, args=(stop,), daemon=True).start()
print('READY', flush=True)
try:
    while True:
        time.sleep(0.05)
finally:
    child.kill()
"""

CLI_ARGS = [
    "--password",
    "CliPw-30",
    "--db-url=mysql://root:CliUrlPw-31@db/x",
    "--os-token",
    "CliTok-32",
    "--log-level",
    "debug",
    "-u",
    "admin:CliUserPw-40",
]


def test_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 30
    assert len(set(CORPUS)) == len(CORPUS)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    """One real report of the corpus service, in every format."""
    from conftest import Service

    work = tmp_path_factory.mktemp("corpus")
    conf_file = work / "svc.conf"
    conf_file.write_text(CONF_FILE)
    script = work / "corpus_service.py"
    script.write_text(SERVICE)
    log_dir = work / "reports"
    env = dict(ENV_SECRETS, TOKENIZERS_PARALLELISM="false", APP_MODE="production")
    svc = Service(script, work, env=env, args=[str(conf_file), str(log_dir), *CLI_ARGS])
    try:
        svc.signal()
        files = wait_for_reports(log_dir, 3, timeout=60)
        assert svc.alive()
        stderr = svc.stderr()
    finally:
        svc.stop()
    by_suffix = {p.suffix or ".txt": p for p in files}
    assert set(by_suffix) == {".txt", ".json", ".html"}, files
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    out = {fmt: by_suffix[suffix].read_text() for fmt, suffix in
           (("text", ".txt"), ("json", ".json"), ("html", ".html"))}  # fmt: skip
    out["stderr"] = stderr
    return out


def leaks(text: str) -> List[str]:
    return [secret for secret in CORPUS if secret in text]


@pytest.mark.parametrize("fmt", ["text", "json", "html"])
def test_no_planted_secret_in_any_format(reports: Dict[str, str], fmt: str) -> None:
    assert leaks(reports[fmt]) == []


def test_renderings_of_the_saved_document_leak_nothing(reports: Dict[str, str]) -> None:
    doc = json_render.load(reports["json"])
    for fmt in ("text", "json", "html"):
        assert leaks(render.render(doc, fmt)) == [], fmt
    assert render.render(doc, "text") == reports["text"]


def test_no_secret_on_stderr(reports: Dict[str, str]) -> None:
    assert leaks(reports["stderr"]) == []


def test_every_place_was_in_the_report(reports: Dict[str, str]) -> None:
    """The secrets were really there to leak: their places are in the report."""
    text = reports["text"]
    for title in ("Configuration", "Environment", "Processes", "Threads", "Plugins", "Broken"):
        assert f"{title}" in text
    assert "Unable to produce this section: RuntimeError: cannot reach amqp://guest:***@mq/" in text
    assert "secret_number = ***" in text  # secret opt with an invalid value: never read
    assert re.search(r"db_port = <unreadable: \w+: .*mysql://u:\*\*\*@h", text), text
    assert "customer_ssn = ***" in text
    assert "argkey = ***" in text


def test_harmless_neighbours_still_shown(reports: Dict[str, str]) -> None:
    text = reports["text"]
    missing = [n for n in NEIGHBOURS_TEXT if n not in text]
    assert missing == []


def test_masked_count_in_header(reports: Dict[str, str]) -> None:
    doc = json.loads(reports["json"])
    count = doc["header"]["redactedCount"]
    assert count >= len(CORPUS) - 2  # a few secrets share one masked value
    assert f"Masked: {count} values that looked secret" in reports["text"]


def test_header_argv_masked(reports: Dict[str, str]) -> None:
    doc = json.loads(reports["json"])
    argv = doc["header"]["argv"]
    assert argv[-9:] == [
        "--password",
        "***",
        "--db-url=mysql://root:***@db/x",
        "--os-token",
        "***",
        "--log-level",
        "debug",
        "-u",
        "admin:***",
    ]


def test_environment_section_sorted_and_redacted(reports: Dict[str, str]) -> None:
    doc = json.loads(reports["json"])
    (env,) = [s for s in doc["sections"] if s["id"] == "environment"]
    names = [v["name"] for v in env["data"]["variables"]]
    assert names == sorted(names)
    values = {v["name"]: v["value"] for v in env["data"]["variables"]}
    assert values["DB_PASSWORD"] == "***"
    assert values["AWS_ACCESS_KEY_ID"] == "***"
    assert values["SOME_JWT_HOLDER"] == "***"
    assert values["MYAPP_CONFIG_BLOB"] == "Authorization: Bearer ***"
    assert values["APP_MODE"] == "production"
    ids = [s["id"] for s in doc["sections"]]
    assert ids.index("configuration") < ids.index("environment") < ids.index("registered:Plugins")


def test_include_env_false_leaves_the_section_out(tmp_path: Path) -> None:
    from gurumeditation import TextGuruMeditation

    doc = TextGuruMeditation("1", include_env=False).report()
    assert "environment" not in [s["id"] for s in doc["sections"]]
    doc = TextGuruMeditation("1").report()
    assert "environment" in [s["id"] for s in doc["sections"]]

"""No secret leaves in a report: a real service with real oslo.config, real
environment variables, a registered section, child processes running
well-known programs and its own command line (with CLI options it declared),
all full of planted secrets; a real SIGUSR2 writes the report as text, JSON
and HTML into log_dir, ``gurumeditation report`` asks for it in each format,
and none of the secrets is in any of them, while their harmless neighbours
are still shown as they are (no over-masking), in every format too.

The kinds of issue 18 (an outside corpus) have entries of their own, several
per kind, each next to a harmless neighbour of the same shape."""

from __future__ import annotations

import html
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from conftest import wait_for_reports
from gurumeditation import render
from gurumeditation.render import json as json_render

# -- the corpus: every planted secret, by where it is planted ------------------

# base64 secrets (written out: the report must not hold these strings)
LARAVEL_KEY_47 = "TGFyYXZlbEFwcEtleS00Ny10aGlydHkyLWJ5dGVzISE="  # 32 bytes, APP_KEY=base64:…
LARAVEL_KEY_63 = "TGFyYXZlbERvdEVudi02My10aGlydHkyLWJ5dGVzISE="
DOCKER_AUTH_50 = "Y2k6RG9ja2VyQXV0aFB3LTUw"  # ci:DockerAuthPw-50
DOCKER_AUTH_51 = "Ym90OkRvY2tlckF1dGhQdy01MQ=="  # bot:DockerAuthPw-51
B64_USER_PW_52 = "c3ZjLXN5bmM6QjY0UHctNTI="  # svc-sync:B64Pw-52
KUBE_KEY_64 = (  # -----BEGIN RSA PRIVATE KEY----- …
    "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpLdWJlS2V5Qm9keTY0Ci0tLS0tRU5E"
    "IFJTQSBQUklWQVRFIEtFWS0tLS0tCg=="
)
KUBE_KEY_65 = (  # -----BEGIN EC PRIVATE KEY----- …
    "LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCkt1YmVFY0tleTY1Ci0tLS0tRU5EIEVD"
    "IFBSSVZBVEUgS0VZLS0tLS0K"
)
SSH_KEY_66 = (  # -----BEGIN OPENSSH PRIVATE KEY----- …
    "LS0tLS1CRUdJTiBPUEVOU1NIIFBSSVZBVEUgS0VZLS0tLS0KQ2ZnU3NoS2V5NjYKLS0tLS1F"
    "TkQgT1BFTlNTSCBQUklWQVRFIEtFWS0tLS0tCg=="
)
# harmless base64: a certificate, bytes without a colon, a URL
KUBE_CERT = (  # -----BEGIN CERTIFICATE----- …
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJrVENCK3dJSkFLSEhJRwotLS0tLUVO"
    "RCBDRVJUSUZJQ0FURS0tLS0tCg=="
)
B64_NO_COLON = "Y29ycHVzIGljb24gYnl0ZXM="  # corpus icon bytes
B64_URL = "aHR0cHM6Ly9leGFtcGxlLmNvbS9jYWxsYmFjaw=="  # https://example.com/callback

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
    "CurlCfgPw-41",  # curl -u user:X inside a configuration string
    "CurlCfgPw-42",  # sh -c "curl --user 'user:X' ..." inside a ListOpt item
    "LdapBindPw-44",  # [ldap] bind_pw: pw as a secret word
    "CfgAppKey-49",  # app_key option
    SSH_KEY_66,  # base64 of a PEM private key in a non-secret option
    "DictMapSecret-61",  # DictOpt credentials_map: its secret keys
    "DictMapKeyId-62",
    "ListHtPw-67",  # htpasswd -b file user X inside a ListOpt item
    "CfgRedisPw-68",  # redis-cli -a X in a configuration string
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
    "DEPLOY_HOOK": "curl -s --proxy-user px:CurlEnvPw-43 -X POST https://deploy.example/hook",
    "LDAP_BIND_PW": "EnvLdapPw-45",
    "APP_KEY": "base64:" + LARAVEL_KEY_47,
    "MY_APP_KEY": "MyAppKey-48",
    "DOCKER_AUTH_CONFIG": '{"auths":{"registry.example.com":{"auth":"' + DOCKER_AUTH_50 + '"}}}',
    "KUBE_CLIENT_KEY_DATA": KUBE_KEY_65,
    "BACKUP_CMD": "sshpass -p EnvSshPw-69 rsync -e 'ssh -p 2222' /srv backup@nas:/b",
}
#: harmless neighbours in the environment (shown as they are)
ENV_NEIGHBOURS = {
    "TOKENIZERS_PARALLELISM": "false",
    "APP_MODE": "production",
    "DB_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf",
    "TOKEN_AUDIENCE": "api://corpus",
    "PASSWORD_HASHERS": "django.contrib.auth.hashers.Argon2PasswordHasher,"
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "SECRETARY_NAME": "Ada",
    "PWR_PROFILE": "balanced",
    "APP_KEYBOARD_LAYOUT": "dvorak",
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
    "CurlEnvPw-43",
    "EnvLdapPw-45",
    LARAVEL_KEY_47,
    "MyAppKey-48",
    DOCKER_AUTH_50,
    KUBE_KEY_65,
    "EnvSshPw-69",
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
    "RegSmtpPw-46",  # smtpPw: pw as a camelCase word
    DOCKER_AUTH_51,  # "auth" field of a Docker config.json in a string
    KUBE_KEY_64,  # kubeconfig client-key-data
    LARAVEL_KEY_63,  # base64:… wherever it is
    "RegSmbPw-70",  # smbclient -U user%X
]
CLI_SECRETS = [
    "CliPw-30",  # --password X
    "CliUrlPw-31",  # --db-url=mysql://root:X@db/x
    "CliTok-32",  # --os-token X
    "ChildKey-33",  # a child process's --api-key X
    "CliUserPw-40",  # -u user:X
    "OwnUnlockPw-53",  # -p X: a CLI option of the service declared secret=True
    "OwnVaultTok-54",  # -tX: a CLI option with a secret name
    "ChildSshPw-55",  # a child's sshpass -p X
    "ChildRedisPw-56",  # a child's redis-cli -a X
    "ChildMyPw-57",  # a child's mysql -pX
    "ChildSmbPw-58",  # a child's smbclient -U user%X
    "ChildHtPw-59",  # a child's htpasswd -b file user X
    "ShSshPw-60",  # sshpass -p X inside a child's sh -c string
]
OTHER_SECRETS = [
    "ThreadPw-34",  # URL credentials in a thread name
    "SrcLinePw-35",  # password="..." in a source line on a stack
    "RegErrPw-36",  # URL credentials in the message of a section that raised
    B64_USER_PW_52,  # base64 of user:password in the message of a section that raised
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
    # the kinds added for issue 18: what must stay readable next to them
    "health_cmd = curl -fsS -u monitor:*** http://127.0.0.1:8080/health",
    "bind_pw = ***",
    "pw_min_length = 10",
    "pwm_channel = 3",
    "app_key = ***",
    "app_key_rotation_days = 90",
    "pass_through_headers = \n    X-Request-Id\n    X-Trace-Id\n",
    "sig_figures = 4",
    "sig_digits = 3",
    "secretariat_email = secretariat@example.org",
    "token_issuer = https://idp.example/realms/corpus",
    "secret_ref = kv/data/corpus#db",
    "credentials_map: \n    access_key_id = ***\n    profile = backup\n    region = eu-west-1\n"
    "    secret_access_key = ***\n",
    "hooks = \n    sh -c \"curl --user 'backup:***' -T /var/backup.tgz https://store.example/\"\n"
    "    htpasswd -b /etc/nginx/.htpasswd ops ***\n",
    "cache_probe = redis-cli -h cache -a *** ping",
    "log = \n  connecting to amqp://guest:***@mq/ now\n  ok\n",
    "client-certificate-data: " + KUBE_CERT,
    "client-key-data: ***",
    "laravel_env = key rotated to base64:*** yesterday",
    "mount = smbclient //files/archive -U archiver%*** -c ls",
    "(sent ***)",
    "DB_SECRET_ARN = arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf",
    "TOKEN_AUDIENCE = api://corpus",
    "PASSWORD_HASHERS = django.contrib.auth.hashers.Argon2PasswordHasher,"
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "SECRETARY_NAME = Ada",
    "PWR_PROFILE = balanced",
    "APP_KEYBOARD_LAYOUT = dvorak",
    "APP_KEY = ***",
    "LDAP_BIND_PW = ***",
    'DOCKER_AUTH_CONFIG = {"auths":{"registry.example.com":{"auth":"***"}}}',
    "DEPLOY_HOOK = curl -s --proxy-user px:*** -X POST https://deploy.example/hook",
    "BACKUP_CMD = sshpass -p *** rsync -e 'ssh -p 2222' /srv backup@nas:/b",
    "-p *** -t*** -P 8081 -w 3",
    "sshpass -p *** ssh -p 2222 deploy@db",
    "redis-cli -h cache -a *** ping",
    "mysql -uroot -p*** app",
    "smbclient //files/share -U backup%***",
    "htpasswd -b /etc/nginx/.htpasswd alice ***",
    "docker run -p 8080:80 -u 1000:1000 -v /srv:/srv nginx",
    "ls -p /srv",
    "mkdir -p /srv/cache",
    "sleep 120; sshpass -p *** ssh -p 2222 backup@h",
]

#: harmless values shown as they are in every format (text, JSON, HTML)
NEIGHBOUR_VALUES = [
    "X-Request-Id",
    "secretariat@example.org",
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf",
    "api://corpus",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "eu-west-1",
    "dvorak",
    "balanced",
    KUBE_CERT,
    B64_NO_COLON,
    B64_URL,
    "bot@example.com",
    "8080:80",
    "1000:1000",
    "ssh -p 2222",
    "/srv/cache",
    "kv/data/corpus#db",
    "8081",
    "Argon2PasswordHasher",
    "passThroughMode",
    "strict",
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
health_cmd = curl -fsS -u monitor:CurlCfgPw-41 http://127.0.0.1:8080/health
hooks = sh -c "curl --user 'backup:CurlCfgPw-42' -T /var/backup.tgz https://store.example/",htpasswd -b /etc/nginx/.htpasswd ops ListHtPw-67
cache_probe = redis-cli -h cache -a CfgRedisPw-68 ping
app_key = CfgAppKey-49
app_key_rotation_days = 90
deploy_key_b64 = <SSH_KEY_66>
pass_through_headers = X-Request-Id,X-Trace-Id
sig_figures = 4
sig_digits = 3
secretariat_email = secretariat@example.org
token_issuer = https://idp.example/realms/corpus
secret_ref = kv/data/corpus#db
credentials_map = region:eu-west-1,profile:backup,secret_access_key:DictMapSecret-61,access_key_id:DictMapKeyId-62
pw_min_length = 10
pwm_channel = 3

[ldap]
bind_pw = LdapBindPw-44

[database]
connection = mysql+pymysql://nova:DbPw-05@dbhost/nova?charset=utf8

[keystone_authtoken]
password = KsAuthPw-11
memcache_secret_key = MemcacheSecret-12
auth_user = svc-user

[oslo_reports]
redact_keys = ssn
redact_values = ACME-[0-9]{6}
""".replace("<SSH_KEY_66>", SSH_KEY_66)

SERVICE = """
import os, subprocess, sys, threading, time
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
    cfg.StrOpt('health_cmd'),
    cfg.ListOpt('hooks'),
    cfg.StrOpt('cache_probe'),
    cfg.StrOpt('app_key'),
    cfg.IntOpt('app_key_rotation_days'),
    cfg.StrOpt('deploy_key_b64'),
    cfg.ListOpt('pass_through_headers'),
    cfg.IntOpt('sig_figures'),
    cfg.IntOpt('sig_digits'),
    cfg.StrOpt('secretariat_email'),
    cfg.StrOpt('token_issuer'),
    cfg.StrOpt('secret_ref'),
    cfg.DictOpt('credentials_map'),
    cfg.IntOpt('pw_min_length'),
    cfg.IntOpt('pwm_channel'),
])
CONF.register_opts([cfg.StrOpt('bind_pw')], group='ldap')
CONF.register_cli_opts([
    cfg.StrOpt('unlock', short='p', secret=True),
    cfg.StrOpt('vault-token', short='t'),
    cfg.IntOpt('port', short='P'),
    cfg.IntOpt('workers', short='w'),
])
CONF.register_opts([cfg.StrOpt('connection')], group='database')
CONF.register_opts([
    cfg.StrOpt('password'),
    cfg.StrOpt('memcache_secret_key'),
    cfg.StrOpt('auth_user'),
], group='keystone_authtoken')
opts.set_defaults(CONF)
CONF(sys.argv[-7:], project='svc', default_config_files=[sys.argv[1]])
assert CONF.unlock == 'OwnUnlockPw-53' and CONF.port == 8081, CONF.port

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
        'smtpPw': 'RegSmtpPw-46',
        'passThroughMode': 'strict',
        'PASSWORD_HASHERS': ['django.contrib.auth.hashers.Argon2PasswordHasher'],
        'docker_config': '{"auths": {"ghcr.io": {"auth": "<DOCKER_AUTH_51>", "email": "bot@example.com"}}}',
        'kubeconfig': 'users:\\n- name: ci\\n  user:\\n    client-certificate-data: <KUBE_CERT>\\n'
                      '    client-key-data: <KUBE_KEY_64>\\n',
        'laravel_env': 'key rotated to base64:<LARAVEL_KEY_63> yesterday',
        'icon': '<B64_NO_COLON>',
        'callback_b64': '<B64_URL>',
        'mount': 'smbclient //files/archive -U archiver%RegSmbPw-70 -c ls',
    }

def broken():
    raise RuntimeError('cannot reach amqp://guest:RegErrPw-36@mq/ (sent <B64_USER_PW_52>)')

TextGuruMeditation.register_section('Plugins', plugins)
TextGuruMeditation.register_section('Connection', Conn)
TextGuruMeditation.register_section('Broken', broken)
TextGuruMeditation.setup_autorun(
    '1.0', service_name='corpus', log_dir=sys.argv[2], conf=CONF,
    formats=('text', 'json', 'html'), redact={'keys': ['argkey']},
)

child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)',
                          '--api-key', 'ChildKey-33'])
# children running well-known programs (stand-ins named like them in bin/)
BIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'bin')
children = [child] + [
    subprocess.Popen([sys.executable, os.path.join(BIN, args[0])] + args[1:])
    for args in (
        ['sshpass', '-p', 'ChildSshPw-55', 'ssh', '-p', '2222', 'deploy@db'],
        ['redis-cli', '-h', 'cache', '-a', 'ChildRedisPw-56', 'ping'],
        ['mysql', '-uroot', '-pChildMyPw-57', 'app'],
        ['smbclient', '//files/share', '-U', 'backup%ChildSmbPw-58'],
        ['htpasswd', '-b', '/etc/nginx/.htpasswd', 'alice', 'ChildHtPw-59'],
        ['docker', 'run', '-p', '8080:80', '-u', '1000:1000', '-v', '/srv:/srv', 'nginx'],
        ['ls', '-p', '/srv'],
        ['mkdir', '-p', '/srv/cache'],
    )
] + [subprocess.Popen(['sh', '-c', 'sleep 120; sshpass -p ShSshPw-60 ssh -p 2222 backup@h'])]

def exec_done(pid):
    with open('/proc/self/cmdline', 'rb') as mine, open(f'/proc/{pid}/cmdline', 'rb') as theirs:
        return mine.read() != theirs.read()

deadline = time.monotonic() + 30  # every child has exec'd its program before READY
while not all(exec_done(c.pid) for c in children) and time.monotonic() < deadline:
    time.sleep(0.01)

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
    for c in children:
        c.kill()
"""
for _name, _value in {
    "DOCKER_AUTH_51": DOCKER_AUTH_51,
    "KUBE_CERT": KUBE_CERT,
    "KUBE_KEY_64": KUBE_KEY_64,
    "LARAVEL_KEY_63": LARAVEL_KEY_63,
    "B64_NO_COLON": B64_NO_COLON,
    "B64_URL": B64_URL,
    "B64_USER_PW_52": B64_USER_PW_52,
}.items():
    SERVICE = SERVICE.replace(f"<{_name}>", _value)

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
    # parsed by the service's oslo.config (its CLI options; the last 7 arguments)
    "-p",
    "OwnUnlockPw-53",
    "-tOwnVaultTok-54",
    "-P",
    "8081",
    "-w",
    "3",
]

#: what each stand-in program does: wait, as the real one would while working
STAND_IN = "import time\ntime.sleep(120)\n"
STAND_INS = ("sshpass", "redis-cli", "mysql", "smbclient", "htpasswd", "docker", "ls", "mkdir")


def test_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 70
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
    (work / "bin").mkdir()
    for name in STAND_INS:
        (work / "bin" / name).write_text(STAND_IN)
    log_dir = work / "reports"
    xdg = work / "xdg"
    xdg.mkdir(mode=0o700)
    env = dict(ENV_SECRETS, **ENV_NEIGHBOURS, XDG_RUNTIME_DIR=str(xdg))
    svc = Service(script, work, env=env, args=[str(conf_file), str(log_dir), *CLI_ARGS])
    asked: Dict[str, str] = {}
    try:
        svc.signal()
        files = wait_for_reports(log_dir, 3, timeout=60)
        for fmt in ("text", "json", "html"):  # and asked for by `gurumeditation report`
            done = subprocess.run(
                [sys.executable, "-m", "gurumeditation", "report", str(svc.pid), "-f", fmt],
                capture_output=True,
                text=True,
                timeout=60,
                env={**os.environ, "XDG_RUNTIME_DIR": str(xdg)},
                stdin=subprocess.DEVNULL,
            )
            assert done.returncode == 0, done.stderr
            asked[f"cli {fmt}"] = done.stdout
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
    out.update(asked)
    return out


def leaks(text: str) -> List[str]:
    return [secret for secret in CORPUS if secret in text]


ALL_FORMATS = ["text", "json", "html", "cli text", "cli json", "cli html"]


@pytest.mark.parametrize("fmt", ALL_FORMATS)
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


@pytest.mark.parametrize("fmt", ["text", "cli text"])
def test_harmless_neighbours_still_shown(reports: Dict[str, str], fmt: str) -> None:
    text = reports[fmt]
    missing = [n for n in NEIGHBOURS_TEXT if n not in text]
    assert missing == []


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_harmless_values_shown_in_every_format(reports: Dict[str, str], fmt: str) -> None:
    out = reports[fmt]
    missing = [v for v in NEIGHBOUR_VALUES if v not in out and html.escape(v) not in out]
    assert missing == []


def test_harmless_neighbours_in_the_json_model(reports: Dict[str, str]) -> None:
    """Over-masking, looked at in the document itself: every harmless option,
    variable and argument holds its own value, the secrets next to it ``***``."""
    doc = json.loads(reports["json"])
    (conf,) = [s for s in doc["sections"] if s["id"] == "configuration"]
    options = {
        (g["name"], o["name"]): o.get("value") for g in conf["data"]["groups"] for o in g["options"]
    }
    assert options[("default", "credentials_map")] == {
        "access_key_id": "***",
        "profile": "backup",
        "region": "eu-west-1",
        "secret_access_key": "***",
    }
    expected = {
        "pass_through_headers": ["X-Request-Id", "X-Trace-Id"],
        "sig_figures": 4,
        "sig_digits": 3,
        "secretariat_email": "secretariat@example.org",
        "token_issuer": "https://idp.example/realms/corpus",
        "secret_ref": "kv/data/corpus#db",
        "app_key_rotation_days": 90,
        "pw_min_length": 10,
        "pwm_channel": 3,
        "app_key": "***",
        "deploy_key_b64": "***",
    }
    assert {k: options[("default", k)] for k in expected} == expected
    assert options[("ldap", "bind_pw")] == "***"
    (env,) = [s for s in doc["sections"] if s["id"] == "environment"]
    values = {v["name"]: v["value"] for v in env["data"]["variables"]}
    assert {k: values[k] for k in ENV_NEIGHBOURS} == ENV_NEIGHBOURS
    commands = [" ".join(p.get("cmdline", [])) for p in _processes(doc)]
    for shown in ("docker run -p 8080:80 -u 1000:1000 -v /srv:/srv nginx", "ls -p /srv",
                  "mkdir -p /srv/cache", "sshpass -p *** ssh -p 2222 deploy@db"):  # fmt: skip
        assert any(c.endswith(shown) for c in commands), (shown, commands)


def _processes(doc: Dict[str, object]) -> List[Dict[str, object]]:
    (procs,) = [s for s in doc["sections"] if s["id"] == "processes"]  # type: ignore[attr-defined]
    found: List[Dict[str, object]] = []
    todo = [procs["data"]["process"]]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(p.get("children", []))
    return found


def test_masked_count_in_header(reports: Dict[str, str]) -> None:
    doc = json.loads(reports["json"])
    count = doc["header"]["redactedCount"]
    assert count >= len(CORPUS) - 2  # a few secrets share one masked value
    assert f"Masked: {count} values that looked secret" in reports["text"]


def test_header_argv_masked(reports: Dict[str, str]) -> None:
    doc = json.loads(reports["json"])
    argv = doc["header"]["argv"]
    assert argv[-16:] == [
        "--password",
        "***",
        "--db-url=mysql://root:***@db/x",
        "--os-token",
        "***",
        "--log-level",
        "debug",
        "-u",
        "admin:***",
        "-p",
        "***",
        "-t***",
        "-P",
        "8081",
        "-w",
        "3",
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

"""The Redactor's rules, one by one: key words, value formats, free-text
structure, the knobs (extra keys, extra values, allow-list) and the count."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterator, List, Optional

import pytest

from gurumeditation.redact import MASK, Redactor, check_options, key_words


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "db_password",
        "DB_PASSWORD",
        "dbPassword",
        "AWS_SECRET_ACCESS_KEY",
        "X-Api-Key",
        "APIKey",
        "apiKey",
        "api_key",
        "apikey",
        "XAPIKEY",
        "PGPASSWORD",
        "MYSQL_PWD",
        "DB_PASS",
        "passwd",
        "ssh_passphrase",
        "client_secret",
        "GITHUB_TOKEN",
        "X-Auth-Token",
        "access_key",
        "private_key",
        "credentials",
        "Set-Cookie",
        "signature",
        "Authorization",
        "OAuth2Token",
        "password2",
        "--db-password",
        "conn.password",
        "session_id",
        "sig",
        # issue 18: pw, app keys, creds, the variables of sshpass and redis-cli
        "bind_pw",
        "LDAP_BIND_PW",
        "smtpPw",
        "pw",
        "APP_KEY",
        "MY_APP_KEY",
        "laravelAppKey",
        "db_creds",
        "SSHPASS",
        "REDISCLI_AUTH",
        "identitytoken",
        "pass_through_password",  # another meaning first, a secret after
        "credentials_map",
        "access_key_id",
    ],
)
def test_secret_keys(key: str) -> None:
    assert Redactor().is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "auth_url",
        "max_retries",
        "tokenizer_workers",
        "TOKENIZERS_PARALLELISM",
        "password_min_length",  # describes a password: shown (documented)
        "token_ttl",
        "password_file",
        "secret_key_file",
        "session_cookie_name",
        "max_tokens",
        "prompt_tokens",
        "OLDPWD",
        "SSH_AUTH_SOCK",
        "transport_url",
        "passenger",
        "compass",
        "keystone",
        "author",
        "user",
        "host",
        "",
        # issue 18: words that start with a secret word but mean something else
        "pass_through_headers",
        "passThroughMode",
        "pass_by_reference",
        "passband_hz",
        "sig_figures",
        "SIG_DIGITS",
        "SIGTERM",
        "sig_term_timeout",
        # ordinary words holding an embedded secret word
        "secretariat_email",
        "SECRETARY_NAME",
        "secretion_rate",
        "passwordless_login",
        # describing or naming a secret, not holding it
        "PASSWORD_HASHERS",
        "password_hasher",
        "AUTH_PASSWORD_VALIDATORS",
        "TOKEN_AUDIENCE",
        "token_issuer",
        "DB_SECRET_ARN",
        "secret_ref",
        "secretKeyRef",
        "app_key_rotation_days",
        "token_prefix",
        # pw only as a whole word
        "pwm_channel",
        "PWR_PROFILE",
        "hpw_mode",
        "APP_KEYBOARD_LAYOUT",
        "WHATSAPP_KEY_FORMAT",
    ],
)
def test_not_secret_keys(key: str) -> None:
    assert not Redactor().is_secret_key(key)


def test_key_words() -> None:
    assert key_words("AWS_SECRET_ACCESS_KEY") == ["aws", "secret", "access", "key"]
    assert key_words("dbPassword") == ["db", "password"]
    assert key_words("APIKey") == ["api", "key"]
    assert key_words("X-Api-Key") == ["x", "api", "key"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rabbit://nova:RabbitPassw0rd@host:5672/", "rabbit://nova:***@host:5672/"),
        (
            "rabbit://u1:p1xx@h1:5672,u2:p2yy@h2:5672/vhost",
            "rabbit://u1:***@h1:5672,u2:***@h2:5672/vhost",
        ),
        (
            "mysql+pymysql://nova:p@ss@db/nova?charset=utf8",
            "mysql+pymysql://nova:***@db/nova?charset=utf8",
        ),
        ("mysql://u:pa/ss@db/x", "mysql://u:***@db/x"),
        ("see http://a:b1@c and https://d:e2@f", "see http://a:***@c and https://d:***@f"),
        ("https://ghp0123456789abcdefghijABCD@github.com/x.git", "https://***@github.com/x.git"),
        ("proxy user:barePass1@proxy:3128", "proxy user:***@proxy:3128"),
        (
            "https://x/?token=abc123&x=1&api_key=K9&sig=SIGVAL",
            "https://x/?token=***&x=1&api_key=***&sig=***",
        ),
        ("url=http://h/?password=x1&a=1", "url=http://h/?password=***&a=1"),
        ("Server=db;User Id=sa;Password=Conn$tr1ng;", "Server=db;User Id=sa;Password=***;"),
        ("DRIVER={ODBC};UID=sa;PWD=OdbcPw1", "DRIVER={ODBC};UID=sa;PWD=***"),
        ("mysql --password hunter2 -h db", "mysql --password *** -h db"),
        ("mysql --password=hunter3 -h db", "mysql --password=*** -h db"),
        ("Authorization: Bearer abc.def", "Authorization: Bearer ***"),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic ***"),
        ("Cookie: sessionid=abc; csrftoken=def\nAccept: */*", "Cookie: ***\nAccept: */*"),
        ("curl -H 'Set-Cookie: a=b; c=d' x", "curl -H 'Set-Cookie: ***' x"),
        ("redis://:RedisPw1@cache:6379/0", "redis://:***@cache:6379/0"),
        ("machine h login bob password NetrcPw1", "machine h login bob password ***"),
        ("mysql -uroot -pGluedPw2 db", "mysql -uroot -p*** db"),
        ('"password":"a\\"b EscQuote"', '"password":"***"'),
        ("AccountKey=AzureKey9==;EndpointSuffix=x", "AccountKey=***;EndpointSuffix=x"),
        ("<password>XmlPw14</password><user>u</user>", "<password>***</password><user>u</user>"),
        ("password => 'PerlPw15'", "password => '***'"),
        ("{'token': b'BytesTok27'}", "{'token': b'***'}"),
        ("b'password=xyz'", "b'password=***'"),
        (
            'sasl.jaas.config=PlainLoginModule required username="u" password="p1";',
            'sasl.jaas.config=PlainLoginModule required username="u" password="***";',
        ),
        ("curl -H 'Authorization: Token tok123'", "curl -H 'Authorization: Token ***'"),
        ("{'X-Api-Key': 'KKK111', 'user': 'bob'}", "{'X-Api-Key': '***', 'user': 'bob'}"),
        (
            '{"password": "jsonpw", "auth_url": "http://k/v3"}',
            '{"password": "***", "auth_url": "http://k/v3"}',
        ),
        ("connect(password=\"hunter9\", user='x')", "connect(password=\"***\", user='x')"),
        ("key AKIAIOSFODNN7EXAMPLE used", f"key {MASK} used"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sgn_abc-XYZ end", f"jwt {MASK} end"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\nafter",
            f"{MASK}\nafter",
        ),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXkt", MASK),
        ("gh ghp_abcdefghijklmnopqrstuvwxyz0123456789", f"gh {MASK}"),
        ("gl glpat-abcdefghij0123456789", f"gl {MASK}"),
        ("slack xoxb-1234567890-abcdef", f"slack {MASK}"),
        ("stripe sk_live_abcdefghij0123456789", f"stripe {MASK}"),
        ("openai sk-proj-abcdefghij0123456789ABCD", f"openai {MASK}"),
        ("google AIzaSyA1234567890abcdefghijklmnopqrstuv", f"google {MASK}"),
        ("https://hooks.slack.com/services/T000/B000/XXXX", "https://hooks.slack.com/services/***"),
        # issue 18: base64 of user:password or of a PEM private key, wherever it is
        (
            '{"auths":{"r.example":{"auth":"ZGVwbG95Olp4OS1Qdw=="}}}',
            '{"auths":{"r.example":{"auth":"***"}}}',
        ),
        ("creds dXNlcjpwYXNz sent", "creds *** sent"),
        ("unpadded ZGVwbG95Olp4OS1Qdw ok", "unpadded *** ok"),
        (
            "client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlF",
            "client-key-data: ***",
        ),
        ("k LS0tLS1CRUdJTiBPUEVOU1NIIFBSSVZBVEUgS0VZLS0tLS0K end", "k *** end"),
        # Laravel-style keys
        ("key base64:TGFyYXZlbEFwcEtleS00Ny10aGlydHkyLWJ5dGVzISE= set", "key base64:*** set"),
        ("APP_KEY=base64:abc", "APP_KEY=***"),
        ("bind_pw = LdapPw1", "bind_pw = ***"),
        # command lines inside a string
        (
            "health = curl -fsS -u monitor:CurlPw1 https://h/",
            "health = curl -fsS -u monitor:*** https://h/",
        ),
        ("curl --user 'ops:Curl Pw2' -X POST u", "curl --user 'ops:***' -X POST u"),
        ("curl --proxy-user=px:Pw3 u", "curl --proxy-user=px:*** u"),
        ('curl --user="ops:Pw3b" u', 'curl --user="ops:***" u'),
        ("docker -H tcp://h:2375 login -p DockPw3c r", "docker -H tcp://h:2375 login -p *** r"),
        ("opts: -u admin:Pw4 -v", "opts: -u admin:*** -v"),
        ('sh -c "sshpass -p SshPw3 ssh -p 2222 h"', 'sh -c "sshpass -p *** ssh -p 2222 h"'),
        ("/usr/bin/sshpass -pSshPw4 scp a b:", "/usr/bin/sshpass -p*** scp a b:"),
        ("redis-cli -h cache -a RedisPw5 ping", "redis-cli -h cache -a *** ping"),
        ("timeout 5 redis-cli --pass RedisPw6 info", "timeout 5 redis-cli --pass *** info"),
        ("mysqldump -uroot -pMyPw7 db > x", "mysqldump -uroot -p*** db > x"),
        ("mysqladmin -uroot password NewPw8", "mysqladmin -uroot password ***"),
        ("htpasswd -b /etc/htpasswd alice HtPw9", "htpasswd -b /etc/htpasswd alice ***"),
        ("htpasswd -nbB bob HtPw10", "htpasswd -nbB bob ***"),
        (
            "smbclient //srv/share -U alice%SmbPw11 -c ls",
            "smbclient //srv/share -U alice%*** -c ls",
        ),
        ("smbclient -Ualice%SmbPw12 //srv/s", "smbclient -Ualice%*** //srv/s"),
        ("PGPASSWORD=PgPw13 psql -h db", "PGPASSWORD=*** psql -h db"),
        (
            "ldapsearch -x -D cn=admin -w LdapPw14 -b dc=x",
            "ldapsearch -x -D cn=admin -w *** -b dc=x",
        ),
        (
            "openssl pkcs12 -in a.p12 -passin pass:OsslPw15 -passout file:/etc/p",
            "openssl pkcs12 -in a.p12 -passin pass:*** -passout file:/etc/p",
        ),
        ("keytool -list -storepass KtPw16", "keytool -list -storepass ***"),
        ("sqlplus scott/OraPw17@orcl", "sqlplus scott/***@orcl"),
        ("rabbitmqctl add_user bob RmqPw18", "rabbitmqctl add_user bob ***"),
        ("docker login -u bob -p DockPw19 reg", "docker login -u bob -p *** reg"),
        ("mongosh -u admin -p MongoPw20 db", "mongosh -u admin -p *** db"),
        ("zip -P ZipPw21 a.zip f", "zip -P *** a.zip f"),
        ("7z a -p7zPw22 x.7z", "7z a -p*** x.7z"),
        ("xfreerdp /u:bob /p:RdpPw23 /v:h", "xfreerdp /u:bob /p:*** /v:h"),
        ("sudo useradd -p HashPw24 bob", "sudo useradd -p *** bob"),
        (
            "a; sshpass -p A1 ssh h && redis-cli -a A2 x",
            "a; sshpass -p *** ssh h && redis-cli -a *** x",
        ),
    ],
)
def test_text(text: str, expected: str) -> None:
    r = Redactor()
    assert r.text(text) == expected
    assert r.count >= 1


@pytest.mark.parametrize(
    "text",
    [
        "tokenizer_workers=4 max_retries=3 password_min_length=8",
        "http://host:8080/path/user@example.com",
        "https://nova@host/",
        "Basic authentication failed",
        "Error: token expired",
        "password=",
        'password=""',
        "a = b",
        "git@github.com:org/repo.git",
        "SharedAccessKeyName=root",
        "ssh -p 2222 host",
        "<note>ok</note>",
        "auth_url = http://keystone:5000/v3",
        # issue 18: -p where it is not a password
        "ls -p /tmp",
        "mkdir -p /a/b",
        "ssh -p 22 host",
        "docker run -p 80:80 -u 1000:1000 nginx",
        "podman exec -u root:root c sh",
        "mysql -p mydb",  # -p then the database: mysql prompts
        "sshpass -p",
        "curl -u user https://x",  # no password: curl prompts
        "openssl rsa -passin file:/etc/key.pass -in k",
        "htpasswd -c /etc/htpasswd alice",
        "sqlplus /nolog",
        "rabbitmqctl list_users",
        # base64 that is no credential
        "client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJrVENC",
        "icon Y29ycHVzIGljb24gYnl0ZXM=",
        "cb aHR0cHM6Ly9leGFtcGxlLmNvbS9jYWxsYmFjaw==",
        "Configuration TextGuruMeditation ValueError production",
        "Jonathan Ballard <dzonatas@dzonux.net>",  # decodes to w:'j and two non-ASCII bytes
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "/usr/lib/python3.11/site-packages/oslo_config/cfg.py",
        "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        # colon chains are not key:value pairs
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf",
        "urn:secret:thing",
    ],
)
def test_text_left_alone(text: str) -> None:
    r = Redactor()
    assert r.text(text) == text
    assert r.count == 0


def test_idempotent_and_counted_once() -> None:
    r = Redactor()
    once = r.text("rabbit://a:b1@c password=x1 Bearer zz.yy")
    assert r.count == 3
    assert r.text(once) == once
    assert r.data({"k": once, "password": MASK}) == {"k": once, "password": MASK}
    assert r.count == 3


def test_data_walk() -> None:
    r = Redactor()
    doc = {
        "creds": {"password": "p1", "user": "u"},
        "items": [["api_key", "p2"], ["user", "u"]],
        "password_required": True,
        "secret": None,
        "secrets": {"db": "p3"},
        "pin_token": 1234,
        "rabbit://a:p4@c": 1,
        "nested": [{"token": ["p5", "p6"]}],
    }
    out = r.data(doc)
    flat = repr(out)
    for secret in ("p1", "p2", "p3", "1234", "p4", "p5", "p6"):
        assert f"'{secret}'" not in flat and f" {secret}" not in flat
    assert out["creds"]["user"] == "u"
    assert out["password_required"] is True  # a boolean is never a secret
    assert out["secret"] is None
    assert "rabbit://a:***@c" in out
    assert r.count == 6  # the token list is one masked value


def test_argv() -> None:
    r = Redactor()
    args = [
        "prog",
        "--password",
        "p1",
        "--token=p2",
        "-u",
        "bob:p3",
        "--password-file",
        "/etc/pw",
        "--db-url",
        "mysql://a:p4@h/x",
        "--os-password",
        "-starts-with-dash",
        "PGPASSWORD=p5",
        "--verbose",
    ]
    assert r.argv(args) == [
        "prog",
        "--password",
        MASK,
        f"--token={MASK}",
        "-u",
        f"bob:{MASK}",
        "--password-file",
        "/etc/pw",
        "--db-url",
        f"mysql://a:{MASK}@h/x",
        "--os-password",
        MASK,
        f"PGPASSWORD={MASK}",
        "--verbose",
    ]
    assert r.count == 6
    assert r.argv(["/usr/bin/mysql", "-uroot", "-pGlued29", "db"]) == [
        "/usr/bin/mysql",
        "-uroot",
        "-p***",
        "db",
    ]
    assert r.argv(["ssh", "-p2222", "host"]) == ["ssh", "-p2222", "host"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["sshpass", "-p", "A1", "ssh", "-p", "22", "h"],
            ["sshpass", "-p", MASK, "ssh", "-p", "22", "h"],
        ),
        (
            ["/usr/bin/sshpass", "-pA2", "scp", "-P", "22", "f", "h:"],
            ["/usr/bin/sshpass", f"-p{MASK}", "scp", "-P", "22", "f", "h:"],
        ),
        (
            ["redis-cli", "-h", "c", "-a", "A3", "ping"],
            ["redis-cli", "-h", "c", "-a", MASK, "ping"],
        ),
        (
            ["python3", "/opt/bin/redis-cli", "-a", "A4"],
            ["python3", "/opt/bin/redis-cli", "-a", MASK],
        ),
        (
            ["sudo", "-u", "postgres", "mysql", "-pA5", "db"],
            ["sudo", "-u", "postgres", "mysql", f"-p{MASK}", "db"],
        ),
        (["mysql", "-p", "db"], ["mysql", "-p", "db"]),
        (["htpasswd", "-bc", "f", "u", "A6"], ["htpasswd", "-bc", "f", "u", MASK]),
        (["smbclient", "//s/x", "-U", "u%A7"], ["smbclient", "//s/x", "-U", f"u%{MASK}"]),
        (["smbclient", "//s/x", "--user=u%A8"], ["smbclient", "//s/x", f"--user=u%{MASK}"]),
        (["curl", "-u", "u:A9", "x"], ["curl", "-u", f"u:{MASK}", "x"]),
        (
            ["docker", "run", "-p", "80:80", "-u", "1000:1000", "x"],
            ["docker", "run", "-p", "80:80", "-u", "1000:1000", "x"],
        ),
        (
            ["docker", "login", "-u", "bob", "-p", "A10", "r"],
            ["docker", "login", "-u", "bob", "-p", MASK, "r"],
        ),
        (["ls", "-p"], ["ls", "-p"]),
        (["mkdir", "-p", "/a"], ["mkdir", "-p", "/a"]),
        (["ssh", "-p", "22", "h"], ["ssh", "-p", "22", "h"]),
        (["sh", "-c", "sshpass -p A11 ssh h"], ["sh", "-c", f"sshpass -p {MASK} ssh h"]),
        (
            ["openssl", "enc", "-k", "A12", "-pass", "pass:A13"],
            ["openssl", "enc", "-k", MASK, "-pass", f"pass:{MASK}"],
        ),
        (
            ["rabbitmqctl", "change_password", "bob", "A14"],
            ["rabbitmqctl", "change_password", "bob", MASK],
        ),
        (["mysqladmin", "-uroot", "password", "A15"], ["mysqladmin", "-uroot", "password", MASK]),
        (
            ["prog", "--bind-pw", "A16", "--app-key=A17"],
            ["prog", "--bind-pw", MASK, f"--app-key={MASK}"],
        ),
    ],
)
def test_argv_of_well_known_programs(args: List[str], expected: List[str]) -> None:
    r = Redactor()
    assert r.argv(args) == expected
    assert r.count == sum(MASK in e for e in expected)


def test_own_command_line_oslo_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service's own secret CLI options are masked on its own command line
    (header argv and its /proc form), and nowhere else."""
    from oslo_config import cfg

    conf = cfg.ConfigOpts()
    conf.register_cli_opts(
        [
            cfg.StrOpt("unlock", short="p", secret=True),
            cfg.StrOpt("vault-key", short="k"),  # secret name? no: shown
            cfg.StrOpt("ldap-pw", short="l"),  # secret name: masked
            cfg.IntOpt("port", short="P"),
        ]
    )
    args = ["-p", "OwnPw-1", "-k", "/etc/vault.hcl", "-lOwnPw-2", "-P", "80", "--unlock=OwnPw-3"]
    conf(args)
    monkeypatch.setattr(sys, "argv", ["svc", *args])
    r = Redactor()
    r.learn_command_line(conf)
    expected = ["-p", MASK, "-k", "/etc/vault.hcl", f"-l{MASK}", "-P", "80", f"--unlock={MASK}"]
    assert r.argv(sys.argv) == ["svc", *expected]
    assert r.argv(["/usr/bin/python3", "-u", "/usr/bin/svc", *args]) == [
        "/usr/bin/python3",
        "-u",
        "/usr/bin/svc",
        *expected,
    ]
    assert r.argv(["ssh", "-p", "22", "h"]) == ["ssh", "-p", "22", "h"]  # not this process
    assert r.count == 6


def test_own_command_line_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    monkeypatch.setattr(sys, "argv", ["tool", "-s", "NsPw-1", "--port", "8080", "-v"])
    r = Redactor()
    r.learn_command_line(argparse.Namespace(secret="NsPw-1", port=8080, verbose=True))
    assert r.argv(sys.argv) == ["tool", "-s", MASK, "--port", "8080", "-v"]
    r.learn_command_line(object())  # nothing to learn: no error
    r.learn_command_line(None)


def test_mapping_under_a_secret_key() -> None:
    """Under a secret-named key, a mapping with secret keys of its own is a
    record: those are masked, the rest shown; one without any is masked whole."""
    r = Redactor()
    assert r.value("credentials_map", {"region": "eu", "secret_key": "S1", "access_key": "A1"}) == {
        "region": "eu",
        "secret_key": MASK,
        "access_key": MASK,
    }
    assert r.value("secrets", {"prod": "S2", "dev": "S3"}) == MASK
    assert r.data([["token", {"type": "bearer", "access_token": "S4"}]]) == [
        ["token", {"type": "bearer", "access_token": MASK}]
    ]
    assert r.data(["connecting to amqp://g:S5@mq/ now with my_pw", "ok"]) == [
        f"connecting to amqp://g:{MASK}@mq/ now with my_pw",
        "ok",
    ]  # two log lines, not a [key, value] pair


def test_extra_keys_values_and_allow() -> None:
    r = Redactor(
        extra_keys=["ssn", "re:^internal_"],
        extra_values=[r"ACME-[0-9]{6}", r"pin (?P<secret>\d{4})"],
        allow_keys=["DB_PASSWORD", "auth_token"],
    )
    assert r.is_secret_key("customer_ssn")
    assert not r.is_secret_key("ssnake")  # whole words only
    assert r.is_secret_key("internal_thing")
    assert not r.is_secret_key("db_password")  # allowed (case-insensitive)
    assert r.value("customer_ssn", "123-45-6789") == MASK
    assert r.text("order ACME-123456 ok") == f"order {MASK} ok"
    assert r.text("my pin 1234 here") == f"my pin {MASK} here"
    assert r.value("auth_token", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.x") == (
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.x"
    )  # an allowed key is shown as it is
    assert r.text("DB_PASSWORD=visible") == "DB_PASSWORD=visible"
    assert r.value("token", "t") == MASK  # built-ins still apply
    assert r.count == 4


def test_check_options() -> None:
    check_options({"keys": ["ssn"], "values": ["x+"], "allow": ["a"]})
    with pytest.raises(ValueError, match="regular expression"):
        check_options({"values": ["(unclosed"]})
    with pytest.raises(ValueError, match="unknown"):
        check_options({"key": ["x"]})
    with pytest.raises(ValueError, match="list"):
        check_options({"keys": "ssn"})


# -- the knobs through setup_autorun and oslo.config; the Environment section --


@pytest.fixture
def armed_state() -> Iterator[None]:
    from gurumeditation.arming import ARMED

    saved = (ARMED.options, ARMED.maker)
    yield
    ARMED.options, ARMED.maker = saved


def make_conf(tmp_path: Path, ini: str) -> Any:
    from oslo_config import cfg

    from gurumeditation import opts

    conf = cfg.ConfigOpts()
    conf.register_opts(
        [
            cfg.StrOpt("policy_password"),
            cfg.StrOpt("badge_number"),
            cfg.IntOpt("db_password"),
            cfg.IntOpt("workers"),
            cfg.StrOpt("vault_secret", secret=True),
        ]
    )
    opts.set_defaults(conf)
    path = tmp_path / "svc.conf"
    path.write_text(ini)
    conf([], project="svc", default_config_files=[str(path)])
    return conf


def test_oslo_config_knobs_and_unreadable_options(tmp_path: Path, armed_state: None) -> None:
    from gurumeditation import TextGuruMeditation

    conf = make_conf(
        tmp_path,
        "[DEFAULT]\npolicy_password = VisibleByChoice1\nbadge_number = BADGE-1234\n"
        "db_password = NotAnInt-Pw42\nworkers = https://u:WorkersPw7@h/\n"
        "vault_secret = VaultValue-99\n"
        "[oslo_reports]\nredact_allow = policy_password\nredact_values = BADGE-[0-9]+\n"
        "redact_values = (?P<secret>Visible)Nowhere\n",
    )
    TextGuruMeditation.setup_autorun("1", conf=conf, setup_signal=False, redact={"keys": ["x"]})
    text = TextGuruMeditation("1").run()
    assert "policy_password = VisibleByChoice1" in text  # allowed in the config file
    assert "badge_number = ***" in text  # extra value pattern from the config file
    # an option that cannot be read: its error is redacted, or hidden under a secret name
    assert "db_password = <unreadable: ConfigFileValueError: ***>" in text
    assert "WorkersPw7" not in text and "https://u:***@h/" in text
    assert "NotAnInt-Pw42" not in text and "VaultValue-99" not in text
    assert "vault_secret = ***" in text


def test_bad_redact_options_fail_at_setup(armed_state: None) -> None:
    from gurumeditation import TextGuruMeditation

    with pytest.raises(ValueError, match="regular expression"):
        TextGuruMeditation.setup_autorun("1", setup_signal=False, redact={"values": ["(x"]})


def test_environment_section(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from gurumeditation import TextGuruMeditation
    from gurumeditation.model import find_section

    monkeypatch.setenv("ZZ_API_TOKEN", "EnvTok-1")
    monkeypatch.setenv("ZZ_PLAIN", "line one\nline two")
    monkeypatch.setenv("PWD", str(tmp_path))
    doc = TextGuruMeditation("1").report()
    section = find_section(doc, "environment")
    assert section is not None
    values = {v["name"]: v["value"] for v in section["data"]["variables"]}
    assert values["ZZ_API_TOKEN"] == MASK
    assert values["PWD"] == str(tmp_path)  # the shell's working directory
    text = TextGuruMeditation("1").run()
    assert "ZZ_API_TOKEN = ***\nZZ_PLAIN = line one\n    line two\n" in text
    monkeypatch.setenv("PWD", "NotADirectory-Pw")  # not a directory: a password after all
    section = find_section(TextGuruMeditation("1").report(), "environment")
    assert section is not None
    assert {"name": "PWD", "value": MASK} in section["data"]["variables"]


PATHOLOGICAL = {
    "dotted run before a scheme": "a." * 100000 + "://x@y",
    "dashed run before a scheme": "a-" * 100000 + "://x@y:z",
    "many schemes in one run": "a://" * 50000 + "@",
    "many key:value pairs": "a:" * 100000 + "@x",
    "one huge key": "x" * 400000 + ":y=@",
    "many credential URLs": "http://a:b@c " * 20000,
    "unterminated PEM blocks": "-----BEGIN PRIVATE KEY-----" * 10000,
    "many flags": "-a " * 100000,
    "many quotes": 'password="' * 30000,
    "many programs": "curl " * 100000,
    "many programs with flags": "sshpass -p " * 50000,
    "many user flags": "-u a:b " * 50000,
    "one huge base64 run": "QUFB" * 100000 + "-",
    "many base64 words": "dXNlcjpwYXNz " * 30000,
    "base64 runs broken by dots": "YWFh." * 100000,
    "many PEM base64 starts": "LS0tLS1CRUdJT" * 30000,
    "many mapping heads": "mysqladmin password " * 50000,
}


#: How many masks each pathological text must come out with: every secret in
#: it (a scan that gave up halfway masks fewer), nothing in the harmless ones.
PATHOLOGICAL_MASKS = {
    "dotted run before a scheme": 0,
    "dashed run before a scheme": 0,
    "many key:value pairs": 0,
    "one huge key": 0,
    "many credential URLs": 20000,
    "many flags": 0,
    "many quotes": 15000,
    "many programs": 0,
    "many programs with flags": 49999,  # the last -p has no value
    "many user flags": 50000,
    "one huge base64 run": 0,
    "many base64 words": 30000,
    "base64 runs broken by dots": 0,
    "many PEM base64 starts": 0,
    "many mapping heads": 49999,
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", PATHOLOGICAL.keys())
def test_pathological_text_does_not_hang(name: str) -> None:
    """The cost stays linear in the text: a quadratic scan of these would take
    minutes (no timing asserted; the timeout catches a hang)."""
    out = Redactor().text(PATHOLOGICAL[name])
    if name in PATHOLOGICAL_MASKS:
        assert out.count(MASK) == PATHOLOGICAL_MASKS[name]


def test_sections_without_their_own_redaction_pass_through_the_net() -> None:
    """Asyncio task names, thread names: sections that do not redact their own
    data are redacted by the report run (stack frames excepted)."""
    import asyncio
    import threading

    from gurumeditation import TextGuruMeditation
    from gurumeditation.render import render

    ready = threading.Event()
    stop: Optional[asyncio.Future[None]] = None
    loop = asyncio.new_event_loop()

    async def main() -> None:
        nonlocal stop
        stop = loop.create_future()
        task = asyncio.ensure_future(asyncio.sleep(60))
        task.set_name("fetch https://svc:TaskNamePw-1@api.example/")
        ready.set()
        await stop
        task.cancel()

    worker = threading.Thread(
        target=loop.run_until_complete, args=(main(),), name="poll redis://:ThreadPw-2@cache"
    )
    worker.start()
    try:
        assert ready.wait(10)
        doc = TextGuruMeditation("1").report()
    finally:
        loop.call_soon_threadsafe(lambda: stop is not None and stop.set_result(None))
        worker.join(10)
        loop.close()
    for fmt in ("text", "json", "html"):
        out = render(doc, fmt)
        assert "TaskNamePw-1" not in out and "ThreadPw-2" not in out, fmt
    text = render(doc, "text")
    assert "fetch https://svc:***@api.example/" in text
    assert "poll redis://:***@cache" in text


def test_named_tuple_keeps_its_field_names() -> None:
    from collections import namedtuple

    from gurumeditation.model import to_plain

    Creds = namedtuple("Creds", "user password")
    r = Redactor()
    assert r.data(to_plain({"db": Creds("svc", "TuplePw-1")})) == {
        "db": {"user": "svc", "password": MASK}
    }


def test_text_remembered_across_redactors_counts_each_time() -> None:
    """The text of a string is remembered per set of rules: a second report
    (a new redactor) gets the same answer and counts its masks again."""
    line = "connect password=hunter2 to db"
    first, second = Redactor(), Redactor()
    assert first.text(line) == second.text(line) == f"connect password={MASK} to db"
    assert first.count == second.count == 1
    assert second.text(line) == f"connect password={MASK} to db"
    assert second.count == 2


def test_text_remembered_apart_for_other_rules() -> None:
    """Another set of rules (an extra value format) is not given what the
    default rules decided on the same string."""
    line = "ticket ZZ-1234567890 opened"
    assert Redactor().text(line) == line
    masked = Redactor(extra_values=[r"ZZ-[0-9]{10}"]).text(line)
    assert "ZZ-1234567890" not in masked and MASK in masked
    assert Redactor().text(line) == line


def test_command_line_masked_twice_counts_twice() -> None:
    """The header and Processes mask the same command line: the second time
    is remembered, and counted like the first."""
    redactor = Redactor()
    words = ["mysql", "-u", "root", "-phunter2", "db"]
    once = redactor.argv(words)
    assert "-phunter2" not in once and redactor.count == 1
    assert redactor.argv(words) == once
    assert redactor.count == 2

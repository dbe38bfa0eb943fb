"""Masking secrets before they enter a report.

Every value that comes from the application (configuration, environment,
registered sections, command lines, error messages, source lines) passes
through one :class:`Redactor` while the report is built, so no renderer ever
sees a secret.  The redactor counts what it masked; the count goes into the
report header (``redactedCount``).

Three kinds of rules:

*Keys.*  A key (mapping key, option name, environment variable, ``--flag``,
the ``key`` of a ``key=value`` pair) names a secret when one of
:data:`SECRET_WORDS` is a whole word of it.  A key is cut into words at
``_ - . /`` and spaces, at lower→upper case changes and at digits
(``db_password``, ``AWS_SECRET_ACCESS_KEY``, ``X-Api-Key``, ``dbPassword``,
``APIKey``, ``LDAP_BIND_PW``, ``MY_APP_KEY``), and compared case-insensitively;
a phrase such as ``api_key`` matches those words in a row or run together
(``apikey``).  A few words (:data:`EMBEDDED_WORDS`: ``password``,
``secret``...) also count inside a longer word, because all-caps names run
them together (``PGPASSWORD``), except in ordinary words
(:data:`ORDINARY_WORDS`: ``secretariat``, ``secretary``).  ``token`` and
``pw`` do not (``tokenizer_workers``, ``pwm_channel`` stay readable).  Not a
secret: a key whose last word describes the secret rather than holding it
(:data:`QUALIFIER_SUFFIXES`: ``password_min_length``, ``token_ttl``,
``password_file``, ``cookie_secure``, ``DB_SECRET_ARN``, ``TOKEN_AUDIENCE``,
``PASSWORD_HASHERS``), whose first word counts it (:data:`QUALIFIER_PREFIXES`:
``max_tokens``), or whose secret word starts another meaning
(:data:`OTHER_MEANINGS`: ``pass_through_headers``, ``sig_figures``).
Booleans and ``None`` are never masked.  Under a secret key, a mapping with
secret keys of its own is a record (``credentials_map = {region: …,
secret_key: …}``): only those are masked; a mapping without any (``secrets =
{db: …}``) is masked whole.  ``[key, value]`` is a pair only when ``key`` is a
name (no spaces).

*Values.*  Inside any string: credentials in URLs (``scheme://user:***@host``,
several hosts, ``user:***@host`` without a scheme), ``key=value`` / ``key:
value`` / ``key => value`` pairs whose key names a secret (query strings,
connection strings, command lines, ``repr`` of dicts; a key right after a
``:`` is a field of an ARN or URN, not a key), ``<password>…</password>``
elements, ``--secret-flag value``, and well-known credential formats whatever
their key (:data:`VALUE_PATTERNS`: PEM private keys, base64 of a PEM private
key (kubeconfig ``client-key-data``; a certificate stays shown) or of
``user:password`` (a Docker ``auth`` field), ``Bearer``/``Basic``
credentials, ``Cookie:`` headers, AWS access key ids, JWTs, GitHub, GitLab,
Slack, Stripe, OpenAI-style and Google API keys, Laravel-style
``base64:`` keys, ``.netrc`` lines, Slack/Discord webhook URLs).

*Command lines* (an argument vector, or a command inside any string such as
``sh -c "…"`` or a configuration value): the argument of a secret-named flag,
``user:***`` after ``-u``/``--user``/``--proxy-user``/``-U``, and where
well-known programs take a password (:data:`PROGRAMS`: ``sshpass -p``,
``redis-cli -a``, MySQL's ``-pX``, ``mongosh -p``, ``smbclient -U user%X``,
``htpasswd -b file user X``, ``ldapsearch -w``, ``openssl -passin pass:X``,
``keytool -storepass``, ``curl -u``, ``docker login -p``, ``sqlplus
user/X@db``, ``rabbitmqctl add_user user X``...).  ``-p`` is a password flag
of those programs only: ``ls -p``, ``mkdir -p``, ``ssh -p 22``, ``docker run
-p 80:80`` stay as they are.  On the process's own command line, the secret
options it declared (:meth:`Redactor.learn_command_line`: oslo.config CLI
options ``secret=True`` or secret-named, by their short and long flags; the
secret-named values of an ``argparse.Namespace``).

Not recognised (documented limits): a secret with neither a telling key nor a
telling form, such as a bare password in an exception's prose or a positional
password argument on a source line (``connect("bob", "hunter2")``).

The cost stays linear in the length of the text (no pattern rescans what it
has read); user-supplied value patterns are the user's to keep that way.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import sys
from collections.abc import Mapping
from typing import (
    Any,
    Callable,
    Dict,
    FrozenSet,
    List,
    NamedTuple,
    Optional,
    Pattern,
    Sequence,
    Set,
    Tuple,
)

MASK = "***"

#: Words (or ``_``-joined phrases) that, as whole words of a key, name a secret.
SECRET_WORDS: Tuple[str, ...] = (
    "password",
    "passwords",
    "passwd",
    "pwd",
    "pass",
    "passphrase",
    "secret",
    "secrets",
    "token",
    "api_key",
    "access_key",
    "account_key",
    "private_key",
    "auth_key",
    "encryption_key",
    "signing_key",
    "master_key",
    "license_key",
    "session_key",
    "session_id",
    "credential",
    "credentials",
    "cookie",
    "cookies",
    "signature",
    "sig",
    "authorization",
    "pw",
    "app_key",
    "creds",
    "sshpass",
    "rediscli_auth",
    "identitytoken",
    "registrytoken",
)

#: Words that name a secret even inside a longer word (``PGPASSWORD``,
#: ``CLIENTSECRET``, ``XAPIKEY``); the run-together phrases of
#: :data:`SECRET_WORDS` (``apikey``, ``accesskey``...) count too.
EMBEDDED_WORDS: Tuple[str, ...] = ("password", "passwd", "passphrase", "secret")

#: Ordinary words that contain an embedded secret word and mean something else
#: (``secretariat_email``, ``secretion_rate``).
ORDINARY_WORDS: FrozenSet[str] = frozenset(
    {
        "secretary", "secretaries", "secretarial", "secretariat", "secretariats", "secrete",
        "secreted", "secretes", "secreting", "secretion", "secretions", "secretory",
        "secretive", "secretin", "undersecretary", "passwordless",
    }
)  # fmt: skip

#: A secret word followed by one of these words starts another meaning:
#: ``pass_through_headers``, ``passByReference``, ``sig_figures``, ``SIG_TERM``.
OTHER_MEANINGS: Dict[str, FrozenSet[str]] = {
    "pass": frozenset({"through", "thru", "by", "fail", "rate", "band", "mark", "over"}),
    "sig": frozenset(
        {"figures", "figs", "fig", "digits", "dig", "level", "int", "term", "kill", "hup",
         "usr", "chld", "handler", "handlers", "num", "nal"}
    ),
}  # fmt: skip

#: A key ending with one of these words describes a secret, it does not hold
#: one: ``password_min_length``, ``token_ttl``, ``password_file``,
#: ``session_cookie_name``, ``auth_token_url``.
QUALIFIER_SUFFIXES: FrozenSet[str] = frozenset(
    {
        "length", "len", "min", "max", "minimum", "maximum", "size", "count",
        "ttl", "expiry", "expiration", "expires", "expire", "lifetime", "timeout",
        "age", "interval", "file", "path", "dir", "directory", "enabled", "enable",
        "disabled", "required", "policy", "type", "algorithm", "algorithms", "alg",
        "strength", "history", "name", "domain", "secure", "httponly", "samesite",
        "endpoint", "url", "uri", "header", "field", "param", "location", "backend",
        "driver", "format", "version", "method", "mode", "provider", "arn", "arns", "ref",
        "audience", "aud", "issuer", "scope", "scopes", "hasher", "hashers", "hashing",
        "validator", "validators", "class", "classes", "prefix", "pattern", "regex",
        "complexity", "rotation", "days", "hours", "minutes", "seconds", "secs",
    }
)  # fmt: skip

#: A key starting with one of these words counts secrets, it does not hold
#: one: ``max_tokens``, ``num_secrets``, ``min_password_length``.
QUALIFIER_PREFIXES: FrozenSet[str] = frozenset({"max", "min", "num", "number", "total", "count"})

#: Only the start of a longer key is looked at (a key is a name, not a text).
_LONGEST_KEY = 256

_KEY_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def key_words(key: str) -> List[str]:
    """``'AWS_SECRET_ACCESS_KEY'`` → ``['aws', 'secret', 'access', 'key']``;
    ``'dbPassword'`` → ``['db', 'password']``; ``'X-Api-Key'`` → ``['x', 'api', 'key']``."""
    return [w.lower() for w in _KEY_WORD.findall(key)]


class _KeyRule:
    """Phrases (tuples of words) and embedded words, matched against a key's words."""

    def __init__(self, phrases: Sequence[str], embedded: Sequence[str] = ()) -> None:
        self.single: Set[str] = set()
        #: multi-word phrases by their first word
        self.multi: Dict[str, List[Tuple[str, ...]]] = {}
        self.embedded: List[str] = [e.lower() for e in embedded]
        for phrase in phrases:
            words = tuple(key_words(phrase))
            if not words:
                continue
            if len(words) == 1:
                self.single.add(words[0])
            else:
                self.multi.setdefault(words[0], []).append(words)
                self.single.add("".join(words))  # run together: apikey
                if embedded:  # and inside a longer word: XAPIKEY
                    self.embedded.append("".join(words))
        self.shortest_embedded = min((len(e) for e in self.embedded), default=0)

    def find(self, words: Sequence[str]) -> Optional[Tuple[int, int]]:
        """``(first, end)`` indexes of the first secret phrase in ``words``."""
        last = len(words) - 1
        for i, word in enumerate(words):
            hit = self._at(words, i, word)
            if hit is None:
                continue
            other = OTHER_MEANINGS.get(word)
            if other is not None and i < last and words[i + 1] in other:
                continue  # pass_through, sig_figures: another meaning
            return hit
        return None

    def _at(self, words: Sequence[str], i: int, word: str) -> Optional[Tuple[int, int]]:
        if word in self.single:
            return i, i + 1
        for phrase in self.multi.get(word, ()):
            if tuple(words[i : i + len(phrase)]) == phrase:
                return i, i + len(phrase)
        if self.embedded and len(word) > self.shortest_embedded and word not in ORDINARY_WORDS:
            for part in self.embedded:
                if part in word:
                    return i, i + 1
        return None


_BUILTIN_KEYS = _KeyRule(SECRET_WORDS, EMBEDDED_WORDS)


# -- value patterns -------------------------------------------------------------


def _basic_credentials(candidate: str) -> bool:
    """``Basic <base64>``: tell base64 from an English word (``Basic authentication``)."""
    return bool(re.search(r"[0-9+/=]", candidate)) or sum(c.isupper() for c in candidate[1:]) >= 2


#: Longest base64 text decoded to look for ``user:password`` (a longer one is
#: not a credential; the decoding stays cheap).
_LONGEST_USER_PASSWORD_B64 = 700


def _b64decode(text: str) -> Optional[bytes]:
    """Strict base64 (padding added when left out), or ``None``."""
    rest = len(text) % 4
    if rest == 1:
        return None
    if rest:
        text += "=" * (4 - rest)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _base64_user_password(candidate: str) -> bool:
    """Base64 that decodes to ``user:password`` (a Docker ``auth`` field, a
    ``Basic`` credential without its scheme word)."""
    if not 8 <= len(candidate) <= _LONGEST_USER_PASSWORD_B64:
        return False
    raw = _b64decode(candidate)
    if raw is None or b":" not in raw or not raw.isascii():
        return False  # ASCII only: a word such as ``dzonatas`` decodes to w:'j + two bytes
    plain = raw.decode("ascii").rstrip("\r\n")
    user, _, password = plain.partition(":")
    return (
        bool(user)
        and bool(password)
        and plain.isprintable()
        and " " not in user
        and not password.startswith("//")  # https://host: a URL, not a credential
    )


def _base64_private_key(candidate: str) -> bool:
    """Base64 of a PEM block (kubeconfig ``client-key-data``): masked when the
    block is a private key, shown when it is a certificate."""
    raw = _b64decode(candidate[:64])
    return raw is not None and b"PRIVATE KEY" in raw


class ValuePattern:
    """A credential format: the match (or its ``secret`` group) is masked.
    ``hint`` is a substring the text must contain (case-insensitive when the
    pattern is), a cheap pre-check; ``check`` a further test of the secret."""

    __slots__ = ("check", "hint", "ignorecase", "name", "regex")

    def __init__(
        self,
        name: str,
        regex: str,
        flags: int = 0,
        hint: str = "",
        check: Optional[Callable[[str], bool]] = None,
    ) -> None:
        self.name = name
        self.regex: Pattern[str] = re.compile(regex, flags)
        # a plain bool: ``flags & re.IGNORECASE`` goes through enum.Flag (~2 µs),
        # once per pattern and per string would be ~2 ms of a 50-option report
        self.ignorecase = bool(flags & re.IGNORECASE)
        self.hint = hint.lower() if self.ignorecase else hint
        self.check = check


#: Credentials recognised by their form, whatever key they are under.
VALUE_PATTERNS: Tuple[ValuePattern, ...] = (
    ValuePattern(
        "PEM private key",
        r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----.*?"
        r"(?:-----END[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----|\Z)",
        re.DOTALL,
        hint="PRIVATE KEY",
    ),
    ValuePattern(
        "Bearer credentials",
        r"\bBearer[ \t]+(?P<secret>[A-Za-z0-9\-._~+/]+=*)",
        re.IGNORECASE,
        hint="bearer",
    ),
    ValuePattern(
        "Cookie header",
        r"\b(?:Set-)?Cookie[ \t]*:[ \t]*(?P<secret>[^\r\n'\"]+)",
        re.IGNORECASE,
        hint="cookie",
    ),
    ValuePattern(
        "Basic credentials",
        r"\bBasic[ \t]+(?P<secret>[A-Za-z0-9+/]{8,}={0,2})(?![A-Za-z0-9+/=])",
        hint="Basic",
        check=_basic_credentials,
    ),
    ValuePattern(
        "AWS access key id",
        r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|ABIA|ACCA)[A-Z0-9]{16}\b",
    ),
    ValuePattern(
        "JSON Web Token",
        r"\beyJ[A-Za-z0-9_\-]{4,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*",
        hint="eyJ",
    ),
    ValuePattern(
        "GitHub token",
        r"\b(?:(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{20,})",
        hint="_",
    ),
    ValuePattern("GitLab token", r"\bglpat-[A-Za-z0-9_\-]{20,}", hint="glpat-"),
    ValuePattern("Slack token", r"\bxox[abposr]-[A-Za-z0-9\-]{10,}", hint="xox"),
    ValuePattern("Stripe key", r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}", hint="k_"),
    ValuePattern("OpenAI-style key", r"\bsk-[A-Za-z0-9_\-]{20,}", hint="sk-"),
    ValuePattern("Google API key", r"\bAIza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])", hint="AIza"),
    ValuePattern(
        "netrc password",
        r"\bmachine[ \t]+\S+[ \t]+login[ \t]+\S+[ \t]+password[ \t]+(?P<secret>\S+)",
        hint="machine",
    ),
    ValuePattern(
        "base64 of a PEM private key",
        r"(?<![\w+/=\-])LS0tLS1CRUdJT[A-Za-z0-9+/]*={0,2}",
        hint="LS0tLS1CRUdJT",
        check=_base64_private_key,
    ),
    ValuePattern(
        "base64 of user:password",
        # every 4th character (from the first) of the base64 of printable
        # ASCII is one of I-Z a-f: English words fail that at once
        # (a character class first, then the look behind: the regex engine
        # then skips to the candidates fast); at least 8 characters
        r"[I-Za-f](?<![\w+/=.\-].)[A-Za-z0-9+/]{3}"
        r"(?:(?:[I-Za-f][A-Za-z0-9+/]{3})+(?:[I-Za-f][A-Za-z0-9+/]{1,2}={0,2})?"
        r"|[I-Za-f][A-Za-z0-9+/]{1,2}={0,2})(?![\w+/=\-]|\.\w)",
        check=_base64_user_password,
    ),
    ValuePattern(
        "Laravel-style base64 key",
        r"\bbase64:(?P<secret>[A-Za-z0-9+/]{20,}={0,2})(?![A-Za-z0-9+/=])",
        hint="base64:",
    ),
    ValuePattern(
        "Slack webhook",
        r"hooks\.slack\.com/services/(?P<secret>[A-Za-z0-9/_\-]+)",
        hint="hooks.slack.com",
    ),
    ValuePattern(
        "Discord webhook",
        r"discord(?:app)?\.com/api/webhooks/(?P<secret>[0-9]+/[A-Za-z0-9_\-]+)",
        hint="/api/webhooks/",
    ),
)

#: No built-in credential format is shorter (``Bearer x``).
_SHORTEST_CREDENTIAL = 8

# -- free-text structure --------------------------------------------------------

_SCHEME = re.compile(r"(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]*://")
#: Credentials sit right after ``scheme://``: no need to look further.
_URL_SCAN = 1024
_URL_END = re.compile(r"[\s\"'<>`]")
_PORT_PATH = re.compile(r"^[0-9]+(?:[/?#]|$)")

#: ``user:password@host`` without a scheme (proxy settings, redis, ...).
_BARE_USERINFO = re.compile(
    r"(?<![\w./:@%+\-])(?P<user>[A-Za-z0-9_.%+\-]+):(?P<secret>[^\s:@/\"'<>]+)@(?=[A-Za-z0-9\[])"
)

#: ``key=value``, ``key: value``, ``"key": "value"``, ``--key=value``; an HTTP
#: auth scheme word (``Authorization: Basic xyz``) is kept, what follows masked.
#: A key right after a ``:`` is a field of a colon chain (an ARN
#: ``arn:aws:secretsmanager:…:secret:name``, a URN), not a key.
_PAIR_KEY = re.compile(
    r"(?<![\w.\-/:])(?P<q>[\"']?)(?P<key>-{0,2}[A-Za-z_][\w.\-]{0,127})(?P=q)"
    r"(?P<sep>[ \t]*(?:=>|[=:])[ \t]*)"
)
#: The value after a secret key (only read for a secret key: the cost stays
#: linear in the text).
_PAIR_VALUE = re.compile(
    r"(?P<scheme>(?:Basic|Bearer|Digest|Token|Negotiate|NTLM|ApiKey|SharedKey)[ \t]+)?"
    r"(?P<secret>[bB]?\"(?:[^\"\\\n]|\\.)*\"|[bB]?'(?:[^'\\\n]|\\.)*'|[^\s&;,'\"{}\[\]()<>]+)",
    re.IGNORECASE,
)

#: ``<password>value</password>`` (XML, HTML forms).
_XML_ELEMENT = re.compile(r"<(?P<key>[A-Za-z_][\w.:\-]{0,127})>(?P<secret>[^<\n]+)</(?P=key)>")

_MASKED = (MASK, f'"{MASK}"', f"'{MASK}'", f'b"{MASK}"', f"b'{MASK}'")

#: ``--password value`` / ``-token value`` inside one string (a command line).
_FLAG = re.compile(
    r"(?<![\w\-])(?P<flag>--?[A-Za-z][\w.\-]*)(?P<sp>[ \t]+)"
    r"(?P<secret>\"[^\"\n]*\"|'[^'\n]*'|[^\s\-][^\s]*)"
)

# -- command lines --------------------------------------------------------------

#: Command-line options whose argument is ``user:password`` (curl, wget...),
#: whatever the program, unless the program says otherwise (:data:`PROGRAMS`).
USER_PASSWORD_FLAGS: FrozenSet[str] = frozenset({"-u", "--user", "--proxy-user", "-U"})


class CommandRules(NamedTuple):
    """Where one program takes a password on its command line.  A short flag
    also takes its argument glued (``-pX``), a long one after ``=``."""

    #: the next argument is the password (``sshpass -p X``, ``redis-cli -a X``)
    next: FrozenSet[str] = frozenset()
    #: the password only glued to the flag (MySQL's ``-pX``: ``-p X`` prompts)
    glued: FrozenSet[str] = frozenset()
    #: the argument is ``user:password`` (curl ``-u``)
    user_password: FrozenSet[str] = frozenset()
    #: the argument is ``user%password`` (Samba ``-U``)
    user_percent: FrozenSet[str] = frozenset()
    #: the argument is ``pass:X`` (OpenSSL ``-passin pass:X``; ``file:``, ``env:`` are not secrets)
    pass_arg: FrozenSet[str] = frozenset()
    #: flags taking the password only after the subcommand ``login`` (``docker login -p X``)
    login_next: FrozenSet[str] = frozenset()
    #: a positional password: ``htpasswd`` (``-b``), ``mysqladmin`` (``password X``),
    #: ``rabbitmqctl`` (``add_user U P``), ``oracle`` (``user/password@db``)
    positional: str = ""
    #: the first positional argument is a command of its own (``sshpass -p X ssh -p 22 h``)
    wraps: bool = False


def _rules(names: str, **kw: Any) -> Dict[str, CommandRules]:
    fields: Dict[str, Any] = {
        k: v if k in ("positional", "wraps") else frozenset(v) for k, v in kw.items()
    }
    rules = CommandRules(**fields)
    return {name: rules for name in names.split()}


#: Well-known programs and where their command lines carry a password.  Any
#: other program: only the argument of a secret-named flag (``--password X``)
#: and the ``user:password`` of :data:`USER_PASSWORD_FLAGS`.  ``-p`` is a
#: password nowhere else (``ls -p``, ``mkdir -p``, ``ssh -p 22``, ``docker run
#: -p 80:80``).
PROGRAMS: Dict[str, CommandRules] = {
    **_rules("sshpass", next={"-p"}, wraps=True),
    **_rules("redis-cli valkey-cli keydb-cli", next={"-a", "--pass"}),
    **_rules(
        "mysql mysqldump mysqladmin mysqlimport mysqlshow mysqlcheck mysqlpump mysqlslap "
        "mariadb mariadb-dump mariadb-admin mariadb-import mariadb-check",
        glued={"-p"},
    ),
    **_rules(
        "mongo mongosh mongodump mongorestore mongoexport mongoimport mongostat mongotop "
        "mongofiles",
        next={"-p"},
    ),
    **_rules(
        "smbclient smbcacls smbcquotas smbget smbtree rpcclient net",
        user_percent={"-U", "--user"},
    ),
    **_rules(
        "ldapsearch ldapmodify ldapadd ldapdelete ldapcompare ldapmodrdn ldapwhoami ldapexop "
        "ldapurl",
        next={"-w"},
    ),
    **_rules("ldappasswd", next={"-w", "-a", "-s"}),
    **_rules("sqlcmd bcp osql ipmitool zip unzip zipcloak", next={"-P"}),
    **_rules("7z 7za 7zr rar unrar", glued={"-p"}),
    **_rules("openssl", pass_arg={"-passin", "-passout", "-pass"}, next={"-k"}),
    **_rules(
        "keytool jarsigner",
        next={
            "-storepass",
            "-keypass",
            "-srcstorepass",
            "-deststorepass",
            "-srckeypass",
            "-destkeypass",
        },
    ),
    **_rules(
        "curl", user_password={"-u", "--user", "-U", "--proxy-user"}, next={"--oauth2-bearer"}
    ),
    **_rules("http https httpie", user_password={"-a", "--auth"}),
    **_rules("docker podman nerdctl buildah", login_next={"-p"}),  # -u is user[:group]
    **_rules("useradd usermod", next={"-p"}),
    **_rules("htpasswd", positional="htpasswd"),
    **_rules("rabbitmqctl", positional="rabbitmqctl"),
    **_rules("sqlplus", positional="oracle"),
    **_rules("xfreerdp wlfreerdp sdl-freerdp", glued={"/p:"}),
}
PROGRAMS["mysqladmin"] = PROGRAMS["mysqladmin"]._replace(positional="mysqladmin")
PROGRAMS["mariadb-admin"] = PROGRAMS["mariadb-admin"]._replace(positional="mysqladmin")

#: Where a command line starts inside a string: a program of :data:`PROGRAMS`
#: (as a word, possibly after a path), or a ``user:password`` flag.
_COMMAND_HINT = re.compile(
    r"(?<![\w.\-])(?:"
    + "|".join(re.escape(n) for n in sorted(PROGRAMS, key=len, reverse=True))
    + r")(?=[ \t])|(?<![^\s\"'])(?:-u|-U|--user|--proxy-user)(?=[ \t=])"
)
#: One shell word (quoted parts kept with it); a command ends at a newline or
#: at ``; | & ( ) ` < >``.
_COMMAND_WORD = re.compile(r"[ \t]*((?:'[^'\n]*'|\"[^\"\n]*\"|[^\s;|&`()<>'\"]+)+)")
_RABBIT_PASSWORD = {"add_user": 2, "change_password": 2, "authenticate_user": 2}


def _unquoted(word: str) -> Tuple[str, str]:
    """``'x y'`` → (``x y``, ``'``)."""
    if len(word) >= 2 and word[0] == word[-1] and word[0] in "'\"":
        return word[1:-1], word[0]
    return word, ""


def _token_like(text: str) -> bool:
    """A user name that is really a token (``https://<token>@github.com``)."""
    return (
        len(text) >= 20
        and any(c.isdigit() for c in text)
        and any(c.isalpha() for c in text)
        and text == text.strip()
    )


def compile_key_rules(extra_keys: Sequence[str]) -> Tuple[List[str], List[Pattern[str]]]:
    """Split user key rules into words/phrases and ``re:`` regular expressions
    (raises ``re.error`` on a bad expression)."""
    words: List[str] = []
    regexes: List[Pattern[str]] = []
    for rule in extra_keys:
        rule = str(rule).strip()
        if not rule:
            continue
        if rule.startswith("re:"):
            regexes.append(re.compile(rule[3:], re.IGNORECASE))
        else:
            words.append(rule)
    return words, regexes


def compile_value_rules(extra_values: Sequence[str]) -> List[ValuePattern]:
    """User value patterns (regular expressions; a named group ``secret``
    limits the mask to that group).  Raises ``re.error`` on a bad expression."""
    return [
        ValuePattern(f"extra pattern {i + 1}", str(p))
        for i, p in enumerate(extra_values)
        if str(p).strip()
    ]


def check_options(redact: Optional[Mapping[str, Sequence[str]]]) -> None:
    """Raise ``ValueError`` on an unknown key or a bad regular expression in a
    ``redact=`` option (called by ``setup_autorun``, so mistakes show at setup,
    not in the middle of a report)."""
    if not redact:
        return
    unknown = set(redact) - {"keys", "values", "allow"}
    if unknown:
        raise ValueError(f"unknown redact option(s) {sorted(unknown)}: use keys, values, allow")
    for name in ("keys", "values", "allow"):
        value = redact.get(name, ())
        if isinstance(value, str):
            raise ValueError(f"redact[{name!r}] must be a list of strings, not a string")
    try:
        compile_key_rules(redact.get("keys", ()))
        compile_value_rules(redact.get("values", ()))
    except re.error as exc:
        raise ValueError(f"bad regular expression in redact options: {exc}") from None


#: Keys whose decision is remembered per set of key rules (then decided each time).
_MAX_DECISIONS = 50_000
_DECISIONS: Dict[Tuple[Any, ...], Dict[str, Any]] = {}

#: :meth:`Redactor.text` remembered for strings up to this long, at most this
#: many per set of rules (a few hundred KiB at most): the same paths, names
#: and values come back in every report, and its result depends on the
#: string and the rules alone.
_TEXT_LONGEST = 512
_MAX_TEXTS = 4096
_TEXTS: Dict[Tuple[Any, ...], Dict[str, Any]] = {}


def _remembered(store: Dict[Tuple[Any, ...], Dict[str, Any]], rules: Tuple[Any, ...]) -> Any:
    """What every redactor of the same ``rules`` remembers in ``store`` (the
    decisions on keys, the texts): one dict per set of rules, at most 16
    sets (a 17th remembers nothing beyond its own run)."""
    found = store.get(rules)
    if found is None:
        if len(store) >= 16:
            return {}
        found = store[rules] = {}
    return found


class Redactor:
    """Masks secrets in keys and values, and counts what it masked.

    ``extra_keys``: more secret words for keys, matched as whole words like the
    built-in ones (``"ssn"``, ``"session_token"``); an entry starting with
    ``re:`` is a regular expression searched in the key, case-insensitively.
    ``extra_values``: regular expressions of credential formats; the match (or
    its named group ``secret``) is masked wherever it appears.
    ``allow_keys``: keys (exact, case-insensitive) whose values are shown as
    they are, without any masking.
    """

    def __init__(
        self,
        extra_keys: Sequence[str] = (),
        extra_values: Sequence[str] = (),
        allow_keys: Sequence[str] = (),
    ) -> None:
        self.count = 0
        words, self._key_res = compile_key_rules(extra_keys)
        self._extra_keys = _KeyRule(words) if words else None
        extra = compile_value_rules(extra_values)
        self._extra_values = bool(extra)
        self._value_patterns: List[ValuePattern] = list(VALUE_PATTERNS) + extra
        self._allow = frozenset(str(k).lower() for k in allow_keys)
        # shared by every redactor of the same key rules: each report makes
        # a new one, the decision on a key stays the same
        key_rules = (tuple(words), tuple(extra_keys), self._allow)
        self._decisions: Dict[str, bool] = _remembered(_DECISIONS, key_rules)
        #: :meth:`text` results and the masks each counted
        self._texts: Dict[str, Tuple[str, int]] = _remembered(
            _TEXTS, key_rules + (tuple(str(v) for v in extra_values),)
        )
        #: this process's secret command-line flags and values (learn_command_line)
        self._own_flags: FrozenSet[str] = frozenset()
        self._own_values: FrozenSet[str] = frozenset()
        self._own_tail = tuple(str(a) for a in getattr(sys, "argv", [])[1:])
        #: command lines masked by :meth:`argv`: (the result, masks counted)
        self._argv_done: Dict[Tuple[str, ...], Tuple[Tuple[str, ...], int]] = {}

    # -- decisions -------------------------------------------------------
    def is_allowed(self, key: str) -> bool:
        return bool(self._allow) and key.lower() in self._allow

    def is_secret_key(self, key: str) -> bool:
        """Does ``key`` name a secret (see the module documentation)?"""
        known = self._decisions.get(key)
        if known is None:
            known = self._decide(key)
            if len(self._decisions) < _MAX_DECISIONS:
                self._decisions[key] = known
        return known

    def _decide(self, key: str) -> bool:
        if self.is_allowed(key) or self.is_allowed(key.lstrip("-")):
            return False
        words = key_words(key[:_LONGEST_KEY])
        for rule in (_BUILTIN_KEYS, self._extra_keys):
            if rule is None:
                continue
            hit = rule.find(words)
            if hit is None:
                continue
            first, end = hit
            if end < len(words) and words[-1] in QUALIFIER_SUFFIXES:
                continue
            if first > 0 and words[0] in QUALIFIER_PREFIXES:
                continue
            return True
        return any(r.search(key) for r in self._key_res)

    # -- masking ---------------------------------------------------------
    def mask(self) -> str:
        """The mask for one value (counted)."""
        self.count += 1
        return MASK

    def text(self, value: str) -> str:
        """Mask credentials inside a free-form string: URL passwords, secrets in
        ``key=value`` pairs and after ``--secret-flag``, credential formats."""
        if not value or not isinstance(value, str):
            return value
        if len(value) > _TEXT_LONGEST:
            return self._masked_text(value)
        known = self._texts.get(value)
        if known is not None:
            self.count += known[1]
            return known[0]
        before = self.count
        out = self._masked_text(value)
        if len(self._texts) < _MAX_TEXTS:
            self._texts[value] = (out, self.count - before)
        return out

    def _masked_text(self, value: str) -> str:
        out = value
        if "@" in out:
            out = self._urls(out)
        if len(out) >= _SHORTEST_CREDENTIAL or self._extra_values:
            lower = out.lower()
            for pattern in self._value_patterns:
                if pattern.hint:
                    hay = lower if pattern.ignorecase else out
                    if pattern.hint not in hay:
                        continue
                out = pattern.regex.sub(functools.partial(self._sub_value, pattern=pattern), out)
        if "=" in out or ":" in out:
            out = self._pairs(out)
        if "</" in out:
            out = _XML_ELEMENT.sub(self._sub_element, out)
        out = self._commands(out)
        if "-" in out:
            out = _FLAG.sub(self._sub_flag, out)
        return out

    def _sub_value(self, m: re.Match[str], pattern: ValuePattern) -> str:
        try:
            start, end = m.span("secret")
        except IndexError:
            start, end = m.span()
        secret = m.string[start:end]
        if start < 0 or not secret or secret == MASK:
            return m.group(0)
        if pattern.check is not None and not pattern.check(secret):
            return m.group(0)
        self.count += 1
        base = m.start()
        whole = m.group(0)
        return whole[: start - base] + MASK + whole[end - base :]

    def _pairs(self, s: str) -> str:
        """Mask the values of ``key=value`` pairs whose key names a secret.  The
        value of any other key is searched again (``url=http://h/?token=x``)."""
        pieces: List[str] = []
        pos = 0
        search = _PAIR_KEY.search
        m = search(s, pos)
        while m is not None:
            if not self.is_secret_key(m.group("key")):
                m = search(s, m.end())
                continue
            v = _PAIR_VALUE.match(s, m.end())
            if v is None:
                m = search(s, m.end())
                continue
            secret = v.group("secret")
            if secret in _MASKED or secret.lstrip("bB") in ('""', "''"):
                m = search(s, v.end())  # masked already, or password="" (nothing)
                continue
            quote = secret[1:2] if secret[:1] in "bB" and len(secret) > 1 else secret[:1]
            if quote in ("'", '"') and secret[-1] == quote:
                masked = secret[: secret.index(quote) + 1] + MASK + quote
            else:
                masked = MASK
            self.count += 1
            pieces.append(s[pos : v.start("secret")])
            pieces.append(masked)
            pos = v.end()
            m = search(s, pos)
        if not pieces:
            return s
        pieces.append(s[pos:])
        return "".join(pieces)

    def _sub_element(self, m: re.Match[str]) -> str:
        if m.group("secret") == MASK or not self.is_secret_key(m.group("key")):
            return m.group(0)
        self.count += 1
        return f"<{m.group('key')}>{MASK}</{m.group('key')}>"

    def _sub_flag(self, m: re.Match[str]) -> str:
        secret = m.group("secret")
        if MASK in secret or not self.is_secret_key(m.group("flag").lstrip("-")):
            return m.group(0)
        self.count += 1
        return m.group("flag") + m.group("sp") + MASK

    def _urls(self, s: str) -> str:
        """``scheme://user:password@host`` → ``scheme://user:***@host`` (several
        ``user:password@host`` separated by commas too), then the same without
        a scheme."""
        if "://" in s:
            pieces: List[str] = []
            pos = 0
            run_end = -1  # end of the current run of characters a URL can hold
            for m in _SCHEME.finditer(s):
                start = m.end()
                if start < pos:
                    continue
                if start > run_end:
                    end_m = _URL_END.search(s, start)
                    run_end = end_m.start() if end_m else len(s)
                rest = s[start : min(run_end, start + _URL_SCAN)]
                for a, b in self._userinfo_spans(rest):
                    a += start
                    b += start
                    if a < pos or s[a:b] == MASK:
                        continue
                    pieces.append(s[pos:a])
                    pieces.append(MASK)
                    self.count += 1
                    pos = b
            if pieces:
                pieces.append(s[pos:])
                s = "".join(pieces)
        if ":" in s:
            s = _BARE_USERINFO.sub(self._sub_bare, s)
        return s

    def _sub_bare(self, m: re.Match[str]) -> str:
        if m.group("secret") == MASK:
            return m.group(0)
        self.count += 1
        return m.group("user") + ":" + MASK + "@"

    @staticmethod
    def _userinfo_spans(rest: str) -> List[Tuple[int, int]]:
        """Spans (in ``rest``, the URL after ``scheme://``) of passwords to mask;
        a user name alone is masked when it looks like a token."""
        if "@" not in rest:
            return []
        cut = len(rest)
        for c in "/?#":
            i = rest.find(c)
            if 0 <= i < cut:
                cut = i
        authority = rest[:cut]
        if "@" not in authority:
            # a password with an unencoded / ? or #: user:pa/ss@host
            at = rest.find("@")
            colon = rest.find(":")
            if not 0 <= colon < at or any(c in rest[:colon] for c in "/?#"):
                return []
            if _PORT_PATH.match(rest[colon + 1 :]):
                return []  # host:8080/path@... is a port and a path
            return [(colon + 1, at)]
        parts = authority.split(",")
        if len(parts) > 1 and all("@" in p for p in parts):
            offsets = []
            offset = 0
            for p in parts:
                offsets.append((offset, p))
                offset += len(p) + 1
        else:
            offsets = [(0, authority)]
        spans: List[Tuple[int, int]] = []
        for offset, part in offsets:
            at = part.rfind("@")
            if at <= 0:
                continue
            userinfo = part[:at]
            colon = userinfo.find(":")
            if colon >= 0:
                if colon + 1 < at:
                    spans.append((offset + colon + 1, offset + at))
            elif _token_like(userinfo):
                spans.append((offset, offset + at))
        return spans

    def value(self, key: Optional[str], value: Any, skip: FrozenSet[str] = frozenset()) -> Any:
        """Mask ``value`` as the value of ``key``: entirely when the key names
        a secret (unless it is a boolean, ``None`` or empty), shown as it is when
        the key is allowed, else whatever secrets its strings contain.
        ``value`` is plain data (see :func:`gurumeditation.model.to_plain`)."""
        if key is not None:
            if self._allow and self.is_allowed(key):
                return value
            if self.is_secret_key(key) and not _harmless(value) and not self._record(value):
                return self.mask()
        if type(value) in _SCALARS:
            return value
        return self.data(value, skip)

    def _record(self, value: Any) -> bool:
        """A mapping with secret-named keys of its own (``credentials_map =
        {region: …, secret_key: …}``): under a secret-named key, its secret keys
        are the secrets, the rest is shown.  A mapping without any
        (``secrets = {db: …}``) is masked whole."""
        if not isinstance(value, Mapping):
            return False
        return any(self.is_secret_key(str(k)) for k in value)

    def data(self, value: Any, skip: FrozenSet[str] = frozenset()) -> Any:
        """Walk plain data: mapping keys that name secrets get their values
        masked, a ``[key, value]`` pair likewise, strings (keys included) are
        searched for credentials.  Values under a key in ``skip`` are left as
        they are."""
        kind = type(value)
        if kind in _SCALARS:
            return value
        if kind is str or isinstance(value, str):
            return self.text(value)
        if kind is dict or isinstance(value, Mapping):
            out: Dict[str, Any] = {}
            for k, v in value.items():
                key = k if type(k) is str else str(k)
                if key in skip:
                    out[key] = v
                else:
                    out[self.text(key)] = self.value(key, v, skip)
            return out
        if isinstance(value, (list, tuple)):
            if len(value) == 2 and isinstance(value[0], str) and _name_like(value[0]):
                key = value[0]
                if self.is_allowed(key):
                    return [key, value[1]]
                if (
                    self.is_secret_key(key)
                    and not _harmless(value[1])
                    and not self._record(value[1])
                ):
                    return [self.text(key), self.mask()]
            return [self.data(v, skip) for v in value]
        return value

    def argv(self, args: Sequence[str]) -> List[str]:
        """Mask a command line: the argument after a secret flag (``--password
        X``), the password of ``-u user:password``, ``--password=X``, the
        passwords of well-known programs (:data:`PROGRAMS`: ``sshpass -p X``,
        MySQL's ``-pX``...), the secret options this process declared (see
        :meth:`learn_command_line`) on its own command line, and credentials
        inside any argument."""
        words = [str(a) for a in args]
        key = tuple(words)
        known = self._argv_done.get(key)
        if known is not None:  # the same command line again (header and Processes)
            self.count += known[1]
            return list(known[0])
        before = self.count
        own = self._is_own(words)
        masks = self._command(words, argv=True, own=own)
        out = [masks[i] if i in masks else self.text(w) for i, w in enumerate(words)]
        if len(self._argv_done) < 64:
            self._argv_done[key] = (tuple(out), self.count - before)
        return out

    # -- command lines ---------------------------------------------------
    def learn_command_line(self, conf: Any) -> None:
        """Learn the secret options ``conf`` takes on this process's command
        line: oslo.config CLI options declared ``secret=True`` or with a secret
        name (their ``-x`` short and ``--name`` long flags), and the values of
        secret-named attributes of an ``argparse.Namespace``, a dataclass or a
        mapping.  They are masked on this process's own command line only
        (header and Processes): ``-p`` of another program is its own affair."""
        if conf is None:
            cfg = sys.modules.get("oslo_config.cfg")
            conf = getattr(cfg, "CONF", None)
            if conf is None:
                return
        flags: Set[str] = set()
        values: Set[str] = set()
        try:
            if hasattr(conf, "_opts") and hasattr(conf, "_groups"):
                groups: List[Tuple[str, Any]] = [("", conf._opts)]
                groups += [(str(k), getattr(g, "_opts", {})) for k, g in dict(conf._groups).items()]
                for group, opts in groups:
                    for info in dict(opts).values():
                        opt = info.get("opt") if isinstance(info, Mapping) else None
                        if opt is None or not info.get("cli"):
                            continue
                        name = str(getattr(opt, "name", ""))
                        if not (getattr(opt, "secret", False) or self.is_secret_key(name)):
                            continue
                        flags.add("--" + (f"{group}-{name}" if group else name))
                        short = getattr(opt, "short", None)
                        if short and not group:
                            flags.add("-" + str(short))
            else:
                if isinstance(conf, Mapping):
                    items = dict(conf)
                elif hasattr(conf, "__dict__"):
                    items = dict(vars(conf))
                else:
                    items = {}
                for key, value in items.items():
                    if isinstance(value, str) and value and self.is_secret_key(str(key)):
                        values.add(value)
        except Exception:  # a conf we cannot read teaches nothing
            return
        self._own_flags = frozenset(flags)
        self._own_values = frozenset(values)
        self._argv_done.clear()

    def _is_own(self, words: Sequence[str]) -> bool:
        """Is this the command line of this process (``sys.argv``, or its
        ``/proc`` form ``python [options] script args...``)?"""
        if not (self._own_flags or self._own_values):
            return False
        tail = self._own_tail
        return bool(tail) and tuple(words[len(words) - len(tail) :]) == tail

    def _command(self, words: Sequence[str], argv: bool, own: bool = False) -> Dict[int, str]:
        """Masked replacements, by index, of the words of one command line
        that hold a password.  ``argv``: a real argument vector (the first word
        is the program; secret-named flags count here, in a string the flag
        patterns see them)."""
        out: Dict[int, str] = {}
        rules: Optional[CommandRules] = None
        pending = ""  # what the next word is
        positionals: List[str] = []
        letters = ""  # htpasswd's single-letter flags seen
        login = False
        for i, raw in enumerate(words):
            word, quote = _unquoted(raw)
            if pending:
                masked = self._masked_argument(pending, word)
                if masked is not None:
                    out[i] = quote + masked + quote
                pending = ""
                continue
            if not word:
                continue
            if not word.startswith("-"):
                base = word.rsplit("/", 1)[-1]
                if (rules is None and base in PROGRAMS) or (
                    rules is not None and rules.wraps and not positionals
                ):
                    # a program (after sudo, env, timeout...), or the command
                    # sshpass runs: its own rules from here
                    rules, positionals, letters, login = PROGRAMS.get(base), [], "", False
                    continue
            if own and word in self._own_values:
                out[i] = quote + self.mask() + quote
                continue
            if word.startswith("-") and len(word) > 1:
                flag, eq, value = word.partition("=")
                kind = self._flag_kind(flag, rules, login, own)
                glued = None if kind else self._glued(word, rules, own)
                if glued is not None:
                    flag, kind = glued
                    masked = self._masked_argument(kind, word[len(flag) :])
                    if masked is not None:
                        out[i] = quote + flag + masked + quote
                    continue
                if not kind:
                    kind = self._generic_flag_kind(flag, rules, argv)
                if kind:
                    if eq:
                        value, value_quote = _unquoted(value)  # --user="u:X"
                        masked = self._masked_argument(kind, value)
                        if masked is not None:
                            masked = value_quote + masked + value_quote
                            out[i] = quote + flag + "=" + masked + quote
                    else:
                        pending = kind
                    continue
                if not word.startswith("--"):
                    letters += word[1:]
                continue
            if rules is not None and rules.glued and "/p:" in rules.glued and word[:3] == "/p:":
                masked = self._masked_argument("next", word[3:])
                if masked is not None:
                    out[i] = quote + "/p:" + masked + quote
                continue
            if rules is None:
                continue
            positionals.append(word)
            if rules.login_next and word == "login":
                login = True  # docker [-H host] login -p X
            positional = rules.positional
            if positional and self._positional_password(positional, positionals, letters):
                masked = self._masked_argument(
                    "oracle" if rules.positional == "oracle" else "next", word
                )
                if masked is not None:
                    out[i] = quote + masked + quote
            elif rules.positional == "mysqladmin" and word == "password":
                pending = "next"
        return out

    def _flag_kind(self, flag: str, rules: Optional[CommandRules], login: bool, own: bool) -> str:
        """What the argument of ``flag`` is, for this program (or this process)."""
        if own and flag in self._own_flags:
            return "next"
        if rules is not None:
            if flag in rules.next or (login and flag in rules.login_next):
                return "next"
            if flag in rules.user_password:
                return "user_password"
            if flag in rules.user_percent:
                return "user_percent"
            if flag in rules.pass_arg:
                return "pass_arg"
        return ""

    def _generic_flag_kind(self, flag: str, rules: Optional[CommandRules], argv: bool) -> str:
        """What the argument of ``flag`` is, whatever the program."""
        if rules is None and flag in USER_PASSWORD_FLAGS:
            return "user_password"
        if argv and self.is_secret_key(flag.lstrip("-")):
            return "next"
        return ""

    def _glued(
        self, word: str, rules: Optional[CommandRules], own: bool
    ) -> Optional[Tuple[str, str]]:
        """``-pX``: the short flag and what its argument is."""
        if word.startswith("--") or len(word) < 3:
            return None
        flag = word[:2]
        if own and flag in self._own_flags:
            return flag, "next"
        if rules is None:
            return None
        if flag in rules.glued or flag in rules.next:
            return flag, "next"
        if flag in rules.user_percent:
            return flag, "user_percent"
        return None

    @staticmethod
    def _positional_password(kind: str, positionals: Sequence[str], letters: str) -> bool:
        n = len(positionals)
        if kind == "htpasswd":
            return "b" in letters and n == (2 if "n" in letters else 3)
        if kind == "rabbitmqctl":
            return _RABBIT_PASSWORD.get(positionals[0]) == n - 1
        if kind == "oracle":
            return n == 1
        return False

    def _masked_argument(self, kind: str, value: str) -> Optional[str]:
        """``value`` with its password masked (counted), or ``None`` when it
        holds none (``-u user`` alone, ``-passin file:/path``, masked already)."""
        if not value or value == MASK:
            return None
        if kind == "next":
            return self.mask()
        if kind == "pass_arg":
            if value.startswith("pass:") and value[5:] and value[5:] != MASK:
                return "pass:" + self.mask()
            return None
        if kind == "oracle":  # user/password[@db]
            user, slash, rest = value.partition("/")
            password, at, db = rest.partition("@")
            if not (slash and user.isidentifier() and password) or password == MASK:
                return None
            return user + "/" + self.mask() + at + db
        sep = "%" if kind == "user_percent" else ":"
        user, colon, password = value.partition(sep)
        if not colon or not password or password == MASK:
            return None
        return user + sep + self.mask()

    def _commands(self, s: str) -> str:
        """Command lines inside a string (a configuration value, ``sh -c``):
        the passwords of :data:`PROGRAMS` and of ``-u user:password``."""
        if not (
            " -" in s
            or "\t-" in s
            or s[:1] == "-"
            or "'-" in s
            or '"-' in s
            or "/p:" in s
            or "rabbitmqctl" in s
            or "sqlplus" in s
            or "mysqladmin" in s
        ):
            return s  # no flag, no program with a positional password: cheap way out
        pieces: List[str] = []
        pos = 0
        m = _COMMAND_HINT.search(s)
        while m is not None:
            words: List[str] = []
            spans: List[Tuple[int, int]] = []
            end = m.start()
            w = _COMMAND_WORD.match(s, end)
            while w is not None and w.end() > end:
                words.append(w.group(1))
                spans.append(w.span(1))
                end = w.end()
                w = _COMMAND_WORD.match(s, end)
            masks = self._command(words, argv=False)
            for i in sorted(masks):
                a, b = spans[i]
                pieces.append(s[pos:a])
                pieces.append(masks[i])
                pos = b
            m = _COMMAND_HINT.search(s, max(end, m.end()))
        if not pieces:
            return s
        pieces.append(s[pos:])
        return "".join(pieces)


def _name_like(text: str) -> bool:
    """Could ``text`` be the key of a ``[key, value]`` pair?  A name has no
    spaces: ``['connecting to amqp://…', 'ok']`` is two log lines."""
    return 0 < len(text) <= _LONGEST_KEY and not any(c.isspace() for c in text)


#: Types of plain data that hold no text: given back as they are at once.
_SCALARS = frozenset({int, float, bool, type(None)})


def _harmless(value: Any) -> bool:
    """Values that cannot be a secret (booleans, ``None``, empty containers)
    or are masked already."""
    return value is None or isinstance(value, bool) or value in ("", [], {}, MASK)

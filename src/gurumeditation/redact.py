"""Masking secrets before they enter a report.

Every value that comes from the application (configuration, environment,
registered sections, command lines) passes through one :class:`Redactor`
while the report is built, so no renderer ever sees a secret.  The redactor
counts what it masked; the count goes into the report header.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Iterable, List, Optional, Pattern, Sequence

MASK = "***"

#: Words that, as a whole word of a key (``db_password``, ``AWS_SECRET_ACCESS_KEY``,
#: ``X-Api-Key``), mark its value as a secret.
SECRET_KEY_WORDS = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
    "credential",
    "credentials",
    "cookie",
    "signature",
    "passphrase",
    "auth_key",
    "sessionid",
)

# A word boundary inside identifiers: start/end of the key, or a separator
# (_ - . space /), or a lower→upper case change (``dbPassword``).
_SEP = r"(?:^|(?<=[_\-.\s/:])|(?<=[a-z])(?=[A-Z]))"
_END = r"(?:$|(?=[_\-.\s/:])|(?<=[a-z])(?=[A-Z]))"


def _word_pattern(words: Iterable[str]) -> str:
    alternatives = []
    for word in words:
        parts = re.split(r"[_\-]", word)
        alternatives.append(r"[_\-.]?".join(re.escape(p) for p in parts))
    return _SEP + "(?:" + "|".join(alternatives) + ")" + _END


#: ``scheme://user:password@host`` — the password part.
_URL_CREDENTIALS = re.compile(
    r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]*:)(?P<secret>[^\s@/]+)(?=@)"
)

#: ``password=...`` / ``token: ...`` style pairs inside a longer string
#: (query strings, connection strings, command lines).
_SECRET_WORDS_ALT = "|".join(re.escape(w).replace("_", "[_\\-]?") for w in SECRET_KEY_WORDS)
_INLINE_PAIR = re.compile(
    r"(?P<head>(?:^|[\s?&;,'\"(])-{0,2}[\w.\-]*?(?:" + _SECRET_WORDS_ALT + r")[\w\-]*\s*[=:]\s*)"
    r"(?P<secret>\"[^\"]*\"|'[^']*'|[^\s&;,'\")]+)",
    re.IGNORECASE,
)

#: Values that are credentials whatever their key.
_VALUE_PATTERNS: Sequence[Pattern[str]] = (
    re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----.*?"
        r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|$)",
        re.DOTALL,
    ),
    re.compile(r"(?<=\bBearer )[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE),
    re.compile(r"(?<=\bBasic )[A-Za-z0-9+/]{8,}=*"),
    re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"),
    re.compile(r"\beyJ[A-Za-z0-9_\-]{4,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*"),
    re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,}\b"),
    re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}\b"),
    re.compile(r"\bsk-[A-Za-z0-9_\-]{20,}\b"),
)


class Redactor:
    """Masks secrets in keys and values, and counts them.

    ``extra_keys`` and ``extra_values`` are regular expressions added to the
    built-in ones (a key pattern is searched in the key, case-insensitively; a
    value pattern's whole match is masked); ``allow_keys`` lists keys (exact,
    case-insensitive) whose values are shown even though they look secret.
    """

    def __init__(
        self,
        extra_keys: Sequence[str] = (),
        extra_values: Sequence[str] = (),
        allow_keys: Sequence[str] = (),
    ) -> None:
        self.count = 0
        self._key_re = re.compile(_word_pattern(SECRET_KEY_WORDS), re.IGNORECASE)
        self._extra_key_res = [re.compile(p, re.IGNORECASE) for p in extra_keys]
        self._value_res: List[Pattern[str]] = list(_VALUE_PATTERNS) + [
            re.compile(p) for p in extra_values
        ]
        self._allow = {k.lower() for k in allow_keys}

    # -- decisions -------------------------------------------------------
    def is_secret_key(self, key: str) -> bool:
        if key.lower() in self._allow:
            return False
        if self._key_re.search(key):
            return True
        return any(r.search(key) for r in self._extra_key_res)

    # -- masking ---------------------------------------------------------
    def mask(self) -> str:
        self.count += 1
        return MASK

    def text(self, value: str) -> str:
        """Mask credentials inside a free-form string (URL passwords,
        ``password=...`` pairs, well-known credential formats)."""
        if not value or len(value) < 6:
            return value
        masked = 0

        def url_sub(m: re.Match[str]) -> str:
            nonlocal masked
            masked += 1
            return m.group("head") + MASK

        out = _URL_CREDENTIALS.sub(url_sub, value) if "://" in value else value

        def pair_sub(m: re.Match[str]) -> str:
            nonlocal masked
            if m.group("secret") == MASK:
                return m.group(0)
            masked += 1
            return m.group("head") + MASK

        if "=" in out or ":" in out:
            out = _INLINE_PAIR.sub(pair_sub, out)
        for pattern in self._value_res:
            out, n = pattern.subn(MASK, out)
            masked += n
        self.count += masked
        return out

    def value(self, key: Optional[str], value: Any) -> Any:
        """Mask ``value`` as the value of ``key``: entirely when the key names
        a secret, else whatever secrets its strings contain.  ``value`` is plain
        data (see :func:`gurumeditation.model.to_plain`)."""
        if key is not None and self.is_secret_key(key) and value not in (None, "", [], {}):
            return self.mask()
        return self.data(value)

    def data(self, value: Any) -> Any:
        """Walk plain data: mapping keys that name secrets get their values
        masked, strings are searched for credentials."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: self.value(str(k), v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.data(v) for v in value]
        return value

    def argv(self, args: Sequence[str]) -> List[str]:
        """Mask a command line: ``--password X`` (the argument after a secret
        flag) as well as ``--password=X`` and credentials inside arguments."""
        out: List[str] = []
        mask_next = False
        for arg in args:
            if mask_next and not arg.startswith("-"):
                out.append(self.mask())
                mask_next = False
                continue
            mask_next = False
            if arg.startswith("-") and "=" not in arg and self.is_secret_key(arg.lstrip("-")):
                mask_next = True
            out.append(self.text(arg))
        return out

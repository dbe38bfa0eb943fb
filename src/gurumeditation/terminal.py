"""Control characters an application controls never reach a terminal raw.

A thread name, a service name, a section value or an error message may hold
``ESC``, ``BEL``, ``\\r``...: printed as they are, they retitle the window,
clear the screen, write the clipboard (OSC 52) or forge a line.  Text
reports and everything the ``gurumeditation`` command prints go through
:func:`escape`: each such character is shown as ``\\xNN`` (``\\x1b``,
``\\r`` as ``\\x0d``).  JSON keeps the real string (``json.dumps`` escapes
it anyway).
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls (a terminal in UTF-8 mode
# may take U+009B as CSI), and the line/paragraph separators
_MULTI_LINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _hex(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str, one_line: bool = False) -> str:
    """``text`` with every control character shown escaped; newlines (and
    tabs) are kept unless ``one_line``."""
    return (_ONE_LINE if one_line else _MULTI_LINE).sub(_hex, text)


_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029]")


def escape_json(text: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)``, which leaves
    DEL, C1 controls and the separators raw) with those written as
    ``\\uNNNN`` escapes: the same document, safe on a terminal."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)

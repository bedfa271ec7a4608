"""Making attacker-controlled text safe for plain-text sinks (terminal, XML, CSV).

Subjects, SANs and server messages may carry control characters: in a terminal they can move the
cursor or rewrite earlier lines, in XML 1.0 they are not allowed at all. HTML needs none of this
(``scanner.report.html.esc`` escapes it).
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object, *, ascii_only: bool = False) -> str:
    """``text`` with control characters (and, when asked, all non-ASCII) shown as escapes."""
    out = _CONTROL.sub(_escape, str(text))
    if ascii_only:
        out = out.encode("ascii", "backslashreplace").decode("ascii")
    return out

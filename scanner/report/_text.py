"""Making attacker-controlled text safe for plain-text sinks (terminal, XML, CSV).

Subjects, SANs, CSR fields, target names and server messages may carry control characters: in a
terminal CR/LF forge lines ("OK: no findings"), escape sequences move the cursor or rewrite
earlier lines, OSC 8 sequences hide links; in XML 1.0 they are not allowed at all. Bidirectional
controls (U+202A-U+202E, U+2066-U+2069, U+200E/U+200F, U+061C) and invisible format characters
(zero-width spaces and joiners, U+2060-U+2064, U+FEFF) reorder or hide text in every sink,
HTML included, so a subject can read as something it is not. ``printable`` is the one function
that shows all of them as visible ``\\xNN`` / ``\\uNNNN`` escapes: every place where such text
reaches a person goes through it (the scan summary, ``check``, ``check-csr``, ``diff``,
``verify-evidence``, every ``InputError``, CSV and JUnit; HTML applies it before HTML escaping).
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff"
                      r"\ud800-\udfff\ufffe\uffff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object, *, ascii_only: bool = False) -> str:
    """``text`` with control, bidirectional and invisible characters (and, when asked, all
    non-ASCII) shown as escapes; the result is one line that reads as what it is."""
    out = _CONTROL.sub(_escape, str(text))
    if ascii_only:
        out = out.encode("ascii", "backslashreplace").decode("ascii")
    return out

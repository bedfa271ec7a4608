"""PEM blocks read without parsing what they hold.

Why one reader: chains to judge, certificate requests, signing keys and captured certificates all
arrive as PEM; a certificate that no X.509 parser accepts must still reach the engine byte for
byte, and a bad block must be reported with its line. Decoding is kept apart from parsing so each
caller decides what a wrong label or bad base64 means for it.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----\n?", re.S)
_BEGIN = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")


@dataclass(frozen=True)
class PemBlock:
    """One ``-----BEGIN label-----`` ... ``-----END label-----`` block."""

    label: str
    der: bytes | None  # None when the body is not valid base64
    line: int  # 1-based line of the BEGIN line
    text: str  # the whole block, END line (and its newline) included


def blocks(text: str) -> list[PemBlock]:
    """Every complete block in ``text``, in order."""
    out: list[PemBlock] = []
    for match in _BLOCK.finditer(text):
        try:
            der: bytes | None = base64.b64decode("".join(match.group(2).split()), validate=True)
        except (binascii.Error, ValueError):
            der = None
        out.append(PemBlock(match.group(1), der, text.count("\n", 0, match.start()) + 1, match.group(0)))
    return out


def begin_labels(text: str) -> list[str]:
    """The label of every BEGIN line, complete block or not (to say what a wrong file is)."""
    return _BEGIN.findall(text)

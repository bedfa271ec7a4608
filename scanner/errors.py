"""Errors a person must act on before anything is scanned (exit code 2).

Per-endpoint problems are never exceptions that escape a scan: they become classified results
(see ``scanner.probe.errors``). ``InputError`` is for what the user gave us: a targets file, a
profile, a PEM, a key, a command-line target. It always names the file (and the line, where the
format gives one) and says how to fix it.
"""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad input: rendered as ``FILE:LINE: problem`` followed by ``fix: ...``; exit code 2."""

    def __init__(self, message: str, *, file: str | Path | None = None, line: int | None = None,
                 fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.fix = fix

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        text = where + self.message
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


def read_input(path: str | Path, what: str, fix: str) -> bytes:
    """The bytes of a file the user named; an unreadable one is an ``InputError`` naming it.

    One place, so that every command words a missing or unreadable input file the same way:
    ``cannot read <what> (<reason>)`` with ``fix``.
    """
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {what} ({exc.strerror or exc})", file=path, fix=fix) from exc

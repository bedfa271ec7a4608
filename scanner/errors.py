"""Errors a person must act on before anything is scanned (exit code 2).

Per-endpoint problems are never exceptions that escape a scan: they become classified results
(see ``scanner.probe.errors``). ``InputError`` is for what the user gave us: a targets file, a
profile, a PEM, a key, a command-line target. It always names the file (and the line, where the
format gives one) and says how to fix it.
"""

from __future__ import annotations

import os
import select
import stat
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
        """Two lines at most, whatever the file name or a value quoted from the file holds:
        each part is shown through ``printable`` (no forged lines, escape codes or bidi tricks)."""
        from scanner.report._text import printable  # lazy: scanner.report imports this module's users

        where = ""
        if self.file:
            where = printable(self.file) + (f":{self.line}" if self.line else "") + ": "
        text = where + printable(self.message)
        if self.fix:
            text += f"\n  fix: {printable(self.fix)}"
        return text


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words, from its ``st_mode``."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a regular file" if stat.S_ISREG(mode) else "a special file"


def unreadable_reason(path: str | Path) -> str | None:
    """Why ``path`` cannot be read as an input file (``"No such file or directory"``,
    ``"a FIFO (named pipe), not a regular file"``), or None when it can. Never blocks."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        return exc.strerror or str(exc)
    try:
        mode = os.fstat(fd).st_mode
    finally:
        os.close(fd)
    return None if stat.S_ISREG(mode) else f"{file_kind(mode)}, not a regular file"


PIPE_WAIT = 10.0  # seconds a FIFO may stay silent (no writer, or a writer that sends nothing)
PIPE_MAX_BYTES = 64 << 20  # what a FIFO may send: an input file, not an endless stream


def _read_pipe(fd: int, path: str | Path, what: str, fix: str) -> bytes:
    """Everything a FIFO sends until its writer closes it, never blocking for more than
    PIPE_WAIT seconds without data and never past PIPE_MAX_BYTES."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    data = bytearray()
    while True:
        if not poller.poll(int(PIPE_WAIT * 1000)):
            raise InputError(f"{what} is a FIFO (named pipe) and nothing arrived on it for {PIPE_WAIT:g} s",
                             file=path, fix=f"start the program that writes it first, or give a regular file; {fix}")
        chunk = os.read(fd, 65536)
        if not chunk:
            return bytes(data)
        data += chunk
        if len(data) > PIPE_MAX_BYTES:
            raise InputError(f"{what} is a FIFO (named pipe) that sent more than {PIPE_MAX_BYTES} bytes",
                             file=path, fix=f"give a regular file; {fix}")


def read_input(path: str | Path, what: str, fix: str, *, follow_symlinks: bool = True,
               pipes: bool = False) -> bytes:
    """The bytes of a file the user named; an unreadable one is an ``InputError`` naming it.

    One place, so that every command words a missing or unreadable input file the same way:
    ``cannot read <what> (<reason>)`` with ``fix``. Only regular files are read: a FIFO would
    block forever and ``/dev/zero`` never ends, so both are refused after a non-blocking open and
    before any read. ``follow_symlinks=False`` refuses a symbolic link as well (an evidence pack
    must not carry a file the link points at, such as a secret outside the results folder).
    ``pipes=True`` accepts a FIFO or a shell's ``<(command)`` for an input read exactly once (a
    targets file or profile is read again later, so not those): it is read until its writer
    closes it, without ever waiting more than ``PIPE_WAIT`` seconds for data.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        if not follow_symlinks and Path(path).is_symlink():
            raise InputError(f"{what} is a symbolic link; only the scan's own files are read", file=path,
                             fix="replace the link with the file itself, or remove it")
        fd = os.open(path, flags)
    except OSError as exc:
        raise InputError(f"cannot read {what} ({exc.strerror or exc})", file=path, fix=fix) from exc
    mode = os.fstat(fd).st_mode
    if pipes and stat.S_ISFIFO(mode) and hasattr(select, "poll"):
        try:
            return _read_pipe(fd, path, what, fix)
        finally:
            os.close(fd)
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise InputError(f"{what} is {file_kind(mode)}, not a regular file", file=path,
                         fix=f"give a regular file; {fix}")
    with os.fdopen(fd, "rb") as handle:
        try:
            return handle.read()
        except OSError as exc:
            raise InputError(f"cannot read {what} ({exc.strerror or exc})", file=path, fix=fix) from exc

"""One run at a time per history database (``--wait-lock S``).

Two nightly runs on one database (a slow run overlapping the next night's, or a person running
``prune`` by hand) would interleave their records and their retention. The lock is an
``fcntl.flock`` on ``<db>.lock``: the kernel drops it when the holder dies, however it dies, so a
killed run never leaves a stale lock behind. The holder writes its pid and start time into the
file so that the refusal message can say who holds it.

Three properties keep a killed run from blocking the next (issue 15):

* The lock belongs to this process alone. A flock belongs to the open file, which a forked child
  (the scan's evaluation workers) shares; a worker outliving a killed scan would hold the lock
  forever. The lock file is opened with ``os.open`` and every child forked while it is held closes
  its copy at once (``os.register_at_fork``), so when the holder dies the lock is free at once.
* The lock is named after the database file itself: ``realpath(db) + ".lock"``, so a symlinked
  alias or another spelling of the same path (``./h.db``, ``dir/../h.db``) takes the same lock.
* Helper processes die with the run (``scanner.lifetime``), so none outlives it anyway.

The history store itself does not take this lock (SQLite already serialises writers); the
commands that run unattended take it around their whole run.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from scanner.certinfo import iso_utc

# Distinct from 0-3 (see scanner.cli): "did not run because another run holds the database".
EXIT_LOCKED = 4
_POLL_SECONDS = 0.1


class LockBusy(Exception):
    """Another run holds the database's lock and did not release it within the wait."""

    def __init__(self, lock_path: Path, waited: float, holder: str) -> None:
        self.lock_path = lock_path
        self.waited = waited
        self.holder = holder
        super().__init__(
            f"another dccscan run holds {lock_path} ({holder or 'holder unknown'}); "
            f"waited {waited:g} s. Nothing was scanned or changed. Pass --wait-lock SECONDS to "
            f"wait longer, or let the other run finish.")


def lock_path_for(db_path: str | Path) -> Path:
    """The lock file of a database: named after the file the path resolves to, not its spelling."""
    return Path(os.path.realpath(db_path) + ".lock")


_HELD: dict[int, int] = {}  # lock fd -> pid of the process that took it


def _forget_in_child() -> None:
    """After a fork: the child closes its copies of the held lock files (they stay held by the parent)."""
    for fd in list(_HELD):
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def _acquire(fd: int, path: Path, wait: float) -> None:
    deadline = time.monotonic() + max(wait, 0.0)
    while not _try_lock(fd):
        if time.monotonic() >= deadline:
            raise LockBusy(path, wait, _holder(path))
        time.sleep(_POLL_SECONDS)


@contextmanager
def run_lock(db_path: str | Path, wait: float = 0.0) -> Iterator[Path]:
    """Hold the exclusive lock of ``db_path`` for the block; wait up to ``wait`` seconds for it.

    Raises :class:`LockBusy` when another process still holds it after ``wait`` seconds.
    """
    path = lock_path_for(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    owner = os.getpid()
    _HELD[fd] = owner
    try:
        _acquire(fd, path, wait)
        try:  # who holds it, for the refusal message; a full disk must not stop the run
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {owner} since {iso_utc(datetime.now(timezone.utc))}\n".encode(), 0)
        except OSError:
            pass
        yield path
    finally:
        if _HELD.pop(fd, None) == owner:  # a forked child already closed its copy
            os.close(fd)  # closing the only descriptor releases the flock

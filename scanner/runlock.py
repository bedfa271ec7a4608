"""One run at a time per history database (``--wait-lock S``).

Two nightly runs on one database (a slow run overlapping the next night's, or a person running
``prune`` by hand) would interleave their records and their retention. The lock is an
``fcntl.flock`` on ``<db>.lock``: the kernel drops it when the holder dies, however it dies, so a
killed run never leaves a stale lock behind. The holder writes its pid and start time into the
file so that the refusal message can say who holds it.

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
from typing import IO, Iterator

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
    return Path(str(db_path) + ".lock")


def _try_lock(handle: IO[str]) -> bool:
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def _acquire(handle: IO[str], path: Path, wait: float) -> None:
    deadline = time.monotonic() + max(wait, 0.0)
    while not _try_lock(handle):
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
    with open(path, "a+", encoding="utf-8") as handle:
        _acquire(handle, path, wait)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} since {iso_utc(datetime.now(timezone.utc))}\n")
            handle.flush()
            yield path
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

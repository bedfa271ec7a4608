"""``dccscan history``, ``dccscan diff`` and ``dccscan prune``, plus ``record_and_diff`` for ``scan``'s nightly steps.

The options the nightly scan shares with these commands (``--db``, ``--wait-lock``,
``--log-format``) are defined here once as decorators, so that ``scan`` spells them the same way.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import click

from scanner.cli.finite import DAY, Seconds
from scanner.errors import InputError
from scanner.report._text import printable
from scanner.history import (default_db_path, diff_scans, latest_scan_id, list_scans, previous_scan_id, prune as
                             prune_scans, record_scan, render_text)
from scanner.log import LOG_FORMATS, configure, log_event
from scanner.runlock import EXIT_LOCKED, LockBusy, run_lock

F = TypeVar("F", bound=Callable[..., Any])
EXIT_USAGE = 2


def db_option(func: F) -> F:
    return click.option("--db", "db", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help=f"History database [default: {default_db_path()}].")(func)


def wait_lock_option(func: F) -> F:
    return click.option("--wait-lock", "wait_lock", type=Seconds(0, DAY, inclusive=True), default=0, show_default=True,
                        metavar="S", help="Wait up to S seconds for another run on the same --db to finish; "
                        f"then give up with exit code {EXIT_LOCKED}.")(func)


def log_format_option(func: F) -> F:
    return click.option("--log-format", "log_format", type=click.Choice(LOG_FORMATS), default="text",
                        show_default=True, help="Format of the log lines on stderr.")(func)


def format_option(func: F) -> F:
    return click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                        show_default=True, help="Output format.")(func)


@contextmanager
def input_errors() -> Iterator[None]:
    """Bad input becomes its one-paragraph message and exit 2; never a traceback."""
    try:
        yield
    except InputError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_USAGE)


def record_and_diff(db_path: str | Path | None, results_path: str | Path) -> tuple[int, dict[str, Any] | None]:
    """Record a finished scan's results and diff it against the previous scan of the same targets.

    Returns ``(scan_id, changes)``; ``changes`` is None when no earlier scan of those targets is
    recorded. The caller (``scan``) holds the run lock around its whole run.
    """
    db = Path(db_path) if db_path else default_db_path()
    scan_id = record_scan(db, results_path)
    previous = previous_scan_id(db, scan_id)
    changes = diff_scans(previous, scan_id, db_path=db) if previous is not None else None
    log_event("history.recorded", db=str(db), scan_id=scan_id, previous_scan_id=previous)
    return scan_id, changes


def _history_line(scan: dict[str, Any]) -> str:
    status = ", ".join(f"{k} {v}" for k, v in sorted(scan["by_status"].items())) or "none"
    severity = ", ".join(f"{k} {v}" for k, v in scan["by_severity"].items() if v) or "none"
    flags = "" if scan["complete"] else "  INCOMPLETE"
    targets = scan["targets_path"] or "(command-line targets)"
    return printable(f"{scan['id']:>5}  {scan['started_at']}  {scan['endpoints']:>6} endpoints ({status})  "
                     f"findings: {severity}  exit {scan['exit_code']}{flags}  {targets}")


@click.command("history")
@db_option
@format_option
def history(db: Path | None, fmt: str) -> None:
    """List the recorded scans, oldest first: time, targets, counts by outcome."""
    with input_errors():
        scans = list_scans(db or default_db_path())
    if fmt == "json":
        click.echo(json.dumps(scans, indent=2))
        return
    if not scans:
        click.echo("no scans recorded")
    for scan in scans:
        click.echo(_history_line(scan))


def _pick_scans(db: Path, from_id: int | None, to_id: int | None) -> tuple[int | None, int]:
    to_scan = to_id if to_id is not None else latest_scan_id(db)
    if to_scan is None:
        raise InputError("no scans recorded in this history database", file=db,
                         fix="record a scan first (`dccscan scan ... --db PATH`)")
    from_scan = from_id if from_id is not None else previous_scan_id(db, to_scan)
    return from_scan, to_scan


@click.command("diff")
@db_option
@click.option("--from", "from_id", type=int, default=None, help="Older scan id [default: the previous scan "
              "of the same targets as --to].")
@click.option("--to", "to_id", type=int, default=None, help="Newer scan id [default: the latest scan].")
@format_option
def diff(db: Path | None, from_id: int | None, to_id: int | None, fmt: str) -> None:
    """What changed between two recorded scans (by default: the latest and the one before it)."""
    db = db or default_db_path()
    with input_errors():
        from_scan, to_scan = _pick_scans(db, from_id, to_id)
        changes = diff_scans(from_scan, to_scan, db_path=db) if from_scan is not None else None
    if fmt == "json":
        click.echo(json.dumps(changes, indent=2))
    elif changes is None:
        click.echo(f"scan {to_scan}: no earlier scan of the same targets to compare with")
    else:
        click.echo(render_text(changes), nl=False)


def _prune(db: Path, keep_days: int) -> int:
    """``prune_scans``; a full disk or a broken database is one line (exit 2), and the
    transaction rolled back means nothing was deleted."""
    try:
        return prune_scans(db, keep_days)
    except (sqlite3.Error, OSError) as exc:
        raise InputError(f"cannot prune the history database ({exc}); nothing was deleted", file=db,
                         fix="free space on that disk (SQLite needs room for its journal), then prune again") from None


def quiet_option(func: F) -> F:
    return click.option("--quiet", "-q", is_flag=True,
                        help="Print nothing unless something is wrong (warnings and errors still go to "
                        "stderr).")(func)


def log_level(quiet: bool) -> int:
    """The log level of a command: ``--quiet`` keeps warnings and errors only (cron mails any output)."""
    return logging.WARNING if quiet else logging.INFO


def existing_folder(db: Path, option: str = "--db") -> None:
    """InputError when ``db``'s folder does not exist: a typo must not become a new empty folder."""
    if not db.parent.is_dir():
        raise InputError(f"the folder of {option} does not exist", file=db,
                         fix=f"create {db.parent} first (e.g. mkdir -p {db.parent}), or correct the path")


@contextmanager
def held_lock(db: Path, wait: float) -> Iterator[None]:
    """``run_lock`` on ``db``, logging ``run.lock_wait`` (naming the holder) when it must wait, so
    a run that seems stuck says what it is waiting for."""
    with ExitStack() as stack:
        try:
            stack.enter_context(run_lock(db, wait=0))
        except LockBusy as busy:
            if wait <= 0:
                raise
            log_event("run.lock_wait", db=str(db), holder=busy.holder, wait=wait)
            stack.enter_context(run_lock(db, wait=wait))
        yield


@click.command("prune")
@click.option("--keep-days", "keep_days", type=click.IntRange(0, 36_500), required=True, metavar="N",
              help="Delete recorded scans that started more than N days ago.")
@db_option
@wait_lock_option
@log_format_option
@quiet_option
def prune(keep_days: int, db: Path | None, wait_lock: float, log_format: str, quiet: bool) -> None:
    """Delete old scans from the history (and the certificates only they referenced).

    A database that does not exist yet (the first night) has nothing to prune: exit 0.
    """
    configure(log_format, log_level(quiet))
    explicit = db is not None
    db = db or default_db_path()
    with input_errors():
        if explicit:
            existing_folder(db)
        if not db.exists():
            log_event("prune.nothing", db=str(db), reason="no database yet")
            if not quiet:
                click.echo(f"no history database at {db} yet: nothing to prune")
            return
        try:
            with held_lock(db, wait_lock):
                deleted = _prune(db, keep_days)
        except LockBusy as exc:
            log_event("run.locked", logging.ERROR, db=str(db), waited=wait_lock)
            click.echo(str(exc), err=True)
            sys.exit(EXIT_LOCKED)
    log_event("prune.done", db=str(db), keep_days=keep_days, scans_deleted=deleted)
    if not quiet:
        click.echo(f"deleted {deleted} scan(s) started more than {keep_days} day(s) ago")

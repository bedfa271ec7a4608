"""``scan``'s options for unattended (nightly) runs, and what a run does around the scan itself.

The scan pipeline stays in ``scan_cmd``; this module joins it to the nightly building blocks so
that ``scan_cmd`` changes by one decorator and one call:

* ``--wait-lock S`` / ``--db PATH``: the whole run (scan, recording, reports, evidence) holds
  ``run_lock`` on the database, so two runs on one database never overlap; a run that cannot get
  it within S seconds scans nothing and exits ``EXIT_LOCKED`` (4).
* ``--db PATH``: the finished scan is recorded, diffed against the previous scan of the same
  targets, and the diff is added to results.json as ``changes``; the reports are rendered after
  that, once (so the HTML report shows "Changes since <date>"), and also when recording fails.
* ``--evidence PACK.zip`` [``--sign-key KEY.pem``]: an evidence pack of this scan (``build_pack``).
* ``--notify-webhook URL``: the summary and changes are posted last; a failure is only logged.
* ``--max-duration S``: the scan stops when S seconds have passed since the command started
  (lock wait included) and writes what it gathered with ``complete: false``.
* ``--log-format text|json``: the log lines these steps write on stderr; with ``scan --quiet``
  only warnings and errors (a clean nightly run under cron prints nothing, so cron mails nothing).

Every input is checked before anything is scanned (bad input: exit 2, never after a long scan).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

import click

from scanner.cli.evidence_cmd import sign_key_option
from scanner.cli.finite import DAY, Seconds
from scanner.cli.history_cmd import (existing_folder, held_lock, log_format_option, log_level, record_and_diff,
                                     wait_lock_option)
from scanner.cli.keyopts import password_file_option
from scanner.errors import InputError
from scanner.log import configure, log_event
from scanner.passwords import SIGN_KEY
from scanner.runlock import EXIT_LOCKED, LockBusy

F = TypeVar("F", bound=Callable[..., Any])


@dataclasses.dataclass(frozen=True)
class NightlyOptions:
    """The nightly options of one ``scan`` command line (all off by default)."""

    db: Path | None = None
    notify_webhook: str | None = None
    wait_lock: float = 0.0
    log_format: str = "text"
    max_duration: float | None = None
    evidence: Path | None = None
    sign_key: Path | None = None
    quiet: bool = False  # the command's own --quiet (read, not owned, by nightly_options)
    started: float = dataclasses.field(default_factory=time.monotonic, compare=False)

    @property
    def unattended(self) -> bool:
        """Whether any nightly option is in use: only then does the run write log lines about itself."""
        return any(v is not None for v in (self.db, self.notify_webhook, self.max_duration, self.evidence))

    def remaining(self) -> float | None:
        """Seconds left of ``--max-duration`` (counted from the command's start), or None."""
        if self.max_duration is None:
            return None
        return max(0.0, self.max_duration - (time.monotonic() - self.started))

    def validate(self) -> None:
        """Every ``InputError`` these options can cause, raised before anything is scanned."""
        if self.notify_webhook is not None:
            from scanner.notify import validate_webhook_url
            validate_webhook_url(self.notify_webhook)
        if self.sign_key is not None and self.evidence is None:
            raise InputError("--sign-key signs the evidence pack, but no --evidence PACK.zip was given",
                             file=self.sign_key, fix="add --evidence PACK.zip, or drop --sign-key")
        if self.sign_key is not None:
            from scanner.evidence import load_signing_key
            load_signing_key(self.sign_key)
        if self.evidence is not None:
            _writable_parent(self.evidence, "--evidence")
        if self.db is not None:
            existing_folder(self.db)  # a mistyped --db must not become a new, empty history
            _writable_parent(self.db, "--db")


def _writable_parent(path: Path, option: str) -> None:
    """Create ``path``'s folder now (``--evidence``: a pack per night in a new folder is fine);
    InputError when it cannot be created or written."""
    if path.is_dir():
        raise InputError(f"{option} names a folder, not a file", file=path, fix=f"give {option} a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the folder for {option} ({exc.strerror or exc})", file=path,
                         fix=f"give {option} a path in a folder you can write to") from exc
    if not os.access(path.parent, os.W_OK):
        raise InputError(f"cannot write the folder for {option}", file=path,
                         fix=f"give {option} a path in a folder you can write to")


_OPTIONS: Sequence[Callable[[F], F]] = (
    click.option("--db", "db", type=click.Path(dir_okay=False, path_type=Path), default=None,
                 help="Record the scan in this history database and add the changes since the previous "
                 "scan of the same targets to results.json and the report; its folder must exist [default: not recorded]."),
    click.option("--notify-webhook", "notify_webhook", metavar="URL", default=None,
                 help="POST a JSON summary of the scan and its changes here (failures are logged, never fatal)."),
    wait_lock_option,
    log_format_option,
    click.option("--max-duration", "max_duration", type=Seconds(0, 7 * DAY), default=None,
                 metavar="S", help="Stop scanning S seconds after the start; write what was gathered "
                 "(complete: false, not_reached) [default: no limit]."),
    click.option("--evidence", "evidence", type=click.Path(path_type=Path, dir_okay=False), default=None,
                 metavar="PACK.zip", help="Also write an evidence pack of this scan."),
    sign_key_option,
    password_file_option(SIGN_KEY),
)
_FIELDS = tuple(f.name for f in dataclasses.fields(NightlyOptions) if f.name not in ("started", "quiet"))


def nightly_options(func: F) -> F:
    """Add the nightly options to a click command; it receives them as one ``nightly`` argument."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        options = NightlyOptions(**{name: kwargs.pop(name) for name in _FIELDS}, quiet=bool(kwargs.get("quiet")))
        return func(*args, nightly=options, **kwargs)

    for option in reversed(_OPTIONS):
        wrapper = option(wrapper)
    return wrapper  # type: ignore[return-value]


@contextmanager
def _held(options: NightlyOptions) -> Iterator[None]:
    """The database lock (when there is a database), logging a wait so a stuck run is explained."""
    if options.db is None:
        yield
        return
    with held_lock(options.db, options.wait_lock):
        yield


def run_nightly(options: NightlyOptions, scan: Callable[[float | None], int], out_dir: Path,
                finish: Callable[[int], int]) -> int:
    """Run ``scan(seconds_left)`` (it returns the scan's exit code) inside the lock, then record,
    diff, ``finish(code)`` (the reports and the summary: it returns the exit code), pack and
    notify. Returns the exit code (``EXIT_LOCKED`` when locked out); raises ``InputError`` for an
    unusable database or pack."""
    configure(options.log_format, log_level(options.quiet))
    try:
        with _held(options):
            if options.db is not None:
                _prepare(options.db)
            if options.unattended:
                log_event("run.started", db=str(options.db) if options.db else None, out=str(out_dir),
                          max_duration=options.max_duration)
            code = scan(options.remaining())
            _, _, code = after_scan(options, out_dir, code, finish)
    except LockBusy as busy:
        log_event("run.locked", logging.ERROR, db=str(options.db), waited=options.wait_lock, holder=busy.holder)
        click.echo(f"dccscan: {busy}", err=True)
        return EXIT_LOCKED
    return code


def _prepare(db: Path) -> None:
    from scanner.history import prepare_db
    try:
        prepare_db(db)
    except sqlite3.Error as exc:
        raise InputError(f"cannot open the history database ({exc})", file=db,
                         fix="pass --db with a history database or a new file name") from exc


def after_scan(options: NightlyOptions, out_dir: Path, code: int,
               finish: Callable[[int], int] | None = None) -> tuple[int | None, dict[str, Any] | None, int]:
    """What happens to a finished scan's results, in order: history, reports, evidence, webhook.

    The one place these steps are ordered (``scan`` reaches it through ``run_nightly``): the
    reports (``finish(code)``, which returns the exit code) are rendered once, after the changes
    are in results.json, and also when recording fails; the evidence pack then holds the results
    with their ``changes`` and the reports showing them. Returns ``(scan_id, changes, code)``:
    ``scan_id`` is None without ``--db``, ``changes`` None when there is no earlier scan. The
    webhook never raises; an unusable database or pack is an ``InputError``.
    """
    results = out_dir / "results.json"
    try:
        scan_id, changes = _record(options.db, results) if options.db else (None, None)
    finally:
        code = finish(code) if finish is not None else code
    if options.evidence is not None:
        _pack(out_dir, options.evidence, options.sign_key)
    if options.notify_webhook is not None:
        from scanner.notify import post_webhook, revoked_certificates, scan_payload
        from scanner.results import read_header
        post_webhook(options.notify_webhook, scan_payload(read_header(results), scan_id, changes,
                                                          revoked_certificates(results)))
    if options.unattended:
        log_event("run.finished", exit_code=code, out=str(out_dir), scan_id=scan_id)
    return scan_id, changes, code


def _record(db: Path, results: Path) -> tuple[int, dict[str, Any] | None]:
    """Record and diff; put the changes (and the trend) into results.json."""
    try:
        scan_id, changes = record_and_diff(db, results)
    except sqlite3.Error as exc:
        raise InputError(f"cannot record the scan in the history database ({exc}); results.json is "
                         "complete and can be recorded later", file=db,
                         fix="check the disk and the database, then rerun the scan") from exc
    if changes is not None:
        from scanner.history.trend import trend
        from scanner.results import add_header_keys
        add_header_keys(results, changes=changes, trend=trend(db, scan_id))
    return scan_id, changes


def _pack(out_dir: Path, pack: Path, sign_key: Path | None) -> None:
    from scanner.evidence import build_pack
    try:
        written = build_pack(out_dir, pack, sign_key)
    except OSError as exc:
        raise InputError(f"cannot write the evidence pack ({exc.strerror or exc})", file=pack,
                         fix="give --evidence a path in a folder you can write to") from exc
    log_event("evidence.written", pack=str(written), signed=sign_key is not None)

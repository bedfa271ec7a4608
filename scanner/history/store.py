"""The history store: every recorded scan in one SQLite file.

Why SQLite and why this shape: the nightly job must survive being killed at any moment, so a
scan is written in one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``) in WAL mode with
``synchronous=FULL``; a killed writer leaves at most an uncommitted WAL tail that SQLite discards
on the next open. What repeats from night to night is stored once and referenced: each
certificate by the SHA-256 of its DER, each endpoint *state* (record, chain references, findings,
verdicts: everything but the per-night fields) by the SHA-256 of its JSON, so a night in which
nothing changed adds one small ``observations`` row per endpoint (``scanner.history.states``).
A recorded scan can be given back as its results document (``get_scan_document``), or streamed
(``iter_scan_endpoints``), so the diff and the reports need only one input type.

"Previous scan of the same targets": the most recent earlier scan (by ``started_at``, then id)
whose ``targets_file.path`` is the same string; when none has that path, the most recent earlier
one whose targets file had the same SHA-256 (the file moved). Scans whose targets came from the
command line are keyed by the SHA-256 of their sorted ``name host port`` lines and match only
each other.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

import platformdirs

from scanner.certinfo import iso_utc
from scanner.errors import InputError
from scanner.history import states
from scanner.history._source import read_results
from scanner.history.migrations import MIGRATIONS

BUSY_TIMEOUT_SECONDS = 60.0
_HISTORY_FIX = "`dccscan history --db PATH` lists the recorded scans"


def default_db_path() -> Path:
    """``<user data dir>/dccscan/history.db`` (platformdirs), used when ``--db`` is not given."""
    return Path(platformdirs.user_data_dir("dccscan")) / "history.db"


_dumps = states.dumps


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, taken up front so that concurrent writers queue, never deadlock."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the connection is gone; SQLite discards the uncommitted tail on next open
        raise
    conn.execute("COMMIT")


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, path: Path) -> int:
    """Bring the schema up to date, one migration per transaction; returns the version."""
    if _version(conn) > len(MIGRATIONS):
        raise InputError(f"history database has schema version {_version(conn)}, newer than this "
                         f"dccscan knows ({len(MIGRATIONS)})", file=path,
                         fix="upgrade dccscan, or pass another --db")
    for number in range(_version(conn) + 1, len(MIGRATIONS) + 1):
        with transaction(conn):
            if _version(conn) >= number:  # another process migrated while we waited
                continue
            for step in MIGRATIONS[number - 1]:
                if isinstance(step, str):
                    conn.execute(step)
                else:
                    step(conn)
            conn.execute(f"PRAGMA user_version = {number}")
    return _version(conn)


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL once per database file.

    Why the loop: changing the journal mode needs an exclusive lock and SQLite does not apply the
    busy timeout to it, so a second process opening a new database while the first is migrating
    it gets "database is locked" at once. Reading the mode needs no such lock: a database already
    in WAL is left alone, and otherwise the switch is retried until the usual busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def connect(db_path: str | Path, *, create: bool = True) -> sqlite3.Connection:
    """An open, migrated connection in autocommit mode (transactions are explicit)."""
    path = Path(db_path)
    if not create and not path.exists():
        raise InputError("no history database here", file=path,
                         fix="record a scan first (`dccscan scan ... --db PATH`) or pass the right --db")
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        _enable_wal(conn)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        migrate(conn, path)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise InputError(f"not a usable dccscan history database ({exc})", file=path,
                         fix="pass --db with the path of a history database, or a new file name") from exc
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def opened(db_path: str | Path, *, create: bool = True) -> Iterator[sqlite3.Connection]:
    conn = connect(db_path, create=create)
    try:
        yield conn
    finally:
        conn.close()


def prepare_db(db_path: str | Path) -> Path:
    """Create or migrate the database now, so that a bad ``--db`` fails before a long scan
    (``InputError``) rather than after it."""
    with opened(db_path):
        pass
    return Path(db_path)


# --- writing -------------------------------------------------------------------------------

_STORED_MEMORY = 4096  # certificates remembered per transaction: the shared intermediates, not every leaf


class _Writer:
    """Inserts one scan. Remembers a bounded number of certificates this transaction already
    stored (the intermediates every chain repeats), so memory does not grow with the estate."""

    def __init__(self, conn: sqlite3.Connection, scan_id: int, *, key_targets: bool) -> None:
        self.conn = conn
        self.scan_id = scan_id
        self.stored: set[str] = set()  # sha256 stored with its record in this transaction
        self.key_targets = key_targets  # command-line targets: the scan is keyed by its target lines
        self.target_lines: set[str] = set()

    def certificate(self, sha256: str, pem: str, record: dict[str, Any] | None) -> None:
        if sha256 in self.stored:
            return
        self.conn.execute(
            "INSERT INTO certificates (sha256, pem, record) VALUES (?, ?, ?) ON CONFLICT (sha256) "
            "DO UPDATE SET record = excluded.record WHERE certificates.record IS NULL AND excluded.record IS NOT NULL",
            (sha256, pem, _dumps(record) if record is not None else None))
        if record is not None:
            if len(self.stored) >= _STORED_MEMORY:
                self.stored.clear()
            self.stored.add(sha256)

    def endpoint(self, seq: int, endpoint: dict[str, Any]) -> None:
        target = endpoint.get("target") or {}
        if self.key_targets:
            self.target_lines.add(f"{target.get('name')} {target.get('host')} {target.get('port')}")
        for cert in endpoint.get("chain") or []:
            self.certificate(cert["sha256"], cert["pem"], {k: v for k, v in cert.items() if k not in ("index", "pem")})
        states.store(self.conn, self.scan_id, seq, states.split(endpoint))


def finding_certificate(finding: dict[str, Any], shas: list[str]) -> str | None:
    """SHA-256 of the certificate a finding is about (``certificate_index`` into the chain)."""
    index = finding.get("certificate_index")
    if isinstance(index, int) and 0 <= index < len(shas):
        return shas[index]
    return None


def _stored_header(header: dict[str, Any], writer: _Writer) -> dict[str, Any]:
    """The header with trust anchors' PEM moved into ``certificates`` (referenced by position)."""
    stored: dict[str, Any] = json.loads(_dumps(header))
    anchors = (stored.get("settings") or {}).get("trust_anchors") or []
    for position, anchor in enumerate(anchors):
        writer.certificate(anchor["sha256"], anchor.pop("pem"), None)
        writer.conn.execute("INSERT INTO scan_anchors (scan_id, position, cert_sha256) VALUES (?, ?, ?)",
                            (writer.scan_id, position, anchor["sha256"]))
    return stored


def _insert_scan(conn: sqlite3.Connection, header: dict[str, Any], results_path: Path) -> int:
    targets = header.get("targets_file") or {}
    cursor = conn.execute(
        "INSERT INTO scans (started_at, finished_at, complete, targets_path, targets_sha256, results_path, "
        "recorded_at, header) VALUES (?, ?, ?, ?, ?, ?, ?, '{}')",
        (header["started_at"], header["finished_at"], int(bool(header.get("complete"))), targets.get("path"),
         targets.get("sha256"), str(results_path), iso_utc(datetime.now(timezone.utc))))
    return int(cursor.lastrowid or 0)


def _write_endpoints(writer: _Writer, endpoints: Iterable[dict[str, Any]], results_path: Path) -> int:
    count = 0
    try:
        for seq, endpoint in enumerate(endpoints):
            writer.endpoint(seq, endpoint)
            count += 1
    except (KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"endpoint {count + 1} is not a results-model endpoint ({exc!r})", file=results_path,
                         fix="pass a results.json written by `dccscan scan`") from exc
    except (ValueError, OSError) as exc:
        raise InputError(f"cannot read endpoint {count + 1}: {exc}", file=results_path,
                         fix="pass a complete results.json written by `dccscan scan`") from exc
    return count


def record_scan(db_path: str | Path, results_path: str | Path) -> int:
    """Record the results document at ``results_path``; all of it or nothing. Returns its id."""
    results_path = Path(results_path)
    header, endpoints = read_results(results_path)
    with opened(db_path) as conn, transaction(conn):
        try:
            scan_id = _insert_scan(conn, header, results_path.resolve())
            writer = _Writer(conn, scan_id, key_targets=not header.get("targets_file"))
            stored = _stored_header(header, writer)
        except (KeyError, TypeError, AttributeError) as exc:
            raise InputError(f"results header is incomplete ({exc!r})", file=results_path,
                             fix="pass a results.json written by `dccscan scan`") from exc
        count = _write_endpoints(writer, endpoints, results_path)
        cli_key = None
        if not header.get("targets_file"):
            cli_key = hashlib.sha256("\n".join(sorted(writer.target_lines)).encode()).hexdigest()
        conn.execute("UPDATE scans SET header = ?, endpoint_count = ?, targets_sha256 = COALESCE(targets_sha256, ?) "
                     "WHERE id = ?", (_dumps(stored), count, cli_key, scan_id))
    return scan_id


# --- reading -------------------------------------------------------------------------------


def list_scans(db_path: str | Path) -> list[dict[str, Any]]:
    """One summary per recorded scan, oldest first: what ``dccscan history`` prints."""
    with opened(db_path, create=False) as conn:
        rows = conn.execute("SELECT * FROM scans ORDER BY started_at, id").fetchall()
    out = []
    for row in rows:
        header = json.loads(row["header"])
        summary = header.get("summary") or {}
        out.append({
            "id": row["id"], "started_at": row["started_at"], "finished_at": row["finished_at"],
            "complete": bool(row["complete"]), "targets_path": row["targets_path"],
            "targets_sha256": row["targets_sha256"], "endpoints": row["endpoint_count"],
            "by_status": summary.get("by_status", {}), "by_severity": summary.get("by_severity", {}),
            "not_reached": len(header.get("not_reached") or []), "exit_code": summary.get("exit_code"),
            "results_path": row["results_path"], "recorded_at": row["recorded_at"],
        })
    return out


def _scan_row(conn: sqlite3.Connection, scan_id: int, db_path: str | Path) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute("SELECT * FROM scans WHERE id = ?", (scan_id,)).fetchone()
    if row is None:
        raise InputError(f"no scan with id {scan_id} in this history database", file=db_path, fix=_HISTORY_FIX)
    return row


_RECENT_CERTIFICATES = 256  # parsed chain records kept while reading: the shared CAs, not the leaves


class _Certificates:
    """Full chain records by SHA-256, read on demand; a few recent ones are kept (the shared
    intermediates), never the whole table. Each kept record is a few KB of parsed JSON and a
    leaf is read once per scan, so keeping more only costs memory (4,096 cost 20 MB per scan
    read, twice in a diff)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.recent: dict[str, tuple[str, dict[str, Any]]] = {}

    def __call__(self, sha256: str, index: int) -> dict[str, Any]:
        if sha256 not in self.recent:
            row = self.conn.execute("SELECT pem, record FROM certificates WHERE sha256 = ?", (sha256,)).fetchone()
            record = json.loads(row["record"]) if row and row["record"] else {"sha256": sha256}
            if len(self.recent) >= _RECENT_CERTIFICATES:
                self.recent.clear()
            self.recent[sha256] = (row["pem"] if row else "", record)
        pem, record = self.recent[sha256]
        return {"index": index, "pem": pem, **record}


ORDERS = {
    "file": "o.seq",
    "target": "s.target_name, s.endpoint_id, o.seq",  # what the streaming diff merges on
}


def iter_scan_endpoints(conn: sqlite3.Connection, scan_id: int, order: str = "file") -> Iterator[dict[str, Any]]:
    """The endpoint records of a recorded scan, one at a time, in file order or ordered by
    (target name, endpoint id). An ordering other than the file's is sorted by SQLite (which
    spills to temporary files), so memory stays bounded whatever the size of the scan."""
    certificates = _Certificates(conn)
    rows = conn.execute(
        "SELECT s.body, o.volatile FROM observations o JOIN states s ON s.id = o.state_id "
        f"WHERE o.scan_id = ? ORDER BY {ORDERS[order]}", (scan_id,))
    for row in rows:
        yield states.join(row["body"], row["volatile"], certificates)


def scan_header(conn: sqlite3.Connection, scan_id: int, db_path: str | Path) -> dict[str, Any]:
    """Every top-level key of a recorded scan but ``endpoints``; anchors without their PEM."""
    header: dict[str, Any] = json.loads(_scan_row(conn, scan_id, db_path)["header"])
    return header


def _restore_anchors(conn: sqlite3.Connection, scan_id: int, header: dict[str, Any]) -> None:
    anchors = (header.get("settings") or {}).get("trust_anchors") or []
    pems = {row["position"]: row["pem"] for row in conn.execute(
        "SELECT a.position, c.pem FROM scan_anchors a JOIN certificates c ON c.sha256 = a.cert_sha256 "
        "WHERE a.scan_id = ?", (scan_id,))}
    for position, anchor in enumerate(anchors):
        anchor["pem"] = pems.get(position, "")


def get_scan_document(db_path: str | Path, scan_id: int) -> dict[str, Any]:
    """The results document of a recorded scan, as it was recorded (endpoints in file order)."""
    with opened(db_path, create=False) as conn:
        header = scan_header(conn, scan_id, db_path)
        _restore_anchors(conn, scan_id, header)
        header["endpoints"] = list(iter_scan_endpoints(conn, scan_id))
    return header


def latest_scan_id(db_path: str | Path) -> int | None:
    with opened(db_path, create=False) as conn:
        row = conn.execute("SELECT id FROM scans ORDER BY started_at DESC, id DESC LIMIT 1").fetchone()
    return int(row["id"]) if row else None


def previous_scan_id(db_path: str | Path, scan_id: int) -> int | None:
    """The previous scan of the same targets (see the module docstring for the rule), or None."""
    with opened(db_path, create=False) as conn:
        row = _scan_row(conn, scan_id, db_path)
        earlier = "(started_at < :at OR (started_at = :at AND id < :id))"
        params = {"at": row["started_at"], "id": scan_id, "path": row["targets_path"], "sha": row["targets_sha256"]}
        for column, key in (("targets_path", "path"), ("targets_sha256", "sha")):
            if params[key] is None:
                continue
            found = conn.execute(f"SELECT id FROM scans WHERE {column} = :{key} AND {earlier} "
                                 "ORDER BY started_at DESC, id DESC LIMIT 1", params).fetchone()
            if found:
                return int(found["id"])
    return None


def prune(db_path: str | Path, keep_days: int, *, now: datetime | None = None) -> int:
    """Delete scans started more than ``keep_days`` days before ``now``, then the endpoint states
    and certificates no remaining scan references (garbage collection of shared content). Returns how many scans were deleted."""
    if keep_days < 0:
        raise InputError(f"--keep-days must be 0 or more, not {keep_days}", fix="pass e.g. --keep-days 90")
    cutoff = iso_utc((now or datetime.now(timezone.utc)) - timedelta(days=keep_days))
    with opened(db_path, create=False) as conn:
        with transaction(conn):
            deleted = conn.execute("DELETE FROM scans WHERE started_at < ?", (cutoff,)).rowcount
            conn.execute("DELETE FROM states WHERE NOT EXISTS "
                         "(SELECT 1 FROM observations o WHERE o.state_id = states.id)")
            conn.execute("DELETE FROM certificates WHERE NOT EXISTS "
                         "(SELECT 1 FROM state_certificates sc WHERE sc.cert_sha256 = certificates.sha256) "
                         "AND NOT EXISTS (SELECT 1 FROM scan_anchors a WHERE a.cert_sha256 = certificates.sha256)")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return int(deleted)


def integrity_problems(db_path: str | Path) -> list[str]:
    """``PRAGMA integrity_check`` and ``foreign_key_check`` findings; empty when the file is sound."""
    with opened(db_path, create=False) as conn:
        problems = [r[0] for r in conn.execute("PRAGMA integrity_check") if r[0] != "ok"]
        problems += [" ".join(map(str, r)) for r in conn.execute("PRAGMA foreign_key_check")]
    return problems

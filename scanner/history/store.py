"""The history store: every recorded scan in one SQLite file.

Why SQLite and why this shape: the nightly job must survive being killed at any moment, so a
scan is written in one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``) in WAL mode with
``synchronous=FULL``; a killed writer leaves at most an uncommitted WAL tail that SQLite discards
on the next open. Certificates repeat from night to night, so each is stored once by SHA-256 and
referenced. A recorded scan can be given back as its results document (``get_scan_document``), so
the diff and the reports need only one input type.

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
from scanner.history._source import read_results
from scanner.history.migrations import MIGRATIONS

BUSY_TIMEOUT_SECONDS = 60.0
_SPLIT_KEYS = ("chain", "browsers", "findings")
_HISTORY_FIX = "`dccscan history --db PATH` lists the recorded scans"


def default_db_path() -> Path:
    """``<user data dir>/dccscan/history.db`` (platformdirs), used when ``--db`` is not given."""
    return Path(platformdirs.user_data_dir("dccscan")) / "history.db"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


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
            for statement in MIGRATIONS[number - 1]:
                conn.execute(statement)
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


class _Writer:
    """Inserts one scan; remembers which certificates this transaction already stored."""

    def __init__(self, conn: sqlite3.Connection, scan_id: int) -> None:
        self.conn = conn
        self.scan_id = scan_id
        self.stored: dict[str, bool] = {}  # sha256 -> stored with its record
        self.target_lines: set[str] = set()

    def certificate(self, sha256: str, pem: str, record: dict[str, Any] | None) -> None:
        if sha256 in self.stored and (self.stored[sha256] or record is None):
            return
        self.conn.execute(
            "INSERT INTO certificates (sha256, pem, record) VALUES (?, ?, ?) ON CONFLICT (sha256) "
            "DO UPDATE SET record = COALESCE(certificates.record, excluded.record)",
            (sha256, pem, _dumps(record) if record is not None else None))
        self.stored[sha256] = self.stored.get(sha256, False) or record is not None

    def endpoint(self, seq: int, endpoint: dict[str, Any]) -> None:
        chain: list[dict[str, Any]] = endpoint.get("chain") or []
        shas = [cert["sha256"] for cert in chain]
        target = endpoint.get("target") or {}
        self.target_lines.add(f"{target.get('name')} {target.get('host')} {target.get('port')}")
        record = {k: v for k, v in endpoint.items() if k not in _SPLIT_KEYS}
        error = endpoint.get("error") or {}
        for cert in chain:
            self.certificate(cert["sha256"], cert["pem"], {k: v for k, v in cert.items() if k not in ("index", "pem")})
        leaf = shas[0] if shas else None
        self.conn.execute(
            "INSERT INTO endpoints (scan_id, seq, endpoint_id, target_name, address, status, error_kind, "
            "leaf_sha256, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (self.scan_id, seq, endpoint["id"], target.get("name", ""), endpoint.get("address"),
             endpoint.get("status", "error"), error.get("kind"), leaf, _dumps(record)))
        self.conn.executemany(
            "INSERT INTO chain_certificates (scan_id, seq, position, cert_index, cert_sha256) VALUES (?, ?, ?, ?, ?)",
            [(self.scan_id, seq, position, cert.get("index", position), cert["sha256"])
             for position, cert in enumerate(chain)])
        self._findings(seq, endpoint.get("findings") or [], shas)
        self._verdicts(seq, endpoint.get("browsers"), leaf)

    def _findings(self, seq: int, findings: list[dict[str, Any]], shas: list[str]) -> None:
        rows = [(self.scan_id, seq, position, f["id"], f.get("severity", "error"),
                 finding_certificate(f, shas), _dumps(f)) for position, f in enumerate(findings)]
        self.conn.executemany(
            "INSERT INTO findings (scan_id, seq, position, finding_id, severity, cert_sha256, record) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def _verdicts(self, seq: int, browsers: dict[str, Any] | None, leaf: str | None) -> None:
        rows = [(self.scan_id, seq, position, name, int(bool(v.get("accepted"))), v.get("error"), leaf, _dumps(v))
                for position, (name, v) in enumerate((browsers or {}).items())]
        self.conn.executemany(
            "INSERT INTO verdicts (scan_id, seq, position, browser, accepted, error, leaf_sha256, record) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)


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
            writer = _Writer(conn, scan_id)
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


def _grouped(rows: Iterable[sqlite3.Row]) -> dict[int, list[sqlite3.Row]]:
    out: dict[int, list[sqlite3.Row]] = {}
    for row in rows:
        out.setdefault(row["seq"], []).append(row)
    return out


def _certificate_record(row: sqlite3.Row) -> dict[str, Any]:
    record = json.loads(row["record"]) if row["record"] else {"sha256": row["cert_sha256"]}
    return {"index": row["cert_index"], "pem": row["pem"], **record}


def _endpoints(conn: sqlite3.Connection, scan_id: int) -> list[dict[str, Any]]:
    chains = _grouped(conn.execute(
        "SELECT cc.seq, cc.cert_index, cc.cert_sha256, c.pem, c.record FROM chain_certificates cc "
        "JOIN certificates c ON c.sha256 = cc.cert_sha256 WHERE cc.scan_id = ? ORDER BY cc.seq, cc.position",
        (scan_id,)))
    findings = _grouped(conn.execute(
        "SELECT seq, record FROM findings WHERE scan_id = ? ORDER BY seq, position", (scan_id,)))
    verdicts = _grouped(conn.execute(
        "SELECT seq, browser, record FROM verdicts WHERE scan_id = ? ORDER BY seq, position", (scan_id,)))
    out = []
    for row in conn.execute("SELECT seq, record FROM endpoints WHERE scan_id = ? ORDER BY seq", (scan_id,)):
        seq = row["seq"]
        endpoint = json.loads(row["record"])
        endpoint["chain"] = [_certificate_record(c) for c in chains.get(seq, [])]
        endpoint["browsers"] = ({v["browser"]: json.loads(v["record"]) for v in verdicts[seq]}
                                if seq in verdicts else None)
        endpoint["findings"] = [json.loads(f["record"]) for f in findings.get(seq, [])]
        out.append(endpoint)
    return out


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
        row = _scan_row(conn, scan_id, db_path)
        header: dict[str, Any] = json.loads(row["header"])
        _restore_anchors(conn, scan_id, header)
        header["endpoints"] = _endpoints(conn, scan_id)
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
    """Delete scans started more than ``keep_days`` days before ``now`` and the certificates no
    remaining scan references. Returns how many scans were deleted."""
    if keep_days < 0:
        raise InputError(f"--keep-days must be 0 or more, not {keep_days}", fix="pass e.g. --keep-days 90")
    cutoff = iso_utc((now or datetime.now(timezone.utc)) - timedelta(days=keep_days))
    with opened(db_path, create=False) as conn:
        with transaction(conn):
            deleted = conn.execute("DELETE FROM scans WHERE started_at < ?", (cutoff,)).rowcount
            conn.execute("DELETE FROM certificates WHERE sha256 NOT IN (SELECT cert_sha256 FROM chain_certificates) "
                         "AND sha256 NOT IN (SELECT cert_sha256 FROM scan_anchors)")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return int(deleted)


def integrity_problems(db_path: str | Path) -> list[str]:
    """``PRAGMA integrity_check`` and ``foreign_key_check`` findings; empty when the file is sound."""
    with opened(db_path, create=False) as conn:
        problems = [r[0] for r in conn.execute("PRAGMA integrity_check") if r[0] != "ok"]
        problems += [" ".join(map(str, r)) for r in conn.execute("PRAGMA foreign_key_check")]
    return problems

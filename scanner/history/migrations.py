"""Schema migrations of the history database, in order; ``PRAGMA user_version`` = how many ran.

Append only: never edit a migration that has shipped. Each entry is a tuple of SQL statements
applied in one transaction together with the version bump, so a killed migration leaves the
database at the previous version.

Layout (version 1, superseded): a certificate is stored once, keyed by the SHA-256 of its DER, and referenced
by chains, findings, verdicts and trust anchors. Each table keeps the record as JSON (what the
results document held) next to the columns that queries need, so a scan can be given back as the
document it came from.

Layout (version 2): what did not change is stored once. Certificates as before; an endpoint's
*state* (its record minus the per-night fields, see ``scanner.history.states``) once per distinct
content, keyed by its SHA-256; a night is one small ``observations`` row per endpoint (scan,
position in the file, state id, per-night fields). Version 1's per-night copies of every record,
finding and verdict are converted by a Python step and dropped.

A step is an SQL statement or a function of the connection (for conversions SQL cannot express).
The version 2 conversion writes states with ``scanner.history.states``: should that encoding
ever change, copy today's ``split`` and ``store`` here first, so that this step keeps writing
what version 2 means.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Callable, Union

from scanner.history import states

Step = Union[str, Callable[[sqlite3.Connection], None]]


def _v1_endpoint(conn: sqlite3.Connection, scan_id: int, seq: int, record: str) -> dict[str, Any]:
    """A version 1 endpoint as version 1 gave it back (chain certificates by reference only:
    their records stay in ``certificates``)."""
    endpoint: dict[str, Any] = json.loads(record)
    key = (scan_id, seq)
    endpoint["chain"] = [{"index": index, "sha256": sha} for index, sha in conn.execute(
        "SELECT cert_index, cert_sha256 FROM chain_certificates WHERE scan_id = ? AND seq = ? ORDER BY position", key)]
    verdicts = conn.execute("SELECT browser, record FROM verdicts WHERE scan_id = ? AND seq = ? ORDER BY position",
                            key).fetchall()
    endpoint["browsers"] = {browser: json.loads(v) for browser, v in verdicts} if verdicts else None
    endpoint["findings"] = [json.loads(f) for (f,) in conn.execute(
        "SELECT record FROM findings WHERE scan_id = ? AND seq = ? ORDER BY position", key)]
    return endpoint


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    """Every version 1 endpoint row becomes an observation of a (shared) state, one row at a time."""
    rows = conn.execute("SELECT scan_id, seq, record FROM endpoints ORDER BY scan_id, seq")
    for scan_id, seq, record in rows:
        states.store(conn, scan_id, seq, states.split(_v1_endpoint(conn, scan_id, seq, record)))


MIGRATIONS: list[tuple[Step, ...]] = [
    (
        """CREATE TABLE certificates (
            sha256 TEXT PRIMARY KEY,
            pem TEXT NOT NULL,
            record TEXT  -- certinfo.describe() minus index and pem; NULL for an anchor never presented
        )""",
        """CREATE TABLE scans (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            complete INTEGER NOT NULL,
            targets_path TEXT,
            targets_sha256 TEXT,
            results_path TEXT,
            recorded_at TEXT NOT NULL,
            endpoint_count INTEGER NOT NULL DEFAULT 0,
            header TEXT NOT NULL  -- every top-level key but endpoints; anchors without their PEM
        )""",
        "CREATE INDEX scans_by_targets_path ON scans (targets_path, started_at)",
        "CREATE INDEX scans_by_targets_sha256 ON scans (targets_sha256, started_at)",
        "CREATE INDEX scans_by_started_at ON scans (started_at)",
        """CREATE TABLE scan_anchors (
            scan_id INTEGER NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            cert_sha256 TEXT NOT NULL REFERENCES certificates (sha256),
            PRIMARY KEY (scan_id, position)
        )""",
        """CREATE TABLE endpoints (
            scan_id INTEGER NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            endpoint_id TEXT NOT NULL,
            target_name TEXT NOT NULL,
            address TEXT,
            status TEXT NOT NULL,
            error_kind TEXT,
            leaf_sha256 TEXT REFERENCES certificates (sha256),
            record TEXT NOT NULL,  -- the endpoint minus chain, browsers and findings
            PRIMARY KEY (scan_id, seq)
        )""",
        "CREATE INDEX endpoints_by_id ON endpoints (endpoint_id, scan_id)",
        """CREATE TABLE chain_certificates (
            scan_id INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            position INTEGER NOT NULL,
            cert_index INTEGER NOT NULL,
            cert_sha256 TEXT NOT NULL REFERENCES certificates (sha256),
            PRIMARY KEY (scan_id, seq, position),
            FOREIGN KEY (scan_id, seq) REFERENCES endpoints (scan_id, seq) ON DELETE CASCADE
        )""",
        "CREATE INDEX chain_certificates_by_cert ON chain_certificates (cert_sha256)",
        """CREATE TABLE findings (
            scan_id INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            position INTEGER NOT NULL,
            finding_id TEXT NOT NULL,
            severity TEXT NOT NULL,
            cert_sha256 TEXT REFERENCES certificates (sha256),
            record TEXT NOT NULL,
            PRIMARY KEY (scan_id, seq, position),
            FOREIGN KEY (scan_id, seq) REFERENCES endpoints (scan_id, seq) ON DELETE CASCADE
        )""",
        """CREATE TABLE verdicts (
            scan_id INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            position INTEGER NOT NULL,
            browser TEXT NOT NULL,
            accepted INTEGER NOT NULL,
            error TEXT,
            leaf_sha256 TEXT REFERENCES certificates (sha256),
            record TEXT NOT NULL,
            PRIMARY KEY (scan_id, seq, position),
            FOREIGN KEY (scan_id, seq) REFERENCES endpoints (scan_id, seq) ON DELETE CASCADE
        )""",
    ),
    (
        """CREATE TABLE states (
            id INTEGER PRIMARY KEY,
            hash BLOB NOT NULL UNIQUE,  -- SHA-256 of body
            endpoint_id TEXT NOT NULL,
            target_name TEXT NOT NULL,
            body TEXT NOT NULL  -- the endpoint record minus per-night fields; chain as [index, sha256] pairs
        )""",
        """CREATE TABLE state_certificates (
            state_id INTEGER NOT NULL REFERENCES states (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            cert_index INTEGER NOT NULL,
            cert_sha256 TEXT NOT NULL REFERENCES certificates (sha256),
            PRIMARY KEY (state_id, position)
        ) WITHOUT ROWID""",
        "CREATE INDEX state_certificates_by_cert ON state_certificates (cert_sha256)",
        """CREATE TABLE observations (
            scan_id INTEGER NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            state_id INTEGER NOT NULL REFERENCES states (id),
            volatile TEXT NOT NULL,  -- JSON of the per-night fields (states.VOLATILE_KEYS)
            PRIMARY KEY (scan_id, seq)
        ) WITHOUT ROWID""",
        "CREATE INDEX observations_by_state ON observations (state_id)",
        _v1_to_v2,
        "DROP TABLE verdicts",
        "DROP TABLE findings",
        "DROP TABLE chain_certificates",
        "DROP TABLE endpoints",
    ),
]

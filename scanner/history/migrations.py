"""Schema migrations of the history database, in order; ``PRAGMA user_version`` = how many ran.

Append only: never edit a migration that has shipped. Each entry is a tuple of SQL statements
applied in one transaction together with the version bump, so a killed migration leaves the
database at the previous version.

Layout (version 1): a certificate is stored once, keyed by the SHA-256 of its DER, and referenced
by chains, findings, verdicts and trust anchors. Each table keeps the record as JSON (what the
results document held) next to the columns that queries need, so a scan can be given back as the
document it came from.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[str, ...]] = [
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
]

"""A history database of the previous schema (version 1) migrates to the current one, keeps every
scan as it was recorded, and diffs across the migration.

Two old databases: the fixture an older dccscan wrote (tests/data/dccscan1/history.db), and one
built here from the version 1 migration steps kept in ``migrations.py`` with rows laid out as
version 1 wrote them (``_record_v1``, the version 1 writer reduced to its inserts).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.history_reference_diff import checked_diff
from tests.historydata import T0, Estate, document, endpoint, finding, verdict, write_results
from scanner.history import get_scan_document, integrity_problems, list_scans, previous_scan_id, prune, record_scan
from scanner.history.migrations import MIGRATIONS
from scanner.history.store import finding_certificate
from scanner.results import iter_endpoints

FIXTURE = Path(__file__).parent / "data" / "dccscan1"
NIGHT = dt.timedelta(days=1)
IP = "127.0.0.1"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _record_v1(conn: sqlite3.Connection, doc: dict[str, Any]) -> int:
    """Insert ``doc`` the way schema version 1 stored a scan."""
    header = json.loads(_dumps({k: v for k, v in doc.items() if k != "endpoints"}))
    targets = doc.get("targets_file") or {}
    scan_id = conn.execute(
        "INSERT INTO scans (started_at, finished_at, complete, targets_path, targets_sha256, results_path, "
        "recorded_at, endpoint_count, header) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '{}')",
        (doc["started_at"], doc["finished_at"], int(doc["complete"]), targets.get("path"), targets.get("sha256"),
         "/old/results.json", doc["finished_at"], len(doc["endpoints"]))).lastrowid

    def certificate(sha: str, pem: str, record: dict[str, Any] | None) -> None:
        conn.execute("INSERT INTO certificates (sha256, pem, record) VALUES (?, ?, ?) ON CONFLICT (sha256) DO UPDATE "
                     "SET record = COALESCE(certificates.record, excluded.record)",
                     (sha, pem, _dumps(record) if record is not None else None))

    for position, anchor in enumerate(header["settings"]["trust_anchors"]):
        certificate(anchor["sha256"], anchor.pop("pem"), None)
        conn.execute("INSERT INTO scan_anchors VALUES (?, ?, ?)", (scan_id, position, anchor["sha256"]))
    for seq, ep in enumerate(doc["endpoints"]):
        shas = [c["sha256"] for c in ep["chain"]]
        for cert in ep["chain"]:
            certificate(cert["sha256"], cert["pem"], {k: v for k, v in cert.items() if k not in ("index", "pem")})
        record = {k: v for k, v in ep.items() if k not in ("chain", "browsers", "findings")}
        conn.execute("INSERT INTO endpoints VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (scan_id, seq, ep["id"], ep["target"]["name"], ep["address"], ep["status"],
                      (ep["error"] or {}).get("kind"), shas[0] if shas else None, _dumps(record)))
        for position, cert in enumerate(ep["chain"]):
            conn.execute("INSERT INTO chain_certificates VALUES (?, ?, ?, ?, ?)",
                         (scan_id, seq, position, cert["index"], cert["sha256"]))
        for position, f in enumerate(ep["findings"]):
            conn.execute("INSERT INTO findings VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (scan_id, seq, position, f["id"], f["severity"], finding_certificate(f, shas), _dumps(f)))
        for position, (name, v) in enumerate((ep["browsers"] or {}).items()):
            conn.execute("INSERT INTO verdicts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (scan_id, seq, position, name, int(v["accepted"]), v["error"], shas[0] if shas else None,
                          _dumps(v)))
    conn.execute("UPDATE scans SET header = ? WHERE id = ?", (_dumps(header), scan_id))
    return int(scan_id or 0)


def _v1_database(path: Path, docs: list[dict[str, Any]]) -> list[int]:
    """A database at schema version 1 holding ``docs``, built from the version 1 migration."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("BEGIN")
        for statement in MIGRATIONS[0]:
            assert isinstance(statement, str)
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        ids = [_record_v1(conn, doc) for doc in docs]
        conn.execute("COMMIT")
    finally:
        conn.close()
    return ids


def _tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


@pytest.fixture(scope="module")
def estate() -> Estate:
    return Estate()


def _nights(estate: Estate) -> list[dict[str, Any]]:
    gw1, gw2, ssi = estate.leaf("gw.test"), estate.leaf("gw.test"), estate.leaf("ssi.test")
    rejected = {"chrome": verdict(False, "ERR_CERT_COMMON_NAME_INVALID"), "firefox": verdict()}
    one = document([endpoint("gw.test", IP, 8443, chain=estate.chain(gw1), findings=[finding("dccki.a_rule")]),
                    endpoint("gw.test", "::1", 8443, chain=estate.chain(gw1)),
                    endpoint("ssi.test", IP, 9443, chain=estate.chain(ssi), browsers=rejected),
                    endpoint("reg.test", IP, 10443, error="refused")], anchors=estate.anchors())
    at = T0 + NIGHT
    two = document([endpoint("gw.test", IP, 8443, chain=estate.chain(gw2), at=at),
                    endpoint("ssi.test", IP, 9443, chain=estate.chain(ssi), at=at),
                    endpoint("reg.test", IP, 10443, chain=estate.chain(ssi), at=at,
                             findings=[finding("dccki.b_rule", "warning")])], started_at=at, anchors=estate.anchors())
    return [one, two]


def test_previous_schema_migrates_keeps_scans_and_diffs_across(tmp_path: Path, estate: Estate) -> None:
    one, two = _nights(estate)
    db = tmp_path / "h.db"
    (old_id,) = _v1_database(db, [one])
    assert "endpoints" in _tables(db)
    new_id = record_scan(db, write_results(two, tmp_path / "two.json"))  # opens, migrates, records
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert not {"endpoints", "chain_certificates", "findings", "verdicts"} & _tables(db)
    assert integrity_problems(db) == []
    assert get_scan_document(db, old_id) == one
    assert get_scan_document(db, new_id) == two
    assert previous_scan_id(db, new_id) == old_id
    across = checked_diff(old_id, new_id, db_path=db)  # streaming from SQLite == whole-scan reference
    assert across == checked_diff(one, two) | {"from_scan": old_id, "to_scan": new_id}
    assert {k for k in ("rotated", "addresses_removed", "resolved", "recovered", "appeared", "verdict_changes")
            if across[k]} == {"rotated", "addresses_removed", "resolved", "recovered", "appeared", "verdict_changes"}


def test_states_converted_from_the_old_schema_are_shared_by_new_nights(tmp_path: Path, estate: Estate) -> None:
    one, _ = _nights(estate)
    db = tmp_path / "h.db"
    _v1_database(db, [one])
    list_scans(db)  # migrates
    states, certificates = _count(db, "states"), _count(db, "certificates")
    again = document(one["endpoints"], started_at=T0 + NIGHT, anchors=estate.anchors())
    record_scan(db, write_results(again, tmp_path / "again.json"))
    assert (_count(db, "states"), _count(db, "certificates")) == (states, certificates)
    assert _count(db, "observations") == 2 * len(one["endpoints"])
    assert prune(db, 0, now=T0 + NIGHT) == 1  # the migrated night goes; its states stay referenced
    assert _count(db, "states") == states and integrity_problems(db) == []


def test_database_an_older_dccscan_wrote_migrates(tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    shutil.copy(FIXTURE / "history.db", db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    (scan,) = list_scans(db)
    assert scan["endpoints"] == 9
    recorded = get_scan_document(db, scan["id"])
    assert recorded["endpoints"] == list(iter_endpoints(FIXTURE / "results.json"))
    assert integrity_problems(db) == []
    again = record_scan(db, FIXTURE / "results.json")
    assert checked_diff(scan["id"], again, db_path=db)["from_scan"] == scan["id"]
    assert _count(db, "states") == 9  # the same results recorded again add no state

"""The history store keeps whole scans, gives them back unchanged and stores certificates once."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from tests.historydata import T0, Estate, document, endpoint, finding, write_results
from scanner.certinfo import iso_utc
from scanner.errors import InputError
from scanner.history import (get_scan_document, integrity_problems, latest_scan_id, list_scans,
                             previous_scan_id, prune, record_scan)
from scanner.history import states
from scanner.history.migrations import MIGRATIONS


@pytest.fixture(scope="module")
def estate() -> Estate:
    return Estate()


def _doc(estate: Estate, at: dt.datetime = T0, **kwargs: object) -> dict:
    leaf = estate.leaf("gw.test")
    eps = [endpoint("gw.test", "127.0.0.1", 8443, chain=estate.chain(leaf), at=at,
                    findings=[finding("dccki.test_rule", "warning")]),
           endpoint("ssi.test", "127.0.0.1", 9443, error="refused", at=at)]
    return document(eps, started_at=at, anchors=estate.anchors(), **kwargs)  # type: ignore[arg-type]


def test_recorded_scan_comes_back_identical(tmp_path: Path, estate: Estate) -> None:
    doc = _doc(estate)
    scan_id = record_scan(tmp_path / "h.db", write_results(doc, tmp_path / "r.json"))
    assert get_scan_document(tmp_path / "h.db", scan_id) == doc


def test_certificates_are_stored_once_across_scans(tmp_path: Path, estate: Estate) -> None:
    db = tmp_path / "h.db"
    doc = _doc(estate)
    for night in range(3):
        record_scan(db, write_results(doc, tmp_path / f"r{night}.json"))
    with sqlite3.connect(db) as conn:
        certs = conn.execute("SELECT COUNT(*) FROM certificates").fetchone()[0]
        links = conn.execute("SELECT COUNT(*) FROM state_certificates").fetchone()[0]
    assert (certs, links) == (3, 2)  # leaf + issuing + root anchor; one state (2 chain links) for 3 equal nights


def test_schema_is_migrated_and_versioned(tmp_path: Path, estate: Estate) -> None:
    db = tmp_path / "h.db"
    record_scan(db, write_results(_doc(estate), tmp_path / "r.json"))
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert integrity_problems(db) == []


def test_newer_schema_is_refused_clearly(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(InputError, match="newer than this dccscan"):
        list_scans(db)


def test_not_a_database_is_an_input_error(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InputError, match="not a usable dccscan history database"):
        list_scans(db)


def test_bad_results_file_is_an_input_error_and_records_nothing(tmp_path: Path, estate: Estate) -> None:
    db = tmp_path / "h.db"
    record_scan(db, write_results(_doc(estate), tmp_path / "good.json"))
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "dccscan/1",\n "started_at": ', encoding="utf-8")
    with pytest.raises(InputError) as caught:
        record_scan(db, bad)
    assert caught.value.file == str(bad) and caught.value.line == 2
    assert len(list_scans(db)) == 1


def test_previous_scan_matches_targets_path_then_sha(tmp_path: Path, estate: Estate) -> None:
    db = tmp_path / "h.db"
    day = dt.timedelta(days=1)
    ids = [record_scan(db, write_results(_doc(estate, T0 + i * day, targets_path=path, targets_sha256=sha),
                                         tmp_path / f"r{i}.json"))
           for i, (path, sha) in enumerate([("/a.toml", "1" * 64), ("/b.toml", "2" * 64),
                                            ("/a.toml", "3" * 64), ("/moved/b.toml", "2" * 64)])]
    assert previous_scan_id(db, ids[2]) == ids[0]      # same path, file edited
    assert previous_scan_id(db, ids[3]) == ids[1]      # new path, same content
    assert previous_scan_id(db, ids[0]) is None
    assert latest_scan_id(db) == ids[3]


def test_prune_deletes_old_scans_and_orphan_states_and_certificates(tmp_path: Path, estate: Estate) -> None:
    db = tmp_path / "h.db"
    old = record_scan(db, write_results(_doc(Estate(), T0), tmp_path / "old.json"))
    kept = _doc(estate, T0 + dt.timedelta(days=40))
    new = record_scan(db, write_results(kept, tmp_path / "new.json"))
    assert prune(db, 30, now=T0 + dt.timedelta(days=41)) == 1
    assert [s["id"] for s in list_scans(db)] == [new]
    with pytest.raises(InputError, match=f"no scan with id {old}"):
        get_scan_document(db, old)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM certificates").fetchone()[0] == 3
        assert conn.execute("SELECT COUNT(*) FROM states").fetchone()[0] == 2  # the old scan's states went too
        assert conn.execute("SELECT COUNT(*) FROM observations").fetchone()[0] == 2
    assert get_scan_document(db, new) == kept
    assert integrity_problems(db) == []


def test_list_scans_summarises(tmp_path: Path, estate: Estate) -> None:
    db = tmp_path / "h.db"
    record_scan(db, write_results(_doc(estate), tmp_path / "r.json"))
    (row,) = list_scans(db)
    assert row["endpoints"] == 2 and row["by_status"] == {"ok": 1, "error": 1}
    assert row["targets_path"] == "/etc/dccscan/targets.toml" and row["complete"] is True


def test_a_quiet_night_stores_no_new_state(tmp_path: Path, estate: Estate) -> None:
    """The same estate the next night (new times and durations only): one observation row per
    endpoint, no new state or certificate, and both nights come back as recorded."""
    db = tmp_path / "h.db"
    first = _doc(estate)
    at = T0 + dt.timedelta(days=1)
    second = document([ep | {"scanned_at": iso_utc(at), "duration_ms": 99.5} for ep in first["endpoints"]],
                      started_at=at, anchors=estate.anchors())
    ids = [record_scan(db, write_results(doc, tmp_path / f"r{i}.json")) for i, doc in enumerate((first, second))]
    with sqlite3.connect(db) as conn:
        counts = [conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                  for t in ("states", "observations", "certificates")]
    assert counts == [2, 4, 3]
    assert [get_scan_document(db, i) for i in ids] == [first, second]


def _simulated(ep: dict, seed: str) -> dict:
    """``ep`` with a client-simulation block whose raw answers differ by ``seed`` (as a server's
    random and key share make every handshake's bytes differ)."""
    answers = {browser: {"client": f"{browser} test", "outcome": "server_hello",
                         "received": (seed + browser).encode().hex() * 40, "detail": None}
               for browser in ("chrome", "firefox")}
    return ep | {"tls": ep["tls"] | {"simulation": answers}}


def test_a_quiet_night_with_fresh_handshake_bytes_stores_no_new_state(tmp_path: Path, estate: Estate) -> None:
    """The simulated answers' raw bytes change on every handshake: the history does not keep
    them (it gives them back as null), so a quiet night still adds no state."""
    db = tmp_path / "h.db"
    base = _doc(estate)
    nights = []
    for night in range(2):
        at = T0 + dt.timedelta(days=night)
        eps = [(_simulated(ep, f"night{night}") if ep["status"] == "ok" else ep) | {"scanned_at": iso_utc(at)}
               for ep in base["endpoints"]]
        nights.append(document(eps, started_at=at, anchors=estate.anchors()))
    ids = [record_scan(db, write_results(doc, tmp_path / f"r{i}.json")) for i, doc in enumerate(nights)]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM states").fetchone()[0] == 2
    for scan_id, doc in zip(ids, nights):
        back = get_scan_document(db, scan_id)
        assert back == doc | {"endpoints": [states.kept(ep) for ep in doc["endpoints"]]}
        answers = back["endpoints"][0]["tls"]["simulation"]
        assert [a["received"] for a in answers.values()] == [None, None]
        assert [a["outcome"] for a in answers.values()] == ["server_hello", "server_hello"]
    assert nights[0]["endpoints"][0]["tls"]["simulation"]["chrome"]["received"]  # the input is left as it was


@pytest.mark.parametrize("missing", [(), ("duration_ms",), ("scanned_at", "duration_ms")])
def test_state_split_and_join_are_inverse(estate: Estate, missing: tuple[str, ...]) -> None:
    ep = {k: v for k, v in _doc(estate)["endpoints"][0].items() if k not in missing}
    parts = states.split(ep)
    certificates = {c["sha256"]: c for c in ep["chain"]}
    assert states.join(parts.body, parts.volatile, lambda sha, index: certificates[sha]) == ep
    assert parts.digest == states.split(dict(reversed(list(ep.items())))).digest  # key order is not content
    simulated = _simulated(ep, "a")
    parts = states.split(simulated)
    assert states.join(parts.body, parts.volatile, lambda sha, index: certificates[sha]) == states.kept(simulated)
    assert parts.digest == states.split(_simulated(ep, "b")).digest  # the answers' bytes are not content

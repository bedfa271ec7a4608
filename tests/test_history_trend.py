"""``trend`` counts what the recorded documents hold, on the content-addressed schema and on a
database migrated from the previous one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from tests.historydata import T0, Estate, document, endpoint, verdict, write_results
from tests.test_history_migration import _v1_database
from scanner.history import record_scan
from scanner.history.trend import EXPIRING_DAYS, trend

IP = "127.0.0.1"


def _expected(doc: dict[str, Any], scan_id: int) -> dict[str, Any]:
    """The counts by the rules of trend.py's docstring, computed from the document itself."""
    eps = doc["endpoints"]
    start = dt.datetime.fromisoformat(doc["started_at"].replace("Z", "+00:00"))

    def expiring(e: dict[str, Any]) -> bool:
        not_after = dt.datetime.fromisoformat(e["chain"][0]["not_after"].replace("Z", "+00:00"))
        return (not_after - start).total_seconds() / 86400 < EXPIRING_DAYS + 1

    return {"scan_id": scan_id, "started_at": doc["started_at"], "endpoints": len(eps),
            "refused": {b: sum(1 for e in eps if e["browsers"] and not e["browsers"][b]["accepted"])
                        for b in ("chrome", "firefox")},
            "noncompliant": sum(1 for e in eps if (e["profile"] or {}).get("status") == "noncompliant"),
            "unreachable": sum(1 for e in eps if e["status"] != "ok"),
            "expiring": sum(1 for e in eps if e["status"] == "ok" and e["chain"] and expiring(e))}


def _nights(estate: Estate) -> list[dict[str, Any]]:
    soon = estate.leaf("gw.test", not_before=T0 - dt.timedelta(days=300), not_after=T0 + dt.timedelta(days=20))
    later = estate.leaf("ssi.test")
    rejected = {"chrome": verdict(False, "ERR_CERT_COMMON_NAME_INVALID"), "firefox": verdict()}
    docs = []
    for night in range(2):
        at = T0 + dt.timedelta(days=night)
        eps = [endpoint("gw.test", IP, 8443, chain=estate.chain(soon), at=at),
               endpoint("ssi.test", IP, 9443, chain=estate.chain(later), browsers=rejected, at=at),
               endpoint("reg.test", IP, 10443, error="refused" if night else None,
                        chain=() if night else estate.chain(later), at=at)]
        eps[1]["profile"] = {"name": "dccki-tls-san", "status": "noncompliant", "breaches": []}
        docs.append(document(eps, started_at=at))
    return docs


def test_trend_counts_what_the_documents_hold(tmp_path: Path) -> None:
    docs = _nights(Estate())
    db = tmp_path / "h.db"
    ids = [record_scan(db, write_results(doc, tmp_path / f"{i}.json")) for i, doc in enumerate(docs)]
    got = trend(db, ids[-1])
    assert got == [_expected(doc, i) for doc, i in zip(docs, ids)]
    assert got[1]["unreachable"] == 1 and got[1]["refused"]["chrome"] == 1 and got[1]["expiring"] == 1


def test_trend_of_a_database_migrated_from_the_previous_schema(tmp_path: Path) -> None:
    first, second = _nights(Estate())
    db = tmp_path / "h.db"
    (old,) = _v1_database(db, [first])
    new = record_scan(db, write_results(second, tmp_path / "2.json"))
    assert trend(db, new) == [_expected(first, old), _expected(second, new)]

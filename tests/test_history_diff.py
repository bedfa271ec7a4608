"""``diff_scans`` reports exactly what changed between two recorded scans, and nothing else."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tests.historydata import T0, Estate, document, endpoint, finding, verdict, write_results
from scanner.history import record_scan, render_text
from tests.history_reference_diff import checked_diff as diff_scans
from scanner.history.diff import CHANGE_KINDS

NIGHT = dt.timedelta(days=1)
IP = "127.0.0.1"


@pytest.fixture(scope="module")
def estate() -> Estate:
    return Estate()


def _only(changes: dict[str, Any], *kinds: str) -> None:
    """Every kind not named is empty."""
    assert {k for k in CHANGE_KINDS if changes[k]} == set(kinds), changes


def test_rotation_stopped_endpoint_and_new_finding(tmp_path: Path, estate: Estate) -> None:
    gw1, gw2, ssi, reg = (estate.leaf(n) for n in ("gw.test", "gw.test", "ssi.test", "reg.test"))
    night1 = document([endpoint("gw.test", IP, 8443, chain=estate.chain(gw1)),
                       endpoint("ssi.test", IP, 9443, chain=estate.chain(ssi)),
                       endpoint("reg.test", IP, 10443, chain=estate.chain(reg))], anchors=estate.anchors())
    at = T0 + NIGHT
    night2 = document([endpoint("gw.test", IP, 8443, chain=estate.chain(gw2), at=at),
                       endpoint("ssi.test", IP, 9443, error="refused", at=at),
                       endpoint("reg.test", IP, 10443, chain=estate.chain(reg), at=at,
                                findings=[finding("dccki.eku_server_auth", "error")])],
                      started_at=at, anchors=estate.anchors())
    db = tmp_path / "h.db"
    first = record_scan(db, write_results(night1, tmp_path / "1.json"))
    second = record_scan(db, write_results(night2, tmp_path / "2.json"))
    changes = diff_scans(first, second, db_path=db)
    _only(changes, "rotated", "unreachable", "appeared")
    assert (changes["since"], changes["from_scan"], changes["to_scan"]) == (night1["started_at"], first, second)
    (rotated,) = changes["rotated"]
    assert rotated["endpoint"] == f"gw.test@{IP}:8443"
    assert rotated["old_sha256"] == night1["endpoints"][0]["chain"][0]["sha256"]
    assert rotated["new_not_after"] == night2["endpoints"][0]["chain"][0]["not_after"]
    assert [u["endpoint"] for u in changes["unreachable"]] == [f"ssi.test@{IP}:9443"]
    assert changes["unreachable"][0]["error_kind"] == "refused"
    (appeared,) = changes["appeared"]
    assert (appeared["endpoint"], appeared["finding"]) == (f"reg.test@{IP}:10443", "dccki.eku_server_auth")
    assert appeared["certificate_sha256"] == night2["endpoints"][2]["chain"][0]["sha256"]
    text = render_text(changes)
    assert "Certificates rotated (1)" in text and "Endpoints now unreachable (1)" in text
    assert "Findings appeared (1)" in text and "resolved" not in text


def test_identical_scans_have_no_changes(estate: Estate) -> None:
    leaf = estate.leaf("gw.test")
    doc = document([endpoint("gw.test", IP, 8443, chain=estate.chain(leaf), findings=[finding("a.b")])])
    changes = diff_scans(doc, doc)
    _only(changes)
    assert "no changes" in render_text(changes)


def test_resolved_recovered_and_verdict_change(estate: Estate) -> None:
    leaf = estate.leaf("gw.test")
    chain = estate.chain(leaf)
    rejected = {"chrome": verdict(False, "ERR_CERT_COMMON_NAME_INVALID"), "firefox": verdict()}
    old = document([endpoint("gw.test", IP, 8443, chain=chain, browsers=rejected, findings=[finding("browser.name_x")]),
                    endpoint("ssi.test", IP, 9443, error="timeout")])
    new = document([endpoint("gw.test", IP, 8443, chain=chain),
                    endpoint("ssi.test", IP, 9443, chain=chain)], started_at=T0 + NIGHT)
    changes = diff_scans(old, new)
    _only(changes, "resolved", "recovered", "verdict_changes")
    assert changes["recovered"] == [{"endpoint": f"ssi.test@{IP}:9443", "target": "ssi.test",
                                     "error_kind": "timeout", "error": "timeout (test)"}]
    (change,) = changes["verdict_changes"]
    assert change["browser"] == "chrome" and change["old"]["error"] == "ERR_CERT_COMMON_NAME_INVALID"
    assert change["new"] == {"accepted": True, "error": None}


def test_findings_of_an_unreachable_endpoint_are_not_resolved(estate: Estate) -> None:
    leaf = estate.leaf("gw.test")
    old = document([endpoint("gw.test", IP, 8443, chain=estate.chain(leaf), findings=[finding("a.b")])])
    new = document([endpoint("gw.test", IP, 8443, error="reset")], started_at=T0 + NIGHT)
    _only(diff_scans(old, new), "unreachable")


def test_addresses_added_and_removed_behind_a_name(estate: Estate) -> None:
    chain = estate.chain(estate.leaf("gw.test"))
    old = document([endpoint("gw.test", IP, 8443, chain=chain), endpoint("gw.test", "::1", 8443, chain=chain)])
    new = document([endpoint("gw.test", IP, 8443, chain=chain), endpoint("gw.test", "127.0.0.2", 8443, chain=chain)],
                   started_at=T0 + NIGHT)
    changes = diff_scans(old, new)
    _only(changes, "addresses_added", "addresses_removed")
    assert changes["addresses_added"] == [{"target": "gw.test", "address": "127.0.0.2:8443"}]
    assert changes["addresses_removed"] == [{"target": "gw.test", "address": "::1:8443"}]


def test_name_that_stops_resolving_is_unreachable_not_removed(estate: Estate) -> None:
    chain = estate.chain(estate.leaf("gw.test"))
    old = document([endpoint("gw.test", IP, 8443, chain=chain)])
    new = document([endpoint("gw.test", None, 8443, error="dns")], started_at=T0 + NIGHT)
    changes = diff_scans(old, new)
    _only(changes, "unreachable")
    assert changes["unreachable"][0]["error_kind"] == "dns"
    _only(diff_scans(new, old), "recovered")


def test_certificate_entering_expiry_windows(estate: Estate) -> None:
    soon = estate.leaf("gw.test", not_before=T0 - dt.timedelta(days=300), not_after=T0 + dt.timedelta(days=65))
    chain = estate.chain(soon)
    scans = [document([endpoint("gw.test", IP, 8443, chain=chain)], started_at=T0 + dt.timedelta(days=d))
             for d in (0, 10, 20, 40)]  # 65, 55, 45 and 25 days left
    windows = [[w["window_days"] for w in diff_scans(a, b)["expiry_windows"]] for a, b in zip(scans, scans[1:])]
    assert windows == [[60], [], [30]]
    custom = document([endpoint("gw.test", IP, 8443, chain=chain)], started_at=T0 + dt.timedelta(days=10),
                      profile={"name": "mine", "expiry_warning_days": [90]})
    assert [w["window_days"] for w in diff_scans(custom, custom)["expiry_windows"]] == []
    assert [w["window_days"] for w in diff_scans(scans[0] | {"started_at": "2026-06-01T00:00:00Z"},
                                                 custom)["expiry_windows"]] == [90]


def test_targets_not_reached_by_an_interrupted_run_are_not_removed(estate: Estate) -> None:
    chain = estate.chain(estate.leaf("gw.test"))
    old = document([endpoint("gw.test", IP, 8443, chain=chain), endpoint("ssi.test", IP, 9443, chain=chain)])
    new = document([endpoint("gw.test", IP, 8443, chain=chain)], started_at=T0 + NIGHT)
    assert [a["target"] for a in diff_scans(old, new)["addresses_removed"]] == ["ssi.test"]
    interrupted = new | {"complete": False, "not_reached": [old["endpoints"][1]["target"]]}
    _only(diff_scans(old, interrupted))
    _only(diff_scans(interrupted, old))

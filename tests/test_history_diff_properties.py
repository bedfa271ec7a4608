"""Properties of ``diff_scans`` over generated pairs of scans of one estate."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.historydata import T0, Estate, document, endpoint, finding, verdict, write_results
from scanner.history import record_scan
from tests.history_reference_diff import checked_diff as diff_scans
from scanner.history.diff import CHANGE_KINDS

ESTATE = Estate()
CHAINS = [ESTATE.chain(ESTATE.leaf("gw.test")) for _ in range(3)]
FINDING_IDS = ["dccki.a_rule", "dccki.b_rule", "browser.c_rule"]
NAMES = ["gw.test", "ssi.test", "reg.test"]

# one night: for each target, which of the three certificates it presents and which findings it has
night = st.tuples(*[st.tuples(st.integers(0, 2), st.sets(st.sampled_from(FINDING_IDS))) for _ in NAMES])


def _document(spec: tuple[tuple[int, set[str]], ...]) -> dict[str, Any]:
    eps = [endpoint(name, "127.0.0.1", 8443 + i, chain=CHAINS[cert], findings=[finding(f) for f in sorted(ids)])
           for i, (name, (cert, ids)) in enumerate(zip(NAMES, spec))]
    return document(eps, started_at=T0)


def _keys(items: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    return {(c["endpoint"], c["finding"], c["certificate_sha256"]) for c in items}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(night, night)
def test_diff_is_antisymmetric_and_zero_on_itself(a_spec: Any, b_spec: Any) -> None:
    a, b = _document(a_spec), _document(b_spec)
    forward, backward = diff_scans(a, b), diff_scans(b, a)
    assert _keys(forward["appeared"]) == _keys(backward["resolved"])
    assert _keys(forward["resolved"]) == _keys(backward["appeared"])
    assert {(r["old_sha256"], r["new_sha256"]) for r in forward["rotated"]} == \
        {(r["new_sha256"], r["old_sha256"]) for r in backward["rotated"]}
    assert len(forward["rotated"]) == sum(x[0] != y[0] for x, y in zip(a_spec, b_spec))
    assert not any(diff_scans(a, a)[kind] for kind in CHANGE_KINDS)


# richer nights for the streaming diff: per target, its addresses (none = the name did not resolve),
# whether each handshake failed, its certificate, findings and Chrome's verdict; and the targets
# an interrupted run never reached
ADDRESSES = ["127.0.0.1", "127.0.0.2", "::1"]
RICH_NAMES = ["a", "a-b", "a.b"]  # sorted by name: a, a-b, a.b; their endpoint ids sort a-b@, a.b@, a@
target_night = st.tuples(st.lists(st.tuples(st.sampled_from(ADDRESSES), st.booleans()), max_size=2, unique_by=lambda x: x[0]),
                         st.integers(0, 2), st.sets(st.sampled_from(FINDING_IDS)), st.booleans(), st.booleans())
rich_night = st.tuples(st.tuples(*[target_night for _ in RICH_NAMES]), st.sets(st.sampled_from(RICH_NAMES)))


def _rich_document(spec: Any, day: int) -> dict[str, Any]:
    targets, not_reached = spec
    at = T0 + dt.timedelta(days=day)
    eps = []
    revoked: dict[str, str] = {}  # endpoint id -> SHA-256 of its leaf, found revoked this night
    for i, (name, (addresses, cert, ids, accepted, leaf_revoked)) in enumerate(zip(RICH_NAMES, targets)):
        if name in not_reached:
            continue
        if not addresses:
            eps.append(endpoint(name, None, 8443 + i, error="dns", at=at))
        for address, failed in addresses:
            eps.append(endpoint(name, address, 8443 + i, at=at, error="refused") if failed else
                       endpoint(name, address, 8443 + i, chain=CHAINS[cert], at=at,
                                findings=[finding(f) for f in sorted(ids)],
                                browsers={"chrome": verdict(accepted, None if accepted else "ERR_X"),
                                          "firefox": verdict()}))
            if leaf_revoked and not failed:
                revoked[eps[-1]["id"]] = eps[-1]["chain"][0]["sha256"]
    doc = document(eps, started_at=at)
    for ep in doc["endpoints"]:  # the revocation block is newer than the dccscan/1 schema these documents follow
        if ep["id"] in revoked:
            ep["revocation"] = [{"sha256": revoked[ep["id"]], "certificate_index": 0, "status": "revoked",
                                "revoked_at": "2026-11-19T00:00:00Z", "reason": "keyCompromise"}]
    if not_reached:
        doc |= {"complete": False, "not_reached": [{"name": n, "host": n, "port": 1} for n in sorted(not_reached)]}
    return doc


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rich_night, rich_night)
def test_streaming_diff_equals_whole_scan_diff(a_spec: Any, b_spec: Any) -> None:
    """``diff_scans`` here is ``checked_diff``: it asserts the streaming result equals the reference."""
    a, b = _rich_document(a_spec, 0), _rich_document(b_spec, 1)
    diff_scans(a, b)
    diff_scans(b, a)


def test_streaming_diff_from_the_database_equals_whole_scan_diff(tmp_path: Path) -> None:
    specs = [(tuple(([(ADDRESSES[(n + i) % 3], (n + i) % 4 == 0)] if (n + i) % 5 else [], (n + i) % 3,
                     set(FINDING_IDS[: (n + i) % 3]), bool((n + i) % 2), (n + i) % 3 == 1)
                    for i in range(len(RICH_NAMES))),
              {RICH_NAMES[n % 3]} if n == 2 else set()) for n in range(4)]
    db = tmp_path / "h.db"
    docs = [_rich_document(spec, day) for day, spec in enumerate(specs)]
    ids = [record_scan(db, write_results(doc, tmp_path / f"{day}.json")) for day, doc in enumerate(docs)]
    for (a, b), (x, y) in zip(zip(ids, ids[1:]), zip(docs, docs[1:])):
        assert diff_scans(a, b, db_path=db) == diff_scans(x, y) | {"from_scan": a, "to_scan": b}

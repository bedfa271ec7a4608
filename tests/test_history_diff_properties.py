"""Properties of ``diff_scans`` over generated pairs of scans of one estate."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.historydata import T0, Estate, document, endpoint, finding
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

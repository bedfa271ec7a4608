"""The verdict engine's fast paths agree with the slow references they replace.

Why: the engine reads each certificate once, with shortcuts (an index-based DER walk, cached
names, the certificate record built from the engine's facts). A shortcut that disagrees with the
reference on one odd certificate would silently change a verdict or a record, so every shortcut
is compared with its reference over the browser-oracle certificates, the hostile ones and
mutated DER (``benchmarks/engine_golden.py`` does the same end to end, byte for byte).
"""

from __future__ import annotations

from functools import lru_cache

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.certinfo import describe
from scanner.evaluate import certs
from scanner.lab import hostile
from scanner.lab.pki import LabPKI
from tests.browsers.cases import build_cases


@lru_cache(maxsize=1)
def _ders() -> tuple[bytes, ...]:
    """Every distinct certificate of the oracle cases and the hostile estate."""
    found: dict[bytes, None] = {}
    for case in build_cases():
        for der in (*case.chain, *case.anchors):
            found[der] = None
    hostile_certs = hostile.hostile_certificates(LabPKI.create())
    for issued in (hostile_certs.good, hostile_certs.large, hostile_certs.broken_extension, *hostile_certs.long_chain[:2]):
        found[issued.der] = None
    return tuple(found)


def _layout_or_error(der: bytes, walk: object) -> object:
    try:
        return walk(der)  # type: ignore[operator]
    except Exception as exc:  # noqa: BLE001 - the error type is part of the behaviour compared
        return type(exc)


def test_fast_der_walk_matches_the_slice_walk() -> None:
    ders = _ders()
    assert len(ders) > 100
    for der in ders:
        assert certs._layout(der) == certs._slice_layout(der)
    # the fast walk really is taken for ordinary certificates (else this test compares nothing new)
    assert certs._fast_layout(ders[0]) == certs._slice_layout(ders[0])


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=255),
       st.integers(min_value=0, max_value=3))
def test_fast_der_walk_matches_on_mutated_der(position: int, value: int, which: int) -> None:
    """A changed byte (or a truncation) gives the same layout or the same exception either way."""
    ders = _ders()
    der = bytearray(ders[which * 7 % len(ders)])
    if value % 5 == 0:
        der = der[: position % len(der)]
    else:
        der[position % len(der)] = value
    data = bytes(der)
    assert _layout_or_error(data, certs._layout) == _layout_or_error(data, certs._slice_layout)


def test_certificate_record_from_engine_facts_equals_a_fresh_read() -> None:
    for der in (*_ders(), hostile.UNPARSEABLE_DER, hostile.random_bytes(size=300)):
        facts = certs.parse(der)
        assert describe(der, 3, parsed=facts.cert, known=facts) == describe(der, 3)


def test_cached_names_equal_fresh_names() -> None:
    """The issuer name cache is keyed by the DER as presented: a second certificate from the same
    issuer gets exactly what a fresh parse gives."""
    pki = LabPKI.create(org="Name cache, \"quoted\" + plus")
    first, second = pki.leaf("a.example", dns=["a.example"]), pki.leaf("b.example", dns=["b.example"])
    certs.parse(first.der)
    again = certs.parse(second.der)
    assert again.issuer_text == second.cert.issuer.rfc4514_string()
    assert again.issuer == second.cert.issuer.public_bytes()
    assert again.subject_text == second.cert.subject.rfc4514_string()
    assert again.ids.cns == ("b.example",)

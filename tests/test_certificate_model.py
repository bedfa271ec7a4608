"""The certificate model (``scanner.facts``) reads what cryptography reads, and the engine's
structure stays as designed.

Why: every verdict rests on one read of each certificate: cryptography's public API for the
semantic facts, the lenient reader (``scanner.facts.asn1``, asn1crypto) for the raw ones. Where both
can see a fact (the extension list, the TBSCertificate, the key) they must agree on every
certificate we have, mutated DER included, else a verdict could silently change
(``benchmarks/engine_golden.py`` compares the engine's whole output byte for byte).
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import json
import re
from functools import lru_cache
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.certinfo import describe
from scanner.facts import asn1, certificate
from scanner.lab import hostile
from scanner.lab.pki import LabPKI
from tests.browsers.cases import build_cases

SCANNER = Path(__file__).resolve().parents[1] / "scanner"
LIMBO = Path(__file__).resolve().parents[1] / ".." / "shared" / "limbo" / "limbo.json"


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


def _agrees_with_cryptography(der: bytes) -> bool:
    """Where cryptography loads ``der``, the reader's raw facts are what cryptography sees."""
    try:
        cert = x509.load_der_x509_certificate(der)
        tbs = cert.tbs_certificate_bytes
    except Exception:  # noqa: BLE001 - not loadable: the engine reports it unparseable
        return True
    raw = asn1.read_certificate(der)
    assert raw.algorithm_mismatch in (True, False) and tbs
    try:
        listed = [(e.oid.dotted_string, e.critical) for e in cert.extensions]
    except Exception:  # noqa: BLE001 - refused as a whole: the reader's list is the only one
        return True
    assert [(e.oid, e.critical) for e in raw.extensions] == listed
    return True


def test_the_reader_agrees_with_cryptography_on_the_corpus() -> None:
    ders = _ders()
    assert len(ders) > 100
    spki_compared = 0
    for der in ders:
        assert _agrees_with_cryptography(der)
        cert = x509.load_der_x509_certificate(der)
        raw = asn1.read_certificate(der)
        try:
            spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        except Exception:  # noqa: BLE001 - a key cryptography cannot load (the reader still has its bytes)
            continue
        if not raw.explicit_curve:  # cryptography writes an explicit curve back as a named one
            assert raw.spki == spki
            spki_compared += 1
    assert spki_compared > 100


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=255),
       st.integers(min_value=0, max_value=40))
def test_the_reader_agrees_or_refuses_cleanly_on_mutated_der(position: int, value: int, which: int) -> None:
    """A changed byte (or a truncation): the reader raises ValueError or agrees with cryptography,
    and the model never raises."""
    ders = _ders()
    der = bytearray(ders[which % len(ders)])
    if value % 5 == 0:
        der = der[: position % len(der)]
    else:
        der[position % len(der)] = value
    data = bytes(der)
    try:
        asn1.read_certificate(data)
    except ValueError:
        pass
    assert _agrees_with_cryptography(data)
    facts = certificate.parse(data)
    assert facts.cert is not None or facts.parse_error


def test_the_reader_agrees_with_cryptography_on_limbo_certificates() -> None:
    if not LIMBO.exists():
        pytest.skip(f"x509-limbo suite not found at {LIMBO.resolve()} (the shared/ folder is absent in a user's clone)")
    checked = 0
    for case in json.loads(LIMBO.read_text())["testcases"]:
        for pem in [case["peer_certificate"], *(case.get("untrusted_intermediates") or []), *case["trusted_certs"]]:
            try:
                der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
            except Exception:  # noqa: BLE001
                continue
            assert _agrees_with_cryptography(der), case["id"]
            checked += 1
    assert checked > 300


def _case(case_id: str) -> bytes:
    return next(c.chain[0] for c in build_cases() if c.id == case_id)


def test_raw_facts_cryptography_does_not_expose() -> None:
    """Duplicates, empty sequences and the signature-algorithm mismatch come from the reader,
    on the browser-oracle certificates built to show them."""
    plain = asn1.read_certificate(_case("rsa2048-leaf"))
    assert not plain.algorithm_mismatch and plain.duplicate_extensions() == ()
    assert plain.empty_sequences(["2.5.29.37", "2.5.29.17"]) == frozenset()
    assert asn1.read_certificate(_case("sig-alg-mismatch")).algorithm_mismatch
    doubled = asn1.read_certificate(_case("duplicate-extension"))
    assert len(doubled.duplicate_extensions()) == 1
    assert asn1.read_certificate(_case("eku-empty")).empty_sequences(["2.5.29.37", "2.5.29.17"]) == {"2.5.29.37"}
    assert asn1.read_certificate(_case("san-empty")).empty_sequences(["2.5.29.37", "2.5.29.17"]) == {"2.5.29.17"}
    leaf = _case("rsa2048-leaf")
    stripped = x509.load_der_x509_certificate(asn1.without_extensions(leaf, frozenset({"2.5.29.17"})))
    assert [e.oid.dotted_string for e in stripped.extensions] == [e.oid for e in plain.extensions if e.oid != "2.5.29.17"]
    facts = certificate.parse(_case("eku-empty"))
    assert facts.eku == () and facts.extension_error is None  # the rest of the extensions still read
    assert asn1.framing_problem(leaf, "certificate") is None
    assert "truncated DER" in (asn1.framing_problem(leaf[:40], "certificate") or "")
    assert "2 unexpected bytes" in (asn1.framing_problem(leaf + b"\x00\x00", "certificate") or "")
    with pytest.raises(ValueError):
        asn1.read_certificate(hostile.UNPARSEABLE_DER).algorithm_mismatch  # noqa: B018


def test_the_record_from_the_model_equals_a_field_by_field_read() -> None:
    """``describe`` builds the record from the model; the field-by-field read it keeps for
    certificates the model cannot read whole must give the same record where both apply."""
    for der in (*_ders(), hostile.UNPARSEABLE_DER, hostile.random_bytes(size=300)):
        facts = certificate.parse(der)
        field_by_field = dataclasses.replace(facts, san_value=certificate.NOT_READ)
        assert describe(der, 3, known=facts) == describe(der, 3, parsed=facts.cert, known=field_by_field)


def test_names_are_cryptographys() -> None:
    pki = LabPKI.create(org="Name, \"quoted\" + plus")
    leaf = pki.leaf("b.example", dns=["b.example"])
    facts = certificate.parse(leaf.der)
    assert facts.issuer_text == leaf.cert.issuer.rfc4514_string()
    assert facts.subject_text == leaf.cert.subject.rfc4514_string()
    assert facts.issuer == leaf.cert.issuer.public_bytes()
    assert facts.ids.cns == ("b.example",)


def test_one_bounded_cache_by_digest() -> None:
    pki = LabPKI.create()
    a, b, c = (pki.leaf(f"{n}.example", dns=[f"{n}.example"]) for n in "abc")
    cache = certificate._Cache(size=2)
    first = cache.get(a.der)
    assert cache.get(bytearray(a.der)) is first and cache.hits == 1  # by the bytes' digest, whatever their type
    cache.get(b.der)
    cache.get(c.der)  # a is evicted (least recently used)
    assert cache.get(a.der) is not first
    assert certificate.facts(pki.issuing.der) is certificate.facts(pki.issuing.der)


def test_issues_kept_on_an_issuer_equal_fresh_ones() -> None:
    """An issuer's or anchor's issues are kept on its cache entry by (place, time): on every oracle
    chain, at two times, they must equal the issues worked out afresh."""
    from scanner.evaluate import evaluate_outcomes
    from scanner.evaluate import path as path_mod

    compared = 0
    for case in build_cases():
        for at in (dt.datetime.now(dt.timezone.utc), dt.datetime(2040, 1, 1, tzinfo=dt.timezone.utc)):
            ctx, _ = evaluate_outcomes(list(case.chain), case.hostname, anchors=list(case.anchors), at=at)
            nodes = ctx.path.path
            for depth, node in enumerate(nodes):
                fresh = path_mod._node_issues(node, depth, nodes, ctx.at)
                assert path_mod._cert_issues(node, depth, nodes, ctx.at) == fresh, case.id
                assert path_mod._cert_issues(node, depth, nodes, ctx.at) == fresh, case.id
                compared += depth > 0
    assert compared > 50


# ---------------------------------------------------------------------------------- structure

ENGINE = ("evaluate", "checks", "facts")
NOT_BELOW_THE_ENGINE = ("scanner.lab", "scanner.results", "scanner.probe", "scanner.report", "scanner.cli")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def test_the_engine_imports_nothing_downstream() -> None:
    """targets -> probe -> evaluate -> results -> renderers: the engine, the checks and the model
    import none of lab, results, probe, report or cli; the checks and the model never import the
    engine's entry point; the model imports neither the checks nor the engine."""
    for package in ENGINE:
        for path in (SCANNER / package).glob("*.py"):
            imports = _imports(path)
            assert not {i for i in imports if _within(i, *NOT_BELOW_THE_ENGINE)}, path
            if package in ("checks", "facts"):
                assert not {i for i in imports if _within(i, "scanner.evaluate")}, path
            if package == "facts":
                assert not {i for i in imports if _within(i, "scanner.checks")}, path


def _within(name: str, *parts: str) -> bool:
    """``name`` is one of ``parts`` or inside one (``scanner.clienthellos`` is not in ``scanner.cli``)."""
    return any(name == part or name.startswith(part + ".") for part in parts)


def test_no_private_name_of_cryptography_in_the_engine() -> None:
    private = re.compile(r"_escape_dn_value|_NAMEOID_TO_NAME|_OID_NAMES|\"_name\"|\._name\b|cryptography\.hazmat\._")
    for package in ENGINE:
        for path in (SCANNER / package).glob("*.py"):
            assert not private.search(path.read_text()), path
    for path in (SCANNER / "certinfo.py", SCANNER / "csr.py"):
        assert not private.search(path.read_text()), path

"""Path building over an unordered pool: trust, incomplete vs untrusted, signatures, hostile chains."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from scanner.evaluate import certs, evaluate, path
from scanner.lab.pki import LabPKI, issue, name

UTC = dt.timezone.utc
NOW = dt.datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def pki() -> LabPKI:
    return LabPKI.create()


@pytest.fixture(scope="module")
def fixed_leaf(pki: LabPKI) -> bytes:
    return pki.leaf(dns=["a.test"]).der


def build(chain: list[bytes], anchors: list[bytes]) -> path.PathResult:
    return path.build([certs.facts(d) for d in chain], [certs.facts(a) for a in anchors], NOW)


def ids(result: path.PathResult) -> set[str]:
    return {i.check for i in result.issues}


def test_pool_order_duplicates_and_strays_are_tolerated(pki: LabPKI) -> None:
    leaf = pki.leaf(dns=["a.test"])
    stray = LabPKI.create(org="Stray").issuing
    result = build([leaf.der, stray.der, pki.root.der, pki.issuing.der, pki.issuing.der], [pki.root.der])
    assert result.trusted and not result.issues
    assert [n.index for n in result.path] == [0, 3, None]  # the presented root is the anchor itself


def test_incomplete_is_not_untrusted_root(pki: LabPKI) -> None:
    leaf = pki.leaf(dns=["a.test"])
    incomplete = build([leaf.der], [pki.root.der])
    untrusted = build([leaf.der, pki.issuing.der], [LabPKI.create(org="Other").root.der])
    assert ids(incomplete) == {"chain.incomplete"}
    assert ids(untrusted) == {"chain.untrusted_root"}
    with_root = build([leaf.der, pki.issuing.der, pki.root.der], [])
    assert ids(with_root) == {"chain.untrusted_root"}
    assert "self-signed" in with_root.issues[0].detail


def test_the_good_path_wins_over_a_bad_candidate(pki: LabPKI) -> None:
    """Two certificates share the issuer name; only one holds the signing key."""
    leaf = pki.leaf(dns=["a.test"])
    impostor = issue(subject=pki.issuing.cert.subject, issuer=pki.root, ca=True)
    result = build([leaf.der, impostor.der, pki.issuing.der], [pki.root.der])
    assert result.trusted and not result.issues
    only_bad = build([leaf.der, impostor.der], [pki.root.der])
    assert ids(only_bad) == {"chain.bad_signature"}


def test_expiry_anywhere_in_the_path(pki: LabPKI) -> None:
    ca = issue(subject="Short CA", issuer=pki.root, ca=True, not_before=NOW - dt.timedelta(days=40), days=10)
    leaf = issue(subject="l", dns=["a.test"], issuer=ca, not_before=NOW - dt.timedelta(days=35))
    result = build([leaf.der, ca.der], [pki.root.der])
    assert ids(result) == {"chain.issuer.expired"}
    assert result.issues[0].index == 1


@pytest.mark.parametrize("kind", ["ed25519", "rsa-2048", "ec-p384"])
def test_signature_families_verify(kind: str) -> None:
    root = issue(subject="Root " + kind, ca=True, key=kind)
    leaf = issue(subject="l", dns=["a.test"], issuer=root)
    assert build([leaf.der], [root.der]).trusted


def test_rsa_pss_signature_verifies() -> None:
    root = issue(subject="PSS root", ca=True, key="rsa-2048")
    leaf_key = issue(subject="k", ca=False).key
    cert = (x509.CertificateBuilder().subject_name(name("pss.test")).issuer_name(root.cert.subject)
            .public_key(leaf_key.public_key()).serial_number(7).not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("pss.test")]), critical=False)
            .sign(root.key, hashes.SHA256(),  # type: ignore[arg-type]
                  rsa_padding=padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)))
    from cryptography.hazmat.primitives.serialization import Encoding
    result = build([cert.public_bytes(Encoding.DER)], [root.der])
    assert result.trusted, result.issues


def test_cross_signed_loop_terminates() -> None:
    a_key = issue(subject="A", ca=True).key
    b = issue(subject="B", ca=True)
    a = issue(subject="A", ca=True, issuer=b, key=a_key)
    b_by_a = issue(subject="B", ca=True, issuer=a, key=b.key)
    leaf = issue(subject="l", dns=["a.test"], issuer=a)
    result = build([leaf.der, a.der, b_by_a.der, b.der], [LabPKI.create(org="Elsewhere").root.der])
    assert not result.trusted
    assert ids(result) & {"chain.untrusted_root", "chain.incomplete"}


def test_hostile_chain_of_100_same_named_cas_is_capped() -> None:
    """100 CAs with one name and one key: each verifies every other, so the unbounded search
    space is 100^7 paths. The work cap keeps it bounded and says so."""
    key = issue(subject="k", ca=True).key
    root = issue(subject="Hostile CA", ca=True, key=key)
    cas = [issue(subject="Hostile CA", issuer=root, ca=True, key=key, ski_aki=False, serial=i + 1) for i in range(100)]
    leaf = issue(subject="l", dns=["a.test"], issuer=cas[0], ski_aki=False)
    chain = [leaf.der, *(c.der for c in cas)]
    result = evaluate(chain, "a.test", anchors=[LabPKI.create(org="X").root.der], at=NOW)
    found = {f["id"] for f in result["findings"]}
    assert "chain.path_building_limit" in found
    assert result["browsers"]["chrome"]["error"] == "ERR_CERT_AUTHORITY_INVALID"
    trusted = evaluate(chain, "a.test", anchors=[root.der], at=NOW)
    assert trusted["browsers"]["chrome"]["accepted"], trusted["findings"]


def test_facts_are_cached_by_fingerprint(pki: LabPKI) -> None:
    before = certs.CACHE.hits
    leaf = pki.leaf(dns=["a.test"])
    for _ in range(3):
        evaluate([leaf.der, pki.issuing.der], "a.test", anchors=[pki.root.der], at=NOW)
    assert certs.CACHE.hits >= before + 6
    assert certs.facts(pki.issuing.der) is certs.facts(pki.issuing.der)


def test_garbage_never_raises(pki: LabPKI) -> None:
    for chain in ([b"\x30\x03\x02\x01\x01"], [b""], [b"junk", pki.issuing.der]):
        result = evaluate(chain, "a.test", anchors=[pki.root.der], at=NOW)
        assert result["browsers"]["chrome"]["error"] == "ERR_CERT_INVALID"
        assert result["browsers"]["firefox"]["error"] == "SEC_ERROR_BAD_DER"
        assert "rfc5280.certificate.unparseable" in {f["id"] for f in result["findings"]}
    empty = evaluate([], "a.test", anchors=None, at=NOW)
    assert empty["findings"][0]["id"] == "dccscan.check.crashed"


def test_unparseable_pool_member_is_reported(pki: LabPKI) -> None:
    leaf = pki.leaf(dns=["a.test"])
    result = evaluate([leaf.der, b"junk", pki.issuing.der], "a.test", anchors=[pki.root.der], at=NOW)
    assert result["browsers"]["chrome"]["accepted"]
    assert [(f["id"], f["certificate_index"]) for f in result["findings"]] == [("chain.pool.unparseable", 1)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_chains_never_raise(pki: LabPKI, fixed_leaf: bytes, data: st.DataObject) -> None:
    """Flip or cut bytes of a real chain: the engine must still answer in the schema's shape."""
    chain = [fixed_leaf, pki.issuing.der]
    which = data.draw(st.integers(0, 1))
    blob = bytearray(chain[which])
    for _ in range(data.draw(st.integers(1, 4))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        blob = blob[: data.draw(st.integers(0, len(blob)))]
    chain[which] = bytes(blob)
    result = evaluate(chain, data.draw(st.text(max_size=30)), anchors=[pki.root.der], at=NOW)
    assert set(result) == {"browsers", "profile", "findings"}
    for verdict in result["browsers"].values():
        assert verdict["accepted"] is (verdict["error"] is None)
    assert all(f["id"] != "dccscan.check.crashed" for f in result["findings"]), result["findings"]

"""``scanner.evaluate.revocation.assess`` on CRLs and OCSP responses made at test time: the rules of
RFC 5280 6.3.3 and RFC 6960 4.2.2.2 that the end-to-end test cannot reach with ``openssl ocsp``
(a CA-signed response, a delegated responder without id-kp-OCSPSigning, a response for another
certificate, a CRL scoped to CA certificates), and re-evaluation as of another time."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from scanner.evaluate.revocation import assess, crl_der
from scanner.lab.pki import Issued, LabPKI, issue, name, new_key
from tests.revocation_fixtures import HOST, crl, revocation_leaf

UTC = dt.timezone.utc
NOW = dt.datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def pki() -> LabPKI:
    return LabPKI.create()


def response(leaf: Issued, issuer: Issued, signer: Issued, *, status: ocsp.OCSPCertStatus = ocsp.OCSPCertStatus.GOOD,
             next_update: dt.datetime | None = None, include: bool = True) -> bytes:
    revoked_at = NOW - dt.timedelta(days=1) if status == ocsp.OCSPCertStatus.REVOKED else None
    reason = x509.ReasonFlags.superseded if revoked_at else None
    builder = (ocsp.OCSPResponseBuilder()
               .add_response(cert=leaf.cert, issuer=issuer.cert, algorithm=hashes.SHA1(), cert_status=status,
                             this_update=NOW - dt.timedelta(minutes=1),
                             next_update=next_update or NOW + dt.timedelta(hours=4),
                             revocation_time=revoked_at, revocation_reason=reason)
               .responder_id(ocsp.OCSPResponderEncoding.NAME, signer.cert))
    if include and signer is not issuer:
        builder = builder.certificates([signer.cert])
    return builder.sign(signer.key, hashes.SHA256()).public_bytes(Encoding.DER)


def judge(pki: LabPKI, leaf: Issued, kind: str, data: bytes, at: dt.datetime = NOW) -> dict[str, Any]:
    sha = hashlib.sha256(data).hexdigest()
    sources = [{"certificate_index": 0, "kind": kind, "location": "http://127.0.0.1:9/x", "sha256": sha, "error": None}]
    return assess([leaf.der, pki.issuing.der], sources, {sha: data}.get, anchors=[pki.root.der], at=at)


def leaf_record(result: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in result["revocation"] if r["certificate_index"] == 0)


def ids(result: dict[str, Any]) -> list[str]:
    return sorted(f["id"] for f in result["findings"])


def test_response_signed_by_the_issuing_ca_itself_is_good(pki: LabPKI) -> None:
    leaf = revocation_leaf(pki, "ca-signed")
    result = judge(pki, leaf, "ocsp", response(leaf, pki.issuing, pki.issuing))
    assert leaf_record(result)["status"] == "good" and ids(result) == []


def test_revoked_response_gives_reason_and_time(pki: LabPKI) -> None:
    leaf = revocation_leaf(pki, "revoked")
    result = judge(pki, leaf, "ocsp", response(leaf, pki.issuing, pki.issuing, status=ocsp.OCSPCertStatus.REVOKED))
    record = leaf_record(result)
    assert (record["status"], record["reason"]) == ("revoked", "superseded")
    assert record["revoked_at"] == (NOW - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ids(result) == ["revocation.revoked"]


def test_delegated_responder_without_ocsp_signing_is_a_bad_signature(pki: LabPKI) -> None:
    leaf = revocation_leaf(pki, "delegated")
    impostor = issue(subject=name("Not a responder"), issuer=pki.issuing, key=new_key("ec-p256"))
    result = judge(pki, leaf, "ocsp", response(leaf, pki.issuing, impostor))
    assert leaf_record(result)["status"] == "unknown"
    assert "id-kp-OCSPSigning" in leaf_record(result)["sources"][0]["detail"]
    assert ids(result) == ["revocation.bad_signature"]


def test_delegated_responder_from_another_ca_is_a_bad_signature(pki: LabPKI) -> None:
    leaf = revocation_leaf(pki, "foreign")
    other = LabPKI.create(org="Elsewhere")
    foreign = issue(subject=name("DCCKI Lab OCSP Responder"), issuer=other.issuing, key=new_key("ec-p256"),
                    eku=(ExtendedKeyUsageOID.OCSP_SIGNING,))
    result = judge(pki, leaf, "ocsp", response(leaf, pki.issuing, foreign))
    assert ids(result) == ["revocation.bad_signature"]
    assert "not issued by the certificate's issuing CA" in leaf_record(result)["sources"][0]["detail"]


def test_response_about_another_certificate_is_unusable(pki: LabPKI) -> None:
    leaf, other = revocation_leaf(pki, "asked"), revocation_leaf(pki, "answered")
    result = judge(pki, leaf, "ocsp", response(other, pki.issuing, pki.issuing))
    assert leaf_record(result)["status"] == "unknown" and ids(result) == ["revocation.unusable"]


def test_crl_for_ca_certificates_only_does_not_cover_a_leaf(pki: LabPKI) -> None:
    leaf = revocation_leaf(pki, "scoped")
    idp = x509.IssuingDistributionPoint(None, None, False, True, None, False, False)
    scoped = (x509.CertificateRevocationListBuilder().issuer_name(pki.issuing.cert.subject)
              .last_update(NOW - dt.timedelta(hours=1)).next_update(NOW + dt.timedelta(days=1))
              .add_extension(idp, critical=True).sign(pki.issuing.key, hashes.SHA256()).public_bytes(Encoding.DER))
    result = judge(pki, leaf, "crl", scoped)
    assert ids(result) == ["revocation.unusable"]
    assert "CA certificates only" in leaf_record(result)["sources"][0]["detail"]


def test_same_bytes_judged_later_are_stale_and_a_revocation_stays(pki: LabPKI) -> None:
    """Evaluation depends only on the recorded bytes and the time given: what was good at the
    scan is stale a week later; a revoked serial is revoked whenever it is judged."""
    leaf = revocation_leaf(pki, "later")
    good = response(leaf, pki.issuing, pki.issuing)
    assert leaf_record(judge(pki, leaf, "ocsp", good))["status"] == "good"
    later = judge(pki, leaf, "ocsp", good, at=NOW + dt.timedelta(days=7))
    assert leaf_record(later)["status"] == "unknown" and ids(later) == ["revocation.stale"]
    listed = crl(pki.issuing, [(leaf.cert, NOW - dt.timedelta(hours=3), x509.ReasonFlags.cessation_of_operation)])
    late = judge(pki, leaf, "crl", listed, at=NOW + dt.timedelta(days=7))
    assert leaf_record(late)["status"] == "revoked"
    assert ids(late) == ["revocation.revoked", "revocation.stale"]


def test_pem_crl_files_are_read_and_garbage_is_refused(pki: LabPKI) -> None:
    der = crl(pki.issuing)
    pem = x509.load_der_x509_crl(der).public_bytes(Encoding.PEM)
    assert crl_der(pem) == der
    with pytest.raises(ValueError):
        crl_der(b"-----BEGIN X509 CRL-----\nnope\n-----END X509 CRL-----\n")


def test_root_and_unknown_issuer_are_not_judged(pki: LabPKI) -> None:
    leaf = revocation_leaf(pki, "orphan")
    result = assess([leaf.der, pki.root.der], [], lambda sha: None, anchors=[pki.root.der], at=NOW)
    assert [r["certificate_index"] for r in result["revocation"]] == [0]  # the root has no record
    assert "neither presented nor a trust anchor" in result["revocation"][0]["detail"]
    assert result["findings"] == [] and HOST


def test_a_sha1_signed_leaf_still_has_its_issuer_and_its_revocation_is_judged(pki: LabPKI) -> None:
    """The chain verdict calls a SHA-1 signature weak; revocation still knows who issued the
    certificate (the probe fetches for it and the engine judges what came back), as both look
    for issuers with the same signature check (``scanner.facts.signature``)."""
    from scanner.facts.revocation import find_issuer, issued_by, load_certificate

    leaf = issue(subject=name(HOST), issuer=pki.issuing, dns=[HOST], hash_name="sha1",
                 extra=[(x509.CRLDistributionPoints([x509.DistributionPoint(
                     [x509.UniformResourceIdentifier("http://127.0.0.1:9/ca.crl")], None, None, None)]), False)])
    cert, issuer = load_certificate(leaf.der), load_certificate(pki.issuing.der)
    assert cert is not None and issuer is not None
    assert issued_by(cert, issuer) and find_issuer(cert, [issuer]) is issuer  # the probe's view
    revoked = judge(pki, leaf, "crl", crl(pki.issuing, [(leaf.cert, NOW - dt.timedelta(hours=2),
                                                          x509.ReasonFlags.key_compromise)]))
    assert leaf_record(revoked)["status"] == "revoked"  # the engine's view

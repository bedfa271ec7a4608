"""The lab PKI builds what browsers' rules need, including what cryptography refuses to build."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa, padding

from scanner.lab.pki import LabPKI, issue, resign


def test_conformant_leaf_chains_to_root() -> None:
    pki = LabPKI.create()
    leaf = pki.leaf("gw.example.net", dns=["gw.example.net"])
    san = leaf.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["gw.example.net"]
    assert leaf.cert.issuer == pki.issuing.cert.subject
    assert leaf.chain_pem().count(b"BEGIN CERTIFICATE") == 2  # leaf + issuing, no root
    leaf.cert.verify_directly_issued_by(pki.issuing.cert)


def test_sha1_resigned_leaf_verifies_under_its_issuer() -> None:
    root = issue(subject="RSA root", ca=True, key="rsa-2048")
    leaf = issue(subject="legacy", issuer=root, dns=["legacy.test"], hash_name="sha1")
    assert leaf.cert.signature_algorithm_oid.dotted_string == "1.2.840.113549.1.1.5"
    root.cert.public_key().verify(leaf.cert.signature, leaf.cert.tbs_certificate_bytes, padding.PKCS1v15(),
                                  leaf.cert.signature_hash_algorithm)


def test_outer_and_inner_algorithms_can_differ() -> None:
    pki = LabPKI.create()
    leaf = resign(pki.leaf(dns=["a.test"]), pki.issuing.key, outer_hash_name="sha384")
    assert leaf.cert.signature_algorithm_oid.dotted_string == "1.2.840.10045.4.3.3"
    assert isinstance(pki.issuing.key, ec.EllipticCurvePrivateKey)
    assert isinstance(issue(subject="r", ca=True, key="rsa-2048").key, rsa.RSAPrivateKey)

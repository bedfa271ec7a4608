"""What a certificate says about its revocation, and how to read revocation data: shared by the
probe (which fetches) and the engine (which judges), so neither imports the other.

Only cryptography's public API: the issuer test is ``verify_directly_issued_by``, the OCSP request
is ``OCSPRequestBuilder``'s, CRLs are read by ``load_der_x509_crl`` / ``load_pem_x509_crl``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from scanner.facts import asn1
from scanner.facts.certificate import access_urls
from scanner.facts.signature import verify_signature

CRL_KINDS = ("crl", "file")  # source kinds holding a CRL; "ocsp" and "stapled" hold OCSP responses


@lru_cache(maxsize=1024)
def load_certificate(der: bytes) -> x509.Certificate | None:
    """The parsed certificate, or None when it does not parse (the chain checks report that)."""
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def issued_by(cert: x509.Certificate, candidate: x509.Certificate) -> bool:
    """Issuer name matches and the signature verifies under ``candidate``'s key, whatever the
    hash (``verify_signature``: the issuer of a SHA-1 certificate is still its issuer; the chain
    verdict says the hash is weak). Remembered: an estate's endpoints present the same
    intermediates, whose issuer is verified once."""
    if candidate.subject != cert.issuer:
        return False
    try:
        verify_signature(cert, candidate.public_key())
        return True
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False


def self_signed(cert: x509.Certificate) -> bool:
    """A root (trust anchor material): nobody above it publishes its revocation."""
    return issued_by(cert, cert)


def find_issuer(cert: x509.Certificate, pool: Iterable[x509.Certificate]) -> x509.Certificate | None:
    """The certificate in ``pool`` that issued ``cert`` (name and signature), if any."""
    return next((candidate for candidate in pool if candidate is not cert and issued_by(cert, candidate)), None)


def extension(cert: x509.Certificate | x509.CertificateRevocationList, kind: type) -> Any:
    """An extension's value, or None when absent or unreadable (hostile DER must not raise here)."""
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except (x509.ExtensionNotFound, ValueError):
        return None


def crl_urls(cert: x509.Certificate) -> list[str]:
    """The full-name URIs of the certificate's CRL distribution points (any scheme; the probe
    fetches http only). Points naming a separate cRLIssuer (indirect CRLs) are skipped."""
    points = extension(cert, x509.CRLDistributionPoints) or []
    return [name.value for point in points if point.crl_issuer is None and point.full_name
            for name in point.full_name if isinstance(name, x509.UniformResourceIdentifier)]


@dataclass(frozen=True)
class Pointers:
    """What the probe follows from one certificate: its names as encoded (a cheap, exact test
    that one certificate names another as issuer) and the URLs it lists."""

    cert: x509.Certificate
    subject: bytes
    issuer: bytes
    ca_issuers: tuple[str, ...]
    crl: tuple[str, ...]
    ocsp: tuple[str, ...]

    def names_as_issuer(self, other: "Pointers") -> bool:
        """``other``'s issuer name is this certificate's subject: the same encoding, or (only when
        the encodings differ) equal names as cryptography compares them (e.g. one PrintableString,
        the other UTF8String)."""
        return other.issuer == self.subject or other.cert.issuer == self.cert.subject


@lru_cache(maxsize=4096)
def pointers(der: bytes) -> Pointers | None:
    """The certificate's ``Pointers``, read once per distinct certificate (an estate's endpoints
    repeat their intermediates); None when cryptography or the raw reader cannot read it."""
    cert = load_certificate(der)
    if cert is None:
        return None
    try:
        raw = asn1.read_certificate(der)
        subject, issuer = raw.subject, raw.issuer
    except ValueError:
        return None
    aia = extension(cert, x509.AuthorityInformationAccess)
    return Pointers(cert, subject, issuer, access_urls(aia, x509.AuthorityInformationAccessOID.CA_ISSUERS),
                    tuple(crl_urls(cert)), access_urls(aia, x509.AuthorityInformationAccessOID.OCSP))


def ocsp_request(cert: x509.Certificate, issuer: x509.Certificate) -> bytes:
    """The DER OCSP request for ``cert`` (SHA-1 CertID, no nonce: RFC 5019 2.1.1, which every
    responder supports and which lets responders and caches answer from pre-signed responses)."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
    return builder.build().public_bytes(Encoding.DER)


def is_ca(cert: x509.Certificate) -> bool:
    constraints = extension(cert, x509.BasicConstraints)
    return bool(constraints is not None and constraints.ca)


@lru_cache(maxsize=64)
def load_crl(data: bytes) -> x509.CertificateRevocationList:
    """A CRL in DER or PEM (CAs publish DER; operators often hold PEM). ValueError otherwise."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)


def crl_der(data: bytes) -> bytes:
    """DER of a CRL given as DER or PEM; ValueError when it is not a CRL (for ``--crl`` files)."""
    return load_crl(data).public_bytes(Encoding.DER)


def blob_name(sha256: str, kind: str) -> str:
    """``revocation/<sha256>.crl`` or ``.ocsp``: where results keep a recorded source's bytes."""
    return f"revocation/{sha256}.{'crl' if kind in CRL_KINDS else 'ocsp'}"

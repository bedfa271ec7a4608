"""Fetch the issuer a server did not send, from the AIA caIssuers URL, the way Chrome does.

Chrome completes a chain whose issuing CA the server forgot by fetching the certificate's
authorityInformationAccess caIssuers URL (Chromium net/cert/internal/cert_issuer_source_aia.cc:
plain ``http://`` only, a DER certificate or a PKCS#7 "certs-only" bundle, a bounded size and
time). Firefox never fetches. Evaluation is offline, so the probe does the fetch and records what
it got (the certificates, or why not) beside the chain; the engine then bases Chrome's verdict on
exactly those bytes, and an evidence pack re-verifies without the network.

Bounds: one GET per URL (a few redirects), ``MAX_BYTES`` of answer and ``TIMEOUT_S`` in all, by
the probe's bounded plain-HTTP fetcher (``scanner.probe.fetch``, shared with revocation); anything
but http (https, ftp, ldap) is skipped, as Chrome skips it. The certificates are parsed by
cryptography.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from scanner.probe.fetch import FetchError, http_fetch

MAX_BYTES = 64 * 1024  # a CA certificate or a small PKCS#7 bundle; Chromium caps its AIA fetches too
TIMEOUT_S = 5.0
MAX_URLS = 2  # caIssuers URLs fetched per endpoint (a hostile certificate may list many)


@dataclass(frozen=True)
class AiaFetch:
    """One caIssuers URL and what came of it: ``certificates`` (DER) or ``error``."""

    url: str
    certificates: tuple[bytes, ...] = ()
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The results record: the certificates as PEM, so evaluation can use them offline."""
        return {"url": self.url, "status": "fetched" if self.error is None else "failed", "error": self.error,
                "certificates": [x509.load_der_x509_certificate(d).public_bytes(Encoding.PEM).decode()
                                 for d in self.certificates]}


def missing_issuer_urls(chain: Sequence[bytes]) -> list[str]:
    """caIssuers URLs of presented certificates whose issuer was not presented (in chain order).

    A syntactic test only (issuer name not among the presented subjects, not self-issued); the
    engine decides what the fetched certificates are worth."""
    certs = []
    for der in chain:
        try:
            certs.append(x509.load_der_x509_certificate(der))
        except ValueError:
            continue
    subjects = {c.subject for c in certs}
    urls: list[str] = []
    for cert in certs:
        if cert.issuer == cert.subject or cert.issuer in subjects:
            continue
        for url in _ca_issuers(cert):
            if url not in urls:
                urls.append(url)
    return urls[:MAX_URLS]


def _ca_issuers(cert: x509.Certificate) -> Iterable[str]:
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    return [d.access_location.value for d in aia
            if d.access_method == x509.oid.AuthorityInformationAccessOID.CA_ISSUERS
            and isinstance(d.access_location, x509.UniformResourceIdentifier)]


async def fetch_all(chain: Sequence[bytes], *, timeout: float = TIMEOUT_S) -> tuple[AiaFetch, ...]:
    """Fetch every missing issuer's caIssuers URL (at most ``MAX_URLS``); never raises."""
    return tuple([await fetch(url, timeout=timeout) for url in missing_issuer_urls(chain)])


async def fetch(url: str, *, timeout: float = TIMEOUT_S, max_bytes: int = MAX_BYTES) -> AiaFetch:
    """GET one caIssuers URL within the bounds (``scanner.probe.fetch``, the probe's one bounded
    plain-HTTP fetcher); what came back, or a plain-words error."""
    if urlsplit(url).scheme.lower() != "http":
        return AiaFetch(url, error=f"not fetched: only http:// caIssuers URLs are fetched (as Chrome does), not {url!r}")
    try:
        answer = await http_fetch(url, timeout=timeout, limit=max_bytes)
    except FetchError as exc:
        return AiaFetch(url, error=f"could not fetch: {exc}")
    return _certificates(url, answer.body)


def _certificates(url: str, body: bytes) -> AiaFetch:
    """A DER certificate or a PKCS#7 certs-only bundle (what CAs publish at caIssuers URLs)."""
    try:
        return AiaFetch(url, certificates=(x509.load_der_x509_certificate(body).public_bytes(Encoding.DER),))
    except ValueError:
        pass
    try:
        bundle = pkcs7.load_der_pkcs7_certificates(body)
    except ValueError:
        return AiaFetch(url, error="fetched, but the answer is neither a DER certificate nor a PKCS#7 bundle")
    return AiaFetch(url, certificates=tuple(c.public_bytes(Encoding.DER) for c in bundle))

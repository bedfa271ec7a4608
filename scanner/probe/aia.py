"""Fetch the issuer a server did not send, from the AIA caIssuers URL, the way Chrome does.

Chrome completes a chain whose issuing CA the server forgot by fetching the certificate's
authorityInformationAccess caIssuers URL (Chromium net/cert/internal/cert_issuer_source_aia.cc:
plain ``http://`` only, a DER certificate or a PKCS#7 "certs-only" bundle, a bounded size and
time). Firefox never fetches. Evaluation is offline, so the probe does the fetch and records what
it got (the certificates, or why not) beside the chain; the engine then bases Chrome's verdict on
exactly those bytes, and an evidence pack re-verifies without the network.

Bounds: one GET per URL per scan (a few redirects), ``MAX_BYTES`` of answer and ``TIMEOUT_S`` in all, by
the probe's bounded plain-HTTP fetcher (``scanner.probe.fetch``, shared with revocation); anything
but http (https, ftp, ldap) is skipped, as Chrome skips it. The certificates are parsed by
cryptography.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Sequence
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from scanner.facts.revocation import find_issuer, pointers
from scanner.probe.fetch import FetchError, Once, http_fetch

MAX_BYTES = 64 * 1024  # a CA certificate or a small PKCS#7 bundle; Chromium caps its AIA fetches too
TIMEOUT_S = 5.0
MAX_URLS = 2  # caIssuers URLs fetched per endpoint (a hostile certificate may list many)
DEFAULT_FETCHES = 8  # AIA fetches in flight at once, across the scan


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


def missing_issuer_urls(chain: Sequence[bytes], anchors: Sequence[bytes] = ()) -> list[str]:
    """caIssuers URLs of presented certificates whose issuer is neither presented nor a trust
    anchor (in chain order): where Chrome would go for the missing issuer.

    Presented issuers are found by name (``Pointers.names_as_issuer``; the engine decides what a
    fetched certificate is worth), anchors by name and signature (an anchor that only shares the
    name does not complete the path, so the URL is still fetched). Certificates are read once per
    scan (``pointers`` is cached by DER), and only a certificate listing a caIssuers URL is
    looked at further."""
    presented = [p for p in map(pointers, chain) if p is not None]
    urls: list[str] = []
    for cert in presented:
        if not cert.ca_issuers or any(other.names_as_issuer(cert) for other in presented):
            continue
        if anchors and find_issuer(cert.cert, _anchor_certs(anchors)) is not None:
            continue
        urls += [url for url in cert.ca_issuers if url not in urls]
    return urls[:MAX_URLS]


def _anchor_certs(anchors: Sequence[bytes]) -> list[Any]:
    return [p.cert for p in map(pointers, anchors) if p is not None]


class AiaFetcher:
    """Fetches the missing issuers of each endpoint's chain; each URL once per scan (``Once``):
    endpoints under one issuing CA share its caIssuers URL, and the answer is the same for all."""

    def __init__(self, *, timeout: float = TIMEOUT_S, concurrency: int = DEFAULT_FETCHES) -> None:
        self.timeout = timeout
        self._once: Once[AiaFetch] = Once(concurrency)

    async def missing(self, chain: Sequence[bytes], anchors: Sequence[bytes] = ()) -> tuple[AiaFetch, ...]:
        """What Chrome would fetch for this chain (nothing for a complete one); never raises."""
        out = []
        for url in missing_issuer_urls(chain, anchors):
            got = await self._once.get(url, functools.partial(fetch, url, timeout=self.timeout))
            out.append(got if got is not None else AiaFetch(url, error="could not fetch: the scan stopped first"))
        return tuple(out)


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

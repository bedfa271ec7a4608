"""Gathering revocation data for captured chains: CRLs, OCSP responses, stapled responses.

For each presented certificate whose issuing CA is known (presented or a trust anchor; roots and
certificates of unknown issuers are skipped, so an endpoint cannot make the scanner fetch for a
chain nobody issued), the probe records:

* the CRL at each http CRL distribution point;
* the OCSP response of each http AIA OCSP responder (RFC 6960 A.1: GET when the encoded request
  is under 255 bytes, as RFC 5019 5 asks, else POST);
* for the leaf, the OCSP response the server stapled in the handshake;
* each ``--crl`` / ``crl = [...]`` file whose issuer is the certificate's issuer.

Each URL is fetched once per scan (one OCSP request once per responder), however many endpoints
share the issuing CA: concurrent askers wait for the first fetch, and a failure is remembered as
well. The probe keeps no bytes: it hands them to ``record`` (``scanner.revocation_store``, which
stores each once by SHA-256 in ``OUT/revocation/``) and endpoints refer to them by hash. Judging
them is ``scanner.evaluate.revocation``'s job.
"""

from __future__ import annotations

import base64
import urllib.parse
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Sequence


from scanner.facts.revocation import find_issuer, load_certificate, load_crl, ocsp_request, pointers, self_signed
from scanner.probe.fetch import FetchError, Once, http_fetch

MAX_CRL_BYTES = 16 * 1024 * 1024  # a large CA's full CRL is a few MB; DCCKI's are tiny
MAX_OCSP_BYTES = 64 * 1024  # a response with a delegated responder certificate is a few KB
DEFAULT_FETCHES = 8  # revocation fetches in flight at once, across the scan
GET_LIMIT = 255  # RFC 5019 5: GET when the URL-encoded request fits in 255 bytes

Source = dict[str, Any]
Result = tuple["str | None", "dict[str, str] | None"]  # (sha256, None) or (None, error)
Record = Callable[[str, bytes, "str | None"], str]  # (kind, bytes, location) -> SHA-256: where the bytes are kept


@dataclass(frozen=True)
class FetchSettings:
    """How the probe fetches: ``online`` False records only stapled responses and files."""

    online: bool = True
    timeout: float = 10.0
    max_crl_bytes: int = MAX_CRL_BYTES
    max_ocsp_bytes: int = MAX_OCSP_BYTES
    concurrency: int = DEFAULT_FETCHES

    def to_json(self) -> dict[str, Any]:
        return {"online": self.online, "timeout": self.timeout, "max_crl_bytes": self.max_crl_bytes,
                "max_ocsp_bytes": self.max_ocsp_bytes}


@dataclass(frozen=True)
class CrlFile:
    """An operator-supplied CRL (``--crl``), recorded in the store."""

    path: str
    sha256: str
    issuer: Any  # x509.Name


class RevocationFetcher:
    """``await sources(chain, anchors, stapled)`` per endpoint; one fetch per URL per scan."""

    def __init__(self, record: Record, settings: FetchSettings = FetchSettings(),
                 crl_files: Sequence[tuple[str, bytes]] = ()) -> None:
        self.record = record
        self.settings = settings
        self._once: Once[Result] = Once(settings.concurrency)
        self.files = [CrlFile(path, record("file", data, path), load_crl(data).issuer) for path, data in crl_files]

    async def _once_per_scan(self, key: tuple[str, ...], fetch: Callable[[], Awaitable[Result]]) -> Result:
        result = await self._once.get(key, fetch)
        if result is None:  # the first fetch was cancelled (the scan is stopping)
            return None, {"kind": "unreachable", "message": "the fetch was interrupted"}
        return result

    async def _get(self, kind: str, url: str, body: bytes, limit: int) -> Result:
        try:
            answer = await http_fetch(url, timeout=self.settings.timeout, limit=limit, body=body,
                                      content_type="application/ocsp-request" if body else "")
        except FetchError as exc:
            return None, {"kind": exc.kind, "message": f"{exc}"}
        if not answer.body:
            return None, {"kind": "unreachable", "message": "the answer was empty"}
        return self.record(kind, answer.body, url), None

    async def _crl(self, url: str) -> Result:
        return await self._once_per_scan(("crl", url), lambda: self._get("crl", url, b"", self.settings.max_crl_bytes))

    async def _ocsp(self, url: str, request: bytes) -> Result:
        encoded = urllib.parse.quote(base64.b64encode(request).decode("ascii"), safe="")
        get_url = url + ("" if url.endswith("/") else "/") + encoded
        if len(encoded) < GET_LIMIT and urllib.parse.urlsplit(url).scheme.lower() == "http":
            fetch = lambda: self._get("ocsp", get_url, b"", self.settings.max_ocsp_bytes)  # noqa: E731
        else:
            fetch = lambda: self._get("ocsp", url, request, self.settings.max_ocsp_bytes)  # noqa: E731
        return await self._once_per_scan(("ocsp", url, request.hex()), fetch)

    async def sources(self, chain: Sequence[bytes], anchors: Sequence[bytes] | None,
                      stapled: bytes | None = None) -> list[Source]:
        """What there is to know about each presented certificate's revocation (see the module
        docstring); each source ``{certificate_index, kind, location, sha256, error}``. Issuers
        are looked for in the chain and ``anchors`` (the caller passes the public roots when the
        target has no anchors of its own)."""
        pool: list[Any] = []  # built when first needed: most chains have nothing to fetch
        out: list[Source] = []
        for index, der in enumerate(chain):
            found = pointers(bytes(der))  # read once per distinct certificate in the scan
            if found is None:
                continue
            cert = found.cert
            urls = (found.crl, found.ocsp) if self.settings.online else ((), ())
            files = [crl for crl in self.files if crl.issuer == cert.issuer]
            if not (urls[0] or urls[1] or files or (index == 0 and stapled)) or self_signed(cert):
                continue  # nothing to record (the usual case of a private PKI), or a root
            if not pool:
                pool = [c for c in (load_certificate(bytes(d)) for d in [*chain, *(anchors or ())]) if c is not None]
            issuer = find_issuer(cert, pool)
            if issuer is None:
                continue

            def add(kind: str, location: str | None, result: Result) -> None:
                out.append({"certificate_index": index, "kind": kind, "location": location,  # noqa: B023
                            "sha256": result[0], "error": result[1]})
            if index == 0 and stapled:
                add("stapled", None, (self.record("stapled", stapled, None), None))
            for crl in files:
                add("file", crl.path, (crl.sha256, None))
            for url in urls[0]:
                add("crl", url, await self._crl(url))
            try:
                request = ocsp_request(cert, issuer) if urls[1] else b""
            except (ValueError, TypeError):  # e.g. a key type OCSP CertIDs cannot hash
                continue
            for url in urls[1]:
                add("ocsp", url, await self._ocsp(url, request))
        return out

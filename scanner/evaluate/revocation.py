"""Revocation status of presented certificates, from recorded CRLs and OCSP responses.

Pure and offline like the rest of the engine: the probe fetched the bytes (CRL distribution
points, the AIA OCSP responder, the response the server stapled, ``--crl`` files) and recorded
them by SHA-256; here they are judged as of the scan time, so an evidence pack re-evaluates to the
same answer months later. Only cryptography's public API is used: ``is_signature_valid`` for CRLs,
``verify_directly_issued_by`` for issuers and delegated OCSP responders, ``OCSPRequestBuilder`` to
compute the CertID a response must carry, and the public keys' ``verify`` for OCSP signatures.

Per source the verdict is ``good``, ``revoked`` or ``unknown``, with a ``problem`` when the source
could not be used (``unreachable``, ``stale``, ``bad-signature``, ``unusable``, ``unsupported``).
Per certificate: ``revoked`` when any source that verifies says so (revocation is final, so even a
stale CRL listing the serial counts), else ``good`` when a current, verified source says so, else
``unknown`` with the reasons. Each problem is a finding (``scanner/checks/revocation.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Callable, Mapping, Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, SignatureAlgorithmOID

from scanner.checks.model import Outcome
from scanner.checks.revocation import BAD_SIGNATURE, REVOKED, STALE, UNREACHABLE, UNUSABLE
from scanner.evaluate.path import signature_error
from scanner.facts.certificate import CertFacts, facts
from scanner.facts.revocation import (CRL_KINDS, blob_name, crl_der, crl_urls, extension, is_ca, issued_by,
                                      load_certificate, load_crl)

SKEW = timedelta(minutes=5)  # clock difference tolerated on thisUpdate (RFC 5019 4: responders' clocks drift)
KINDS = ("crl", "file", "ocsp", "stapled")  # where a source came from; crl/file are CRLs, ocsp/stapled OCSP
__all__ = ["assess", "blob_name", "crl_der", "crl_urls", "folder_loader", "issuer_pool", "judge_crl",
           "judge_ocsp", "load_certificate", "source_inputs"]
PROBLEM_CHECKS = {"unreachable": UNREACHABLE, "stale": STALE, "bad-signature": BAD_SIGNATURE, "unusable": UNUSABLE}
Loader = Callable[[str], "bytes | None"]  # SHA-256 hex -> the recorded bytes (None: not recorded)


@dataclass(frozen=True)
class Verdict:
    """One source's judgement of one certificate."""

    status: str  # good | revoked | unknown
    problem: str | None = None  # unreachable | stale | bad-signature | unusable | unsupported
    detail: str = ""
    reason: str | None = None
    revoked_at: datetime | None = None
    this_update: datetime | None = None
    next_update: datetime | None = None


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)


# ---- CRLs ------------------------------------------------------------------------------------------

@lru_cache(maxsize=256)
def _crl_signature_valid(data: bytes, issuer_der: bytes) -> bool:
    """``is_signature_valid`` once per (CRL, issuer): an estate's endpoints share their CA's CRL."""
    issuer = load_certificate(issuer_der)
    if issuer is None:
        return False
    try:
        return load_crl(data).is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    except (TypeError, ValueError, UnsupportedAlgorithm):
        return False


_CRL_HANDLED = (x509.IssuingDistributionPoint, x509.CRLNumber, x509.AuthorityKeyIdentifier,
                x509.IssuerAlternativeName, x509.AuthorityInformationAccess, x509.FreshestCRL)


def _crl_scope(crl: x509.CertificateRevocationList, cert: x509.Certificate) -> tuple[str | None, bool]:
    """(why this CRL does not cover ``cert``, or None; whether it covers only some reasons):
    RFC 5280 6.3.3 (b) and 5.2.5 (issuingDistributionPoint), 5.2 (critical extensions)."""
    for ext in crl.extensions:
        if isinstance(ext.value, x509.DeltaCRLIndicator):
            return "it is a delta CRL (dccscan uses complete CRLs only)", False
        if ext.critical and not isinstance(ext.value, _CRL_HANDLED):
            return f"it has an unrecognised critical extension {ext.oid.dotted_string}", False
    idp = extension(crl, x509.IssuingDistributionPoint)
    if idp is None:
        return None, False
    if idp.indirect_crl:
        return "it is an indirect CRL (not supported)", False
    if idp.only_contains_attribute_certs:
        return "it covers attribute certificates only", False
    if idp.only_contains_user_certs and is_ca(cert):
        return "it covers end-entity certificates only, and this is a CA certificate", False
    if idp.only_contains_ca_certs and not is_ca(cert):
        return "it covers CA certificates only, and this is an end-entity certificate", False
    if idp.full_name:
        published = {n.value for n in idp.full_name if isinstance(n, x509.UniformResourceIdentifier)}
        if published and not published & set(crl_urls(cert)):
            return (f"its issuingDistributionPoint ({', '.join(sorted(published))}) is not a distribution point "
                    "of this certificate"), False
    return None, idp.only_some_reasons is not None


def _reason(extensions: x509.Extensions) -> str | None:
    try:
        return extensions.get_extension_for_class(x509.CRLReason).value.reason.name
    except (x509.ExtensionNotFound, ValueError):
        return None


def judge_crl(data: bytes, cert: x509.Certificate, issuer: x509.Certificate, at: datetime) -> Verdict:
    """One CRL for one certificate, as of ``at`` (RFC 5280 6.3.3, complete CRLs)."""
    try:
        crl = load_crl(data)
    except ValueError as exc:
        return Verdict("unknown", "unusable", f"not a CRL ({exc})")
    if crl.issuer != cert.issuer:
        return Verdict("unknown", "unusable", f"the CRL is issued by {crl.issuer.rfc4514_string()}, not by the "
                       f"certificate's issuer {cert.issuer.rfc4514_string()}")
    usage = extension(issuer, x509.KeyUsage)
    if usage is not None and not usage.crl_sign:
        return Verdict("unknown", "bad-signature", "the issuing CA's keyUsage lacks cRLSign, so it cannot sign CRLs")
    if not _crl_signature_valid(data, issuer.public_bytes(Encoding.DER)):
        return Verdict("unknown", "bad-signature", f"the CRL's signature does not verify under the key of "
                       f"{issuer.subject.rfc4514_string()}")
    out_of_scope, partial = _crl_scope(crl, cert)
    this_update, next_update = crl.last_update_utc, crl.next_update_utc
    if out_of_scope:
        return Verdict("unknown", "unusable", f"the CRL does not cover this certificate: {out_of_scope}",
                       this_update=this_update, next_update=next_update)
    if this_update > at + SKEW:
        return Verdict("unknown", "unusable", f"the CRL's thisUpdate {_iso(this_update)} is after the scan time",
                       this_update=this_update, next_update=next_update)
    stale = next_update is not None and next_update < at
    stale_text = f"the CRL is stale: its nextUpdate {_iso(next_update)} passed before the scan"
    entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    reason = _reason(entry.extensions) if entry is not None else None
    if entry is not None and reason != "remove_from_crl":
        when = entry.revocation_date_utc
        text = f"serial {cert.serial_number:x} revoked on {_iso(when)}" + (f" (reason {reason})" if reason else "")
        return Verdict("revoked", "stale" if stale else None, text + (f"; {stale_text}" if stale else ""),
                       reason=reason, revoked_at=when, this_update=this_update, next_update=next_update)
    if stale:
        return Verdict("unknown", "stale", stale_text, this_update=this_update, next_update=next_update)
    if partial:
        return Verdict("unknown", "unusable", "the CRL covers only some revocation reasons (onlySomeReasons)",
                       this_update=this_update, next_update=next_update)
    return Verdict("good", None, f"not listed on the CRL of {_iso(this_update)}", this_update=this_update,
                   next_update=next_update)


# ---- OCSP ------------------------------------------------------------------------------------------

def _key_sha1(cert: x509.Certificate) -> bytes:
    """SHA-1 of the subjectPublicKey BIT STRING: RFC 6960 ResponderID byKey (and KeyHash)."""
    return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest


def _names_responder(response: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    if response.responder_name is not None:
        return response.responder_name == cert.subject
    return response.responder_key_hash == _key_sha1(cert)


def _signature_valid(key: Any, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm | None,
                     oid: x509.ObjectIdentifier) -> bool:
    try:
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            pad = (padding.PSS(padding.MGF1(algorithm), padding.PSS.AUTO) if oid == SignatureAlgorithmOID.RSASSA_PSS
                   else padding.PKCS1v15())
            key.verify(signature, data, pad, algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(signature, data)
        elif isinstance(key, dsa.DSAPublicKey) and algorithm is not None:
            key.verify(signature, data, algorithm)
        else:
            return False
        return True
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False


def _responder(response: ocsp.OCSPResponse, issuer: x509.Certificate, at: datetime) -> tuple[x509.Certificate | None, str]:
    """The certificate whose key must have signed the response (RFC 6960 4.2.2.2): the issuing
    CA itself, or a delegated responder certificate in the response, issued directly by that CA,
    with id-kp-OCSPSigning and valid at ``at``. (None, why) when there is none."""
    if _names_responder(response, issuer):
        return issuer, ""
    for candidate in response.certificates:
        if not _names_responder(response, candidate):
            continue
        name = candidate.subject.rfc4514_string()
        if not issued_by(candidate, issuer):
            return None, f"the responder certificate {name} is not issued by the certificate's issuing CA"
        usage = extension(candidate, x509.ExtendedKeyUsage)
        if usage is None or ExtendedKeyUsageOID.OCSP_SIGNING not in usage:
            return None, f"the responder certificate {name} lacks extendedKeyUsage id-kp-OCSPSigning"
        if not candidate.not_valid_before_utc - SKEW <= at <= candidate.not_valid_after_utc:
            return None, f"the responder certificate {name} is not valid at the scan time"
        return candidate, ""
    named = (response.responder_name.rfc4514_string() if response.responder_name is not None
             else f"key {(response.responder_key_hash or b'').hex()}")
    return None, (f"signed by {named}, which is neither the issuing CA nor a responder certificate it issued "
                  "(none was included)")


def _single(response: ocsp.OCSPResponse, cert: x509.Certificate, issuer: x509.Certificate) -> Any:
    """The SingleResponse whose CertID is ``cert``'s (serial, issuer name hash, issuer key hash)."""
    for single in response.responses:
        if single.serial_number != cert.serial_number:
            continue
        try:
            expected = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, single.hash_algorithm).build()
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
        if (expected.issuer_name_hash, expected.issuer_key_hash) == (single.issuer_name_hash, single.issuer_key_hash):
            return single
    return None


@lru_cache(maxsize=256)
def _ocsp_signed_by(data: bytes, signer_der: bytes) -> bool:
    response = ocsp.load_der_ocsp_response(data)
    signer = load_certificate(signer_der)
    if signer is None:
        return False
    try:
        algorithm = response.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return False
    return _signature_valid(signer.public_key(), response.signature, response.tbs_response_bytes, algorithm,
                            response.signature_algorithm_oid)


def judge_ocsp(data: bytes, cert: x509.Certificate, issuer: x509.Certificate, at: datetime) -> Verdict:
    """One OCSP response for one certificate, as of ``at`` (RFC 6960 3.2 and 4.2.2.2)."""
    try:
        response = ocsp.load_der_ocsp_response(data)
    except ValueError as exc:
        return Verdict("unknown", "unusable", f"not an OCSP response ({exc})")
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return Verdict("unknown", "unusable", f"the responder answered {response.response_status.name.lower()} "
                       "instead of a status (RFC 6960 2.3)")
    signer, why = _responder(response, issuer, at)
    if signer is None:
        return Verdict("unknown", "bad-signature", f"the response is not from an authorised responder: {why}")
    if not _ocsp_signed_by(data, signer.public_bytes(Encoding.DER)):
        return Verdict("unknown", "bad-signature", "the response's signature does not verify under the key of "
                       f"{signer.subject.rfc4514_string()}")
    single = _single(response, cert, issuer)
    if single is None:
        return Verdict("unknown", "unusable", "the response does not cover this certificate (no matching CertID)")
    this_update, next_update = single.this_update_utc, single.next_update_utc
    if this_update > at + SKEW:
        return Verdict("unknown", "unusable", f"the response's thisUpdate {_iso(this_update)} is after the scan time",
                       this_update=this_update, next_update=next_update)
    stale = next_update is not None and next_update < at
    stale_text = f"the response is stale: its nextUpdate {_iso(next_update)} passed before the scan"
    status = single.certificate_status
    if status == ocsp.OCSPCertStatus.REVOKED:
        reason = single.revocation_reason.name if single.revocation_reason is not None else None
        when = single.revocation_time_utc
        text = f"revoked on {_iso(when)}" + (f" (reason {reason})" if reason else "")
        return Verdict("revoked", "stale" if stale else None, text + (f"; {stale_text}" if stale else ""),
                       reason=reason, revoked_at=when, this_update=this_update, next_update=next_update)
    if stale:
        return Verdict("unknown", "stale", stale_text, this_update=this_update, next_update=next_update)
    if status == ocsp.OCSPCertStatus.UNKNOWN:
        return Verdict("unknown", "unusable", "the responder does not know this certificate (certStatus unknown)",
                       this_update=this_update, next_update=next_update)
    return Verdict("good", None, f"good as of {_iso(this_update)}", this_update=this_update, next_update=next_update)


# ---- sources and certificates ------------------------------------------------------------------------

def judge_source(source: Mapping[str, Any], data: bytes | None, cert: x509.Certificate, issuer: x509.Certificate,
                 at: datetime) -> Verdict:
    """One recorded source: the probe's fetch error, or its bytes judged."""
    error = source.get("error")
    if error:
        kind = error.get("kind") if isinstance(error, Mapping) else None
        message = error.get("message") if isinstance(error, Mapping) else str(error)
        return Verdict("unknown", "unsupported" if kind == "unsupported" else "unreachable", str(message))
    if data is None:
        return Verdict("unknown", "unusable", f"the recorded data {source.get('sha256')} is missing")
    if source.get("kind") in CRL_KINDS:
        return judge_crl(data, cert, issuer, at)
    return judge_ocsp(data, cert, issuer, at)


def _source_record(source: Mapping[str, Any], verdict: Verdict) -> dict[str, Any]:
    return {"kind": source.get("kind"), "location": source.get("location"), "sha256": source.get("sha256"),
            "error": source.get("error"), "status": verdict.status, "problem": verdict.problem,
            "detail": verdict.detail, "this_update": _iso(verdict.this_update),
            "next_update": _iso(verdict.next_update)}


def _where(source: Mapping[str, Any]) -> str:
    kind = source.get("kind")
    label = {"crl": "CRL", "file": "CRL file", "ocsp": "OCSP responder", "stapled": "stapled OCSP response"}.get(
        str(kind), str(kind))
    location = source.get("location")
    return f"{label} {location}" if location and kind != "stapled" else label


def _certificate(index: int, der: bytes, pool: Sequence[CertFacts], sources: Sequence[Mapping[str, Any]],
                 load: Loader, at: datetime) -> tuple[dict[str, Any] | None, list[Outcome]]:
    """The revocation record of certificate ``index`` and its outcomes (None: a root, or unparseable)."""
    child = facts(der)
    if child.cert is None or (child.self_issued and signature_error(child, child) is None):
        return None, []
    record: dict[str, Any] = {"certificate_index": index, "sha256": child.sha256,
                              "status": "unknown", "reason": None, "revoked_at": None, "detail": "", "sources": []}
    found = _issuer(child, pool)
    if found is None or found.cert is None:
        record["detail"] = ("the issuing CA certificate is neither presented nor a trust anchor, so no CRL or OCSP "
                            "response can be verified")
        return record, []
    cert, issuer = child.cert, found.cert
    outcomes: list[Outcome] = []
    judged = []
    for source in sources:
        sha = source.get("sha256")
        verdict = judge_source(source, load(sha) if isinstance(sha, str) and sha else None, cert, issuer, at)
        judged.append((source, verdict))
        record["sources"].append(_source_record(source, verdict))
        if verdict.problem in PROBLEM_CHECKS:
            outcomes.append(Outcome(PROBLEM_CHECKS[verdict.problem], "fail", index,
                                    f"{_where(source)}: {verdict.detail}"))
    revoked = next((pair for pair in judged if pair[1].status == "revoked"), None)
    good = [pair for pair in judged if pair[1].status == "good"]
    if revoked is not None:
        source, verdict = revoked
        record.update(status="revoked", reason=verdict.reason, revoked_at=_iso(verdict.revoked_at),
                      detail=f"{verdict.detail} according to the {_where(source)}")
        outcomes.insert(0, Outcome(REVOKED, "fail", index, record["detail"]))
    elif good:
        record.update(status="good", detail="; ".join(f"{_where(s)}: {v.detail}" for s, v in good))
    elif not [pair for pair in judged if pair[1].problem != "unsupported"]:
        unsupported = "; ".join(f"{_where(s)}: {v.detail}" for s, v in judged)
        record["detail"] = "no source: " + (unsupported or "the certificate names no CRL distribution point or OCSP "
                                            "responder, and no --crl file is from its issuer")
    else:
        record["detail"] = "; ".join(f"{_where(s)}: {v.detail}" for s, v in judged if v.problem != "unsupported")
    return record, outcomes


def issuer_pool(chain: Sequence[bytes], anchors: Sequence[bytes] | None) -> list[CertFacts]:
    """Where issuers may come from: the presented certificates, then the trust anchors (or the
    public store when there are none), as the engine's one certificate model (``facts``)."""
    pool = [facts(bytes(d)) for d in chain]
    if anchors is None:
        from scanner.evaluate import public_anchors

        pool += list(public_anchors())
    else:
        pool += [facts(bytes(a)) for a in anchors]
    return [f for f in pool if f.cert is not None]


def _issuer(child: CertFacts, pool: Sequence[CertFacts]) -> CertFacts | None:
    """The certificate in ``pool`` that issued ``child``: its subject is the child's issuer name
    (as encoded, as the path builder compares) and its key verifies the child's signature. The
    verification is the path builder's (``signature_error``, remembered with the child), so a
    pair the chain verdict already checked is not verified again."""
    return next((f for f in pool if f.sha256 != child.sha256 and f.subject == child.issuer
                 and signature_error(child, f) is None), None)


def assess(chain: Sequence[bytes], sources: Sequence[Mapping[str, Any]], load: Loader, *,
           anchors: Sequence[bytes] | None, at: datetime) -> dict[str, Any]:
    """``{"revocation": [per certificate], "findings": [finding records]}`` for one endpoint.

    ``sources``: what the probe recorded, each ``{certificate_index, kind, location, sha256,
    error}``; ``load(sha256)`` gives recorded bytes. Never raises: a crash becomes the engine's
    ``dccscan.check.crashed`` finding, as for every other check.
    """
    from scanner.evaluate import finding_record  # the engine's one finding shape

    at = _utc(at).replace(microsecond=0)
    records: list[dict[str, Any]] = []
    outcomes: list[Outcome] = []
    try:
        pool = issuer_pool(chain, anchors)
        for index, der in enumerate(chain):
            mine = [s for s in sources if s.get("certificate_index") == index]
            record, found = _certificate(index, bytes(der), pool, mine, load, at)
            if record is not None:
                records.append(record)
                outcomes += found
    except Exception as exc:  # noqa: BLE001 - the engine never raises; one endpoint must not end a scan
        from scanner.checks.model import CRASHED

        outcomes.append(Outcome(CRASHED, "fail", None, f"revocation evaluation crashed: {type(exc).__name__}: {exc}"))
    return {"revocation": records, "findings": [finding_record(o) for o in outcomes]}


def source_inputs(revocation: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """The probe's part of recorded ``revocation`` records (what ``assess`` takes), for
    re-evaluating a finished scan (``verify-evidence``)."""
    return [{"certificate_index": record.get("certificate_index"), "kind": s.get("kind"),
             "location": s.get("location"), "sha256": s.get("sha256"), "error": s.get("error")}
            for record in revocation or [] for s in record.get("sources") or []]


@lru_cache(maxsize=16)
def _read_blob(folder: str, sha256: str) -> bytes | None:
    """A recorded source's bytes from ``folder/revocation/`` (a local file, never the network),
    read once per process: every endpoint of a CA refers to the same CRL."""
    import os

    if not all(c in "0123456789abcdef" for c in sha256) or len(sha256) != 64:
        return None
    for kind in ("crl", "ocsp"):
        path = os.path.join(folder, blob_name(sha256, kind))
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except OSError:
            continue
    return None


def folder_loader(folder: str) -> Loader:
    """``load(sha256)`` over a scan's output folder (what ``revocation/`` holds)."""
    return lambda sha256: _read_blob(folder, sha256)


FIREFOX_REVOKED = "SEC_ERROR_REVOKED_CERTIFICATE"


def with_browser_revocation(browsers: Mapping[str, Any] | None,
                            revocation: Sequence[Mapping[str, Any]] | None) -> Mapping[str, Any] | None:
    """The browser verdicts with what each browser itself does about revocation (README
    "Revocation", tests/test_revocation_browsers.py): Firefox asks the leaf's OCSP responder (or
    reads the stapled response) and refuses a leaf it says is revoked
    (``SEC_ERROR_REVOKED_CERTIFICATE``); it soft-fails otherwise and fetches no CRL. Chrome does
    no online check under a locally installed root. So only a current, verified ``ocsp`` or
    ``stapled`` answer of ``revoked`` for the leaf changes a verdict, and only Firefox's."""
    if not browsers or not isinstance(browsers.get("firefox"), Mapping):
        return browsers
    leaf = next((r for r in revocation or [] if r.get("certificate_index") == 0), None)
    said = [s for s in (leaf or {}).get("sources") or []
            if s.get("kind") in ("ocsp", "stapled") and s.get("status") == "revoked" and s.get("problem") is None]
    if not said:
        return browsers
    firefox = dict(browsers["firefox"])
    where = "the stapled OCSP response" if said[0].get("kind") == "stapled" else f"the OCSP responder {said[0].get('location')}"
    firefox["reasons"] = [*(firefox.get("reasons") or []), {
        "code": FIREFOX_REVOKED, "check": REVOKED, "certificate_index": 0,
        "message": f"{where} says the certificate is revoked; Firefox checks OCSP by default"}]
    if firefox.get("accepted"):
        firefox.update(accepted=False, error=FIREFOX_REVOKED)
    return dict(browsers, firefox=firefox)

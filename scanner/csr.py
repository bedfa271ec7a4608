"""Certificate requests (PKCS#10 CSRs) judged before they are sent: ``dccscan check-csr``.

SECMP0052 requires every DCCKI TLS certificate request to carry the hostname(s) in
subjectAltName. A request that lacks them is refused or, worse, issued and unusable in browsers,
and either costs days; checking the CSR costs nothing. Everything a request can already show (the
extensionRequest attribute's SAN, EKU, keyUsage and basicConstraints, the key, the signature
algorithm) is checked with the same rules, ids and citations as a certificate: the profile rules
of ``scanner/checks/dccki.py`` run on ``RequestFacts`` unchanged, hostnames are matched with the
engine's Chrome and Firefox matchers, and the request-only checks live in
``scanner/checks/request.py``. With ``against``, the issued certificate is compared with its
request and run through the engine's profile checks.

Pure: no network, no clock unless ``at`` is left out. Bad files raise ``InputError``; nothing
inside a request (hostile or broken) raises.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from scanner import pem
from scanner.certinfo import describe, iso_utc
from scanner.checks import PROFILE_CHECKS, REGISTRY, Outcome
from scanner.checks.model import Context
from scanner.checks.registry import run
from scanner.checks.request import RequestFacts, san_set
from scanner.errors import InputError, read_input
from scanner.evaluate import builtin_profile, evaluate_outcomes, finding_record, names, profile_status
from scanner.evaluate.profile import EKU_NAMES, Profile
from scanner.facts import asn1
from scanner.facts import certificate as certs

REQUEST_LABELS = ("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")
# The profile rules a request can show; a validity limit is the CA's to set.
REQUEST_RULES = tuple(c for c in PROFILE_CHECKS if c != "dccki.validity.too_long") + (
    "csr.signature.invalid", "csr.ca_requested")
NAME_RULES = ("csr.hostname.not_covered", "csr.hostname.browsers_differ", "firefox.name.absolute_san",
              "firefox.name.invalid_san")
AGAINST_RULES = ("csr.against.key_mismatch", "csr.against.san_missing", "csr.against.san_extra")
# What the engine says about the issued certificate that concerns the request: the profile, the
# hostnames and whether it is valid now (its chain is `dccscan check`'s business).
CERTIFICATE_RULES = (*PROFILE_CHECKS, "name.mismatch", "chrome.name.cn_only", "chrome.name.wildcard_public_suffix",
                     "firefox.name.absolute_san", "firefox.name.invalid_san", "rfc5280.validity.expired",
                     "rfc5280.validity.not_yet_valid")
_EKU_BY_OID = {oid: label for label, oid in EKU_NAMES.items()}


@dataclass(frozen=True)
class Request:
    """A loaded request: its DER, the parsed object, where it came from and how it was encoded."""

    der: bytes
    csr: x509.CertificateSigningRequest
    file: str
    encoding: str  # "PEM" or "DER"


# ------------------------------------------------------------------------------------ loading


def load_request(path: str | Path) -> Request:
    """The request in a PEM or DER file; ``InputError`` naming the file, the line and the fix."""
    p = Path(path)
    data = read_input(p, "the request", fix="pass the .csr file written by openssl req -out", pipes=True)
    return parse_request(data, str(p))


def parse_request(data: bytes, file: str) -> Request:
    """PEM (``CERTIFICATE REQUEST`` or ``NEW CERTIFICATE REQUEST``) or DER PKCS#10."""
    if not data.strip():
        raise InputError("the file is empty", file=file, fix="pass the .csr file written by openssl req -out")
    if data.lstrip()[:1] == b"-" or b"-----BEGIN " in data[:4096]:
        return _from_pem(data.decode("ascii", errors="replace"), file)
    return _from_der(data, file, line=None)


def _from_pem(text: str, file: str) -> Request:
    wanted = [b for b in pem.blocks(text) if b.label in REQUEST_LABELS]
    if not wanted:
        raise _wrong_pem(file, pem.begin_labels(text))
    if len(wanted) > 1:
        raise InputError(f"the file holds {len(wanted)} certificate requests", file=file,
                         line=wanted[1].line, fix="put one request in each file")
    block = wanted[0]
    if block.der is None:
        raise InputError("the certificate request block is not valid base64", file=file, line=block.line,
                         fix="copy the whole block again, from -----BEGIN to -----END")
    return dataclasses.replace(_from_der(block.der, file, line=block.line), encoding="PEM")


def _wrong_pem(file: str, labels: list[str]) -> InputError:
    """Say what the file is, since the usual mistake is passing the key or the certificate."""
    if not labels:
        return InputError("no '-----BEGIN CERTIFICATE REQUEST-----' block found", file=file, line=1,
                          fix="pass the .csr file written by openssl req -out (PEM or DER)")
    if any(label in REQUEST_LABELS for label in labels):
        return InputError("the certificate request block has no matching END line: the file is cut short",
                          file=file, fix="copy the whole request again, from -----BEGIN to -----END")
    if any("PRIVATE KEY" in label for label in labels):
        return InputError("this is a private key, not a certificate request", file=file,
                          fix="pass the .csr file written by openssl req -out, and keep the key file secret")
    if "CERTIFICATE" in labels:
        return InputError("this is a certificate, not a certificate request", file=file,
                          fix="pass the request (.csr); to compare a certificate with its request use "
                              "dccscan check-csr REQUEST.csr --against CERT.pem")
    return InputError(f"this PEM file holds {', '.join(sorted(set(labels)))}, not a certificate request",
                      file=file, fix="pass the .csr file written by openssl req -out (PEM or DER)")


def _from_der(data: bytes, file: str, *, line: int | None) -> Request:
    problem = asn1.framing_problem(data, "certificate request")
    if problem:
        raise InputError(problem, file=file, line=line,
                         fix="pass the whole .csr file (PEM or DER) exactly as openssl req wrote it")
    try:
        csr = x509.load_der_x509_csr(data)
        csr.subject  # noqa: B018 - parsed lazily: a broken subject is bad input, said now
    except Exception as exc:  # noqa: BLE001 - ValueError, InvalidVersion, TypeError from hostile DER
        raise InputError(_not_a_request(data, exc), file=file, line=line,
                         fix="pass a PKCS#10 certificate request (openssl req -new ... -out NAME.csr)") from None
    return Request(der=data, csr=csr, file=file, encoding="DER")


def _not_a_request(data: bytes, exc: Exception) -> str:
    try:
        x509.load_der_x509_certificate(data)
    except Exception:  # noqa: BLE001 - not a certificate either
        return f"not a PKCS#10 certificate request: {exc}"
    return "this is a DER certificate, not a certificate request"


# ------------------------------------------------------------------------------------ facts


def _signature_problem(csr: x509.CertificateSigningRequest) -> str | None:
    """None when the self-signature verifies. cryptography's ``is_signature_valid`` refuses legacy
    hashes (SHA-1), so those are verified with the request's key directly: a SHA-1 request is a
    profile finding, not a forgery."""
    try:
        if csr.is_signature_valid:
            return None
    except Exception:  # noqa: BLE001 - unsupported algorithm: try the key below
        pass
    try:
        key, tbs, params = csr.public_key(), csr.tbs_certrequest_bytes, csr.signature_algorithm_parameters
        if isinstance(key, rsa.RSAPublicKey) and csr.signature_hash_algorithm is not None:
            key.verify(csr.signature, tbs, params, csr.signature_hash_algorithm)  # type: ignore[arg-type]
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(csr.signature, tbs, params)  # type: ignore[arg-type]
        else:
            return "the signature does not verify with the request's own public key"
        return None
    except InvalidSignature:
        return "the signature does not verify with the request's own public key (altered or signed with another key)"
    except Exception as exc:  # noqa: BLE001 - hostile request
        return f"the signature cannot be checked: {exc}"


def _extensions(csr: x509.CertificateSigningRequest) -> tuple[x509.Extensions | None, dict[str, Any]]:
    """The requested extensions and the structural facts about them (duplicates, parse errors)."""
    try:
        exts = csr.extensions
    except x509.DuplicateExtension as exc:
        return None, {"duplicate_extensions": (exc.oid.dotted_string,)}
    except Exception as exc:  # noqa: BLE001 - malformed extensionRequest
        return None, {"extension_error": str(exc) or type(exc).__name__}
    unknown = tuple(e.oid.dotted_string for e in exts if e.critical and e.oid.dotted_string not in certs.KNOWN_EXTENSIONS)
    return exts, {"unknown_critical": unknown}


def _key(csr: x509.CertificateSigningRequest) -> tuple[str, int | None, str | None]:
    try:
        return certs.key_facts(csr)
    except Exception:  # noqa: BLE001 - key algorithm cryptography does not know
        return "unknown", None, None


def request_facts(request: Request, at: datetime) -> RequestFacts:
    """Everything the checks ask of a request; never raises."""
    csr = request.csr
    exts, structure = _extensions(csr)
    wanted = {f.name for f in dataclasses.fields(RequestFacts)}
    found: dict[str, Any] = certs.extension_facts(csr, exts)
    ext_facts = {k: v for k, v in found.items() if k in wanted}
    key_type, key_size, curve = _key(csr)
    sig_oid = csr.signature_algorithm_oid.dotted_string
    return RequestFacts(
        der=request.der, sha256=hashlib.sha256(request.der).hexdigest(), cert=csr, not_before=at, not_after=at,
        subject_text=_subject(csr), signature_oid=sig_oid, signature_hash=certs.signature_hash(sig_oid),
        signature_problem=_signature_problem(csr), key_type=key_type, key_size=key_size, curve=curve,
        spki=asn1.request_spki(request.der), **structure, **ext_facts)


def _subject(csr: x509.CertificateSigningRequest) -> str:
    try:
        return csr.subject.rfc4514_string()
    except Exception:  # noqa: BLE001
        return "<unparseable name>"


# ------------------------------------------------------------------------------------ checks


def _context(facts: RequestFacts, profile: Profile, at: datetime, hostname: str = "") -> Context:
    """A check context around a request; the name results only when a hostname is asked about."""
    chrome = names.chrome_match(hostname, facts.ids) if hostname else None
    firefox = names.firefox_match(hostname, facts.ids) if hostname else None
    return Context(chain=[facts], hostname=hostname, at=at, profile=profile, path=None, chrome_names=chrome,
                   firefox_names=firefox, public_store=False)


def _run(check_ids: Sequence[str], ctx: Context) -> list[Outcome]:
    """The named checks' outcomes; a crashing check becomes a ``dccscan.check.crashed`` failure."""
    return run(ctx, [REGISTRY[check_id] for check_id in check_ids])


def _structure(facts: RequestFacts) -> list[Outcome]:
    """The certificate structure rules that a request's extensionRequest can break already."""
    out = []
    if facts.duplicate_extensions:
        out.append(Outcome("rfc5280.extension.duplicate", "fail", None,
                           "the request asks for an extension twice: " + ", ".join(facts.duplicate_extensions)))
    if facts.extension_error:
        out.append(Outcome("rfc5280.extension.malformed", "fail", None, f"a requested extension does not parse: {facts.extension_error}"))
    if facts.unknown_critical:
        out.append(Outcome("rfc5280.extension.unknown_critical", "fail", None,
                           "the request asks for unknown critical extensions: " + ", ".join(facts.unknown_critical)))
    return out


def names_to_check(facts: RequestFacts, hostnames: Sequence[str]) -> list[tuple[str, str]]:
    """(reference name, what the user knows it as): the given hostnames or, without any, each
    requested dNSName (a wildcard checked with a sample label), so that a name only one browser
    would accept is caught even when nobody said which hostnames the endpoint will serve."""
    if hostnames:
        return [(h, h) for h in hostnames]
    return [("x" + d[1:] if d.startswith("*.") else d, d) for d in facts.ids.dns if d]


def _name_outcomes(facts: RequestFacts, profile: Profile, at: datetime, hostnames: Sequence[str]
                   ) -> tuple[list[Outcome], list[dict[str, Any]]]:
    outcomes: list[Outcome] = []
    rows: list[dict[str, Any]] = []
    for reference, shown in names_to_check(facts, hostnames):
        ctx = _context(facts, profile, at, reference)
        rows.append({"name": shown, "checked_as": reference, "chrome": ctx.chrome_names.matched,
                     "firefox": ctx.firefox_names.matched})
        prefix = "" if reference == shown else f"requested {shown}, checked as "
        # per-entry notes (firefox.name.*) say which SAN entry already, and are reported once
        outcomes += [dataclasses.replace(o, detail=prefix + o.detail) if o.check.startswith("csr.") else o
                     for o in _run(NAME_RULES, ctx)]
    return outcomes, rows


def _findings(outcomes: list[Outcome], about: str) -> list[dict[str, Any]]:
    """Failures as the results model's findings plus ``about`` (request or certificate), once each."""
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for o in outcomes:
        if o.status != "fail" or (o.check, o.detail) in seen:
            continue
        seen.add((o.check, o.detail))
        record = finding_record(o)
        if about == "request":
            record["certificate_index"] = None
        out.append({**record, "about": about})
    return out


# ------------------------------------------------------------------------------------ against


def _certificate_outcomes(cert_der: bytes, hostnames: Sequence[str], profile: Profile, at: datetime) -> list[Outcome]:
    """The issued certificate through the engine a scan uses, keeping what concerns the request."""
    kept: list[Outcome] = []
    for hostname in hostnames or ("",):
        _, outcomes = evaluate_outcomes([cert_der], hostname, anchors=[], at=at, profile=profile)
        rules = CERTIFICATE_RULES if hostname else PROFILE_CHECKS
        kept += [o for o in outcomes if o.check in rules]
    return kept


def compare_certificate(facts: RequestFacts, cert_der: bytes, cert_file: str, *, hostnames: Sequence[str],
                        profile: Profile, at: datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(summary, findings) for ``--against``: same key, same SANs, and the certificate's profile."""
    issued = certs.facts(cert_der)
    if issued.cert is None:
        raise InputError(f"the certificate does not parse as X.509: {issued.parse_error}", file=cert_file,
                         fix="pass the certificate the CA issued, as PEM")
    linked = dataclasses.replace(facts, issued=issued, issued_spki=asn1.read_certificate(cert_der).spki)
    outcomes = _run(AGAINST_RULES, _context(linked, profile, at))
    cert_outcomes = _certificate_outcomes(cert_der, hostnames, profile, at)
    cert_ctx = Context(chain=[issued], hostname="", at=at, profile=profile, path=None, chrome_names=None,
                       firefox_names=None, public_store=False)
    summary = {"file": cert_file, "certificate": describe(cert_der, 0), "same_key": linked.issued_spki == facts.spki,
               "same_san": san_set(facts.ids) == san_set(issued.ids),
               "profile": profile_status(cert_ctx, cert_outcomes)}
    return summary, _findings(outcomes, "request") + _findings(cert_outcomes, "certificate")


# ------------------------------------------------------------------------------------ entry point


def _summary(request: Request, facts: RequestFacts) -> dict[str, Any]:
    san = [{"type": "dns", "value": d} for d in facts.ids.dns]
    san += [{"type": "ip", "value": str(ipaddress.ip_address(ip))} for ip in facts.ids.ips]
    return {"file": request.file, "encoding": request.encoding, "sha256": facts.sha256, "subject": facts.subject_text,
            "key": {"type": facts.key_type, "size": facts.key_size, "curve": facts.curve},
            "signature_algorithm": certs.signature_name(facts.signature_oid),
            "signature_valid": facts.signature_problem is None, "san": san,
            "extended_key_usage": None if facts.eku is None else [_EKU_BY_OID.get(o, o) for o in facts.eku],
            "key_usage": None if facts.key_usage is None else sorted(facts.key_usage), "ca": facts.is_ca}


def check_request(request: Request, *, hostnames: Sequence[str] = (), profile: Profile | None = None,
                  at: datetime | None = None, against: tuple[bytes, str] | None = None) -> dict[str, Any]:
    """The whole verdict on a request: its facts, the names per browser, the profile status of the
    request (and of the issued certificate, with ``against=(DER, file name)``) and the findings."""
    profile = profile or builtin_profile()
    moment = (at or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    facts = request_facts(request, moment)
    ctx = _context(facts, profile, moment)
    outcomes = _structure(facts) + _run(REQUEST_RULES, ctx)
    name_outcomes, rows = _name_outcomes(facts, profile, moment, hostnames)
    report: dict[str, Any] = {
        "request": _summary(request, facts), "checked_at": iso_utc(moment), "hostnames": list(hostnames),
        "names": rows, "profile": profile_status(ctx, outcomes), "against": None,
        "findings": _findings(outcomes + name_outcomes, "request")}
    if against is not None:
        report["against"], extra = compare_certificate(facts, against[0], against[1], hostnames=hostnames,
                                                       profile=profile, at=moment)
        report["findings"] += extra
    return report

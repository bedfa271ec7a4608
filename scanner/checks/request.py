"""Checks that only a certificate request (PKCS#10 CSR) can fail: ``dccscan check-csr``.

A request is judged before it is sent, so the rules it shares with certificates (SAN present, key,
EKU, key usage, not a CA) keep their certificate ids and run on ``RequestFacts`` unchanged (see
``scanner/csr.py``). The checks here have no certificate counterpart: the self-signature (proof of
possession), CA powers asked for, how the requested names cover the hostnames the endpoint will
serve, and, after issuance, whether the certificate carries what was asked for. On a certificate
evaluation they are ``not-applicable``, so a scan never reports them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from scanner.checks.model import Catalogue, Context, Outcome, Runner
from scanner.facts import identity as n
from scanner.facts.certificate import CertFacts

_CATALOGUE = Catalogue()
define = _CATALOGUE.define

PKCS10 = "RFC 2986 section 4.2 (signature over CertificationRequestInfo); DCCKI RAPP section 5 (requests are PKCS#10)"
CA_POWERS = ("key_cert_sign", "crl_sign")


@dataclass(frozen=True)
class RequestFacts:
    """What a check may ask of a request. The attribute names are those of ``CertFacts`` so that
    the profile rules (``scanner/checks/dccki.py``) run on a request unchanged; ``cert`` holds the
    ``x509.CertificateSigningRequest`` and ``not_before`` / ``not_after`` the evaluation time
    (a request is issued now, so it is never grandfathered)."""

    der: bytes
    sha256: str
    cert: Any
    not_before: datetime
    not_after: datetime
    subject_text: str = ""
    signature_oid: str = ""
    signature_hash: str | None = None
    signature_problem: str | None = None
    key_type: str = "unknown"
    key_size: int | None = None
    curve: str | None = None
    spki: bytes = b""
    bc_present: bool = False
    is_ca: bool = False
    path_len: int | None = None
    key_usage: frozenset[str] | None = None
    eku: tuple[str, ...] | None = None
    ids: n.Identities = field(default_factory=n.Identities)
    duplicate_extensions: tuple[str, ...] = ()
    extension_error: str | None = None
    unknown_critical: tuple[str, ...] = ()
    issued: CertFacts | None = None     # --against: the certificate issued for this request
    issued_spki: bytes = b""

    @property
    def subject_cn(self) -> str | None:
        return self.ids.cns[-1] if self.ids.cns else None


def _request(ctx: Context) -> RequestFacts | None:
    leaf = ctx.chain[0] if ctx.chain else None
    return leaf if isinstance(leaf, RequestFacts) else None


def _request_rule(check_id: str, rule: Callable[[RequestFacts, Context], str | None]) -> Runner:
    """A check on the request: ``rule(facts, ctx)`` says why it fails (None: pass; '': n/a)."""
    passed, inapplicable = Outcome(check_id, "pass", None), Outcome(check_id, "not-applicable", None)  # immutable

    def run(ctx: Context) -> list[Outcome]:
        facts = _request(ctx)
        problem = "" if facts is None else rule(facts, ctx)
        if problem is None:
            return [passed]
        if problem == "":
            return [inapplicable]
        return [Outcome(check_id, "fail", None, problem)]
    return run


def _signature(facts: RequestFacts, _: Context) -> str | None:
    return facts.signature_problem


def _ca_powers(facts: RequestFacts, _: Context) -> str | None:
    asked = sorted(set(facts.key_usage or ()) & set(CA_POWERS))
    return f"keyUsage asks for {', '.join(asked)}, which only a CA certificate may have" if asked else None


def _verdicts(ctx: Context) -> tuple[bool, bool]:
    return bool(ctx.chrome_names.matched), bool(ctx.firefox_names.matched)


def _why(result: n.NameResult) -> str:
    return "; ".join(m.detail for m in result.reasons) or "no reason given"


def _not_covered(facts: RequestFacts, ctx: Context) -> str | None:
    if not ctx.hostname or ctx.chrome_names is None:
        return ""
    if any(_verdicts(ctx)):
        return None
    return (f"{ctx.hostname} is not covered by the requested names. Chrome: {_why(ctx.chrome_names)} | "
            f"Firefox: {_why(ctx.firefox_names)}")


def _browsers_differ(facts: RequestFacts, ctx: Context) -> str | None:
    if not ctx.hostname or ctx.chrome_names is None:
        return ""
    chrome, firefox = _verdicts(ctx)
    if chrome == firefox:
        return None
    words = {True: "accepts", False: "rejects"}
    parts = [f"Chrome {words[chrome]}" + ("" if chrome else f" ({_why(ctx.chrome_names)})"),
             f"Firefox {words[firefox]}" + ("" if firefox else f" ({_why(ctx.firefox_names)})")]
    return f"{ctx.hostname}: " + "; ".join(parts)


def _issued_key(facts: RequestFacts, _: Context) -> str | None:
    if facts.issued is None:
        return ""
    if facts.issued_spki != facts.spki:
        return ("the certificate's public key is not the key of the request "
                f"(certificate {facts.issued.key_type} {facts.issued.key_size or ''}, request {facts.key_type} "
                f"{facts.key_size or ''}): it was issued for another request")
    return None


def san_set(ids: n.Identities) -> set[str]:
    """SAN entries as comparable text: ``DNS:name`` (lower case, no trailing dot) and ``IP:addr``."""
    dns = {"DNS:" + d.lower().rstrip(".") for d in ids.dns}
    return dns | {"IP:" + str(ipaddress.ip_address(ip)) for ip in ids.ips}


def _san_missing(facts: RequestFacts, _: Context) -> str | None:
    if facts.issued is None:
        return ""
    missing = sorted(san_set(facts.ids) - san_set(facts.issued.ids))
    return f"requested but not in the certificate: {', '.join(missing)}" if missing else None


def _san_extra(facts: RequestFacts, _: Context) -> str | None:
    if facts.issued is None:
        return ""
    extra = sorted(san_set(facts.issued.ids) - san_set(facts.ids))
    return f"in the certificate but not requested: {', '.join(extra)}" if extra else None


CHROME_VERIFY = "Chromium net/cert/x509_certificate.cc X509Certificate::VerifyHostname"
FIREFOX_VERIFY = "mozilla::pkix lib/mozpkix/lib/pkixnames.cpp CheckCertHostname"
PRACTICE = "common PKI practice"

define("csr.signature.invalid", "The request's self-signature does not verify", "error", "RFC 2986", PKCS10,
       "Generate the request again with its own private key (openssl req -new -key ...); a request altered "
       "after signing, or signed with another key, will be refused.", _request_rule("csr.signature.invalid", _signature))
define("csr.ca_requested", "The request asks for CA key usages (keyCertSign or cRLSign)", "error", PRACTICE,
       "RFC 5280 4.2.1.3 (keyCertSign only with basicConstraints cA); DCCKI: TLS certificates are end-entity "
       "certificates", "Request keyUsage digitalSignature (and keyEncipherment for RSA) only.",
       _request_rule("csr.ca_requested", _ca_powers))
define("csr.hostname.not_covered", "A hostname the endpoint serves is not covered by the requested names", "error",
       "Chrome and Firefox", f"{CHROME_VERIFY}; {FIREFOX_VERIFY}; RFC 6125 section 6.4; SECMP0052",
       "Add the hostname (or IP address) to the request's subjectAltName (openssl req -addext "
       "\"subjectAltName=DNS:...\") and generate it again.", _request_rule("csr.hostname.not_covered", _not_covered))
define("csr.hostname.browsers_differ", "Only one of Chrome and Firefox would accept a requested name", "warning",
       "Chrome and Firefox", f"{CHROME_VERIFY} (public-suffix wildcards, trailing dots); {FIREFOX_VERIFY}, "
       "IsValidDNSID (name syntax, three-label wildcards)",
       "Request the exact hostnames, or a wildcard below a registrable domain (e.g. *.example.co.uk), with no "
       "trailing dot.", _request_rule("csr.hostname.browsers_differ", _browsers_differ))
define("csr.against.key_mismatch", "The certificate's public key is not the request's", "error", PRACTICE,
       f"{PKCS10}; RFC 5280 4.1.2.7", "Ask the CA for the certificate issued from this request; install it with "
       "the private key that made the request.", _request_rule("csr.against.key_mismatch", _issued_key))
define("csr.against.san_missing", "The certificate lacks subjectAltName entries the request asked for", "error",
       PRACTICE, "RFC 5280 4.2.1.6; SECMP0052", "Raise it with the DCCKI registration authority and request the "
       "certificate again with the names.", _request_rule("csr.against.san_missing", _san_missing))
define("csr.against.san_extra", "The certificate carries subjectAltName entries the request did not ask for",
       "notice", PRACTICE, "RFC 5280 4.2.1.6", "Check that the extra names are intended.",
       _request_rule("csr.against.san_extra", _san_extra))

CHECKS = _CATALOGUE.freeze()
# Checks that judge a certificate request (not-applicable on a certificate evaluation).
REQUEST_CHECKS: tuple[str, ...] = tuple(c.id for c in CHECKS)

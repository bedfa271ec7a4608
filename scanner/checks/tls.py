"""Cited findings about the TLS handshake itself (not the certificate): what the client
simulation (``scanner.evaluate.handshake``) shows a real browser cannot do with this server.

Each finding has a stable id, a severity, its source, a citation and the date the rule took
effect, like the certificate checks (``scanner.checks.registry``); a setting that stops a browser
from connecting is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

BROWSER_NAMES = {"chrome": "Chrome", "firefox": "Firefox"}


@dataclass(frozen=True)
class TlsRule:
    id: str
    severity: str
    title: str
    source: str
    citation: str
    effective: date
    advice: str


HANDSHAKE_FAILS = TlsRule(
    "tls.handshake.browser_cannot_connect", "error",
    "A browser cannot complete the TLS handshake with this endpoint",
    "Chrome and Firefox",
    "RFC 8996 (TLS 1.0 and 1.1 deprecated); RFC 9325 section 4 (TLS 1.2 with ECDHE and AEAD suites, "
    "TLS 1.3); Chrome 84 and Firefox 78 removed TLS 1.0/1.1; neither offers DHE suites",
    date(2021, 3, 23),  # RFC 8996 published
    "enable TLS 1.2 and 1.3 with ECDHE key exchange and AES-GCM or ChaCha20-Poly1305 suites, and a "
    "certificate key the browsers' signature algorithms cover (RSA, ECDSA P-256 or P-384)")
LEGACY_ONLY = TlsRule(
    "tls.protocol.legacy_version_chosen", "error",
    "The server chose a deprecated TLS version for a browser that offers TLS 1.2 and 1.3",
    "RFC 8996", "RFC 8996 section 2 and 3 (TLS 1.0 and TLS 1.1 MUST NOT be used)", date(2021, 3, 23),
    "enable TLS 1.2 and TLS 1.3 on the server")
LEGACY_ACCEPTED = TlsRule(
    "tls.protocol.legacy_version_accepted", "warning",
    "The endpoint still accepts TLS 1.0 or TLS 1.1",
    "RFC 8996", "RFC 8996 sections 2 and 3 (TLS 1.0 and TLS 1.1 MUST NOT be negotiated); RFC 9325 section 3.1.1",
    date(2021, 3, 23), "disable TLS 1.0 and TLS 1.1 on the server (browsers no longer use them; old clients that "
    "need them should be upgraded)")
WEAK_SUITE = TlsRule(
    "tls.cipher.not_recommended", "warning",
    "A browser gets a cipher suite RFC 9325 does not recommend (CBC mode or RSA key exchange)",
    "RFC 9325", "RFC 9325 section 4.2 (recommended: TLS_ECDHE_* with AES-GCM or ChaCha20-Poly1305)",
    date(2022, 11, 17), "prefer ECDHE suites with AEAD ciphers (AES-GCM, ChaCha20-Poly1305) in the server's order")


def _finding(rule: TlsRule, at: datetime, detail: str) -> dict[str, Any]:
    severity = rule.severity if at.date() >= rule.effective else "notice"
    return {"id": rule.id, "severity": severity, "certificate_index": None, "title": rule.title,
            "detail": detail, "source": rule.source, "citation": f"{rule.citation} (effective {rule.effective})",
            "advice": rule.advice}


def weak_suite(cipher: str | None) -> bool:
    """CBC-mode or static-RSA key exchange: outside RFC 9325's recommended suites."""
    if not cipher or cipher.startswith("TLS_AES_") or cipher.startswith("TLS_CHACHA20_"):
        return False
    return "_CBC_" in cipher or cipher.startswith("TLS_RSA_WITH_")


def handshake_findings(browsers: dict[str, Any] | None, at: datetime,
                       tls: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Findings from each browser's handshake verdict (none when no simulation ran) and from the
    versions the endpoint accepts (``tls.versions``)."""
    findings: list[dict[str, Any]] = []
    versions = (tls or {}).get("versions") or {}
    legacy_accepted = [v for v in ("TLSv1", "TLSv1.1") if versions.get(v)]
    failed, weak = [], []
    for browser, verdict in (browsers or {}).items():
        hs = (verdict or {}).get("handshake")
        if not hs:
            continue
        if not hs["completed"]:
            failed.append(f"{BROWSER_NAMES.get(browser, browser)}: {hs['error']} "
                          f"({'; '.join(r['message'] for r in hs['reasons'])})")
        elif weak_suite(hs.get("cipher")):
            weak.append(f"{BROWSER_NAMES.get(browser, browser)} gets {hs['cipher']} ({hs['version']})")
    if failed:
        findings.append(_finding(HANDSHAKE_FAILS, at, "; ".join(failed)))
        legacy = [b for b in (browsers or {}).values()
                  if (b or {}).get("handshake") and b["handshake"].get("version") in ("SSLv3", "TLSv1", "TLSv1.1")]
        if legacy:
            findings.append(_finding(LEGACY_ONLY, at, f"the server answered with {legacy[0]['handshake']['version']}"))
    if legacy_accepted and not any(f["id"] == LEGACY_ONLY.id for f in findings):
        findings.append(_finding(LEGACY_ACCEPTED, at, f"accepted: {', '.join(legacy_accepted)}"))
    if weak:
        findings.append(_finding(WEAK_SUITE, at, "; ".join(weak)))
    return findings


RULES = (HANDSHAKE_FAILS, LEGACY_ONLY, LEGACY_ACCEPTED, WEAK_SUITE)
SIMULATION_RULES = frozenset({HANDSHAKE_FAILS.id, LEGACY_ONLY.id, WEAK_SUITE.id})  # need the client simulation


def catalogue(client_simulation: bool = True) -> list[dict[str, Any]]:
    """The TLS rules as the check catalogue lists checks (results.json ``checks``); without the
    client simulation only the rules that can still fire."""
    return [{"id": r.id, "title": r.title, "severity": r.severity, "source": r.source, "citation": r.citation,
             "effective_date": r.effective.isoformat(), "advice": r.advice, "applies_to": "endpoint"}
            for r in RULES if client_simulation or r.id not in SIMULATION_RULES]

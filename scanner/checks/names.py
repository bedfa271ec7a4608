"""Hostname checks: is the scanned name in the leaf's subjectAltName, as each browser reads it."""

from __future__ import annotations

from scanner.checks.model import Catalogue, Context, Outcome, Runner
from scanner.facts import identity as n

_CATALOGUE = Catalogue()
define = _CATALOGUE.define

CHROME_VERIFY = "Chromium net/cert/x509_certificate.cc X509Certificate::VerifyHostname"
FIREFOX_VERIFY = "mozilla::pkix lib/mozpkix/lib/pkixnames.cpp CheckCertHostname, IsValidDNSID"


def _kinds(result: n.NameResult) -> set[str]:
    return {m.kind for m in (*result.reasons, *result.notes)}


def _detail(result: n.NameResult, kinds: set[str]) -> str:
    return "; ".join(m.detail for m in (*result.reasons, *result.notes) if m.kind in kinds)


_MATCHED = Outcome("name.mismatch", "pass", 0)  # shared: outcomes are immutable


def _mismatch(ctx: Context) -> list[Outcome]:
    parts = []
    for browser, result in (("Chrome", ctx.chrome_names), ("Firefox", ctx.firefox_names)):
        if not result.matched:
            parts.append(f"{browser}: " + "; ".join(m.detail for m in result.reasons))
    if not parts:
        return [_MATCHED]
    return [Outcome("name.mismatch", "fail", 0, f"{ctx.hostname} is not covered by the certificate. " + " | ".join(parts))]


def _kind_check(check_id: str, kinds: set[str], browser: str) -> Runner:
    passed = Outcome(check_id, "pass", 0)  # shared: outcomes are immutable

    def run(ctx: Context) -> list[Outcome]:
        result = ctx.chrome_names if browser == "chrome" else ctx.firefox_names
        if not result.reasons and not result.notes:
            return [passed]
        hit = _kinds(result) & kinds
        if hit:
            return [Outcome(check_id, "fail", 0, _detail(result, hit))]
        return [passed]
    return run


define("name.mismatch", "Hostname not covered by the certificate's subjectAltName", "error", "Chrome and Firefox",
       f"{CHROME_VERIFY}; {FIREFOX_VERIFY}; RFC 6125 section 6.4",
       "Reissue the certificate with the scanned hostname (or IP address) as a subjectAltName dNSName "
       "(or iPAddress) entry.", _mismatch)
define("chrome.name.cn_only", "Hostname only in the Subject CN (no matching SAN); Chrome and Firefox reject it",
       "error", "Chrome and Firefox", f"{CHROME_VERIFY} (CN fallback removed in Chrome 58); gecko CertVerifier.h "
       "SkipInvalidSANsForNonBuiltInRootsPolicy::FallBackToCommonName; SECMP0052",
       "Reissue the certificate under the DCCKI TLS profile with the hostname in subjectAltName.",
       _kind_check("chrome.name.cn_only", {n.CN_ONLY}, "chrome"))
define("chrome.name.wildcard_public_suffix", "Wildcard over a public suffix (Chrome refuses it; Firefox may accept)",
       "error", "Chrome", f"{CHROME_VERIFY} (GetCanonicalHostRegistryLength, EXCLUDE_PRIVATE_REGISTRIES)",
       "Use a wildcard below a registrable domain (e.g. *.example.co.uk), or list the hostnames explicitly.",
       _kind_check("chrome.name.wildcard_public_suffix", {n.WILDCARD_PUBLIC_SUFFIX}, "chrome"))
define("firefox.name.absolute_san", "SAN dNSName ending with a dot (Firefox treats it as invalid)", "warning",
       "Firefox", "mozilla::pkix pkixnames.cpp IsValidDNSID (only reference IDs may be absolute)",
       "Remove the trailing dot from the SAN dNSName entries.",
       _kind_check("firefox.name.absolute_san", {n.ABSOLUTE_SAN}, "firefox"))
define("firefox.name.invalid_san", "SAN dNSName with invalid syntax (Firefox skips it, or fails for public roots)",
       "warning", "Firefox", "mozilla::pkix pkixnames.cpp IsValidDNSID; gecko CertVerifier.cpp CheckCertHostnameHelper",
       "Use only valid host names (letters, digits, hyphens; a wildcard only as the whole leftmost label).",
       _kind_check("firefox.name.invalid_san", {n.INVALID_SAN, n.WILDCARD_TOO_FEW_LABELS}, "firefox"))

CHECKS = _CATALOGUE.freeze()

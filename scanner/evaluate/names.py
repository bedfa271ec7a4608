"""Hostname matching as Chrome and as Firefox do it (browser-rules.md H1-H14).

The two browsers agree on the common case (SAN only, exact or leftmost ``*`` label) but differ at
the edges a DCC User can hit: Chrome refuses a wildcard over an ICANN public suffix (``*.co.uk``)
and strips a trailing dot from presented names; Firefox does no PSL check (it only wants three
labels), treats a presented name ending in a dot as invalid, and validates SAN syntax. Each
matcher is a handful of small functions and collects *every* reason a name failed, modelled on
pyca/service-identity's ``hazmat.py``, so a report can say why, not just that. Nothing here
raises on hostile input: names arrive from servers and from users.

Sources: Chromium ``net/cert/x509_certificate.cc`` ``X509Certificate::VerifyHostname``;
mozilla::pkix ``lib/mozpkix/lib/pkixnames.cpp`` ``CheckCertHostname``, ``IsValidDNSID``,
``MatchPresentedDNSIDWithReferenceDNSID``; gecko ``CertVerifier.h``
``SkipInvalidSANsForNonBuiltInRootsPolicy``.
"""

from __future__ import annotations

from publicsuffixlist import PublicSuffixList

from scanner.address import ip_address
from scanner.evaluate.inputs import installed
from scanner.facts.identity import (ABSOLUTE_SAN, CN_ONLY, INVALID_REFERENCE, INVALID_SAN, NO_SAN, NOT_IN_SAN,
                                    WILDCARD_PUBLIC_SUFFIX, WILDCARD_TOO_FEW_LABELS, Identities, Mismatch,
                                    NameResult)

__all__ = ["ABSOLUTE_SAN", "CN_ONLY", "INVALID_REFERENCE", "INVALID_SAN", "NO_SAN", "NOT_IN_SAN",
           "WILDCARD_PUBLIC_SUFFIX", "WILDCARD_TOO_FEW_LABELS", "Identities", "Mismatch", "NameResult",
           "chrome_match", "firefox_match", "is_valid_dns_id", "parse_ip"]


def parse_ip(text: str) -> bytes | None:
    """Packed bytes when ``text`` is an IPv4/IPv6 literal (IPv6 may be bracketed), else None."""
    address = ip_address(text[1:-1] if text.startswith("[") and text.endswith("]") else text)
    return None if address is None else address.packed


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _lower_ascii(text: str) -> str:
    """ASCII-only lowercasing (H5): non-ASCII letters must not fold into ASCII ones (so not
    ``str.lower`` on non-ASCII text; a translation table, because this runs for every SAN entry
    of every endpoint). ASCII-only text, the usual case, is lowered by ``str.lower`` exactly so."""
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


def _ip_mismatch(ref_ip: bytes, ids: Identities, hostname: str) -> list[Mismatch]:
    """H4: an IP reference matches only iPAddress SAN entries, byte for byte."""
    if ref_ip in ids.ips:
        return []
    if any(parse_ip(d) == ref_ip for d in ids.dns):
        return [Mismatch(NOT_IN_SAN, f"{hostname} appears only as a dNSName; an IP needs an iPAddress SAN")]
    if any(parse_ip(c) == ref_ip for c in ids.cns) and not ids.ips:
        return [Mismatch(CN_ONLY, f"{hostname} appears only in the Subject CN, which browsers ignore")]
    return [Mismatch(NOT_IN_SAN, f"no iPAddress SAN entry equals {hostname}")]


def _cn_or_missing(ids: Identities, ref: str) -> Mismatch:
    """Why a certificate without usable SAN names fails: say so when the CN would have matched."""
    if any(_lower_ascii(c).rstrip(".") == ref for c in ids.cns):
        return Mismatch(CN_ONLY, f"{ref} is only in the Subject CN; browsers use subjectAltName only")
    return Mismatch(NO_SAN, "the certificate has no dNSName or iPAddress subjectAltName")


# --------------------------------------------------------------------------------------------
# Chrome


def _chrome_reference(hostname: str) -> str | None:
    """Lowercased reference name with one trailing dot stripped; None when unusable ('' or '.')."""
    ref = _lower_ascii(hostname)
    if ref.endswith("."):
        ref = ref[:-1]
    if not ref or "\x00" in ref:
        return None
    return ref


def _chrome_wildcard_domain(ref: str, suffixes: PublicSuffixList) -> tuple[str | None, str]:
    """The part a wildcard may replace ('.rest'), or None with the reason wildcards are refused."""
    if all(c.isdigit() or c == "." for c in ref):
        return None, "numeric names never match wildcards"
    first, dot, rest = ref.partition(".")
    if not dot or not first or not rest:
        return None, "a single-label name never matches a wildcard"
    try:
        suffix = suffixes.publicsuffix(ref)
    except Exception:  # noqa: BLE001 - odd names must not break matching
        suffix = None
    if suffix is None or len(suffix) >= len(rest):
        return None, f"*.{rest} would cover a whole public suffix ({rest})"
    return "." + rest, ""


def chrome_match(hostname: str, ids: Identities, suffixes: PublicSuffixList | None = None) -> NameResult:
    """Chrome's ``VerifyHostname``: SAN only; exact or leftmost ``*``; ICANN PSL; dots stripped.
    ``suffixes``: the ICANN public suffixes (``inputs.PinnedInputs.icann_suffixes``; default: the
    installed list)."""
    try:
        return _chrome_match(hostname, ids, suffixes or installed().icann_suffixes)
    except Exception as exc:  # noqa: BLE001 - never raise on hostile input
        return NameResult(False, (Mismatch(INVALID_REFERENCE, f"name matching failed: {exc}"),))


def _chrome_match(hostname: str, ids: Identities, suffixes: PublicSuffixList) -> NameResult:
    ref = _chrome_reference(hostname)
    if ref is None:
        return NameResult(False, (Mismatch(INVALID_REFERENCE, f"{hostname!r} is not a usable host name"),))
    if not ids.dns and not ids.ips:
        return NameResult(False, (_cn_or_missing(ids, ref),))
    ref_ip = parse_ip(ref)
    if ref_ip is not None:
        ip_reasons = _ip_mismatch(ref_ip, ids, hostname)
        return NameResult(not ip_reasons, tuple(ip_reasons))
    wildcard: tuple[str | None, str] | None = None  # _chrome_wildcard_domain(ref), once a wildcard is met
    reasons: list[Mismatch] = []
    for raw in ids.dns:
        presented = _lower_ascii(raw)
        if not presented or "\x00" in presented:
            continue
        if presented.endswith("."):
            presented = presented[:-1]
        if presented == ref:
            return NameResult(True)
        if presented.startswith("*.") and len(presented) > 2:
            wildcard = wildcard or _chrome_wildcard_domain(ref, suffixes)  # the PSL lookup only when needed
            wildcard_domain, why_not = wildcard
            if wildcard_domain is not None and presented[1:] == wildcard_domain:
                return NameResult(True)
            if wildcard_domain is None and presented[1:] == "." + ref.partition(".")[2]:
                reasons.append(Mismatch(WILDCARD_PUBLIC_SUFFIX, f"{raw} refused: {why_not}"))
    if not reasons:
        reasons.append(_not_covered(ids, ref))
    return NameResult(False, tuple(reasons))


def _not_covered(ids: Identities, ref: str) -> Mismatch:
    shown = ", ".join(ids.dns[:8]) + (" ..." if len(ids.dns) > 8 else "")
    if any(_lower_ascii(c).rstrip(".") == ref for c in ids.cns):
        return Mismatch(CN_ONLY, f"{ref} is only in the Subject CN; the SAN lists {shown or 'no DNS names'}")
    return Mismatch(NOT_IN_SAN, f"{ref} is not covered by the SAN ({shown or 'no DNS names'})")


# --------------------------------------------------------------------------------------------
# Firefox (mozilla::pkix)

_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def _valid_label(label: str, *, presented: bool) -> bool:
    if not 1 <= len(label) <= 63 or not _LABEL_CHARS.issuperset(label):
        return False
    return not (label.startswith("-") or (presented and label.endswith("-")))


def is_valid_dns_id(name: str, *, presented: bool) -> bool:
    """mozilla::pkix ``IsValidDNSID``: syntax of a presented (SAN) or reference DNS identity."""
    if not name or len(name) > 253 + (0 if presented else 1):
        return False
    if name.endswith("."):
        if presented:
            return False
        name = name[:-1]
    labels = name.split(".")
    if presented and labels[0] == "*":
        if len(labels) < 3:
            return False
        labels = labels[1:]
    if not all(_valid_label(label, presented=presented) for label in labels):
        return False
    return not labels[-1].isdigit()


def _firefox_entry(raw: str, ref: str) -> tuple[bool, Mismatch | None]:
    """(matches, note) for one presented dNSName; the note explains an entry Firefox rejects."""
    if raw.endswith(".") and is_valid_dns_id(raw[:-1], presented=True):
        return False, Mismatch(ABSOLUTE_SAN, f"SAN {raw!r} ends with a dot, which Firefox treats as invalid")
    if raw.startswith("*.") and raw.count(".") < 2:
        return False, Mismatch(WILDCARD_TOO_FEW_LABELS, f"SAN {raw!r}: a wildcard needs at least three labels")
    if not is_valid_dns_id(raw, presented=True):
        return False, Mismatch(INVALID_SAN, f"SAN {raw!r} is not a valid DNS name")
    presented = _lower_ascii(raw)
    if presented == ref:
        return True, None
    if presented.startswith("*."):
        first, dot, rest = ref.partition(".")
        return bool(first and dot and presented[2:] == rest), None
    return False, None


def firefox_match(hostname: str, ids: Identities, *, builtin_root: bool = False) -> NameResult:
    """mozilla::pkix ``CheckCertHostname`` with PSM's policy (no CN; invalid SANs skipped unless
    the chain ends at a built-in root, where one invalid entry fails the whole match)."""
    try:
        return _firefox_match(hostname, ids, builtin_root)
    except Exception as exc:  # noqa: BLE001
        return NameResult(False, (Mismatch(INVALID_REFERENCE, f"name matching failed: {exc}"),))


def _firefox_match(hostname: str, ids: Identities, builtin_root: bool) -> NameResult:
    ref_ip = parse_ip(hostname)
    if ref_ip is not None:
        if not ids.dns and not ids.ips:
            return NameResult(False, (_cn_or_missing(ids, hostname),))
        reasons = _ip_mismatch(ref_ip, ids, hostname)
        return NameResult(not reasons, tuple(reasons))
    if not is_valid_dns_id(hostname, presented=False):
        return NameResult(False, (Mismatch(INVALID_REFERENCE, f"{hostname!r} is not a valid DNS name"),))
    ref = _lower_ascii(hostname[:-1] if hostname.endswith(".") else hostname)
    if not ids.dns and not ids.ips:
        return NameResult(False, (_cn_or_missing(ids, ref),))
    notes: list[Mismatch] = []
    matched = False
    for raw in ids.dns:
        hit, note = _firefox_entry(raw, ref)
        matched = matched or hit
        if note is not None:
            notes.append(note)
    if builtin_root and any(n.kind in (INVALID_SAN, ABSOLUTE_SAN) for n in notes):
        return NameResult(False, tuple(notes))
    if matched:
        return NameResult(True, (), tuple(notes))
    return NameResult(False, (*notes, _not_covered(ids, ref)))

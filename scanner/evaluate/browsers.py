"""Each browser's verdict from the failed checks: accepted?, the error it shows first, every reason.

ONE TABLE (``EFFECTS``) says what each check means to each browser; the real-browser oracle tests
correct it there. Precedence follows the browsers' own code:

Chrome (Chromium ``net/cert/cert_status_flags.cc`` ``MapCertStatusToNetError``): every problem
sets a cert-status flag; the net error is the most serious flag in the fixed order ``CHROME_ORDER``.
Path-builder errors that ``cert_verify_proc_builtin.cc`` ``MapPathBuilderErrorsToCertStatus`` does
not map to a specific flag become ``CERT_STATUS_INVALID`` only when no other path flag is set
(``"INVALID?"`` in the table). The hostname is always checked (``CertVerifyProc::Verify``). A
keyUsage the TLS handshake cannot use fails the handshake itself, after certificate verification.

Firefox: mozilla::pkix returns the first error it meets: the leaf's own problems (parse, then
issuer-independent checks), then path building up the chain, then the leaf's validity period,
which ``BuildForward`` defers until a path is found. PSM (``SSLServerCertVerification.cpp``
``DetermineCertOverrideErrors``) then, for overridable errors, also checks the hostname and shows
trust errors first, then ``SSL_ERROR_BAD_CERT_DOMAIN``, then time errors.

Read in the sources: Chrome's flag order and MapPathBuilderErrorsToCertStatus (unacceptable key
-> WEAK_KEY; no issuer / bad signature -> AUTHORITY_INVALID; anything else -> INVALID only when
nothing else is set); PSM's "trust, then mismatch, then time" choice. From notes and memory, to be
confirmed by the oracle suite: the exact set of PSM trust-group codes, Firefox accepting SHA-1
under a locally installed root, and where ERR_SSL_KEY_USAGE_INCOMPATIBLE ranks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from scanner.checks.registry import Outcome

# Chrome cert status flags, most serious first (MapCertStatusToNetError).
CHROME_ORDER: tuple[tuple[str, str], ...] = (
    ("INVALID", "ERR_CERT_INVALID"),
    ("AUTHORITY_INVALID", "ERR_CERT_AUTHORITY_INVALID"),
    ("COMMON_NAME_INVALID", "ERR_CERT_COMMON_NAME_INVALID"),
    ("NAME_CONSTRAINT_VIOLATION", "ERR_CERT_NAME_CONSTRAINT_VIOLATION"),
    ("WEAK_SIGNATURE_ALGORITHM", "ERR_CERT_WEAK_SIGNATURE_ALGORITHM"),
    ("WEAK_KEY", "ERR_CERT_WEAK_KEY"),
    ("DATE_INVALID", "ERR_CERT_DATE_INVALID"),
    ("VALIDITY_TOO_LONG", "ERR_CERT_VALIDITY_TOO_LONG"),
    ("KEY_USAGE_INCOMPATIBLE", "ERR_SSL_KEY_USAGE_INCOMPATIBLE"),  # handshake, after verification
)
# Path-builder flags that MapPathBuilderErrorsToCertStatus maps explicitly (read in
# net/cert/cert_verify_proc_builtin.cc): anything else on the path becomes INVALID only when none
# of these is set. Unparseable intermediates are dropped (AddIntermediatesToIssuerSource); an
# unparseable leaf is ERR_CERT_INVALID at once.
_CHROME_PATH_FLAGS = frozenset({"AUTHORITY_INVALID", "DATE_INVALID", "WEAK_KEY"})

# Firefox stages: order in which mozilla::pkix meets the problem.
LEAF_PARSE, LEAF, PATH, LEAF_TIME, HOSTNAME = 0, 1, 2, 3, 4
# PSM override groups (DetermineCertOverrideErrors): trust errors shown before the hostname, time after.
TRUST, TIME, FATAL = "trust", "time", "fatal"


@dataclass(frozen=True)
class Effect:
    """What one failed check does in each browser.

    chrome: the cert-status flag it sets (``"INVALID?"``: INVALID only if no other path flag);
    chrome_public_only / firefox_public_only: the effect applies only under a public root.
    firefox: (error code, stage, override group); None when Firefox accepts it.
    """

    chrome: str | None
    firefox: tuple[str, int, str] | None
    firefox_public_only: bool = False
    chrome_also: str | None = None  # a second flag set by CertVerifyProc::Verify itself


_UNKNOWN_ISSUER = ("SEC_ERROR_UNKNOWN_ISSUER", PATH, TRUST)

EFFECTS: dict[str, Effect] = {
    # hostname (names.py)
    "name.mismatch": Effect("COMMON_NAME_INVALID", ("SSL_ERROR_BAD_CERT_DOMAIN", HOSTNAME, "mismatch")),
    # chain / trust (path.py)
    "chain.incomplete": Effect("AUTHORITY_INVALID", _UNKNOWN_ISSUER),
    "chain.untrusted_root": Effect("AUTHORITY_INVALID", _UNKNOWN_ISSUER),
    "chain.self_signed_leaf": Effect("AUTHORITY_INVALID", ("MOZILLA_PKIX_ERROR_SELF_SIGNED_CERT", PATH, TRUST)),
    "chain.bad_signature": Effect("AUTHORITY_INVALID", ("SEC_ERROR_BAD_SIGNATURE", PATH, FATAL)),
    "chain.issuer.expired": Effect("DATE_INVALID", ("SEC_ERROR_EXPIRED_ISSUER_CERTIFICATE", PATH, TRUST)),
    "chain.issuer.not_yet_valid": Effect("DATE_INVALID", ("MOZILLA_PKIX_ERROR_NOT_YET_VALID_ISSUER_CERTIFICATE", PATH, TRUST)),
    "chain.anchor_expired": Effect(None, ("SEC_ERROR_EXPIRED_ISSUER_CERTIFICATE", PATH, TRUST)),
    "chain.ca.not_ca": Effect("INVALID?", ("SEC_ERROR_CA_CERT_INVALID", PATH, TRUST)),
    "chain.ca.v1": Effect("INVALID?", ("MOZILLA_PKIX_ERROR_V1_CERT_USED_AS_CA", PATH, TRUST)),
    "chain.ca.key_cert_sign_missing": Effect("INVALID?", ("SEC_ERROR_INADEQUATE_KEY_USAGE", PATH, FATAL)),
    "chain.ca.path_length": Effect("INVALID?", ("SEC_ERROR_PATH_LEN_CONSTRAINT_INVALID", PATH, FATAL)),
    "chain.name_constraints.violation": Effect("INVALID?", ("SEC_ERROR_CERT_NOT_IN_NAME_SPACE", PATH, FATAL)),
    "chain.signature.sha1": Effect("INVALID?", ("SEC_ERROR_CERT_SIGNATURE_ALGORITHM_DISABLED", LEAF, TRUST),
                                   firefox_public_only=True, chrome_also="WEAK_SIGNATURE_ALGORITHM"),
    "chain.signature.md5": Effect("INVALID?", ("SEC_ERROR_CERT_SIGNATURE_ALGORITHM_DISABLED", LEAF, TRUST),
                                  chrome_also="WEAK_SIGNATURE_ALGORITHM"),
    # kUnacceptablePublicKey is mapped to WEAK_KEY by MapPathBuilderErrorsToCertStatus (checked).
    "chain.key.weak": Effect("WEAK_KEY", ("MOZILLA_PKIX_ERROR_INADEQUATE_KEY_SIZE", LEAF, TRUST)),
    "chain.key.unsupported_curve": Effect("WEAK_KEY", ("SEC_ERROR_UNSUPPORTED_ELLIPTIC_CURVE", LEAF, FATAL)),
    "chain.key.unsupported_algorithm": Effect("WEAK_KEY", ("SEC_ERROR_UNSUPPORTED_KEYALG", LEAF, FATAL)),
    "chain.anchor.unknown_critical": Effect(None, ("SEC_ERROR_UNKNOWN_CRITICAL_EXTENSION", PATH, FATAL)),
    "firefox.issuer.empty_name": Effect(None, ("MOZILLA_PKIX_ERROR_EMPTY_ISSUER_NAME", PATH, TRUST)),
    "chrome.extension.unconsumed_critical": Effect("INVALID?", None),
    "chain.path_building_limit": Effect("AUTHORITY_INVALID", None),
    "chrome.validity.too_long": Effect("VALIDITY_TOO_LONG", None),
    # certificate structure
    "rfc5280.certificate.unparseable": Effect("INVALID", ("SEC_ERROR_BAD_DER", LEAF_PARSE, FATAL)),
    "rfc5280.extension.duplicate": Effect("INVALID", ("SEC_ERROR_EXTENSION_VALUE_INVALID", LEAF_PARSE, FATAL)),
    "rfc5280.extension.malformed": Effect("INVALID", ("SEC_ERROR_EXTENSION_VALUE_INVALID", LEAF_PARSE, FATAL)),
    "rfc5280.extension.unknown_critical": Effect("INVALID?", ("SEC_ERROR_UNKNOWN_CRITICAL_EXTENSION", LEAF_PARSE, FATAL)),
    "rfc5280.signature.algorithm_mismatch": Effect("INVALID", ("MOZILLA_PKIX_ERROR_SIGNATURE_ALGORITHM_MISMATCH", LEAF_PARSE, FATAL)),
    "rfc5280.validity.expired": Effect("DATE_INVALID", ("SEC_ERROR_EXPIRED_CERTIFICATE", LEAF_TIME, TIME)),
    "rfc5280.validity.not_yet_valid": Effect("DATE_INVALID", ("MOZILLA_PKIX_ERROR_NOT_YET_VALID_CERTIFICATE", LEAF_TIME, TIME)),
    # usages
    "rfc5280.eku.server_auth_missing": Effect("INVALID?", ("SEC_ERROR_INADEQUATE_CERT_TYPE", LEAF, FATAL)),
    "firefox.eku.any_only": Effect(None, ("SEC_ERROR_INADEQUATE_CERT_TYPE", LEAF, FATAL)),
    "firefox.leaf.is_ca": Effect(None, ("MOZILLA_PKIX_ERROR_CA_CERT_USED_AS_END_ENTITY", LEAF, TRUST)),
    "firefox.key_usage.leaf_unusable": Effect(None, ("SEC_ERROR_INADEQUATE_KEY_USAGE", LEAF, FATAL)),
    "chrome.key_usage.tls_incompatible": Effect("KEY_USAGE_INCOMPATIBLE", None),
}
# Checks that refine a browser reason (the more specific id is shown as the reason's check).
REFINES = {"chrome.name.cn_only": "name.mismatch", "chrome.name.wildcard_public_suffix": "name.mismatch"}


def _chrome_code(flag: str) -> str:
    return dict(CHROME_ORDER)[flag]


def chrome_verdict(failures: Sequence[Outcome], *, name_matched: bool, public: bool) -> dict[str, Any]:
    """Chrome's verdict: flags from every failure, the net error from MapCertStatusToNetError."""
    flags: set[str] = set()
    fallback_invalid = False
    hits: list[tuple[tuple[str, ...], Outcome]] = []
    for outcome in failures:
        effect = EFFECTS.get(outcome.check)
        if effect is None or effect.chrome is None or (outcome.check == "name.mismatch" and name_matched):
            continue
        own = tuple(f for f in ("INVALID" if effect.chrome == "INVALID?" else effect.chrome, effect.chrome_also) if f)
        fallback_invalid = fallback_invalid or effect.chrome == "INVALID?"
        flags.update(f for f in own if effect.chrome != "INVALID?" or f != "INVALID")
        hits.append((own, outcome))
    if fallback_invalid and not flags & _CHROME_PATH_FLAGS:
        flags.add("INVALID")
    error = next((code for flag, code in CHROME_ORDER if flag in flags), None)
    reasons = [_reason(_chrome_code(next((f for f, _ in CHROME_ORDER if f in own and f in flags), own[0])), outcome)
               for own, outcome in hits]
    return {"accepted": error is None, "error": error, "reasons": _sorted(reasons, error)}


def firefox_verdict(failures: Sequence[Outcome], *, name_matched: bool, public: bool) -> dict[str, Any]:
    """Firefox's verdict: mozilla::pkix's first error, then PSM's override-error priority."""
    pkix: list[tuple[tuple[int, int, int], str, str]] = []
    reasons: list[dict[str, Any]] = []
    mismatch = False
    order = list(EFFECTS)
    for outcome in failures:
        effect = EFFECTS.get(outcome.check)
        if effect is None or effect.firefox is None or (effect.firefox_public_only and not public):
            continue
        code, stage, group = effect.firefox
        if outcome.check == "name.mismatch":
            if name_matched:
                continue
            mismatch = True
        else:
            depth = outcome.certificate_index if outcome.certificate_index is not None else 99
            if depth != 0 and stage < PATH:
                stage = PATH  # an issuer's own problem is met while building the path above the leaf
            pkix.append(((stage, depth if stage == PATH else 0, order.index(outcome.check)), code, group))
        reasons.append(_reason(code, outcome))
    error = _firefox_error(sorted(pkix), mismatch)
    return {"accepted": error is None, "error": error, "reasons": _sorted(reasons, error)}


def _firefox_error(pkix: list[tuple[tuple[int, int, int], str, str]], mismatch: bool) -> str | None:
    if pkix:
        _, code, group = pkix[0]
        if group == TRUST or group == FATAL:
            return code
        return "SSL_ERROR_BAD_CERT_DOMAIN" if mismatch else code
    return "SSL_ERROR_BAD_CERT_DOMAIN" if mismatch else None


def _reason(code: str, outcome: Outcome) -> dict[str, Any]:
    return {"code": code, "message": outcome.detail, "check": outcome.check,
            "certificate_index": outcome.certificate_index}


def _sorted(reasons: list[dict[str, Any]], error: str | None) -> list[dict[str, Any]]:
    """The reason behind the shown error first, then the rest in their found order."""
    return sorted(reasons, key=lambda r: r["code"] != error)


def reason_check(outcome_check: str, failed: set[str], browser: str = "chrome") -> str:
    """The most specific failed check behind a browser reason (e.g. chrome.name.cn_only)."""
    for specific, general in REFINES.items():
        if general == outcome_check and specific in failed and (browser == "chrome" or "wildcard" not in specific):
            return specific
    return outcome_check

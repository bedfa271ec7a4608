"""Each browser's verdict from the failed checks: accepted?, the error it shows first, every reason.

ONE TABLE (``EFFECTS``) says what each check means to each browser; the real-browser oracle tests
correct it there. Precedence follows the browsers' own code:

Chrome (Chromium ``net/cert/cert_status_flags.cc`` ``MapCertStatusToNetError``): every problem
sets a cert-status flag; the net error is the most serious flag in the fixed order ``CHROME_ORDER``.
Path-builder errors that ``cert_verify_proc_builtin.cc`` ``MapPathBuilderErrorsToCertStatus`` does
not map to a specific flag become ``CERT_STATUS_INVALID`` only when no other path flag is set
(``"INVALID?"`` in the table). The hostname is always checked (``CertVerifyProc::Verify``). A
keyUsage the TLS handshake cannot use fails the handshake itself, after certificate verification.

Firefox: mozilla::pkix returns the first error it meets: the leaf's parse errors (BackCert::Init),
then path building up the chain (each issuer's own checks, signatures, name constraints), then the
leaf's issuer-independent problems, which ``BuildForward`` defers until a path is found
(``deferredEndEntityError``), validity last. PSM (``SSLServerCertVerification.cpp``
``DetermineCertOverrideErrors``) then, for overridable errors, also checks the hostname and shows
trust errors first, then ``SSL_ERROR_BAD_CERT_DOMAIN``, then time errors. A leaf key the browser's
TLS client has no signature scheme for fails the handshake before any of this.

Read in the sources: Chrome's flag order and MapPathBuilderErrorsToCertStatus (unacceptable key
-> WEAK_KEY; unparseable key -> INVALID; no issuer / bad signature -> AUTHORITY_INVALID; anything
else -> INVALID only when nothing else is set); trust_store_nss.cc (local anchors enforce expiry);
kVerifyPrefs (TLS signature schemes); pkixbuild.cpp (deferred leaf errors, RecordResult);
pkixcheck.cpp (EKU, signature digest); gecko FindIssuer (skips presented certificates failing
BackCert::Init) and CheckSignatureDigestAlgorithm (SHA-1 refused); PSM's "trust, then mismatch,
then time" choice. The real-browser oracle (``tests/browsers``) confirms the codes its cases
cover; the others (e.g. weak RSA keys, empty issuer names, public-root rules) rest on the sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from scanner.checks.model import Outcome

# Chrome cert status flags, most serious first (MapCertStatusToNetError). NO_SIGNATURE_SCHEME is
# not a cert status: the TLS handshake fails before the certificate is verified, so it comes first.
CHROME_ORDER: tuple[tuple[str, str], ...] = (
    ("NO_SIGNATURE_SCHEME", "ERR_SSL_VERSION_OR_CIPHER_MISMATCH"),  # handshake, before verification
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
# A reason Chrome lists without an error: it recovers (fetches the missing issuer over AIA).
CHROME_AIA_FETCH = "AIA_FETCH"

# Firefox stages: the order in which mozilla::pkix meets a problem (pkixbuild.cpp). BackCert::Init
# (parsing, extensions) of the leaf comes first; then path building, where each issuer's own
# checks, signatures and name constraints are met; the leaf's issuer-independent problems
# (CheckIssuerIndependentProperties) are deferred until a path is found (BuildForward's
# deferredEndEntityError), validity last among them. A handshake failure precedes all of it.
HANDSHAKE, INIT, PATH, LEAF, LEAF_TIME, HOSTNAME = -1, 0, 1, 2, 3, 4
# PSM override groups (DetermineCertOverrideErrors): trust errors shown before the hostname, time after.
TRUST, TIME, FATAL = "trust", "time", "fatal"


@dataclass(frozen=True)
class Effect:
    """What one failed check does in each browser.

    chrome: the cert-status flag it sets (``"INVALID?"``: INVALID only if no other path flag);
    chrome_also: a second flag set by CertVerifyProc::Verify itself;
    chrome_local_only: the effect applies only under a locally installed (not public) root;
    chrome_parse: BoringSSL cannot parse the certificate: fatal for the leaf, while a presented
    intermediate is silently dropped (the path then lacks its issuer: AUTHORITY_INVALID);
    chrome_note: Chrome recovers, but lists the reason under this code;
    firefox: (error code, stage, override group); None when Firefox accepts it. A presented
    intermediate failing at the INIT stage is skipped by gecko's FindIssuer (SEC_ERROR_UNKNOWN_ISSUER).
    """

    chrome: str | None
    firefox: tuple[str, int, str] | None
    chrome_also: str | None = None
    chrome_local_only: bool = False
    chrome_parse: bool = False
    chrome_note: str | None = None


_UNKNOWN_ISSUER = ("SEC_ERROR_UNKNOWN_ISSUER", PATH, TRUST)
_DISABLED = "SEC_ERROR_CERT_SIGNATURE_ALGORITHM_DISABLED"
_INADEQUATE_CERT_TYPE = ("SEC_ERROR_INADEQUATE_CERT_TYPE", LEAF, FATAL)

# Insertion order breaks ties within a Firefox stage: the leaf-stage entries follow
# CheckIssuerIndependentProperties (signature algorithm, key, issuer name, keyUsage,
# basicConstraints, extendedKeyUsage, then validity).
EFFECTS: dict[str, Effect] = {
    # the TLS handshake (no signature scheme for the leaf's key)
    "chrome.tls.no_signature_scheme": Effect("NO_SIGNATURE_SCHEME", None),
    "firefox.tls.no_signature_scheme": Effect(None, ("SSL_ERROR_NO_CYPHER_OVERLAP", HANDSHAKE, FATAL)),
    # certificate structure (BoringSSL ParsedCertificate::Create, mozilla::pkix BackCert::Init)
    "rfc5280.certificate.unparseable": Effect("INVALID", ("SEC_ERROR_BAD_DER", INIT, FATAL), chrome_parse=True),
    "rfc5280.extension.duplicate": Effect("INVALID", ("SEC_ERROR_EXTENSION_VALUE_INVALID", INIT, FATAL), chrome_parse=True),
    "rfc5280.extension.malformed": Effect("INVALID", ("SEC_ERROR_EXTENSION_VALUE_INVALID", INIT, FATAL), chrome_parse=True),
    "rfc5280.extension.unknown_critical": Effect("INVALID?", ("SEC_ERROR_UNKNOWN_CRITICAL_EXTENSION", INIT, FATAL)),
    "rfc5280.san.empty": Effect("INVALID", None, chrome_parse=True),
    # hostname (names.py)
    "name.mismatch": Effect("COMMON_NAME_INVALID", ("SSL_ERROR_BAD_CERT_DOMAIN", HOSTNAME, "mismatch")),
    # chain / trust (path.py)
    "chain.incomplete": Effect("AUTHORITY_INVALID", _UNKNOWN_ISSUER),
    "chain.incomplete.aia": Effect(None, _UNKNOWN_ISSUER, chrome_note=CHROME_AIA_FETCH),
    "chain.incomplete.aia_unusable": Effect("AUTHORITY_INVALID", _UNKNOWN_ISSUER),
    "chain.incomplete.aia_unfetched": Effect("AUTHORITY_INVALID", _UNKNOWN_ISSUER),
    "chain.untrusted_root": Effect("AUTHORITY_INVALID", _UNKNOWN_ISSUER),
    "chain.self_signed_leaf": Effect("AUTHORITY_INVALID", ("MOZILLA_PKIX_ERROR_SELF_SIGNED_CERT", PATH, TRUST)),
    "chain.bad_signature": Effect("AUTHORITY_INVALID", ("SEC_ERROR_BAD_SIGNATURE", PATH, FATAL)),
    "chain.issuer.expired": Effect("DATE_INVALID", ("SEC_ERROR_EXPIRED_ISSUER_CERTIFICATE", PATH, TRUST)),
    "chain.issuer.not_yet_valid": Effect("DATE_INVALID", ("MOZILLA_PKIX_ERROR_NOT_YET_VALID_ISSUER_CERTIFICATE", PATH, TRUST)),
    "chain.anchor_expired": Effect("DATE_INVALID", ("SEC_ERROR_EXPIRED_ISSUER_CERTIFICATE", PATH, TRUST), chrome_local_only=True),
    "chain.ca.not_ca": Effect("INVALID?", ("SEC_ERROR_CA_CERT_INVALID", PATH, TRUST)),
    "chain.ca.v1": Effect("INVALID?", ("MOZILLA_PKIX_ERROR_V1_CERT_USED_AS_CA", PATH, TRUST)),
    "chain.ca.key_cert_sign_missing": Effect("INVALID?", ("SEC_ERROR_INADEQUATE_KEY_USAGE", PATH, FATAL)),
    "chain.ca.path_length": Effect("INVALID?", ("SEC_ERROR_PATH_LEN_CONSTRAINT_INVALID", PATH, FATAL)),
    "chain.name_constraints.violation": Effect("INVALID?", ("SEC_ERROR_CERT_NOT_IN_NAME_SPACE", PATH, FATAL)),
    # trust-anchor constraints (oracle cases anchor-*): Chrome enforces them on a locally installed
    # root (trust_store_nss.cc: CertificateTrust WithEnforceAnchorConstraints), mozilla::pkix on
    # every anchor (CheckIssuerIndependentProperties runs for TrustLevel::TrustAnchor too).
    "chain.anchor.unknown_critical": Effect("INVALID?", ("SEC_ERROR_UNKNOWN_CRITICAL_EXTENSION", PATH, FATAL),
                                            chrome_local_only=True),
    "chain.anchor_not_yet_valid": Effect("DATE_INVALID", ("MOZILLA_PKIX_ERROR_NOT_YET_VALID_ISSUER_CERTIFICATE", PATH, TRUST),
                                         chrome_local_only=True),
    "firefox.anchor.no_basic_constraints": Effect(None, ("SEC_ERROR_CA_CERT_INVALID", PATH, TRUST)),
    "chrome.anchor.unparseable": Effect("AUTHORITY_INVALID", None),
    "chrome.anchor.name_constraints_pattern": Effect("INVALID?", None),
    "firefox.name_constraints.malformed": Effect(None, ("SEC_ERROR_BAD_DER", PATH, FATAL)),
    # depth and alternative issuers
    "chain.path_depth_limit": Effect("AUTHORITY_INVALID", _UNKNOWN_ISSUER),
    "firefox.path.too_long": Effect(None, _UNKNOWN_ISSUER),
    "firefox.path.alternatives_differ": Effect(None, _UNKNOWN_ISSUER),
    # RFC 5280 policy processing: BoringSSL does it (kNoValidPolicy, unmapped: INVALID), Firefox not
    "chrome.policy.explicit_required": Effect("INVALID?", None),
    "chrome.extension.unconsumed_critical": Effect("INVALID?", None),
    "chain.path_building_limit": Effect("AUTHORITY_INVALID", None),
    "chrome.validity.too_long": Effect("VALIDITY_TOO_LONG", None),
    # the leaf's issuer-independent properties (an issuer's are met during path building)
    "rfc5280.signature.algorithm_mismatch": Effect("INVALID", ("MOZILLA_PKIX_ERROR_SIGNATURE_ALGORITHM_MISMATCH", LEAF, FATAL)),
    # SHA-1 / MD5: ERR_CERT_INVALID even beside DATE_INVALID or AUTHORITY flags (oracle prio-sha1-date), so
    # INVALID outright rather than the INVALID-if-nothing-else fallback.
    "chain.signature.sha1": Effect("INVALID", (_DISABLED, LEAF, TRUST), chrome_also="WEAK_SIGNATURE_ALGORITHM"),
    "chain.signature.md5": Effect("INVALID", (_DISABLED, LEAF, TRUST), chrome_also="WEAK_SIGNATURE_ALGORITHM"),
    # kUnacceptablePublicKey is mapped to WEAK_KEY by MapPathBuilderErrorsToCertStatus (checked); a key
    # BoringSSL cannot parse at all (secp256k1) is kFailedParsingSpki, which is not mapped: INVALID.
    "chain.key.weak": Effect("WEAK_KEY", ("MOZILLA_PKIX_ERROR_INADEQUATE_KEY_SIZE", LEAF, TRUST)),
    "chain.key.unsupported_curve": Effect("INVALID?", ("SEC_ERROR_UNSUPPORTED_ELLIPTIC_CURVE", LEAF, FATAL)),
    "chain.key.unsupported_algorithm": Effect("WEAK_KEY", ("SEC_ERROR_UNSUPPORTED_KEYALG", LEAF, FATAL)),
    "firefox.issuer.empty_name": Effect(None, ("MOZILLA_PKIX_ERROR_EMPTY_ISSUER_NAME", LEAF, TRUST)),
    "firefox.key_usage.leaf_unusable": Effect(None, ("SEC_ERROR_INADEQUATE_KEY_USAGE", LEAF, FATAL)),
    "firefox.leaf.is_ca": Effect(None, ("MOZILLA_PKIX_ERROR_CA_CERT_USED_AS_END_ENTITY", LEAF, TRUST)),
    "rfc5280.eku.empty": Effect("INVALID", _INADEQUATE_CERT_TYPE, chrome_parse=True),
    "rfc5280.eku.server_auth_missing": Effect("INVALID?", _INADEQUATE_CERT_TYPE),
    "firefox.eku.any_only": Effect(None, _INADEQUATE_CERT_TYPE),
    "firefox.eku.ocsp_signing_leaf": Effect(None, _INADEQUATE_CERT_TYPE),
    "rfc5280.validity.expired": Effect("DATE_INVALID", ("SEC_ERROR_EXPIRED_CERTIFICATE", LEAF_TIME, TIME)),
    "rfc5280.validity.not_yet_valid": Effect("DATE_INVALID", ("MOZILLA_PKIX_ERROR_NOT_YET_VALID_CERTIFICATE", LEAF_TIME, TIME)),
    # the handshake after verification
    "chrome.key_usage.tls_incompatible": Effect("KEY_USAGE_INCOMPATIBLE", None),
}
# Checks that refine a browser reason (the more specific id is shown as the reason's check).
REFINES = {"chrome.name.cn_only": "name.mismatch", "chrome.name.wildcard_public_suffix": "name.mismatch"}


def _chrome_code(flag: str) -> str:
    return dict(CHROME_ORDER)[flag]


def _chrome_flags(effect: Effect, outcome: Outcome) -> tuple[str, ...]:
    """The flags one failure sets (``INVALID?`` kept as is for the fallback rule)."""
    if effect.chrome_parse and outcome.certificate_index not in (0, None):
        return ("AUTHORITY_INVALID",)  # the unparseable intermediate is dropped: no issuer
    return tuple(f for f in (effect.chrome, effect.chrome_also) if f)


def chrome_verdict(failures: Sequence[Outcome], *, name_matched: bool, public: bool) -> dict[str, Any]:
    """Chrome's verdict: flags from every failure, the net error from MapCertStatusToNetError."""
    flags: set[str] = set()
    fallback_invalid = False
    hits: list[tuple[tuple[str, ...], Outcome]] = []
    notes: list[dict[str, Any]] = []
    for outcome in failures:
        effect = EFFECTS.get(outcome.check)
        if effect is None or (outcome.check == "name.mismatch" and name_matched) or (effect.chrome_local_only and public):
            continue
        if effect.chrome is None:
            if effect.chrome_note:
                notes.append(_reason(effect.chrome_note, outcome))
            continue
        raw = _chrome_flags(effect, outcome)
        fallback_invalid = fallback_invalid or "INVALID?" in raw
        flags.update(f for f in raw if f != "INVALID?")
        hits.append((tuple("INVALID" if f == "INVALID?" else f for f in raw), outcome))
    if fallback_invalid and not flags & _CHROME_PATH_FLAGS:
        flags.add("INVALID")
    error = next((code for flag, code in CHROME_ORDER if flag in flags), None)
    reasons = [_reason(_chrome_code(next((f for f, _ in CHROME_ORDER if f in own and f in flags), own[0])), outcome)
               for own, outcome in hits]
    return {"accepted": error is None, "error": error, "reasons": _sorted(reasons, error) + notes}


def _firefox_stage(effect: Effect, outcome: Outcome) -> tuple[str, int, str]:
    """(code, stage, group) for one failure, placed where mozilla::pkix meets it."""
    code, stage, group = effect.firefox  # type: ignore[misc]
    index = outcome.certificate_index
    if index == 0 or stage in (HANDSHAKE, HOSTNAME):
        return code, stage, group
    if stage == INIT and index is not None:
        # gecko NSSCertDBTrustDomain::FindIssuer skips a presented certificate whose
        # BackCert::Init fails: the leaf is left without an issuer.
        return _UNKNOWN_ISSUER
    return code, PATH, group  # an issuer's own problem is met while building the path


def firefox_verdict(failures: Sequence[Outcome], *, name_matched: bool, public: bool) -> dict[str, Any]:
    """Firefox's verdict: mozilla::pkix's first error, then PSM's override-error priority."""
    pkix: list[tuple[tuple[int, int, int], str, str]] = []
    reasons: list[dict[str, Any]] = []
    mismatch = False
    order = list(EFFECTS)
    for outcome in failures:
        effect = EFFECTS.get(outcome.check)
        if effect is None or effect.firefox is None:
            continue
        code, stage, group = _firefox_stage(effect, outcome)
        if outcome.check == "name.mismatch":
            if name_matched:
                continue
            mismatch = True
        else:
            depth = outcome.certificate_index if outcome.certificate_index is not None else 99
            if outcome.check == "firefox.path.alternatives_differ":
                depth = -1  # RecordResult's combined error replaces each candidate's own
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

"""x509-limbo conformance: the engine's "Chrome accepts" / "Firefox accepts" against each SERVER
case's expected_result.

limbo's expectation is an idealised RFC 5280 / CA/Browser Forum verdict, not browser behaviour, so
some disagreement is correct. Every disagreement must be listed in ``DISAGREE`` with the browser
behaviour that explains it; the test fails on any unexplained disagreement and on any listed one
that no longer happens (so the list stays honest). Per-case agreement is printed with ``-s``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from scanner.evaluate import evaluate

LIMBO = Path(__file__).resolve().parents[1] / ".." / "shared" / "limbo" / "limbo.json"
DEFAULT_TIME = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)

# Cases not run, and why.
SKIP_FEATURES = {
    "has-crl": "revocation (CRLs) is not modelled: Chrome uses CRLSets and Firefox CRLite, not the case's CRL",
    "max-chain-depth": "a verifier setting browsers do not expose (they use fixed internal limits)",
}
SKIP_IDS = {
    "rfc5280::nc::permitted-dn-match": "no expected peer name: a browser always verifies a hostname",
}

CN = "Chrome and Firefox ignore the Subject CN entirely (H1/H2): SAN-only matching accepts"
AKI_SKI = ("Neither browser requires AKI/SKI (RFC 5280 MUST for CAs); BoringSSL and mozilla::pkix use them "
           "only as path-building hints")
NOT_ENFORCED = "An RFC 5280 / CABF encoding rule that neither BoringSSL nor mozilla::pkix enforces"
ANCHOR_AKI = ("mozilla::pkix never reads the authorityKeyIdentifier, so Firefox accepts; BoringSSL cannot parse "
              "the anchor (authorityCertIssuer without serial), so Chrome has none (ERR_CERT_AUTHORITY_INVALID): "
              "observed, oracle case anchor-aki-issuer-without-serial")
UNVERIFIED = " (unverified against the browsers; the oracle suite may correct it)"

# case id -> (browsers that disagree with limbo, why)
DISAGREE: dict[str, tuple[tuple[str, ...], str]] = {
    "pathlen::validation-ignores-pathlen-in-leaf": (("chrome", "firefox"),
        "leaf is a CA: Firefox MOZILLA_PKIX_ERROR_CA_CERT_USED_AS_END_ENTITY; its keyUsage lacks digitalSignature, "
        "so Chrome's TLS handshake fails (ERR_SSL_KEY_USAGE_INCOMPATIBLE)"),
    "rfc5280::ca-as-leaf": (("chrome", "firefox"),
        "leaf is a CA: Firefox MOZILLA_PKIX_ERROR_CA_CERT_USED_AS_END_ENTITY; Chrome ERR_SSL_KEY_USAGE_INCOMPATIBLE "
        "(keyUsage without digitalSignature)"),
    "rfc5280::aki::critical-aki": (("chrome", "firefox"),
        "the critical AKI is on the trust anchor, whose extensions BoringSSL does not process; mozilla::pkix "
        "recognises AKI" + UNVERIFIED),
    "rfc5280::aki::leaf-missing-aki": (("chrome", "firefox"), AKI_SKI),
    "rfc5280::aki::intermediate-missing-aki": (("chrome", "firefox"), AKI_SKI),
    "rfc5280::aki::cross-signed-root-missing-aki": (("chrome", "firefox"), AKI_SKI),
    "rfc5280::ski::critical-ski": (("chrome", "firefox"),
        "the critical SKI is on the trust anchor (not processed by BoringSSL); mozilla::pkix recognises SKI" + UNVERIFIED),
    "rfc5280::ski::root-missing-ski": (("chrome", "firefox"), AKI_SKI),
    "rfc5280::ski::intermediate-missing-ski": (("chrome", "firefox"), AKI_SKI),
    "webpki::aki::root-with-aki-missing-keyidentifier": (("chrome", "firefox"), AKI_SKI + "; also pyca accepts"),
    "webpki::aki::root-with-aki-all-fields": (("chrome", "firefox"), AKI_SKI + "; also pyca accepts"),
    "webpki::aki::root-with-aki-ski-mismatch": (("chrome", "firefox"), AKI_SKI + "; also pyca accepts"),
    "rfc5280::nc::permitted-dns-match-noncritical": (("chrome", "firefox"),
        NOT_ENFORCED + ": nameConstraints marked non-critical are still applied, and the name is permitted"),
    "rfc5280::nc::invalid-dnsname-leading-period": (("chrome", "firefox"),
        "BoringSSL and mozilla::pkix accept a leading-period dNSName constraint as a subtree (limbo notes it is "
        "widely accepted)" + UNVERIFIED),
    "rfc5280::nc::not-allowed-in-ee-noncritical": (("chrome", "firefox"),
        "nameConstraints in an end-entity certificate are ignored by both verifiers" + UNVERIFIED),
    "rfc5280::nc::not-allowed-in-ee-critical": (("chrome", "firefox"),
        "nameConstraints is a recognised extension, so critical does not reject; in a leaf it is ignored" + UNVERIFIED),
    "rfc5280::nc::nc-permits-invalid-dns-san": (("chrome", "firefox"),
        "the malformed SAN '.example.com' is suffix-matched inside the permitted subtree; Firefox skips invalid SAN "
        "entries under non-built-in roots (H11)" + UNVERIFIED),
    "rfc5280::san::noncritical-with-empty-subject": (("chrome", "firefox"), NOT_ENFORCED + " (SAN criticality)"),
    "webpki::san::san-critical-with-nonempty-subject": (("chrome", "firefox"), NOT_ENFORCED + " (SAN criticality)"),
    "rfc5280::root-non-critical-basic-constraints": (("chrome", "firefox"),
        NOT_ENFORCED + " (basicConstraints criticality on a trust anchor)"),
    "rfc5280::san::underscore-dns": (("chrome", "firefox"),
        "Firefox allows underscores for compatibility (Bugzilla 1136616); Chrome compares names as text (H11/H12)"),
    "rfc5280::serial::too-long": (("chrome", "firefox"), "serial size is not restricted by either browser (P6)"),
    "rfc5280::serial::zero": (("chrome", "firefox"), "a zero serial is a warning only in BoringSSL; no restriction in mozilla::pkix (P6)"),
    "rfc5280::ca-empty-subject": (("chrome",),
        "BoringSSL accepts an empty CA subject; mozilla::pkix rejects (MOZILLA_PKIX_ERROR_EMPTY_ISSUER_NAME)" + UNVERIFIED),
    "rfc5280::pc::ica-noncritical-pc": (("chrome", "firefox"),
        NOT_ENFORCED + " (policyConstraints criticality; Chrome's policy processing finds a valid policy)" + UNVERIFIED),
    "rfc5280::root-missing-basic-constraints": (("chrome",),
        "Chrome accepts a v3 trust anchor without basicConstraints, Firefox does not (SEC_ERROR_CA_CERT_INVALID): "
        "observed, oracle case anchor-no-basicconstraints"),
    "webpki::aki::root-with-aki-authoritycertissuer": (("firefox",), ANCHOR_AKI),
    "webpki::aki::root-with-aki-authoritycertserialnumber": (("firefox",), ANCHOR_AKI),
    "rfc5280::leaf-ku-keycertsign": (("chrome", "firefox"),
        "the leaf also asserts digitalSignature; neither browser rejects keyCertSign on a non-CA leaf" + UNVERIFIED),
    "rfc5280::ee-critical-aia-invalid": (("firefox",),
        "mozilla::pkix recognises AIA, so a critical AIA is not unknown to it; BoringSSL does not consume AIA, so "
        "Chrome rejects the critical extension" + UNVERIFIED),
    "webpki::ee-basicconstraints-ca": (("chrome",),
        "Chrome's SERVER_AUTH mode only warns on a CA leaf; Firefox rejects (observed, browser-oracle.md)"),
    "webpki::cn::ipv4-hex-mismatch": (("chrome", "firefox"), CN),
    "webpki::cn::ipv4-leading-zeros-mismatch": (("chrome", "firefox"), CN),
    "webpki::cn::ipv6-uppercase-mismatch": (("chrome", "firefox"), CN),
    "webpki::cn::ipv6-uncompressed-mismatch": (("chrome", "firefox"), CN),
    "webpki::cn::ipv6-non-rfc5952-mismatch": (("chrome", "firefox"), CN),
    "webpki::cn::punycode-not-in-san": (("chrome", "firefox"), CN),
    "webpki::cn::utf8-vs-punycode-mismatch": (("chrome", "firefox"), CN),
    "webpki::cn::not-in-san": (("chrome", "firefox"), CN),
    "webpki::cn::case-mismatch": (("chrome", "firefox"), CN),
    "webpki::eku::ee-anyeku": (("chrome", "firefox"),
        "the leaf's EKU also lists serverAuth: both browsers accept; the CABF ban on anyEKU is CA policy (P1)"),
    "webpki::eku::ee-critical-eku": (("chrome", "firefox"), NOT_ENFORCED + " (EKU criticality)"),
    "webpki::eku::ee-without-eku": (("chrome", "firefox"), "a missing EKU is accepted by both browsers (P1)"),
    "webpki::eku::root-has-eku": (("chrome", "firefox"), "an EKU with serverAuth on a root is accepted by both (P1)"),
    "webpki::san::public-suffix-multi-label-wildcard-san": (("firefox",),
        "Firefox does no public-suffix check; it only needs three labels, so *.co.uk is accepted (H8)"),
    "webpki::san::public-suffix-private-namespace-wildcard-san": (("chrome", "firefox"),
        "*.s3.amazonaws.com is under a PRIVATE-section suffix: Chrome checks ICANN suffixes only; Firefox has no PSL check (H8)"),
    "webpki::forbidden-weak-rsa-key-in-root": (("chrome", "firefox"), "both browsers accept RSA >= 1024 bits (P7)"),
    "webpki::forbidden-weak-rsa-in-leaf": (("chrome", "firefox"), "both browsers accept RSA >= 1024 bits (P7)"),
    "webpki::forbidden-rsa-not-divisible-by-8-in-root": (("chrome", "firefox"),
        "the modulus size rule is CA policy; neither browser checks it (pyca accepts too)"),
    "webpki::forbidden-rsa-key-not-divisible-by-8-in-leaf": (("chrome", "firefox"),
        "the modulus size rule is CA policy; neither browser checks it"),
    "webpki::cryptographydotio-chain-missing-intermediate": (("chrome",),
        "Chrome fetches the missing intermediate from the leaf's AIA caIssuers URL (cert_issuer_source_aia.cc; "
        "observed in the oracle case missing-intermediate-aia); Firefox does not fetch (SEC_ERROR_UNKNOWN_ISSUER)"),
}


def _der(pems: list[str]) -> list[bytes]:
    out = []
    for pem in pems:
        try:
            out.append(x509.load_pem_x509_certificate(pem.encode()).public_bytes(Encoding.DER))
        except Exception:  # noqa: BLE001 - an unparseable case certificate is passed through as bytes
            out.append(pem.encode())
    return out


def _skip_reason(case: dict[str, Any]) -> str | None:
    if case["validation_kind"] != "SERVER":
        return "CLIENT validation: browsers verify server certificates"
    for feature in case.get("features") or []:
        if feature in SKIP_FEATURES:
            return SKIP_FEATURES[feature]
    if case.get("crls"):
        return SKIP_FEATURES["has-crl"]
    if case.get("max_chain_depth") is not None:
        return SKIP_FEATURES["max-chain-depth"]
    return SKIP_IDS.get(case["id"])


def _run(case: dict[str, Any]) -> dict[str, bool]:
    when = dt.datetime.fromisoformat(case["validation_time"]) if case.get("validation_time") else DEFAULT_TIME
    chain = _der([case["peer_certificate"]]) + _der(case.get("untrusted_intermediates") or [])
    result = evaluate(chain, case["expected_peer_name"]["value"], anchors=_der(case["trusted_certs"]), at=when)
    return {b: result["browsers"][b]["accepted"] for b in ("chrome", "firefox")}


@pytest.fixture(scope="module")
def cases() -> list[dict[str, Any]]:
    if not LIMBO.exists():
        pytest.skip(f"x509-limbo suite not found at {LIMBO.resolve()} (the shared/ folder is absent in a user's clone)")
    return json.loads(LIMBO.read_text())["testcases"]


def test_limbo_disagreements_are_all_explained(cases: list[dict[str, Any]]) -> None:
    unexplained: list[str] = []
    stale: list[str] = []
    ran = skipped = agreed = 0
    for case in cases:
        if _skip_reason(case):
            skipped += 1
            continue
        ran += 1
        expected = case["expected_result"] == "SUCCESS"
        accepted = _run(case)
        disagree = tuple(b for b in ("chrome", "firefox") if accepted[b] != expected)
        listed = DISAGREE.get(case["id"], ((), ""))[0]
        if disagree != listed:
            (stale if set(listed) - set(disagree) else unexplained).append(
                f"{case['id']}: expected {case['expected_result']}, chrome accepts={accepted['chrome']}, "
                f"firefox accepts={accepted['firefox']}, listed as disagreeing for {listed or 'none'}")
        agreed += not disagree
    print(f"\nx509-limbo: {ran} run, {skipped} skipped, {agreed} agree for both browsers, "
          f"{len(DISAGREE)} explained disagreements")
    assert not unexplained, "unexplained disagreements:\n" + "\n".join(unexplained)
    assert not stale, "listed disagreements that no longer happen:\n" + "\n".join(stale)
    assert ran > 150


def test_skips_are_listed_with_reasons(cases: list[dict[str, Any]]) -> None:
    reasons = {c["id"]: _skip_reason(c) for c in cases}
    skipped = {k: v for k, v in reasons.items() if v}
    assert skipped and all(isinstance(v, str) and len(v) > 20 for v in skipped.values())
    assert set(DISAGREE).isdisjoint(skipped)

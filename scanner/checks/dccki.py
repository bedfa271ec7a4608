"""The DCCKI TLS profile's rules on the leaf (dccki.md; every value comes from the ``Profile``).

Only ``dccki.san.missing`` is DCCKI text (SECMP0052); the other rules are common PKI practice and
say so in their source. ``scanner.evaluate`` turns the outcomes into the profile status.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Callable

from scanner.checks.model import Catalogue, Context, Outcome

_CATALOGUE = Catalogue()
define = _CATALOGUE.define

SECMP0052 = "SEC Appendix S (DCCKI CP) Annex B TLS profile, added by SECMP0052 (effective 2018-11-01)"
CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_PROFILE: list[str] = []  # the profile rules, in definition order (frozen below)


def _leaf_rule(check_id: str, rule: Callable[[Context], str | None]) -> Callable[[Context], list[Outcome]]:
    """A check on the leaf: ``rule`` returns why it fails (None: pass; '' : not applicable)."""
    passed, inapplicable = Outcome(check_id, "pass", 0), Outcome(check_id, "not-applicable", 0)  # shared: immutable

    def run(ctx: Context) -> list[Outcome]:
        if ctx.leaf.cert is None:
            return [inapplicable]
        problem = rule(ctx)
        if problem is None:
            return [passed]
        if problem == "":
            return [inapplicable]
        return [Outcome(check_id, "fail", 0, problem)]
    _PROFILE.append(check_id)
    return run


def _san_missing(ctx: Context) -> list[Outcome]:
    leaf = ctx.leaf
    if leaf.cert is None:
        return [Outcome("dccki.san.missing", "not-applicable", 0)]
    types = set(ctx.profile.required_san_types)
    present = ("dns" in types and bool(leaf.ids.dns)) or ("ip" in types and bool(leaf.ids.ips))
    if present:
        return [Outcome("dccki.san.missing", "pass", 0)]
    detail = (f"no subjectAltName entry of type {' or '.join(sorted(types))}"
              + (f" (Subject CN: {leaf.subject_cn})" if leaf.subject_cn else ""))
    if leaf.not_before.date() < ctx.profile.effective_date:
        return [Outcome("dccki.san.missing", "not-effective", 0,
                        f"{detail}; issued {leaf.not_before:%Y-%m-%d}, before the profile's effective date "
                        f"{ctx.profile.effective_date}: grandfathered")]
    return [Outcome("dccki.san.missing", "fail", 0, detail)]


_PROFILE.append("dccki.san.missing")


def _scheme(oid: str) -> str:
    if oid == "1.2.840.113549.1.1.10":
        return "rsa-pss"
    if oid.startswith("1.2.840.113549.1.1."):
        return "rsa-pkcs1"
    if oid.startswith("1.2.840.10045.4."):
        return "ecdsa"
    if oid == "1.3.101.112":
        return "ed25519"
    return oid


def _signature(ctx: Context) -> str | None:
    leaf, p = ctx.leaf, ctx.profile
    scheme = _scheme(leaf.signature_oid)
    try:
        digest = leaf.cert.signature_hash_algorithm
        hash_name = digest.name if digest is not None else None
    except Exception:  # noqa: BLE001 - unknown algorithm
        hash_name = leaf.signature_hash
    if scheme not in p.allowed_signature_schemes:
        return f"signature scheme {scheme} is not allowed ({', '.join(p.allowed_signature_schemes)})"
    if scheme != "ed25519" and hash_name not in p.allowed_signature_hashes:
        return f"signature hash {hash_name} is not allowed ({', '.join(p.allowed_signature_hashes)})"
    return None


def _key(ctx: Context) -> str | None:
    leaf, p = ctx.leaf, ctx.profile
    if leaf.key_type not in p.allowed_key_types:
        return f"{leaf.key_type} keys are not allowed ({', '.join(p.allowed_key_types)})"
    if leaf.key_type == "RSA" and (leaf.key_size or 0) < p.min_rsa_bits:
        return f"RSA key of {leaf.key_size} bits; the profile needs at least {p.min_rsa_bits}"
    if leaf.key_type == "EC" and CURVE_NAMES.get(leaf.curve or "", leaf.curve) not in p.allowed_ec_curves:
        return f"EC curve {leaf.curve} is not allowed ({', '.join(p.allowed_ec_curves)})"
    return None


def _eku(ctx: Context) -> str | None:
    leaf, wanted = ctx.leaf, ctx.profile.required_eku_oids()
    if not wanted:
        return ""
    if leaf.eku is None:
        return "extendedKeyUsage is absent; the profile requires " + ", ".join(ctx.profile.required_ekus)
    missing = [name for name, oid in zip(ctx.profile.required_ekus, wanted) if oid not in leaf.eku]
    return f"extendedKeyUsage lacks {', '.join(missing)}" if missing else None


def _is_ca(ctx: Context) -> str | None:
    if not ctx.profile.forbid_ca:
        return ""
    return "basicConstraints cA=TRUE on a TLS certificate" if ctx.leaf.is_ca else None


def _key_usage(ctx: Context) -> str | None:
    if not ctx.profile.key_usage_requires_digital_signature:
        return ""
    ku = ctx.leaf.key_usage
    if ku is not None and "digital_signature" not in ku:
        return "keyUsage lacks digitalSignature (" + ", ".join(sorted(ku)) + ")"
    return None


def _validity(ctx: Context) -> str | None:
    limit = ctx.profile.max_validity_days
    if limit is None:
        return ""
    days = (ctx.leaf.not_after - ctx.leaf.not_before) / timedelta(days=1)
    return f"valid for {days:.0f} days; the profile allows {limit}" if days > limit else None


def _cn_in_san(ctx: Context) -> str | None:
    if not ctx.profile.cn_must_be_in_san:
        return ""
    leaf = ctx.leaf
    names = {d.lower().rstrip(".") for d in leaf.ids.dns}
    missing = [cn for cn in leaf.ids.cns if cn.lower().rstrip(".") not in names]
    return f"Subject CN {', '.join(missing)} is not in the SAN" if missing else None


PRACTICE = "common PKI practice"
define("dccki.san.missing", "TLS certificate without a subjectAltName dNSName or iPAddress", "error",
       "DCCKI profile (SECMP0052)", SECMP0052,
       "Request a new DCCKI Infrastructure Certificate whose CSR carries the hostname(s) in subjectAltName.",
       _san_missing, effective=date(2018, 11, 1))
define("dccki.signature.not_allowed", "Signature algorithm not allowed by the profile (SHA-256+ required)", "error",
       PRACTICE, "dccscan dccki-tls-san rule 2 (RFC 5280, CA/Browser Forum BR 7.1.3.2)",
       "Reissue the certificate signed with SHA-256 or stronger.", _leaf_rule("dccki.signature.not_allowed", _signature))
define("dccki.key.not_allowed", "Public key type or size not allowed by the profile", "error", PRACTICE,
       "dccscan dccki-tls-san rule 3 (CA/Browser Forum BR 6.1.5)",
       "Generate a new key (RSA 2048+ or ECDSA P-256/P-384) and request a new certificate.",
       _leaf_rule("dccki.key.not_allowed", _key))
define("dccki.eku.server_auth_missing", "extendedKeyUsage absent or without the required purposes", "error",
       PRACTICE, "dccscan dccki-tls-san rule 4 (CA/Browser Forum BR 7.1.2.7.10)",
       "Request the certificate with extendedKeyUsage serverAuth.", _leaf_rule("dccki.eku.server_auth_missing", _eku))
define("dccki.leaf.is_ca", "TLS certificate marked as a CA", "error", PRACTICE,
       "dccscan dccki-tls-san rule 5 (RFC 5280 4.2.1.9)", "Request the certificate with basicConstraints cA=FALSE.",
       _leaf_rule("dccki.leaf.is_ca", _is_ca))
define("dccki.key_usage.digital_signature_missing", "keyUsage present without digitalSignature", "error", PRACTICE,
       "dccscan dccki-tls-san rule 6 (RFC 5280 4.2.1.3; RFC 8446 4.4.2.2)",
       "Request the certificate with keyUsage digitalSignature.",
       _leaf_rule("dccki.key_usage.digital_signature_missing", _key_usage))
define("dccki.validity.too_long", "Validity longer than the profile's maximum", "error", PRACTICE,
       "dccscan profile setting max_validity_days", "Request a certificate with a shorter validity.",
       _leaf_rule("dccki.validity.too_long", _validity))
define("dccki.cn.not_in_san", "Subject CN not repeated in the SAN", "warning", PRACTICE,
       "dccscan profile setting cn_must_be_in_san (CA/Browser Forum BR 7.1.4.3)",
       "Request the certificate with the CN also listed as a SAN dNSName.", _leaf_rule("dccki.cn.not_in_san", _cn_in_san))

CHECKS = _CATALOGUE.freeze()
# The checks whose failure makes a certificate noncompliant with the profile.
PROFILE_CHECKS: tuple[str, ...] = tuple(_PROFILE)

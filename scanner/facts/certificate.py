"""The certificate model: everything the engine asks of one certificate, read once, cached by digest.

One parse path. The semantic facts (names, validity, serial, key, every extension value) come
from cryptography's public API; the raw facts cryptography does not expose (the extension list as
encoded when cryptography refuses it, the two signature AlgorithmIdentifiers, explicit curve
parameters, empty EKU / SAN sequences) come from the one lenient reader, ``scanner.facts.asn1``,
which reads each only when asked. Hostile DER yields a ``CertFacts`` with ``parse_error`` set, never an
exception.

One cache (``CACHE``), keyed by the SHA-256 of the DER and bounded: an estate reuses a handful of
intermediates and roots across thousands of endpoints, so each distinct certificate is read and
judged once. What the engine derives from one certificate alone (its public key, the result of
verifying it with a given issuer, its issues at a given place on a path) is kept on that
certificate's entry (``CertFacts.public_key``, ``CertFacts.memo``), so it is evicted with it.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

from scanner.facts import asn1
from scanner.facts.identity import Identities

ANY_EKU = "2.5.29.37.0"
EKU_OID = "2.5.29.37"
SAN_OID = "2.5.29.17"
NC_OID = "2.5.29.30"
OCSP_SIGNING = "1.3.6.1.5.5.7.3.9"
EMPTY_NAME = b"\x30\x00"  # DER of an empty distinguished name
SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
UNPARSEABLE_NAME = "<unparseable name>"
NOT_READ = object()  # CertFacts.san_value when the extensions did not parse as presented

# Extensions BoringSSL's verifier consumes (verify_certificate_chain.cc
# VerifyNoUnconsumedCriticalExtensions); any other critical one rejects the cert in Chrome (P4).
CHROME_CONSUMED = frozenset({
    "2.5.29.15", "2.5.29.17", "2.5.29.19", "2.5.29.30", "2.5.29.32", "2.5.29.33", "2.5.29.36",
    "2.5.29.37", "2.5.29.54",
})
# mozilla::pkix (pkixcert.cpp BackCert::RememberExtension) also recognises AKI, SKI, AIA and the
# TLS feature extension; an unrecognised critical extension is ERROR_UNKNOWN_CRITICAL_EXTENSION.
KNOWN_EXTENSIONS = CHROME_CONSUMED | {"2.5.29.14", "2.5.29.35", "1.3.6.1.5.5.7.1.1", "1.3.6.1.5.5.7.1.24"}
CHROME_UNCONSUMED = KNOWN_EXTENSIONS - CHROME_CONSUMED

_HASH_BY_SIG_OID: dict[str, str] = {
    "1.2.840.113549.1.1.4": "md5", "1.2.840.113549.1.1.5": "sha1", "1.2.840.10045.4.1": "sha1",
    "1.3.14.3.2.29": "sha1", "1.2.840.10040.4.3": "sha1", "1.2.840.113549.1.1.2": "md2",
    "1.2.840.113549.1.1.11": "sha256", "1.2.840.113549.1.1.12": "sha384",
    "1.2.840.113549.1.1.13": "sha512", "1.2.840.113549.1.1.14": "sha224",
    "1.2.840.10045.4.3.2": "sha256", "1.2.840.10045.4.3.3": "sha384", "1.2.840.10045.4.3.4": "sha512",
    "1.2.840.10045.4.3.1": "sha224", "1.3.101.112": "ed25519", "1.3.101.113": "ed448",
    "1.2.840.113549.1.1.10": "pss",
}
# Signature algorithm names as the results model records them (the names OpenSSL and cryptography
# use); an algorithm not listed is recorded by its dotted OID.
SIGNATURE_NAMES: dict[str, str] = {
    "1.2.840.113549.1.1.4": "md5WithRSAEncryption", "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
    "1.2.840.113549.1.1.14": "sha224WithRSAEncryption", "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
    "1.2.840.113549.1.1.12": "sha384WithRSAEncryption", "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
    "1.2.840.113549.1.1.10": "rsassaPss", "1.2.840.10045.4.1": "ecdsa-with-SHA1",
    "1.2.840.10045.4.3.1": "ecdsa-with-SHA224", "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
    "1.2.840.10045.4.3.3": "ecdsa-with-SHA384", "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
    "1.2.840.10040.4.3": "dsa-with-sha1", "2.16.840.1.101.3.4.3.1": "dsa-with-sha224",
    "2.16.840.1.101.3.4.3.2": "dsa-with-sha256", "1.3.101.112": "ed25519", "1.3.101.113": "ed448",
}
_KU_FLAGS = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign")


@dataclass(frozen=True)
class CertFacts:
    """Everything hostname- and time-independent that the engine asks of one certificate."""

    der: bytes
    sha256: str
    cert: x509.Certificate | None = None
    parse_error: str | None = None
    subject: bytes = b""  # the Name's DER (what the path builder compares)
    issuer: bytes = b""
    subject_text: str = ""  # RFC 4514, as cryptography writes it
    issuer_text: str = ""
    version: int = 3
    serial: int = 0
    not_before: datetime = datetime.min.replace(tzinfo=timezone.utc)
    not_after: datetime = datetime.max.replace(tzinfo=timezone.utc)
    ski: bytes | None = None
    aki: bytes | None = None
    bc_present: bool = False
    is_ca: bool = False
    path_len: int | None = None
    key_usage: frozenset[str] | None = None
    eku: tuple[str, ...] | None = None
    extensions: tuple[tuple[str, bool], ...] = ()  # (oid, critical) as encoded, in order, repeats kept
    duplicate_extensions: tuple[str, ...] = ()
    unknown_critical: tuple[str, ...] = ()
    chrome_unconsumed: tuple[str, ...] = ()  # critical, known to Firefox, not consumed by Chrome
    explicit_curve: bool = False
    extension_error: str | None = None
    signature_oid: str = ""
    signature_hash: str | None = None
    algorithm_mismatch: bool = False
    key_type: str = "unknown"
    key_size: int | None = None
    curve: str | None = None
    ids: Identities = field(default_factory=Identities)
    name_constraints: x509.NameConstraints | None = None
    san_empty: bool = False  # a subjectAltName extension with no entries (BoringSSL cannot parse it)
    ca_issuers: tuple[str, ...] = ()  # AIA caIssuers http URLs (Chrome fetches a missing issuer there)
    # RFC 5280 policy processing (Chrome's verifier does it, Firefox only for EV): the asserted
    # policy OIDs (None: no certificatePolicies), requireExplicitPolicy and inhibitAnyPolicy.
    policies: frozenset[str] | None = None
    # Extensions cryptography refused one by one (the rest are read without them), and the
    # nameConstraints entries it refused: ("dns-pattern", "*.example") or ("ip-length", hex).
    refused_extensions: tuple[str, ...] = ()
    malformed_name_constraints: tuple[tuple[str, str], ...] = ()
    require_explicit_policy: int | None = None
    inhibit_any_policy: int | None = None
    # For the certificate record (``certinfo.describe``), so it need not read the certificate again:
    # the signature algorithm's name, and the subjectAltName value (None: absent; NOT_READ when the
    # extensions did not parse as presented, so describe reads them itself and reports the error).
    signature_name: str = ""
    san_value: object = field(default=None, compare=False, repr=False)
    # Results derived from this certificate alone (keyed by what else they depend on), kept with it.
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def self_issued(self) -> bool:
        return self.subject not in (b"", EMPTY_NAME) and self.subject == self.issuer

    @property
    def subject_cn(self) -> str | None:
        return self.ids.cns[-1] if self.ids.cns else None

    @cached_property
    def public_key(self) -> Any:
        """The subject public key, loaded once (raises what cryptography raises)."""
        if self.cert is None:
            raise ValueError(self.parse_error or "the certificate did not parse")
        return self.cert.public_key()


def signature_hash(signature_oid: str) -> str | None:
    """The hash named by a signature algorithm OID (``sha256``, ``sha1``, ``pss``, ...), or None.

    Public because certificate requests are judged by the same hash rules (``scanner.csr``).
    """
    return _HASH_BY_SIG_OID.get(signature_oid)


def signature_name(signature_oid: str) -> str:
    """The recorded name of a signature algorithm (its dotted OID when it has no name here)."""
    return SIGNATURE_NAMES.get(signature_oid, signature_oid)


def key_facts(cert: x509.Certificate | x509.CertificateSigningRequest) -> tuple[str, int | None, str | None]:
    """(key type, size in bits, curve name) of the subject public key.

    Reads only ``.public_key()``, so a certificate request gets the same answer as a certificate
    (``scanner.csr``); raises what cryptography raises for an unknown key algorithm.
    """
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size, None
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.key_size, key.curve.name
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256, None
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456, None
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size, None
    return type(key).__name__, None, None


def rfc4514(name: x509.Name) -> str:
    """cryptography's RFC 4514 text of ``name``; a placeholder when the name does not decode."""
    try:
        return name.rfc4514_string()
    except Exception:  # noqa: BLE001 - attacker-controlled name
        return UNPARSEABLE_NAME


def common_names(name: x509.Name) -> tuple[str, ...]:
    return tuple(str(a.value) for a in name.get_attributes_for_oid(NameOID.COMMON_NAME))


def access_urls(aia: object, method: x509.ObjectIdentifier) -> tuple[str, ...]:
    """The URIs an authorityInformationAccess value lists for ``method`` (caIssuers or OCSP);
    nothing when ``aia`` is absent (None) or unreadable."""
    if not isinstance(aia, x509.AuthorityInformationAccess):
        return ()
    return tuple(d.access_location.value for d in aia
                 if d.access_method == method and isinstance(d.access_location, x509.UniformResourceIdentifier))


def _ca_issuers(aia: object) -> tuple[str, ...]:
    """The http caIssuers URLs (the only ones Chrome fetches)."""
    return tuple(url for url in access_urls(aia, x509.AuthorityInformationAccessOID.CA_ISSUERS)
                 if url.lower().startswith("http://"))


def _identities(cns: tuple[str, ...], san: object) -> Identities:
    if not isinstance(san, x509.SubjectAlternativeName):
        return Identities(cns=cns)
    dns: list[str] = []
    ips: list[bytes] = []
    for entry in san:  # one pass, as get_values_for_type twice would give
        if isinstance(entry, x509.DNSName):
            dns.append(entry.value)
        elif isinstance(entry, x509.IPAddress):
            if not isinstance(entry.value, (IPv4Address, IPv6Address)):  # 8 or 32 bytes: BoringSSL and
                # mozilla::pkix refuse the certificate (x509-limbo rfc5280::nc::nc-permits-invalid-ip-san)
                raise ValueError(f"a subjectAltName iPAddress entry is a range ({entry.value}), not an address")
            ips.append(entry.value.packed)
    return Identities(dns=tuple(dns), ips=tuple(ips), cns=cns, has_san_extension=True)


def _values(exts: x509.Extensions | None) -> dict[x509.ObjectIdentifier, object] | None:
    """Each extension's value by OID (the first of a repeated OID, as ``get_extension_for_oid`` gives)."""
    if exts is None:
        return None
    out: dict[x509.ObjectIdentifier, object] = {}
    for ext in exts:
        out.setdefault(ext.oid, ext.value)
    return out


def extension_facts(cert: x509.Certificate | x509.CertificateSigningRequest,
                    exts: x509.Extensions | None) -> dict[str, object]:
    """The extension-derived fields of ``CertFacts`` (basicConstraints, EKU, keyUsage, SAN, ...).

    ``exts`` is passed in because the caller decides what to do with unparseable extensions;
    ``cert`` is read only for its subject CN, so a certificate request works too (``scanner.csr``
    builds its ``RequestFacts`` from the same fields, keeping the profile checks identical).
    """
    return _extension_fields(_values(exts), common_names(cert.subject))


def _extension_fields(values: dict[x509.ObjectIdentifier, object] | None, cns: tuple[str, ...]) -> dict[str, object]:
    get = values.get if values is not None else (lambda oid: None)
    bc = get(ExtensionOID.BASIC_CONSTRAINTS)
    ku = get(ExtensionOID.KEY_USAGE)
    eku = get(ExtensionOID.EXTENDED_KEY_USAGE)
    ski = get(ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    aki = get(ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    nc = get(ExtensionOID.NAME_CONSTRAINTS)
    san = get(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    facts: dict[str, object] = {
        "bc_present": isinstance(bc, x509.BasicConstraints),
        "is_ca": bool(isinstance(bc, x509.BasicConstraints) and bc.ca),
        "path_len": bc.path_length if isinstance(bc, x509.BasicConstraints) else None,
        "eku": tuple(o.dotted_string for o in eku) if isinstance(eku, x509.ExtendedKeyUsage) else None,
        "ski": ski.digest if isinstance(ski, x509.SubjectKeyIdentifier) else None,
        "aki": aki.key_identifier if isinstance(aki, x509.AuthorityKeyIdentifier) else None,
        "name_constraints": nc if isinstance(nc, x509.NameConstraints) else None,
        "ids": _identities(cns, san),
        "ca_issuers": _ca_issuers(get(ExtensionOID.AUTHORITY_INFORMATION_ACCESS)),
        "san_empty": isinstance(san, x509.SubjectAlternativeName) and len(san) == 0,
        **_policy_fields(get(ExtensionOID.CERTIFICATE_POLICIES), get(ExtensionOID.POLICY_CONSTRAINTS),
                         get(ExtensionOID.INHIBIT_ANY_POLICY)),
    }
    if isinstance(ku, x509.KeyUsage):
        facts["key_usage"] = frozenset(f for f in _KU_FLAGS if getattr(ku, f))
    return facts


def _policy_fields(policies: object, constraints: object, inhibit: object) -> dict[str, object]:
    return {
        "policies": (frozenset(p.policy_identifier.dotted_string for p in policies)
                     if isinstance(policies, x509.CertificatePolicies) else None),
        "require_explicit_policy": (constraints.require_explicit_policy
                                    if isinstance(constraints, x509.PolicyConstraints) else None),
        "inhibit_any_policy": inhibit.skip_certs if isinstance(inhibit, x509.InhibitAnyPolicy) else None,
    }


def parse(cert_der: bytes, fingerprint: str | None = None) -> CertFacts:
    """Facts for one DER certificate; never raises. ``fingerprint``: its SHA-256 hex when the
    caller (the cache) has already computed it."""
    fingerprint = fingerprint or hashlib.sha256(cert_der).hexdigest()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. non-positive serials: reported by our own check
        try:
            return _parse(cert_der, fingerprint)
        except Exception as exc:  # noqa: BLE001 - hostile DER
            return CertFacts(der=cert_der, sha256=fingerprint, parse_error=str(exc) or type(exc).__name__)


def _parse(cert_der: bytes, fingerprint: str) -> CertFacts:
    cert = x509.load_der_x509_certificate(cert_der)
    raw = asn1.read_certificate(cert_der)
    subject, issuer = cert.subject, cert.issuer
    try:
        exts = cert.extensions
        listed = tuple((ext.oid.dotted_string, ext.critical) for ext in exts)  # strict DER: the list as encoded
        values = _values(exts)
        special: dict[str, object] = {}
        san_value = values.get(ExtensionOID.SUBJECT_ALTERNATIVE_NAME) if values else None
    except Exception as exc:  # noqa: BLE001 - repeated, empty or malformed extensions: read as presented
        listed = tuple((e.oid, e.critical) for e in raw.extensions)
        special, san_value = _refused_extensions(raw, cert_der, exc)
        values = special.pop("values")  # type: ignore[assignment]
    sig_oid = cert.signature_algorithm_oid.dotted_string
    key_type, key_size, curve = key_facts(cert)
    critical = [oid for oid, crit in listed if crit]
    return CertFacts(
        der=cert_der, sha256=fingerprint, cert=cert,
        subject=subject.public_bytes(), issuer=issuer.public_bytes(), subject_text=rfc4514(subject),
        issuer_text=rfc4514(issuer), version=1 if cert.version == x509.Version.v1 else 3, serial=cert.serial_number,
        not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
        extensions=listed, unknown_critical=tuple(o for o in critical if o not in KNOWN_EXTENSIONS),
        chrome_unconsumed=tuple(o for o in critical if o in CHROME_UNCONSUMED),
        explicit_curve=key_type == "EC" and raw.explicit_curve,  # only an EC key has curve parameters
        signature_oid=sig_oid, signature_hash=signature_hash(sig_oid), algorithm_mismatch=raw.algorithm_mismatch,
        key_type=key_type, key_size=key_size, curve=curve, signature_name=signature_name(sig_oid),
        san_value=san_value, **{**_extension_fields(values, common_names(subject)), **special},  # type: ignore[arg-type]
    )


def _refused_extensions(raw: asn1.RawCertificate, cert_der: bytes, problem: Exception) -> tuple[dict[str, object], object]:
    """(extension facts plus ``values``, the SAN value for the record) when cryptography refuses the
    extension list as a whole: a repeated extension (reported, no value read); an empty EKU or
    SAN sequence (the browsers read the rest: mozilla::pkix sees an EKU without serverAuth,
    BoringSSL cannot parse the certificate); else a malformed value (reported)."""
    duplicates = raw.duplicate_extensions()
    if duplicates:
        return {"duplicate_extensions": duplicates, "values": None}, NOT_READ
    empty = raw.empty_sequences((EKU_OID, SAN_OID))
    if not empty:
        refused: dict[str, object] = {"extension_error": str(problem) or type(problem).__name__, "values": None}
        return {**refused, **_without_refused(raw, cert_der)}, NOT_READ
    rest = x509.load_der_x509_certificate(asn1.without_extensions(cert_der, empty))
    found: dict[str, object] = {"values": _values(rest.extensions)}
    if EKU_OID in empty:
        found["eku"] = ()
    if SAN_OID in empty:
        found["san_empty"] = True
    return found, NOT_READ


def _without_refused(raw: asn1.RawCertificate, cert_der: bytes) -> dict[str, object]:
    """When one extension's value is what cryptography refuses, the others are read without it:
    a trust anchor with a malformed authorityKeyIdentifier still has its basicConstraints, and the
    browsers differ on exactly such anchors (oracle cases anchor-aki-*, anchor-nc-malformed-*)."""
    for ext in raw.extensions:
        try:
            rest = x509.load_der_x509_certificate(asn1.without_extensions(cert_der, frozenset({ext.oid})))
            values = _values(rest.extensions)
        except Exception:  # noqa: BLE001 - not this one (or not this one alone)
            continue
        found: dict[str, object] = {"values": values, "refused_extensions": (ext.oid,)}
        if ext.oid == NC_OID:
            found["malformed_name_constraints"] = asn1.malformed_name_constraints(ext.value)
        return found
    return {}


class _Cache:
    """The one certificate cache: ``CertFacts`` by the SHA-256 of the DER, least recently used
    evicted first; safe to share between threads."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._items: OrderedDict[str, CertFacts] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    def get(self, cert_der: bytes) -> CertFacts:
        key = hashlib.sha256(cert_der).hexdigest()
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return found
        facts = parse(cert_der, key)
        with self._lock:
            facts = self._items.setdefault(key, facts)  # another thread may have parsed it meanwhile
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return facts


CACHE = _Cache()


def facts(cert_der: bytes) -> CertFacts:
    """The cached facts of one DER certificate (see :func:`parse`)."""
    return CACHE.get(bytes(cert_der))

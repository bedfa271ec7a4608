"""Per-certificate facts the checks need, parsed once and cached by SHA-256 fingerprint.

An estate reuses a handful of intermediates across thousands of endpoints, so everything about a
certificate that does not depend on the hostname or the time (names, key, extensions, signature
algorithm) is computed once per fingerprint. Hostile DER yields a ``CertFacts`` with
``parse_error`` set rather than an exception.
"""

from __future__ import annotations

import hashlib
import re
import threading
import warnings
from collections import OrderedDict
from dataclasses import MISSING, dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import datetime, timezone

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtensionOID

from scanner.certinfo import NOT_READ
from scanner.evaluate.names import Identities
from scanner.evaluate.plainext import plain_extensions
from scanner.lab import der

ANY_EKU = "2.5.29.37.0"
EKU_OID = "2.5.29.37"
SAN_OID = "2.5.29.17"
OCSP_SIGNING = "1.3.6.1.5.5.7.3.9"
EMPTY_NAME = b"\x30\x00"  # DER of an empty distinguished name
SERVER_AUTH = "1.3.6.1.5.5.7.3.1"

# Extensions BoringSSL's verifier consumes (verify_certificate_chain.cc
# VerifyNoUnconsumedCriticalExtensions); any other critical one rejects the cert in Chrome (P4).
CHROME_CONSUMED = frozenset({
    "2.5.29.15", "2.5.29.17", "2.5.29.19", "2.5.29.30", "2.5.29.32", "2.5.29.33", "2.5.29.36",
    "2.5.29.37", "2.5.29.54",
})
# mozilla::pkix (pkixcert.cpp BackCert::RememberExtension) also recognises AKI, SKI, AIA and the
# TLS feature extension; an unrecognised critical extension is ERROR_UNKNOWN_CRITICAL_EXTENSION.
KNOWN_EXTENSIONS = CHROME_CONSUMED | {"2.5.29.14", "2.5.29.35", "1.3.6.1.5.5.7.1.1", "1.3.6.1.5.5.7.1.24"}

_HASH_BY_SIG_OID: dict[str, str] = {
    "1.2.840.113549.1.1.4": "md5", "1.2.840.113549.1.1.5": "sha1", "1.2.840.10045.4.1": "sha1",
    "1.3.14.3.2.29": "sha1", "1.2.840.10040.4.3": "sha1", "1.2.840.113549.1.1.2": "md2",
    "1.2.840.113549.1.1.11": "sha256", "1.2.840.113549.1.1.12": "sha384",
    "1.2.840.113549.1.1.13": "sha512", "1.2.840.113549.1.1.14": "sha224",
    "1.2.840.10045.4.3.2": "sha256", "1.2.840.10045.4.3.3": "sha384", "1.2.840.10045.4.3.4": "sha512",
    "1.2.840.10045.4.3.1": "sha224", "1.3.101.112": "ed25519", "1.3.101.113": "ed448",
    "1.2.840.113549.1.1.10": "pss",
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
    subject: bytes = b""
    issuer: bytes = b""
    subject_text: str = ""
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
    extensions: tuple[tuple[str, bool], ...] = ()
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
    # For the certificate record (``certinfo.describe``), so it need not read the certificate again:
    # the signature algorithm's name, and the subjectAltName value (None: absent; NOT_READ when the
    # extensions did not parse as they are, so describe reads them itself and reports the error).
    signature_name: str = ""
    san_value: object = field(default=None, compare=False, repr=False)
    # The signed bytes as presented, for signature checks (cryptography re-encodes them on every
    # ``tbs_certificate_bytes``; its parser is strict DER, so the two are the same bytes). Empty:
    # not known, use cryptography's.
    tbs: bytes = field(default=b"", compare=False, repr=False)

    @property
    def self_issued(self) -> bool:
        return self.subject not in (b"", EMPTY_NAME) and self.subject == self.issuer

    @property
    def subject_cn(self) -> str | None:
        return self.ids.cns[-1] if self.ids.cns else None


def _decode_oid(body: bytes) -> str:
    arcs: list[int] = []
    value = 0
    for byte in body:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        return ""
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


def _extension_elements(cert_der: bytes) -> tuple[list[tuple[str, bool, bytes, bytes]], list[bytes], bytes]:
    """(each extension as (oid, critical, extnValue contents, whole encoding), the TBS fields, the
    outer signature AlgorithmIdentifier), read straight from the DER."""
    _, cert_body, _ = der.read_tlv(cert_der)
    top = der.children(cert_body)
    _, tbs_body, _ = der.read_tlv(top[0][2])
    fields = der.children(tbs_body)
    out: list[tuple[str, bool, bytes, bytes]] = []
    for tag, value, _ in fields:
        if tag != 0xA3:
            continue
        _, seq, _ = der.read_tlv(value)
        for _, ext_body, whole in der.children(seq):
            parts = der.children(ext_body)
            critical = len(parts) > 2 and parts[1][0] == 0x01 and parts[1][1] != b"\x00"
            out.append((_decode_oid(parts[0][1]), critical, parts[-1][1], whole))
    return out, [w for _, _, w in fields], top[1][2]


def raw_extensions(cert_der: bytes) -> tuple[list[tuple[str, bool]], bytes, bytes, bool]:
    """(extension (oid, critical) list in order, TBS signature AlgorithmIdentifier, outer one,
    whether the key's EC parameters are explicit rather than a named curve)."""
    elements, fields, outer = _extension_elements(cert_der)
    sig_index = 2 if fields[0][0] == 0xA0 else 1
    _, spki, _ = der.read_tlv(fields[sig_index + 4])
    _, alg, _ = der.read_tlv(spki)
    alg_parts = der.children(alg)
    explicit = len(alg_parts) > 1 and alg_parts[1][0] == 0x30
    return [(oid, crit) for oid, crit, _, _ in elements], fields[sig_index], outer, explicit


def _empty_list_extensions(cert_der: bytes) -> frozenset[str]:
    """EKU / SAN extensions whose value is an empty SEQUENCE. RFC 5280 says SIZE (1..MAX), so
    cryptography refuses every extension of such a certificate, yet the browsers read it:
    mozilla::pkix sees an EKU without serverAuth, BoringSSL fails to parse the certificate."""
    elements, _, _ = _extension_elements(cert_der)
    return frozenset(oid for oid, _, value, _ in elements if oid in (EKU_OID, SAN_OID) and value == b"\x30\x00")


def _without_extensions(cert_der: bytes, oids: frozenset[str]) -> x509.Certificate:
    """The certificate with ``oids`` removed from its extensions (signature left stale): only
    used to read the remaining extensions when cryptography refuses the whole set."""
    elements, fields, outer = _extension_elements(cert_der)
    kept = [whole for oid, _, _, whole in elements if oid not in oids]
    tbs = [der.tlv(0xA3, der.sequence(*kept)) if f[0] == 0xA3 else f for f in fields]
    _, cert_body, _ = der.read_tlv(cert_der)
    signature = der.children(cert_body)[2][2]
    return x509.load_der_x509_certificate(der.sequence(der.sequence(*tbs), outer, signature))


def signature_hash(signature_oid: str) -> str | None:
    """The hash named by a signature algorithm OID (``sha256``, ``sha1``, ``pss``, ...), or None.

    Public because certificate requests are judged by the same hash rules (``scanner.csr``).
    """
    return _HASH_BY_SIG_OID.get(signature_oid)


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


def _ca_issuers(aia: object) -> tuple[str, ...]:
    if not isinstance(aia, x509.AuthorityInformationAccess):
        return ()
    return tuple(d.access_location.value for d in aia
                 if d.access_method == x509.AuthorityInformationAccessOID.CA_ISSUERS
                 and isinstance(d.access_location, x509.UniformResourceIdentifier)
                 and d.access_location.value.lower().startswith("http://"))


def _identities(cns: tuple[str, ...], values: dict[x509.ObjectIdentifier, object] | None) -> Identities:
    san = values.get(ExtensionOID.SUBJECT_ALTERNATIVE_NAME) if values is not None else None
    if san is None:
        return Identities(cns=cns)
    dns: list[str] = []
    ips: list[bytes] = []
    for entry in san:  # type: ignore[attr-defined]  # one pass, as get_values_for_type twice would give
        if isinstance(entry, x509.DNSName):
            dns.append(entry.value)
        elif isinstance(entry, x509.IPAddress):
            ips.append(entry.value.packed)
    return Identities(dns=tuple(dns), ips=tuple(ips), cns=cns, has_san_extension=True)


_DOTTED: dict[x509.ObjectIdentifier, str] = {}  # the same few OIDs recur in every certificate


def _dotted(oid: x509.ObjectIdentifier) -> str:
    """``oid.dotted_string``, looked up rather than formatted again (it is formatted on each access)."""
    text = _DOTTED.get(oid)
    if text is None:
        text = oid.dotted_string
        if len(_DOTTED) < 4096:
            _DOTTED[oid] = text
    return text


def _values(exts: x509.Extensions | None) -> dict[x509.ObjectIdentifier, object] | None:
    """Each extension's value by OID (the first of a repeated OID, as ``get_extension_for_oid``
    gives), in one pass instead of one scan of the list per extension asked about."""
    if exts is None:
        return None
    out: dict[x509.ObjectIdentifier, object] = {}
    for ext in exts:
        out.setdefault(ext.oid, ext.value)
    return out


def _subject_cns(cert: x509.Certificate | x509.CertificateSigningRequest) -> tuple[str, ...]:
    return tuple(str(a.value) for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME))


def extension_facts(cert: x509.Certificate | x509.CertificateSigningRequest,
                    exts: x509.Extensions | None) -> dict[str, object]:
    """The extension-derived fields of ``CertFacts`` (basicConstraints, EKU, keyUsage, SAN, ...).

    ``exts`` is passed in because the caller decides what to do with unparseable extensions;
    ``cert`` is read only for its subject CN, so a certificate request works too (``scanner.csr``
    builds its ``RequestFacts`` from the same fields, keeping the profile checks identical).
    """
    return _extension_fields(_values(exts), _subject_cns(cert))


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
        "eku": tuple(_dotted(o) for o in eku) if isinstance(eku, x509.ExtendedKeyUsage) else None,
        "ski": ski.digest if isinstance(ski, x509.SubjectKeyIdentifier) else None,
        "aki": aki.key_identifier if isinstance(aki, x509.AuthorityKeyIdentifier) else None,
        "name_constraints": nc if isinstance(nc, x509.NameConstraints) else None,
        "ids": _identities(cns, values),
        "ca_issuers": _ca_issuers(get(ExtensionOID.AUTHORITY_INFORMATION_ACCESS)),
        "san_empty": isinstance(san, x509.SubjectAlternativeName) and len(san) == 0,
    }
    if isinstance(ku, x509.KeyUsage):
        facts["key_usage"] = frozenset(f for f in _KU_FLAGS if getattr(ku, f))
    return facts


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


def _parse(cert_der: bytes, fingerprint: str, *, plain: bool = True) -> CertFacts:
    """``plain=False``: always read the extensions with cryptography (the reference for tests)."""
    cert = x509.load_der_x509_certificate(cert_der)
    layout = _fast_layout_or_none(cert_der) if plain else None
    simple = plain_extensions(layout.values) if layout is not None else None
    exts: x509.Extensions | None = None
    if simple is None:
        try:
            exts = cert.extensions
        except Exception as exc:  # noqa: BLE001 - duplicate or malformed extension: handled below
            exts, ext_problem = None, exc
    if simple is not None and layout is not None:
        # an ordinary leaf's extensions, read from the DER in a shape cryptography accepts (plainext.py)
        raw, duplicates, ext_error, empty_lists = layout.extensions, (), None, frozenset()
        san_value: object = simple.san_value
    elif exts is not None:
        # cryptography read every extension (strict DER, no repeats): its list is the DER's list
        layout = layout or _layout(cert_der, extensions=False)
        raw = [(_dotted(ext.oid), ext.critical) for ext in exts]
        duplicates = ()
        ext_error = None
        empty_lists = frozenset()
        values = _values(exts)
        san_value = values.get(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)  # type: ignore[union-attr]
    else:
        layout = layout or _layout(cert_der)
        raw = layout.extensions
        oids = [oid for oid, _ in raw]
        duplicates = tuple(sorted({o for o in oids if oids.count(o) > 1}))
        ext_error = str(ext_problem) or type(ext_problem).__name__
        empty_lists = frozenset() if duplicates else _empty_list_extensions(cert_der)
        if empty_lists:
            exts, ext_error = _without_extensions(cert_der, empty_lists).extensions, None
        if duplicates:
            ext_error = None
        values = _values(exts)
        san_value = NOT_READ
    sig = cert.signature_algorithm_oid
    sig_oid = _dotted(sig)
    key_type, key_size, curve = key_facts(cert)
    subject = _name_info(layout.subject, cert, "subject")
    issuer = _name_info(layout.issuer, cert, "issuer")
    critical = [o for o, crit in raw if crit]
    return _facts(
        der=cert_der, sha256=fingerprint, cert=cert,
        subject=subject.der, issuer=issuer.der, subject_text=subject.text, issuer_text=issuer.text,
        version=1 if cert.version == x509.Version.v1 else 3, serial=cert.serial_number,
        not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
        extensions=tuple(raw), duplicate_extensions=duplicates,
        unknown_critical=tuple(o for o in critical if o not in KNOWN_EXTENSIONS),
        chrome_unconsumed=tuple(o for o in critical if o in _CHROME_UNCONSUMED),
        explicit_curve=layout.explicit_curve,
        extension_error=ext_error, signature_oid=sig_oid, signature_hash=signature_hash(sig_oid),
        algorithm_mismatch=layout.algorithm_mismatch, key_type=key_type, key_size=key_size, curve=curve,
        signature_name=getattr(sig, "_name", None) or sig_oid, san_value=san_value, tbs=layout.tbs,
        **(simple.facts(subject.cns) if simple is not None
           else {**_extension_fields(values, subject.cns), **_empty_list_facts(empty_lists)}),
    )


_CHROME_UNCONSUMED = KNOWN_EXTENSIONS - CHROME_CONSUMED
_FIELD_DEFAULTS: dict[str, object] = {}
_REQUIRED: frozenset[str] = frozenset()  # fields without a plain default (ids has a factory)
_ALL: frozenset[str] = frozenset()


def _facts(**values: object) -> CertFacts:
    """``CertFacts(**values)`` without the frozen dataclass's per-field ``object.__setattr__``
    (45 fields: a measurable share of parsing a certificate); the result is the same object."""
    global _FIELD_DEFAULTS, _REQUIRED, _ALL
    if not _FIELD_DEFAULTS:
        _FIELD_DEFAULTS = {f.name: f.default for f in dataclass_fields(CertFacts) if f.default is not MISSING}
        _ALL = frozenset(f.name for f in dataclass_fields(CertFacts))
        _REQUIRED = _ALL - set(_FIELD_DEFAULTS)
    if not (_REQUIRED.issubset(values) and _ALL.issuperset(values)):
        return CertFacts(**values)  # type: ignore[arg-type]  # a missing or unknown field: let it complain
    facts = object.__new__(CertFacts)
    facts.__dict__.update(_FIELD_DEFAULTS)
    facts.__dict__.update(values)
    return facts


@dataclass(frozen=True)
class _Layout:
    """What the engine reads straight from the DER rather than from cryptography."""

    extensions: list[tuple[str, bool]]  # (oid, critical) in order, repeats kept
    algorithm_mismatch: bool  # TBS signature AlgorithmIdentifier differs from the outer one
    explicit_curve: bool  # the key's EC parameters are explicit rather than a named curve
    issuer: bytes  # the issuer Name exactly as encoded
    subject: bytes
    tbs: bytes = b""  # the TBSCertificate as presented
    # Each extension as (oid, critical BOOLEAN contents or None when absent, extnValue tag, its
    # contents), from the fast walk only (the slice walk leaves it empty): for _plain_extensions.
    values: list[tuple[str, bytes | None, int, bytes]] = field(default_factory=list, compare=False, repr=False)


def _layout(cert_der: bytes, *, extensions: bool = True) -> _Layout:
    """The DER layout, by a quick index-based walk; anything unexpected falls back to the
    original slice-based walk (``raw_extensions``), which keeps its exact behaviour, raising
    included, for malformed certificates. ``extensions=False``: the caller has the extension
    list from cryptography, so the walk skips it (the layout then lists none)."""
    try:
        return _fast_layout(cert_der, extensions)
    except Exception:  # noqa: BLE001 - _Unexpected, or anything else odd DER provokes
        return _slice_layout(cert_der)


def _fast_layout_or_none(cert_der: bytes) -> _Layout | None:
    """The fast walk with extensions, or None where ``_layout`` would fall back to the slice walk
    (the caller then proceeds exactly as without it)."""
    try:
        return _fast_layout(cert_der, True)
    except Exception:  # noqa: BLE001 - _Unexpected, or anything else odd DER provokes
        return None


def _slice_layout(cert_der: bytes) -> _Layout:
    """``_Layout`` by the slice-based walk: the reference the fast walk must agree with."""
    raw, tbs_alg, outer_alg, explicit = raw_extensions(cert_der)
    _, cert_body, _ = der.read_tlv(cert_der)
    tbs = der.children(cert_body)[0][2]
    _, tbs_body, _ = der.read_tlv(tbs)
    fields = [w for _, _, w in der.children(tbs_body)]
    sig_index = 2 if fields[0][0] == 0xA0 else 1
    return _Layout(raw, tbs_alg != outer_alg, explicit, fields[sig_index + 1], fields[sig_index + 3], tbs)


class _Unexpected(Exception):
    """The fast walk met something it does not handle; the slice-based walk takes over."""


def _head(data: bytes, pos: int, limit: int) -> tuple[int, int, int]:
    """(tag, value start, value end) of the element at ``pos``, which must end by ``limit``."""
    if pos + 2 > limit:
        raise _Unexpected
    tag = data[pos]
    first = data[pos + 1]
    pos += 2
    if first >= 0x80:
        count = first & 0x7F
        if not 0 < count <= 4 or pos + count > limit:
            raise _Unexpected
        first = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    end = pos + first
    if end > limit or tag & 0x1F == 0x1F:
        raise _Unexpected
    return tag, pos, end


_OID_TEXT: dict[bytes, str] = {}  # OID contents -> dotted string; extension OIDs repeat across an estate


def _oid_text(body: bytes) -> str:
    text = _OID_TEXT.get(body)
    if text is None:
        text = _decode_oid(body)
        if len(_OID_TEXT) < 4096:
            _OID_TEXT[body] = text
    return text


def _fast_layout(data: bytes, with_extensions: bool = True) -> _Layout:
    """``_Layout`` for well-formed DER: every element must lie exactly within its parent."""
    _, cpos, cend = _head(data, 0, len(data))
    if cend != len(data):
        raise _Unexpected
    tbs_tag, tpos, tend = _head(data, cpos, cend)
    fields: list[tuple[int, int, int]] = []  # (tag, element start, element end)
    pos = tpos
    while pos < tend:
        tag, _, end = _head(data, pos, tend)
        fields.append((tag, pos, end))
        pos = end
    outer_tag, opos, oend = _head(data, tend, cend)
    sig_index = 2 if fields[0][0] == 0xA0 else 1
    if tbs_tag != 0x30 or len(fields) < sig_index + 5:
        raise _Unexpected
    _, alg_start, alg_end = fields[sig_index]
    outer_alg = data[tend:oend]
    mismatch = data[alg_start:alg_end] != outer_alg
    explicit = _explicit_curve(data, fields[sig_index + 4])
    extensions: list[tuple[str, bool]] = []
    values: list[tuple[str, bytes | None, int, bytes]] = []
    for tag, start, end in fields if with_extensions else ():
        if tag == 0xA3:
            extensions.extend(_fast_extensions(data, start, end, values))
    issuer, subject = fields[sig_index + 1], fields[sig_index + 3]
    return _Layout(extensions, mismatch, explicit, data[issuer[1]:issuer[2]], data[subject[1]:subject[2]],
                   data[cpos:tend], values)


def _explicit_curve(data: bytes, spki: tuple[int, int, int]) -> bool:
    _, pos, end = _head(data, spki[1], spki[2])
    _, apos, aend = _head(data, pos, end)  # AlgorithmIdentifier
    _, _, after_oid = _head(data, apos, aend)
    return after_oid < aend and data[after_oid] == 0x30


def _fast_extensions(data: bytes, start: int, end: int,
                     values: list[tuple[str, bytes | None, int, bytes]]) -> list[tuple[str, bool]]:
    _, pos, limit = _head(data, start, end)
    if limit != end:
        raise _Unexpected
    _, pos, seq_end = _head(data, pos, limit)  # SEQUENCE OF Extension
    if seq_end != limit:
        raise _Unexpected
    out: list[tuple[str, bool]] = []
    while pos < seq_end:
        _, epos, eend = _head(data, pos, seq_end)
        whole = data[pos:eend]
        known = _EXTENSIONS.get(whole)
        if known is None:
            known = _extension(data, epos, eend)
            if len(_EXTENSIONS) >= _EXTENSIONS_MAX:
                _EXTENSIONS.clear()
            _EXTENSIONS[whole] = known
        out.append(known[0])
        values.append(known[1])
        pos = eend
    return out


_Extension = tuple[tuple[str, bool], tuple[str, "bytes | None", int, bytes]]
# Extension elements already read, by their encoding: an issuing CA puts the same basicConstraints,
# keyUsage, extendedKeyUsage and authorityKeyIdentifier bytes in every leaf it issues.
_EXTENSIONS: dict[bytes, _Extension] = {}
_EXTENSIONS_MAX = 4096


def _extension(data: bytes, epos: int, eend: int) -> _Extension:
    """((oid, critical), (oid, BOOLEAN contents or None, extnValue tag, its contents)) of the
    Extension whose contents are ``data[epos:eend]``; depends on those bytes only."""
    oid_tag, opos, oend = _head(data, epos, eend)
    if oid_tag != 0x06:
        raise _Unexpected
    critical = False
    boolean: bytes | None = None
    tag, vpos, vend = _head(data, oend, eend)
    if tag == 0x01:
        boolean = data[vpos:vend]
        critical = boolean != b"\x00"
        tag, vpos, vend = _head(data, vend, eend)
    if vend != eend:
        raise _Unexpected
    oid = _oid_text(data[opos:oend])
    return (oid, critical), (oid, boolean, tag, data[vpos:vend])


@dataclass(frozen=True)
class _NameInfo:
    der: bytes  # as cryptography re-encodes it (what the path builder compares)
    text: str  # RFC 4514
    cns: tuple[str, ...]  # commonName values, in order


_NAMES: dict[bytes, _NameInfo] = {}  # by the Name's DER as presented: an estate's issuer names repeat
_NAMES_MAX = 8192


def _name_info(raw: bytes, cert: x509.Certificate, which: str) -> _NameInfo:
    """Facts of the subject or issuer Name, cached by its encoding: building cryptography's Name
    objects is the costliest part of parsing a certificate, and the issuer name of every leaf
    in an estate is the same few bytes. A fresh name in the common shape is decoded here
    (``_simple_name``); any other goes through cryptography."""
    info = _NAMES.get(raw)
    if info is None:
        info = _simple_name(raw) or _name_info_of(cert.subject if which == "subject" else cert.issuer)
        if len(_NAMES) >= _NAMES_MAX:
            _NAMES.clear()
        _NAMES[raw] = info
    return info


def _name_info_of(name: x509.Name) -> _NameInfo:
    """The reference: what cryptography's Name gives."""
    return _NameInfo(name.public_bytes(), _rfc4514(name),
                     tuple(str(a.value) for a in name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)))


try:  # cryptography's own RFC 4514 pieces, so the text is exactly what rfc4514_string() writes
    from cryptography.x509.name import _NAMEOID_TO_NAME, _escape_dn_value
    _SHORT_NAMES: dict[str, str] | None = {oid.dotted_string: short for oid, short in _NAMEOID_TO_NAME.items()}
except ImportError:  # pragma: no cover - a cryptography without them: every name takes the reference path
    _SHORT_NAMES = None

UTF8_STRING, PRINTABLE_STRING = 0x0C, 0x13
_DN_SPECIAL = re.compile('[\\\\"+,;<>\x00]')  # the characters cryptography's _escape_dn_value escapes anywhere


def _escape(value: str) -> str:
    """``_escape_dn_value(value)``, returning a value that needs no escaping (nearly every one)
    without its eight replace() calls."""
    if value and value[0] not in "# " and value[-1] != " " and _DN_SPECIAL.search(value) is None:
        return value
    return _escape_dn_value(value)  # type: ignore[no-any-return]
_PRINTABLE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")
COMMON_NAME_OID = "2.5.4.3"


def _simple_name(raw: bytes) -> _NameInfo | None:
    """``_NameInfo`` for a Name whose every RDN holds one attribute with a UTF8String or a
    PrintableString (valid characters only) value, which is nearly every real certificate. Its
    DER is then what cryptography would re-encode, and its values decode the same way; None for
    anything else (multi-valued RDNs, other string types, odd encodings), which cryptography reads.
    Names whose every length fits in one byte (nearly all) are read inline, without ``_head``."""
    if _SHORT_NAMES is None:
        return None
    try:
        if raw[0] != 0x30 or raw[1] >= 0x80 or raw[1] + 2 != len(raw):
            return _any_simple_name(raw)
        parts: list[str] = []
        cns: list[str] = []
        pos, end = 2, len(raw)
        while pos < end:
            send = pos + 2 + raw[pos + 1]
            if raw[pos + 1] >= 0x80 or send > end:
                return _any_simple_name(raw)
            rdn = raw[pos:send]
            got = _RDNS.get(rdn)
            if got is None:
                got = _rdn(rdn)
                if len(_RDNS) >= _NAMES_MAX:
                    _RDNS.clear()
                _RDNS[rdn] = got
            if got is _FALLBACK:
                return _any_simple_name(raw)
            if got is _NOT_SIMPLE:
                return None
            parts.append(got[0])  # type: ignore[index]
            if got[1] is not None:  # type: ignore[index]
                cns.append(got[1])  # type: ignore[index]
            pos = send
    except Exception:  # noqa: BLE001 - a short read, ...: the general reader decides
        return _any_simple_name(raw)
    return _NameInfo(raw, ",".join(reversed(parts)), tuple(cns))


_FALLBACK: tuple[str, str | None] = ("", None)  # _rdn: let _any_simple_name read the whole name
_NOT_SIMPLE: tuple[str, str | None] = ("", "")  # _rdn: not a simple name (cryptography reads it)
# RDNs already read, by their encoding: the O, OU and C of an estate's leaves repeat.
_RDNS: dict[bytes, tuple[str, str | None]] = {}


def _rdn(rdn: bytes) -> tuple[str, str | None]:
    """(``type=escaped value``, the value when it is a commonName) of one RDN encoded
    SET { SEQUENCE { OID, value } } with every length short-form and nested exactly; or
    ``_FALLBACK`` / ``_NOT_SIMPLE``. Depends on the RDN's bytes only."""
    try:
        oend = 6 + rdn[5]
        if rdn[0] != 0x31 or rdn[2] != 0x30 or rdn[4] != 0x06 or rdn[1] >= 0x80 or rdn[3] != rdn[1] - 2 \
                or rdn[5] >= 0x80 or rdn[oend + 1] >= 0x80 or oend + 2 + rdn[oend + 1] != len(rdn):
            return _FALLBACK
        value_tag, value = rdn[oend], rdn[oend + 2:]
        if value_tag == UTF8_STRING:
            text = value.decode("utf-8")
        elif value_tag == PRINTABLE_STRING:
            text = value.decode("ascii")
            if not _PRINTABLE.issuperset(text):
                return _NOT_SIMPLE
        else:
            return _NOT_SIMPLE
        oid = _oid_text(rdn[6:oend])
    except Exception:  # noqa: BLE001 - bad UTF-8, a short read, ...: the general reader decides
        return _FALLBACK
    return f"{_SHORT_NAMES.get(oid, oid)}={_escape(text)}", (text if oid == COMMON_NAME_OID else None)  # type: ignore[union-attr]


def _any_simple_name(raw: bytes) -> _NameInfo | None:
    """``_simple_name`` for any length encoding (the reference for the inline reader)."""
    if _SHORT_NAMES is None:
        return None
    try:
        _, pos, end = _head(raw, 0, len(raw))
        if raw[0] != 0x30 or end != len(raw):
            return None
        parts: list[str] = []
        cns: list[str] = []
        while pos < end:
            set_tag, spos, send = _head(raw, pos, end)
            seq_tag, apos, aend = _head(raw, spos, send)
            if set_tag != 0x31 or seq_tag != 0x30 or aend != send:
                return None
            oid_tag, opos, oend = _head(raw, apos, aend)
            value_tag, vpos, vend = _head(raw, oend, aend)
            if oid_tag != 0x06 or vend != aend:
                return None
            if value_tag == UTF8_STRING:
                value = raw[vpos:vend].decode("utf-8")
            elif value_tag == PRINTABLE_STRING:
                value = raw[vpos:vend].decode("ascii")
                if not _PRINTABLE.issuperset(value):
                    return None
            else:
                return None
            oid = _oid_text(raw[opos:oend])
            if oid == COMMON_NAME_OID:
                cns.append(value)
            parts.append(f"{_SHORT_NAMES.get(oid, oid)}={_escape_dn_value(value)}")
            pos = send
    except Exception:  # noqa: BLE001 - _Unexpected, bad UTF-8, ...: the reference path decides
        return None
    return _NameInfo(raw, ",".join(reversed(parts)), tuple(cns))




def _empty_list_facts(empty_lists: frozenset[str]) -> dict[str, object]:
    """Facts for EKU / SAN extensions present with no entries (see ``_empty_list_extensions``)."""
    out: dict[str, object] = {}
    if EKU_OID in empty_lists:
        out["eku"] = ()
    if SAN_OID in empty_lists:
        out["san_empty"] = True
    return out


def _rfc4514(name: x509.Name) -> str:
    try:
        return name.rfc4514_string()
    except Exception:  # noqa: BLE001
        return "<unparseable name>"


class _FactsCache:
    """A bounded LRU of ``CertFacts`` by SHA-256, safe to share between threads."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._items: OrderedDict[str, CertFacts] = OrderedDict()
        # The same certificates by their DER: a dict lookup by the bytes (whose hash Python keeps)
        # instead of a SHA-256 for the issuing CA and root of every endpoint.
        self._by_der: dict[bytes, CertFacts] = {}
        self._lock = threading.Lock()
        self.hits = 0

    def get(self, cert_der: bytes) -> CertFacts:
        found = self._by_der.get(cert_der)
        if found is not None:
            with self._lock:
                self.hits += 1
                if found.sha256 in self._items:
                    self._items.move_to_end(found.sha256)
            return found
        facts = self._get(cert_der)
        with self._lock:
            self._by_der[cert_der] = facts
            while len(self._by_der) > self._size:
                del self._by_der[next(iter(self._by_der))]
        return facts

    def _get(self, cert_der: bytes) -> CertFacts:
        key = hashlib.sha256(cert_der).hexdigest()
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        facts = parse(cert_der, key)
        with self._lock:
            self._items[key] = facts
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return facts


CACHE = _FactsCache()


def facts(cert_der: bytes) -> CertFacts:
    """Cached :func:`parse`."""
    return CACHE.get(bytes(cert_der))

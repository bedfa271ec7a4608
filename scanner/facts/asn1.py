"""The one lenient ASN.1 reader: the raw facts of a certificate that cryptography does not expose.

cryptography's public API gives every semantic fact the engine needs, but it normalises or
refuses exactly what a browser verdict sometimes turns on: the extension list as encoded (order,
repeats, critical flags of a list cryptography refuses as a whole), the TBS signature
AlgorithmIdentifier beside the outer one (RFC 5280 4.1.1.2 mismatch), EC parameters given as an
explicit curve, EKU / SAN values that are empty SEQUENCEs, and the SubjectPublicKeyInfo as
presented. Those, and nothing else, are read here, and each only when asked for.

Built on asn1crypto (a well-kept, pure-Python, lazy BER/DER library) with deliberately minimal
specifications: every part the engine does not interpret is ``core.Any``, so a hostile value in
one field costs nothing elsewhere. Why asn1crypto rather than pyasn1 / pyasn1-modules (what
pkilint uses): for a typical RSA-2048 leaf with six extensions, reading the extension list and the
AlgorithmIdentifiers took ~0.35 ms with these asn1crypto specifications and ~2.3 ms with pyasn1's
DER decoder and ``rfc5280.Certificate`` (measured on this project's benchmark estate); asn1crypto
parses lazily and keeps each value's original encoding (``dump()``), which is what a "raw fact"
is, while pyasn1 decodes everything eagerly into objects and re-encodes.

Every function raises ``ValueError`` for bytes it cannot read; callers decide what that means.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, Iterable, TypeVar

from asn1crypto import core, parser

T = TypeVar("T")
SEQUENCE_TAG = 0x30
EMPTY_SEQUENCE = b"\x30\x00"


class _AlgorithmIdentifier(core.Sequence):
    _fields = [("algorithm", core.ObjectIdentifier), ("parameters", core.Any, {"optional": True})]


class _SubjectPublicKeyInfo(core.Sequence):
    _fields = [("algorithm", _AlgorithmIdentifier), ("subject_public_key", core.Any)]


class _Extension(core.Sequence):
    _fields = [("extn_id", core.ObjectIdentifier), ("critical", core.Boolean, {"default": False}),
               ("extn_value", core.OctetString)]


class _Extensions(core.SequenceOf):
    _child_spec = _Extension


class _TBSCertificate(core.Sequence):
    _fields = [
        ("version", core.Integer, {"explicit": 0, "default": 0}),
        ("serial_number", core.Any),
        ("signature", core.Any),
        ("issuer", core.Any),
        ("validity", core.Any),
        ("subject", core.Any),
        ("subject_public_key_info", _SubjectPublicKeyInfo),
        ("issuer_unique_id", core.OctetBitString, {"implicit": 1, "optional": True}),
        ("subject_unique_id", core.OctetBitString, {"implicit": 2, "optional": True}),
        ("extensions", _Extensions, {"explicit": 3, "optional": True}),
    ]


class _Certificate(core.Sequence):
    _fields = [("tbs_certificate", _TBSCertificate), ("signature_algorithm", core.Any),
               ("signature_value", core.Any)]


class _CertificationRequestInfo(core.Sequence):
    _fields = [("version", core.Any), ("subject", core.Any), ("subject_pk_info", core.Any),
               ("attributes", core.Any, {"implicit": 0, "optional": True})]


class _CertificationRequest(core.Sequence):
    _fields = [("certification_request_info", _CertificationRequestInfo), ("signature_algorithm", core.Any),
               ("signature", core.Any)]


@dataclass(frozen=True)
class RawExtension:
    """One Extension as encoded: its OID, critical flag and the contents of extnValue."""

    oid: str
    critical: bool
    value: bytes


def _reading(read: Callable[[Any], T]) -> cached_property[T]:
    """A fact read lazily and once; anything asn1crypto raises for hostile bytes becomes ValueError."""
    def fact(self: Any) -> T:
        try:
            return read(self)
        except ValueError:
            raise
        except Exception as exc:  # noqa: BLE001 - TypeError, KeyError... from hostile bytes
            raise ValueError(f"{type(exc).__name__}: {exc}") from None
    fact.__doc__ = read.__doc__
    return cached_property(fact)


class RawCertificate:
    """What a certificate's encoding says beyond cryptography's objects. Each fact is read when
    first asked for (asn1crypto parses lazily), so the engine pays only for the facts it needs:
    the extension list as encoded, for instance, only when cryptography refuses it."""

    def __init__(self, der: bytes) -> None:
        try:
            self._cert = _Certificate.load(der, strict=True)
            self._tbs = self._cert["tbs_certificate"]
        except ValueError:
            raise
        except Exception as exc:  # noqa: BLE001 - as _reading
            raise ValueError(f"{type(exc).__name__}: {exc}") from None

    @_reading
    def algorithm_mismatch(self) -> bool:
        """The TBS signature AlgorithmIdentifier differs from the outer one, as encoded (RFC 5280 4.1.1.2)."""
        return bool(self._tbs["signature"].dump() != self._cert["signature_algorithm"].dump())

    @_reading
    def issuer(self) -> bytes:
        """The issuer Name as encoded."""
        return bytes(self._tbs["issuer"].dump())

    @_reading
    def subject(self) -> bytes:
        """The subject Name as encoded."""
        return bytes(self._tbs["subject"].dump())

    @_reading
    def spki(self) -> bytes:
        """SubjectPublicKeyInfo as encoded."""
        return bytes(self._tbs["subject_public_key_info"].dump())

    @_reading
    def explicit_curve(self) -> bool:
        """The key's algorithm parameters are a SEQUENCE: explicit EC domain parameters, not a named curve."""
        params = self._tbs["subject_public_key_info"]["algorithm"]["parameters"]
        return bool(params.dump()[:1] == bytes([SEQUENCE_TAG]))

    @_reading
    def extensions(self) -> tuple[RawExtension, ...]:
        """Every Extension in order, repeats kept."""
        listed = self._tbs["extensions"]
        if isinstance(listed, core.Void):
            return ()
        return tuple(RawExtension(e["extn_id"].dotted, bool(e["critical"].native), e["extn_value"].contents)
                     for e in listed)

    def duplicate_extensions(self) -> tuple[str, ...]:
        """OIDs present more than once, sorted."""
        seen: set[str] = set()
        repeated: set[str] = set()
        for ext in self.extensions:
            (repeated if ext.oid in seen else seen).add(ext.oid)
        return tuple(sorted(repeated))

    def empty_sequences(self, oids: Iterable[str]) -> frozenset[str]:
        """Those of ``oids`` whose extension value is an empty SEQUENCE (RFC 5280 wants SIZE 1..MAX)."""
        wanted = frozenset(oids)
        return frozenset(e.oid for e in self.extensions if e.oid in wanted and e.value == EMPTY_SEQUENCE)


def read_certificate(der: bytes) -> RawCertificate:
    """The raw facts of one DER certificate, read on demand; ``ValueError`` when its structure
    (or, later, the part a fact needs) cannot be read."""
    return RawCertificate(der)


def without_extensions(der: bytes, oids: frozenset[str]) -> bytes:
    """The certificate with the extensions ``oids`` removed (its signature left stale).

    Only for reading the remaining extensions when cryptography refuses the whole list because
    of one of these (an empty EKU or SAN), so that one bad value costs its own fact only.
    """
    cert = _Certificate.load(der)
    tbs = cert["tbs_certificate"]
    kept = [e for e in tbs["extensions"] if e["extn_id"].dotted not in oids]
    tbs["extensions"] = _Extensions(kept)
    cert["tbs_certificate"] = tbs
    return bytes(cert.dump(force=False))


def _tlvs(data: bytes) -> Iterable[tuple[int, int, bytes]]:
    """(class, tag, contents) of each TLV in ``data``, in order."""
    pos = 0
    while pos < len(data):
        size = parser.peek(data[pos:])
        cls, _, tag, _, contents, _ = parser.parse(data[pos:pos + size])
        yield cls, tag, contents
        pos += size


def malformed_name_constraints(value: bytes) -> tuple[tuple[str, str], ...]:
    """The entries of a nameConstraints value that cryptography refuses and browsers read each
    their own way: a dNSName subtree holding a pattern ("*"), an iPAddress that is not an address
    and a mask (8 or 32 bytes). Read as raw TLVs: the whole point is that the value is malformed."""
    out: list[tuple[str, str]] = []
    _, _, _, _, body, _ = parser.parse(value)
    for _, _, subtrees in _tlvs(body):  # [0] permittedSubtrees, [1] excludedSubtrees
        for _, _, subtree in _tlvs(subtrees):  # GeneralSubtree
            for cls, tag, contents in list(_tlvs(subtree))[:1]:  # its base GeneralName
                if cls == 2 and tag == 2 and b"*" in contents:
                    out.append(("dns-pattern", contents.decode("ascii", "replace")))
                elif cls == 2 and tag == 7 and len(contents) not in (8, 32):
                    out.append(("ip-length", contents.hex()))
    return tuple(out)


def request_spki(der: bytes) -> bytes:
    """The SubjectPublicKeyInfo of a PKCS#10 request as encoded (compared byte for byte, so a key
    cryptography cannot load still compares)."""
    return bytes(_CertificationRequest.load(der)["certification_request_info"]["subject_pk_info"].dump())


def framing_problem(data: bytes, what: str) -> str | None:
    """Why ``data`` is not exactly one DER SEQUENCE, in words a person can act on (None: it is)."""
    if data[:1] != bytes([SEQUENCE_TAG]):
        return f"neither a PEM nor a DER {what} (a DER {what} starts with a SEQUENCE)"
    try:
        end = parser.peek(data)
    except ValueError as exc:
        return f"truncated DER: the file ends early ({exc}; the file holds {len(data)} bytes)"
    if end < len(data):
        return f"{len(data) - end} unexpected bytes after the DER {what}"
    return None

"""The extensions of an ordinary TLS leaf, read straight from the DER instead of by cryptography.

Why: building cryptography's extension objects (``cert.extensions`` and each value) was the
largest single cost of parsing a fresh leaf, and every endpoint of a scan presents a fresh leaf.
Only a narrow, canonical shape is read here: each extension one of basicConstraints (cA FALSE or
TRUE, no pathLen), keyUsage (one byte, minimal DER), subjectAltName (non-empty ASCII dNSNames
only), extendedKeyUsage (serverAuth / clientAuth), subjectKeyIdentifier and
authorityKeyIdentifier (keyIdentifier only), critical only as ``01 01 FF``, no repeats. That is
a shape cryptography certainly accepts, and its facts are what cryptography's objects give
(``tests/test_engine_fastpaths.py`` compares the two). Anything else returns None, and the caller
reads the certificate with cryptography as before.
"""

from __future__ import annotations

from dataclasses import dataclass

from scanner.certinfo import DnsNames
from scanner.evaluate.names import Identities

BASIC_CONSTRAINTS, KEY_USAGE, SAN, EKU = "2.5.29.19", "2.5.29.15", "2.5.29.17", "2.5.29.37"
SKI, AKI = "2.5.29.14", "2.5.29.35"
# extendedKeyUsage purposes read here, by their OID contents (anything else: cryptography reads it)
_PURPOSES = {bytes.fromhex("2b06010505070301"): "1.3.6.1.5.5.7.3.1", bytes.fromhex("2b06010505070302"): "1.3.6.1.5.5.7.3.2"}
_KU_FLAGS = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign")
_CA_FALSE, _CA_TRUE = b"\x30\x00", b"\x30\x03\x01\x01\xff"


class _NotPlain(Exception):
    """An extension outside the narrow shape: cryptography reads the certificate's extensions."""


@dataclass(frozen=True)
class PlainExtensions:
    """The extension facts of a plain leaf (the fields ``certs._extension_fields`` gives)."""

    fields: dict[str, object]
    dns: tuple[str, ...] | None  # SAN dNSNames; None: no subjectAltName extension
    san_value: DnsNames | None  # for certinfo.describe: the record cryptography's SAN object would give

    def facts(self, cns: tuple[str, ...]) -> dict[str, object]:
        ids = Identities(cns=cns) if self.dns is None else Identities(dns=self.dns, cns=cns, has_san_extension=True)
        return {**self.fields, "ids": ids}


def plain_extensions(values: list[tuple[str, bytes | None, int, bytes]]) -> PlainExtensions | None:
    """The facts of ``values`` (``certs._Layout.values``) when every extension has the plain
    shape, else None. Never raises."""
    try:
        return _read(values)
    except Exception:  # noqa: BLE001 - _NotPlain, or an odd encoding: cryptography decides
        return None


_Value = tuple[str, "bytes | None", int, bytes]
_NOT_PLAIN: dict[str, object] = {}
# What _one gave for an extension an issuer repeats in every leaf (all but SAN and SKI), by value.
_SEEN: dict[_Value, dict[str, object]] = {}
_SEEN_MAX = 1024


def _read(values: list[_Value]) -> PlainExtensions | None:
    if not values:
        return None
    fields: dict[str, object] = {"bc_present": False, "is_ca": False, "path_len": None, "eku": None, "ski": None,
                                 "aki": None, "name_constraints": None, "ca_issuers": (), "san_empty": False}
    oids: set[str] = set()
    dns: tuple[str, ...] | None = None
    for value in values:
        oid, boolean, tag, body = value
        if oid in oids or tag != 0x04 or boolean not in (None, b"\xff"):
            return None
        oids.add(oid)
        if oid == SAN:
            dns = _dns_names(body)
            continue
        if oid == SKI:
            fields["ski"] = _octets(body, 0x04)
            continue
        found = _SEEN.get(value)
        if found is None:
            found = _one(oid, body)
            if len(_SEEN) >= _SEEN_MAX:
                _SEEN.clear()
            _SEEN[value] = found
        if found is _NOT_PLAIN:
            return None
        fields.update(found)
    san = None if dns is None else DnsNames(dns)
    return PlainExtensions(fields, dns, san)


def _one(oid: str, body: bytes) -> dict[str, object]:
    """The fields one extension (other than SAN and SKI) sets; ``_NOT_PLAIN`` when it is not plain."""
    try:
        if oid == BASIC_CONSTRAINTS and body in (_CA_FALSE, _CA_TRUE):
            return {"bc_present": True, "is_ca": body == _CA_TRUE}
        if oid == KEY_USAGE:
            return {"key_usage": _key_usage(body)}
        if oid == EKU:
            return {"eku": _purposes(body)}
        if oid == AKI:
            return {"aki": _key_identifier(body)}
    except Exception:  # noqa: BLE001 - _NotPlain, or an odd encoding: cryptography decides
        pass
    return _NOT_PLAIN


def _key_usage(body: bytes) -> frozenset[str]:
    """``03 02 uu bb``: one byte, 1-7 unused bits (so no encipherOnly), the lowest used bit set."""
    if len(body) != 4 or body[0] != 0x03 or body[1] != 0x02 or not 1 <= body[2] <= 7:
        raise _NotPlain
    unused, bits = body[2], body[3]
    if not (bits >> unused) & 1 or bits & ((1 << unused) - 1):
        raise _NotPlain
    return frozenset(flag for i, flag in enumerate(_KU_FLAGS) if bits & (0x80 >> i))


def _short(body: bytes, pos: int, tag: int) -> tuple[int, int]:
    """(contents start, end) of a short-form element with ``tag`` at ``pos``."""
    if body[pos] != tag or body[pos + 1] >= 0x80:
        raise _NotPlain
    end = pos + 2 + body[pos + 1]
    if end > len(body):
        raise _NotPlain
    return pos + 2, end


def _sequence(body: bytes) -> tuple[int, int]:
    """The outer SEQUENCE (short or one/two-byte long form), which must fill ``body``."""
    if len(body) < 2 or body[0] != 0x30:
        raise _NotPlain
    first = body[1]
    if first < 0x80:
        start, length = 2, first
    elif first == 0x81 and len(body) > 2 and body[2] >= 0x80:
        start, length = 3, body[2]
    elif first == 0x82 and len(body) > 3 and body[2] != 0:
        start, length = 4, int.from_bytes(body[2:4], "big")
    else:
        raise _NotPlain
    if start + length != len(body) or length == 0:
        raise _NotPlain
    return start, len(body)


def _dns_names(body: bytes) -> tuple[str, ...]:
    """GeneralNames of non-empty ASCII dNSNames ([2] IA5String), each short-form."""
    pos, end = _sequence(body)
    names: list[str] = []
    while pos < end:
        start, stop = _short(body, pos, 0x82)
        if stop == start:
            raise _NotPlain
        names.append(body[start:stop].decode("ascii"))  # non-ASCII: UnicodeDecodeError, not plain
        pos = stop
    return tuple(names)


def _purposes(body: bytes) -> tuple[str, ...]:
    pos, end = _sequence(body)
    out: list[str] = []
    while pos < end:
        start, stop = _short(body, pos, 0x06)
        out.append(_PURPOSES[body[start:stop]])  # KeyError for any other purpose: not plain
        pos = stop
    return tuple(out)


def _octets(body: bytes, tag: int) -> bytes:
    start, stop = _short(body, 0, tag)
    if stop != len(body) or stop == start:
        raise _NotPlain
    return body[start:stop]


def _key_identifier(body: bytes) -> bytes:
    """AuthorityKeyIdentifier holding only ``[0] keyIdentifier``."""
    start, stop = _short(body, 0, 0x30)
    if stop != len(body):
        raise _NotPlain
    return _octets(body[start:stop], 0x80)

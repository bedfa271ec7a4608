"""Just enough DER to build certificates that cryptography refuses to build.

Real estates contain certificates no modern library would issue (SHA-1 signatures, duplicate
extensions, mismatched signature algorithms, v1 CAs). The lab makes them by editing the
TBSCertificate of a well-formed certificate and signing it again; this module holds the
tag-length-value handling that needs.
"""

from __future__ import annotations


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + encode_length(len(value)) + value


def read_tlv(data: bytes, offset: int = 0) -> tuple[int, bytes, int]:
    """(tag, value, offset after the element) for the element at ``offset``; single-byte tags."""
    tag = data[offset]
    first = data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    return tag, data[pos : pos + length], pos + length


def children(value: bytes) -> list[tuple[int, bytes, bytes]]:
    """The elements inside a constructed value, as (tag, value, whole encoding)."""
    out: list[tuple[int, bytes, bytes]] = []
    offset = 0
    while offset < len(value):
        tag, inner, end = read_tlv(value, offset)
        out.append((tag, inner, value[offset:end]))
        offset = end
    return out


def sequence(*parts: bytes) -> bytes:
    return tlv(0x30, b"".join(parts))


def oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return tlv(0x06, bytes(body))


def bit_string(data: bytes) -> bytes:
    return tlv(0x03, b"\x00" + data)

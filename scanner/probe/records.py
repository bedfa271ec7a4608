"""Just enough of the TLS record layer to read what OpenSSL refuses to hand over.

When a server's certificate does not parse, OpenSSL aborts the handshake and keeps nothing, yet
the evidence must hold the bytes exactly as presented. Up to TLS 1.2 the Certificate message
travels in the clear, so the probe reads it back from the raw bytes it received. The hostile lab
uses the same parser to read the SNI of a ClientHello. Every function here takes bytes from a
peer we do not trust: it never raises, and what does not parse is simply not returned.
"""

from __future__ import annotations

from typing import Iterator

HANDSHAKE = 22
ALERT = 21
CERTIFICATE = 11
CLIENT_HELLO = 1
SERVER_NAME_EXTENSION = 0


def _u(data: bytes, offset: int, size: int) -> int | None:
    """A big-endian unsigned integer of ``size`` bytes at ``offset``, or None past the end."""
    if offset + size > len(data):
        return None
    return int.from_bytes(data[offset : offset + size], "big")


def records(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(content type, fragment) of every complete TLS record at the start of ``data``."""
    offset = 0
    while offset + 5 <= len(data):
        kind, length = data[offset], _u(data, offset + 3, 2)
        if length is None or offset + 5 + length > len(data):
            return
        yield kind, data[offset + 5 : offset + 5 + length]
        offset += 5 + length


def handshake_messages(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(type, body) of every complete handshake message in the plaintext handshake records.

    Stops at the first record that is not a handshake (after ChangeCipherSpec everything is
    encrypted and means nothing to us)."""
    stream = bytearray()
    for kind, fragment in records(data):
        if kind != HANDSHAKE:
            break
        stream += fragment
    offset = 0
    while offset + 4 <= len(stream):
        kind, length = stream[offset], _u(bytes(stream), offset + 1, 3)
        if length is None or offset + 4 + length > len(stream):
            return
        yield kind, bytes(stream[offset + 4 : offset + 4 + length])
        offset += 4 + length


def certificate_list(data: bytes, limit: int) -> list[bytes]:
    """The DER blobs of the first TLS 1.2 Certificate message in ``data`` (at most ``limit``)."""
    for kind, body in handshake_messages(data):
        if kind == CERTIFICATE:
            return _certificates(body, limit)
    return []


def _certificates(body: bytes, limit: int) -> list[bytes]:
    total = _u(body, 0, 3)
    if total is None:
        return []
    out: list[bytes] = []
    offset, end = 3, min(len(body), 3 + total)
    while offset + 3 <= end and len(out) < limit:
        size = _u(body, offset, 3)
        if size is None or offset + 3 + size > end:
            break
        out.append(body[offset + 3 : offset + 3 + size])
        offset += 3 + size
    return out


def client_hello_sni(data: bytes) -> str | None:
    """The host_name of a ClientHello's server_name extension; None when absent or unreadable."""
    for kind, body in handshake_messages(data):
        if kind == CLIENT_HELLO:
            return _sni(body)
        break
    return None


def _sni(body: bytes) -> str | None:
    offset = 2 + 32  # legacy_version, random
    for width in (1, 2, 1):  # session id, cipher suites, compression methods
        size = _u(body, offset, width)
        if size is None:
            return None
        offset += width + size
    end = _u(body, offset, 2)
    if end is None:
        return None
    offset, end = offset + 2, min(len(body), offset + 2 + end)
    while offset + 4 <= end:
        kind, size = _u(body, offset, 2), _u(body, offset + 2, 2)
        assert kind is not None and size is not None
        if kind == SERVER_NAME_EXTENSION:
            return _host_name(body[offset + 4 : offset + 4 + size])
        offset += 4 + size
    return None


def _host_name(extension: bytes) -> str | None:
    # ServerNameList: u16 length, then (u8 type, u16 length, name)
    if len(extension) < 5 or extension[2] != 0:
        return None
    size = _u(extension, 3, 2)
    if size is None or 5 + size > len(extension):
        return None
    return extension[5 : 5 + size].decode("ascii", "replace")


def complete_first_record(data: bytes) -> bool:
    """Whether ``data`` holds at least one complete record (the lab reads a whole ClientHello)."""
    length = _u(data, 3, 2)
    return length is not None and len(data) >= 5 + length

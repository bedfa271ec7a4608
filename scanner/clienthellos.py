"""The ClientHellos Debian's Chromium and Firefox ESR really send, shipped as package data.

Recorded by ``python -m scanner.lab.record_hellos`` (see that module) into
``scanner/data/clienthellos/<product>-<major>.json``: the raw handshake message as hex, the
browser's name and version, and a parsed summary for people (versions, suites, groups,
signature algorithms, extensions). ``scanner.probe.simulate`` replays them and the server's
answer decides the handshake half of a verdict. The offer itself decides one thing: the curves a
leaf's ECDSA key may be on (``ecdsa_curves``), which the server's first answer cannot show (in
TLS 1.2 the browser refuses the key after the ServerHello).

TLS messages are read and written with tlslite-ng (a well-kept pure-Python TLS implementation,
the parser of the tlsfuzzer project): its ``ClientHello`` round-trips both browsers' hellos byte
for byte, GREASE and unknown extensions included, so putting the target's name into the
server_name extension changes nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from tlslite.constants import CipherSuite, ExtensionType, GroupName, SignatureScheme
from tlslite.extensions import SNIExtension
from tlslite.messages import ClientHello
from tlslite.utils.codec import Parser

DATA_DIR = Path(__file__).parent / "data" / "clienthellos"
# results key -> the Debian package whose ClientHello is recorded
BROWSER_FILES = {"chrome": "chromium", "firefox": "firefox-esr"}
VERSION_NAMES = {(3, 1): "TLSv1", (3, 2): "TLSv1.1", (3, 3): "TLSv1.2", (3, 4): "TLSv1.3"}
RECORD_VERSION = b"\x03\x01"  # what both browsers put in the record header of their first flight
SERVER_NAME = 0


@dataclass(frozen=True)
class Recording:
    """One browser's recorded ClientHello (the handshake message, header included)."""

    browser: str
    product: str
    version: str
    hello: bytes
    path: Path

    @property
    def label(self) -> str:
        """'chromium 156.0.8078.129': what the results say was simulated."""
        return f"{self.product} {self.version}"


def _grease(value: int) -> bool:
    """RFC 8701 GREASE values (0x?A?A): browsers offer them so servers learn to ignore them."""
    return value & 0x0F0F == 0x0A0A and (value >> 8) == (value & 0xFF)


def _name(value: int, names: dict[int, str] | None = None, to_str: Any = None) -> str:
    if _grease(value):
        return "GREASE"
    if names is not None and value in names:
        return names[value]
    text = to_str(value) if to_str is not None else None
    return text if text and not text.isdigit() else f"0x{value:04x}"


def parse(hello: bytes) -> ClientHello:
    """The tlslite-ng ClientHello of a handshake message (type byte first)."""
    if not hello or hello[0] != 1:
        raise ValueError("not a ClientHello handshake message")
    return ClientHello().parse(Parser(bytearray(hello[1:])))


def summarise(hello: bytes) -> dict[str, Any]:
    """What a person reads to see what the browser offers (never used for a verdict)."""
    ch = parse(hello)
    ext: dict[int, Any] = {e.extType: e for e in ch.extensions or []}
    versions = getattr(ext.get(43), "versions", None) or [tuple(ch.client_version)]
    groups = getattr(ext.get(10), "groups", None) or []
    sigalgs = getattr(ext.get(13), "sigalgs", None) or []
    shares = getattr(ext.get(51), "client_shares", None) or []
    alpn = getattr(ext.get(16), "protocol_names", None) or []
    return {
        "versions": [VERSION_NAMES.get(tuple(v), "GREASE" if _grease(v[0] << 8 | v[1]) else f"{v}") for v in versions],
        "cipher_suites": [_name(c, CipherSuite.ietfNames) for c in ch.cipher_suites],
        "groups": [_name(g, to_str=GroupName.toStr) for g in groups],
        "key_shares": [_name(s.group, to_str=GroupName.toStr) for s in shares],
        "signature_algorithms": [_sigalg(s) for s in sigalgs],
        "alpn": [bytes(p).decode("ascii", "replace") for p in alpn],
        "extensions": [_name(e.extType, to_str=ExtensionType.toStr) for e in ch.extensions or []],
    }


# TLS 1.3 ECDSA signature schemes name their curve (RFC 8446 section 4.2.3)
ECDSA_SCHEME_CURVES = {"ecdsa_secp256r1_sha256": "secp256r1", "ecdsa_secp384r1_sha384": "secp384r1",
                       "ecdsa_secp521r1_sha512": "secp521r1"}


@lru_cache(maxsize=None)
def ecdsa_curves(browser: str) -> frozenset[str]:
    """The curves of the ECDSA signature schemes ``browser``'s recorded ClientHello offers: a
    leaf whose EC key is on another curve cannot sign a handshake this browser accepts (Chromium
    offers P-256 and P-384, net/socket/ssl_client_socket_impl.cc kVerifyPrefs; Firefox also
    P-521, NSS lib/ssl ssl3con.c), read from the offer rather than kept in a table, so that a
    re-recording after a browser update carries a change with it."""
    recording = next(r for r in recordings() if r.browser == browser)
    offered = summarise(recording.hello)["signature_algorithms"]
    return frozenset(ECDSA_SCHEME_CURVES[s] for s in offered if s in ECDSA_SCHEME_CURVES)


def _sigalg(scheme: tuple[int, int]) -> str:
    value = scheme[0] << 8 | scheme[1]
    if _grease(value):
        return "GREASE"
    text = SignatureScheme.toRepr(tuple(scheme))
    return text if text else f"0x{value:04x}"


def with_server_name(hello: bytes, hostname: str | None) -> bytes:
    """The same ClientHello with ``hostname`` in server_name; without the extension when
    ``hostname`` is None (browsers send no SNI for an IP address, RFC 6066 section 3).

    Only that extension changes: its position, every other byte and the lengths around it are
    as the browser sent them. tlslite-ng parses the hello once per recording (``_template``) and
    encodes the new extension; putting it back is a join and two length fields, because
    re-writing the whole hello with tlslite-ng costs about 2 ms per endpoint and browser."""
    prefix, before, after = _template(hello)
    sni = [] if hostname is None else [bytes(SNIExtension().create(hostname.encode("ascii")).write())]
    extensions = b"".join([*before, *sni, *after])
    body = prefix + len(extensions).to_bytes(2, "big") + extensions
    return bytes([1]) + len(body).to_bytes(3, "big") + body


@lru_cache(maxsize=8)
def _template(hello: bytes) -> tuple[bytes, tuple[bytes, ...], tuple[bytes, ...]]:
    """(the body before the extensions block, extensions before server_name, extensions after
    it), each extension as tlslite-ng encodes it. Valid because tlslite-ng re-encodes the
    recorded hellos byte for byte (checked here, and by tests/test_clienthellos.py)."""
    ch = parse(hello)
    encoded = [(e.extType, bytes(e.write())) for e in ch.extensions or []]
    if bytes(ch.write()) != hello or not encoded:
        raise ValueError("this ClientHello does not round-trip through tlslite-ng; re-record it")
    names = [kind for kind, _ in encoded]
    at = names.index(SERVER_NAME) if SERVER_NAME in names else len(encoded)
    size = sum(len(raw) for _, raw in encoded)
    prefix = hello[4 : len(hello) - size - 2]
    return (prefix, tuple(raw for _, raw in encoded[:at]), tuple(raw for _, raw in encoded[at + 1 :]))


def as_record(message: bytes) -> bytes:
    """One TLS handshake record carrying ``message`` (a ClientHello is far below 16 KB)."""
    return b"\x16" + RECORD_VERSION + len(message).to_bytes(2, "big") + message


@lru_cache(maxsize=1)
def recordings() -> tuple[Recording, ...]:
    """Every shipped recording, one per browser in BROWSER_FILES (chrome first)."""
    found = []
    for browser, product in BROWSER_FILES.items():
        paths = sorted(DATA_DIR.glob(f"{product}-*.json"))
        if len(paths) != 1:
            raise RuntimeError(f"expected one {product}-*.json recording in {DATA_DIR}, found {len(paths)}; "
                               "re-record with: python -m scanner.lab.record_hellos")
        data = json.loads(paths[0].read_text())
        found.append(Recording(browser, product, str(data["version"]), bytes.fromhex(data["client_hello_hex"]),
                               paths[0]))
    return tuple(found)

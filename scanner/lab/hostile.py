"""Hostile endpoints on 127.0.0.1: what firewalls, half-configured load balancers, non-TLS
services and broken certificates do to a scanner.

Real estates contain them all, so the lab reproduces each one with real sockets: servers that
never answer, stall or trickle after the ServerHello (a proxy in front of a real TLS server that
stops forwarding), speak HTTP or SSH, send random bytes or a bare TLS alert, reset mid-handshake,
demand an SNI name, present a chain of 100 certificates, a ~1 MB certificate message, a
certificate whose DER does not parse (a raw TLS 1.2 emitter: OpenSSL refuses to send such bytes)
or one with a broken extension, speak only TLS 1.0 or only TLS 1.3, or reject our client
certificate.

``start_hostile(nursery, pki)`` starts every behaviour and returns ``{behaviour: port}``;
``BEHAVIOURS`` lists them. Each server bounds its own life per connection, so a test that
forgets a connection does not hang.
"""

from __future__ import annotations

import datetime as dt
import random
import struct
from dataclasses import dataclass
from functools import partial
from typing import Any, Awaitable, Callable

import trio
from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from scanner.lab.pki import Issued, LabPKI, issue, name
from scanner.lab.servers import LabEstate, ServerSpec, serve
from scanner.probe import records

Handler = Callable[[trio.SocketStream], Awaitable[None]]
HOSTNAME = "gw.dcc-user.example"
CONNECTION_LIFETIME = 30.0  # seconds: far beyond any test deadline, short of a leak
ALERTS = {"handshake_failure": 40, "protocol_version": 70, "unrecognized_name": 112}
SSH_BANNER = b"SSH-2.0-OpenSSH_9.6p1 Debian-3\r\n"
HTTP_ANSWER = b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
TLS12 = b"\x03\x03"
CIPHER = b"\xc0\x2b"  # ECDHE-ECDSA-AES128-GCM-SHA256: offered by every client we build
RENEGOTIATION_INFO = b"\xff\x01\x00\x01\x00"  # OpenSSL 3+ clients refuse a server without it
LARGE_EXTENSION_BYTES = 1024 * 1024
UNPARSEABLE_DER = b"\x30\x82\x01\x00" + b"\x02\x01\x01" + bytes(range(256))[: 253]  # a truncated SEQUENCE


# ---- raw TLS records (what OpenSSL will not send for us) ---------------------------------------

def record(content_type: int, payload: bytes) -> bytes:
    """TLS 1.2 records carrying ``payload``, split at the 16 KB record limit."""
    out = bytearray()
    for start in range(0, max(len(payload), 1), 16384):
        chunk = payload[start : start + 16384]
        out += bytes([content_type]) + TLS12 + struct.pack(">H", len(chunk)) + chunk
    return bytes(out)


def handshake(message_type: int, body: bytes) -> bytes:
    return bytes([message_type]) + len(body).to_bytes(3, "big") + body


def alert(description: str) -> bytes:
    """A fatal alert record, as a server sends it in reply to a ClientHello."""
    return record(records.ALERT, bytes([2, ALERTS[description]]))


def server_hello_tls12() -> bytes:
    """A TLS 1.2 ServerHello any of our clients accepts (fixed random: no downgrade sentinel)."""
    extensions = RENEGOTIATION_INFO
    body = (TLS12 + bytes(range(1, 33)) + b"\x00" + CIPHER + b"\x00"
            + struct.pack(">H", len(extensions)) + extensions)
    return handshake(2, body)


def certificate_message(certificates: list[bytes]) -> bytes:
    """A TLS 1.2 Certificate message holding ``certificates`` verbatim (parseable or not)."""
    entries = b"".join(len(c).to_bytes(3, "big") + c for c in certificates)
    return handshake(records.CERTIFICATE, len(entries).to_bytes(3, "big") + entries)


# ---- handlers ----------------------------------------------------------------------------------

async def read_client_hello(stream: trio.SocketStream) -> bytes:
    """Everything up to the end of the client's first record ("" if it hung up first)."""
    data = b""
    while not records.complete_first_record(data):
        chunk = await stream.receive_some(65536)
        if not chunk:
            break
        data += chunk
    return data


async def silent(stream: trio.SocketStream) -> None:
    """Accepts TCP and never sends a byte (a firewall that lets the SYN through only)."""
    await trio.sleep_forever()


async def send_then_linger(data: bytes, stream: trio.SocketStream, *, first: bool = False) -> None:
    """Answer the ClientHello (or, with ``first``, greet before it: SSH) with ``data``, then wait
    for the client to give up."""
    if not first:
        await read_client_hello(stream)
    await stream.send_all(data)
    await trio.sleep(CONNECTION_LIFETIME)


def random_bytes(seed: int = 7, size: int = 4096) -> bytes:
    """Deterministic noise that cannot be mistaken for a TLS record header."""
    noise = bytearray(random.Random(seed).randbytes(size))
    noise[0] = 0x9F
    return bytes(noise)


async def raw_certificates(certificates: list[bytes], stream: trio.SocketStream) -> None:
    """A TLS 1.2 server flight (ServerHello, Certificate, ServerHelloDone) with handcrafted
    certificates; the client gives up at the Certificate, which is as far as it needs to get."""
    await read_client_hello(stream)
    flight = server_hello_tls12() + certificate_message(certificates) + handshake(14, b"")
    await stream.send_all(record(records.HANDSHAKE, flight))
    with trio.move_on_after(CONNECTION_LIFETIME):
        while await stream.receive_some(65536):
            pass


Relay = Callable[[bytes, trio.SocketStream], Awaitable[None]]


async def forward_all(data: bytes, client: trio.SocketStream) -> None:
    await client.send_all(data)


def first_record_then_stall() -> Relay:
    """Forward the first record of the server's flight (the ServerHello), then nothing."""
    state = {"sent": False}

    async def relay(data: bytes, client: trio.SocketStream) -> None:
        if state["sent"]:
            return
        state["sent"] = True
        length = int.from_bytes(data[3:5], "big") if len(data) >= 5 else len(data)
        await client.send_all(data[: 5 + length])
        await trio.sleep_forever()
    return relay


async def one_byte_a_second(data: bytes, client: trio.SocketStream) -> None:
    """Slowloris: the real server's answer, one byte per second."""
    for index in range(len(data)):
        await client.send_all(data[index : index + 1])
        await trio.sleep(1.0)


async def proxy(backend_port: int, relay: Relay, client: trio.SocketStream,
                hello_check: Callable[[bytes], bytes | None] | None = None) -> None:
    """Relay a client to a real TLS server on loopback, passing the server's bytes through
    ``relay``. ``hello_check(client_hello)`` may answer instead (bytes) or let it through (None)."""
    hello = await read_client_hello(client)
    if hello_check is not None:
        answer = hello_check(hello)
        if answer is not None:
            await client.send_all(answer)
            return
    backend = await trio.open_tcp_stream("127.0.0.1", backend_port)
    async with backend:
        await backend.send_all(hello)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_pump_to_backend, client, backend)
            while data := await backend.receive_some(65536):
                await relay(data, client)
            nursery.cancel_scope.cancel()


async def _pump_to_backend(client: trio.SocketStream, backend: trio.SocketStream) -> None:
    try:
        while data := await client.receive_some(65536):
            await backend.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


def require_sni(expected: str) -> Callable[[bytes], bytes | None]:
    """Let only ClientHellos naming ``expected`` through; others get unrecognized_name."""
    def check(hello: bytes) -> bytes | None:
        return None if records.client_hello_sni(hello) == expected else alert("unrecognized_name")
    return check


async def serve_handler(handler: Handler, *, host: str = "127.0.0.1",
                        task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """Serve ``handler`` on an ephemeral port; its failures end that connection only."""
    async def one(stream: trio.SocketStream) -> None:
        async with stream:
            with trio.move_on_after(CONNECTION_LIFETIME):
                try:
                    await handler(stream)
                except Exception:  # noqa: BLE001 - the client hung up (plain or grouped): that connection ends, the lab goes on
                    pass
    listeners = await trio.open_tcp_listeners(0, host=host)
    port = listeners[0].socket.getsockname()[1]
    task_status.started(port)
    await trio.serve_listeners(one, listeners)


# ---- certificates ------------------------------------------------------------------------------

@dataclass
class HostileCertificates:
    """The certificates the hostile TLS servers present."""

    good: Issued
    long_chain: list[Issued]  # the leaf's issuer pool: 99 CAs
    large: Issued  # a leaf with a ~1 MB extension
    broken_extension: Issued  # parses as X.509; its subjectAltName does not


def hostile_certificates(pki: LabPKI) -> HostileCertificates:
    good = pki.leaf(HOSTNAME, dns=[HOSTNAME])
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    cas = [issue(subject=name(f"Hostile CA {i}"), issuer=pki.root, ca=True, key="ec-p256",
                 not_before=now - dt.timedelta(days=1)) for i in range(99)]
    filler = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"),
                                        b"\x04\x83" + LARGE_EXTENSION_BYTES.to_bytes(3, "big")
                                        + bytes(LARGE_EXTENSION_BYTES))
    large = pki.leaf(HOSTNAME, dns=[HOSTNAME], extra=[(filler, False)])
    bad_san = x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x30\x05\x82\x09gw")
    broken = pki.leaf(HOSTNAME, extra=[(bad_san, False)])
    return HostileCertificates(good=good, long_chain=cas, large=large, broken_extension=broken)


def _tls(leaf: Issued, chain_pem: bytes | None = None, **options: Any) -> ServerSpec:
    return ServerSpec(chain_pem=chain_pem or leaf.chain_pem(), key_pem=leaf.key_pem, **options)


# ---- the estate --------------------------------------------------------------------------------

BEHAVIOURS = (
    "silent", "stall-after-server-hello", "slowloris", "http", "ssh", "random-bytes",
    "alert-handshake-failure", "alert-protocol-version", "alert-unrecognized-name", "reset",
    "chain-of-100", "megabyte-certificate", "unparseable-certificate", "broken-extension",
    "tls1.0-only", "tls1.3-only", "sni-required", "client-cert-rejected",
)


def tls_specs(pki: LabPKI, certs: HostileCertificates) -> dict[str, ServerSpec]:
    """The behaviours a real OpenSSL server can play."""
    good = certs.good
    long_pem = good.pem + b"".join(ca.pem for ca in certs.long_chain)
    return {
        "backend": _tls(good),
        "chain-of-100": _tls(good, chain_pem=long_pem),
        "megabyte-certificate": _tls(certs.large, max_version="TLSv1.2"),
        "broken-extension": _tls(certs.broken_extension),
        "tls1.0-only": _tls(good, min_version="TLSv1", max_version="TLSv1", cipher_list="ALL:@SECLEVEL=0"),
        "tls1.3-only": _tls(good, min_version="TLSv1.3"),
        "client-cert-rejected": _tls(good, client_auth="required", client_cas=[pki.issuing.pem]),
        "reset": ServerSpec(kind="reset"),  # reads the ClientHello, then RST (SO_LINGER 0)
    }


def handlers(backend_port: int) -> dict[str, Handler]:
    """The behaviours that need raw sockets (several in front of the real server on ``backend_port``)."""
    return {
        "silent": silent,
        "stall-after-server-hello": _fresh_stall(backend_port),
        "slowloris": partial(proxy, backend_port, one_byte_a_second),
        "http": partial(send_then_linger, HTTP_ANSWER),
        "ssh": partial(send_then_linger, SSH_BANNER, first=True),
        "random-bytes": partial(send_then_linger, random_bytes()),
        **{f"alert-{a.replace('_', '-')}": partial(send_then_linger, alert(a)) for a in ALERTS},
        "unparseable-certificate": partial(raw_certificates, [UNPARSEABLE_DER]),
        "sni-required": partial(proxy, backend_port, forward_all, hello_check=require_sni(HOSTNAME)),
    }


def _fresh_stall(backend_port: int) -> Handler:
    """Each connection needs its own 'first record sent' state."""
    async def handle(stream: trio.SocketStream) -> None:
        await proxy(backend_port, first_record_then_stall(), stream)
    return handle


async def start_hostile(nursery: trio.Nursery, pki: LabPKI,
                        certs: HostileCertificates | None = None) -> dict[str, int]:
    """Start every behaviour in ``nursery``; ``{behaviour: port}`` (plus ``backend``, a good server)."""
    certs = certs or hostile_certificates(pki)
    ports: dict[str, int] = {}
    for label, spec in tls_specs(pki, certs).items():
        ports[label] = await nursery.start(serve, spec)
    for label, handler in handlers(ports["backend"]).items():
        ports[label] = await nursery.start(partial(serve_handler, handler))
    return ports


class HostileEstate(LabEstate):
    """The hostile lab in a background thread (for subprocess scans): ``with HostileEstate(pki)
    as ports:`` gives ``{behaviour: port}``."""

    def __init__(self, pki: LabPKI, certs: HostileCertificates | None = None) -> None:
        super().__init__([])
        self.pki, self.certs = pki, certs
        self.named: dict[str, int] = {}

    async def _start(self, nursery: trio.Nursery) -> list[int]:
        self.named = await start_hostile(nursery, self.pki, self.certs)
        return list(self.named.values())

    def __enter__(self) -> dict[str, int]:  # type: ignore[override]
        super().__enter__()
        return self.named

"""One TLS handshake against one address, capturing what the server presented.

Verification is off on purpose: the probe only captures, ``scanner.evaluate`` judges. The chain is
captured from OpenSSL's info callback as soon as the server's Certificate message has been
processed, so it survives a handshake the server later aborts because we sent no client
certificate (the server's Certificate always precedes the client's). In TLS 1.3 a server rejects
a missing client certificate only after our Finished, so when a CertificateRequest arrived we do
one short read after the handshake: an alert means the certificate is required, a session ticket,
data or silence means it was optional.
"""

from __future__ import annotations

import errno
import functools
import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any, Literal

import trio
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL, crypto

from scanner.probe import errors
from scanner.probe.bio import Wire, alert_name, error_reasons

ClientAuth = Literal["none", "optional", "required"]
ALPN_OFFER = [b"h2", b"http/1.1"]
AFTER_HANDSHAKE_READ = 2.0  # seconds at most, within the endpoint's deadline
PARSE_REASONS = ("asn1", "x509", "certificate parse", "bad certificate data")
REQUIRED_ALERTS = {"certificate_required", "handshake_failure", "bad_certificate",
                   "certificate_unknown", "unknown_ca", "access_denied", "unexpected_message"}


@dataclass(frozen=True)
class ClientIdentity:
    """A client certificate chain (leaf first, DER) and its private key, decrypted."""

    chain: tuple[bytes, ...]
    key_pem: bytes = field(repr=False)


@dataclass
class Capture:
    """What one handshake showed; ``to_tls_json()`` is the schema's ``tls`` object."""

    chain: list[bytes] = field(default_factory=list)
    version: str | None = None
    cipher: str | None = None
    alpn: str | None = None
    cert_requested: bool = False
    client_auth: ClientAuth = "none"
    client_cert_sent: bool = False
    acceptable_ca_names: list[str] = field(default_factory=list)

    def to_tls_json(self) -> dict[str, Any]:
        return {"version": self.version, "cipher": self.cipher, "alpn": self.alpn,
                "client_auth": self.client_auth, "client_cert_sent": self.client_cert_sent,
                "acceptable_ca_names": list(self.acceptable_ca_names)}


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=64)
def _context(identity: ClientIdentity | None) -> SSL.Context:
    """One client context per identity, shared by every connection: building an OpenSSL context
    (cipher tables, verify store) costs about as much as a loopback handshake."""
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_verify(SSL.VERIFY_NONE)
    ctx.set_alpn_protos(ALPN_OFFER)
    # Scan what is deployed, including old servers: allow every version and cipher OpenSSL has.
    ctx.set_min_proto_version(0)
    try:
        ctx.set_cipher_list(b"ALL:@SECLEVEL=0")
    except SSL.Error:  # pragma: no cover - a build without SECLEVEL
        pass
    if identity is not None:
        ctx.use_certificate(_load_der(identity.chain[0]))
        for extra in identity.chain[1:]:
            ctx.add_extra_chain_cert(_load_der(extra))
        key = serialization.load_pem_private_key(identity.key_pem, password=None)
        ctx.use_privatekey(key)  # type: ignore[arg-type]
    return ctx


def _load_der(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


class _Observer:
    """Info-callback state: grabs the peer chain the moment OpenSSL has it."""

    def __init__(self, capture: Capture) -> None:
        self.capture = capture
        self.ticket_seen = False

    def __call__(self, conn: SSL.Connection, where: int, ret: int) -> None:
        try:
            state = conn.get_state_string().decode("ascii", "replace").lower()
            if "certificate request" in state:
                self.capture.cert_requested = True
            if "session ticket" in state and "read" in state:
                self.ticket_seen = True
            if not self.capture.chain:
                chain = conn.get_peer_cert_chain(as_cryptography=True)
                if chain:
                    self.capture.chain = [c.public_bytes(serialization.Encoding.DER) for c in chain]
        except Exception:  # noqa: BLE001 - a callback must never raise into OpenSSL
            pass


def _ca_names(conn: SSL.Connection) -> list[str]:
    """The CA names of the server's CertificateRequest, RFC 4514 text (most specific first)."""
    try:
        return [_rfc4514(n) for n in conn.get_client_ca_list()]
    except Exception:  # noqa: BLE001 - hostile names cost us the list, not the scan
        return []


def _rfc4514(name: crypto.X509Name) -> str:
    parts = []
    for key, value in reversed(name.get_components()):
        text = value.decode("utf-8", "replace")
        for special in '\\,+"<>;=':
            text = text.replace(special, "\\" + special)
        parts.append(f"{key.decode('ascii', 'replace')}={text}")
    return ",".join(parts)


def _fill_session(capture: Capture, conn: SSL.Connection) -> None:
    capture.version = conn.get_protocol_version_name() or None
    if capture.version == "unknown":
        capture.version = None
    capture.cipher = conn.get_cipher_name()
    alpn = conn.get_alpn_proto_negotiated()
    capture.alpn = alpn.decode("ascii", "replace") if alpn else None
    capture.acceptable_ca_names = _ca_names(conn)


async def connect(address: str, port: int) -> trio.SocketStream:
    """A TCP connection to one address (no name resolution here: the runner did it)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = trio.socket.socket(family, socket.SOCK_STREAM)
    try:
        await sock.connect((address, port))
    except OSError as exc:
        sock.close()
        raise _connect_error(exc, address, port) from exc
    except BaseException:
        sock.close()
        raise
    return trio.SocketStream(sock)


def _connect_error(exc: OSError, address: str, port: int) -> errors.ProbeError:
    where = f"{address} port {port}"
    if exc.errno == errno.ECONNREFUSED:
        return errors.RefusedError(f"connection refused by {where}: nothing listens there, or a "
                                   "firewall rejects us; check the port and allow-listing",
                                   phase="connect")
    if exc.errno in (errno.ECONNRESET, errno.EPIPE):
        return errors.ResetError(f"connection to {where} was reset while connecting", phase="connect")
    return errors.ProbeError(f"cannot connect to {where}: {exc.strerror or exc}", phase="connect")


async def probe(address: str, port: int, *, hostname: str, timeout: float,
                identity: ClientIdentity | None = None) -> Capture:
    """Connect, handshake and capture, all under one ``trio.fail_after(timeout)`` deadline.

    Raises a ``scanner.probe.errors.ProbeError`` subclass; never anything else for network or
    TLS trouble.
    """
    capture = Capture()
    phase = ["connect"]
    try:
        with trio.fail_after(timeout):
            stream = await connect(address, port)
            phase[0] = "handshake"
            async with stream:
                await _handshake(stream, hostname, identity, capture, phase)
    except trio.TooSlowError:
        raise errors.TimeoutError(
            f"no complete answer from {address} port {port} within {timeout:g}s during {phase[0]}; "
            "the host may be filtered or overloaded: check reachability or raise --timeout",
            phase=phase[0], capture=capture if capture.chain else None) from None
    except (trio.BrokenResourceError, ConnectionResetError) as exc:
        raise errors.ResetError(f"{address} port {port} reset the connection during {phase[0]}; "
                                "a firewall or a non-TLS service may be in the way",
                                phase=phase[0], capture=capture if capture.chain else None) from exc
    return capture


async def _handshake(stream: trio.SocketStream, hostname: str, identity: ClientIdentity | None,
                     capture: Capture, phase: list[str]) -> None:
    conn = SSL.Connection(_context(identity), None)
    conn.set_connect_state()
    if hostname and not is_ip_literal(hostname):
        conn.set_tlsext_host_name(hostname.encode("ascii"))
    observer = _Observer(capture)
    conn.set_info_callback(observer)
    wire = Wire(stream, conn)
    try:
        await wire.handshake()
    except EOFError:
        _check_tls(wire, capture)
        raise errors.HandshakeError("the server closed the connection during the TLS handshake "
                                    "without an alert; it may not speak TLS on this port or "
                                    "refuse our hello", phase="handshake",
                                    capture=capture if capture.chain else None) from None
    except SSL.Error as exc:
        observer(conn, 0, 0)
        _fill_session(capture, conn)
        _handshake_failed(wire, exc, capture, identity)
        return
    observer(conn, 0, 0)
    _fill_session(capture, conn)
    capture.client_cert_sent = capture.cert_requested and identity is not None
    capture.client_auth = "optional" if capture.cert_requested else "none"
    if capture.cert_requested and capture.version == "TLSv1.3":
        phase[0] = "after-handshake"
        await _read_verdict(wire, observer, capture, identity)
    _require_chain(capture)


def _check_tls(wire: Wire, capture: Capture) -> None:
    """Raise NotTLSError when the first bytes are not a TLS record (handshake or alert)."""
    if wire.received_any and wire.first_bytes[:1] not in (b"\x16", b"\x15"):
        sample = wire.first_bytes[:8].decode("ascii", "replace")
        raise errors.NotTLSError(f"the port answered, but not with TLS (first bytes {sample!r}); "
                                 "check the port number: it may be plain HTTP or another service",
                                 phase="handshake")


def _handshake_failed(wire: Wire, exc: SSL.Error, capture: Capture,
                      identity: ClientIdentity | None) -> None:
    """Classify a failed handshake; returns normally only for 'client certificate required'."""
    _check_tls(wire, capture)
    alert = alert_name(exc)
    partial = capture if capture.chain else None
    if capture.cert_requested and capture.chain and alert in REQUIRED_ALERTS:
        if identity is None:
            capture.client_auth = "required"
            return
        capture.client_cert_sent = True
        capture.client_auth = "required"
        raise errors.ClientCertRejectedError(
            f"the server rejected our client certificate with the alert {alert}; check that it "
            "is issued by a CA the server accepts (acceptable_ca_names) and is not expired",
            phase="handshake", alert=alert, capture=partial)
    if alert:
        raise errors.TLSAlertError(errors.alert_message(alert), phase="handshake", alert=alert,
                                   capture=partial)
    reasons = "; ".join(error_reasons(exc)) or "unknown error"
    if any(word in reasons for word in PARSE_REASONS):
        raise errors.CertificateParseError(f"the server's certificate could not be parsed: {reasons}",
                                           phase="handshake", capture=partial)
    raise errors.HandshakeError(f"the TLS handshake failed: {reasons}", phase="handshake",
                                capture=partial)


async def _read_verdict(wire: Wire, observer: _Observer, capture: Capture,
                        identity: ClientIdentity | None) -> None:
    """TLS 1.3: learn whether the server accepted our client certificate (or its absence).

    An alert, a reset or a close before any session ticket or data means it refused us: a server
    that accepted waits for our request. A ticket, data or silence until the short deadline
    means it accepted.
    """
    # stay inside the endpoint's deadline: running into it here must not turn a completed
    # handshake into a timeout (the outer scope would catch it, not this one)
    until = min(trio.current_time() + AFTER_HANDSHAKE_READ, trio.current_effective_deadline() - 0.05)
    alert: str | None = None
    with trio.move_on_at(until):
        try:
            while not observer.ticket_seen:
                data = await _receive_once(wire)
                if data:
                    return  # application data: the server did not object
                if data is None:
                    break  # closed on us
            else:
                return  # a session ticket: the server completed its side
        except SSL.Error as exc:
            alert = alert_name(exc)
        except (trio.BrokenResourceError, ConnectionResetError):
            pass
        _refused(capture, identity, alert)


def _refused(capture: Capture, identity: ClientIdentity | None, alert: str | None) -> None:
    """The server ended the connection after the handshake: required, or our cert rejected."""
    capture.client_auth = "required"
    if identity is not None:
        raise errors.ClientCertRejectedError(
            f"the server rejected our client certificate after the handshake "
            f"({'alert ' + alert if alert else 'connection closed'}); check it is issued by a CA "
            "the server accepts (acceptable_ca_names) and is not expired",
            phase="after-handshake", alert=alert, capture=capture)


async def _receive_once(wire: Wire) -> bytes | None:
    """One pass of reading: b"" when OpenSSL only consumed records (tickets), None at EOF."""
    try:
        return wire.conn.recv(65536)
    except SSL.WantReadError:
        await wire.flush()
        if wire.eof:
            return None
        await wire.feed()
        return b""
    except SSL.ZeroReturnError:
        return None


def _require_chain(capture: Capture) -> None:
    if not capture.chain:
        raise errors.CertificateParseError("the handshake completed but no server certificate "
                                           "could be read (anonymous cipher or unparseable chain)",
                                           phase="handshake")

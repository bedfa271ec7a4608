"""One TLS handshake against one address, capturing what the server presented.

Verification is off on purpose: the probe only captures, ``scanner.evaluate`` judges. The chain is
read from the session when the handshake ends, however it ended: OpenSSL keeps the server's
Certificate message once processed, so the chain survives a handshake the server later aborts
because we sent no client certificate (the server's Certificate always precedes the client's).
A CertificateRequest is noticed by OpenSSL's certificate callback (``_CertificateRequests``),
which runs only when one arrives. In TLS 1.3 a server rejects
a missing client certificate only after our Finished, so when a CertificateRequest arrived we do
one short read after the handshake: an alert means the certificate is required, a session ticket,
data or silence means it was optional.
"""

from __future__ import annotations

import errno
import functools
import socket
from dataclasses import dataclass, field
from typing import Any, Literal

import trio
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL, crypto

from scanner.probe import errors, records
from scanner.probe.bio import OversizedError, Wire, alert_name, error_reasons
from scanner.probe.resolve import literal_address

ClientAuth = Literal["none", "optional", "required"]
ALPN_OFFER = [b"h2", b"http/1.1"]
AFTER_HANDSHAKE_READ = 2.0  # seconds at most, within the endpoint's deadline
PARSE_REASONS = ("asn1", "x509", "certificate parse", "bad certificate data")
OVERSIZE_REASONS = ("excessive message size", "record too long", "data length too long",
                    "packet length too long", "encrypted length too long")
# Memory guards against hostile servers: a real handshake is a few KB, a long chain some tens.
MAX_HANDSHAKE_BYTES = 2 * 1024 * 1024
MAX_CHAIN_CERTS = 64
# The raw bytes kept to read back a certificate OpenSSL cannot parse: OpenSSL itself refuses a
# certificate message over 100 KB, so more would never be used.
TRANSCRIPT_BYTES = 128 * 1024
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
    certificates_presented: int = 0  # before the MAX_CHAIN_CERTS cap
    ocsp_staple: bytes | None = None  # the OCSP response the server stapled (status_request), if any

    def to_tls_json(self) -> dict[str, Any]:
        return {"version": self.version, "cipher": self.cipher, "alpn": self.alpn,
                "client_auth": self.client_auth, "client_cert_sent": self.client_cert_sent,
                "acceptable_ca_names": list(self.acceptable_ca_names)}


def is_ip_literal(host: str) -> bool:
    """Whether ``host`` is an IPv4 or IPv6 address (SNI is never sent for one)."""
    return literal_address(host) is not None


@dataclass(frozen=True)
class _Client:
    """A shared client context, and whether ``_REQUESTS`` watches it for certificate requests."""

    ctx: SSL.Context
    watched: bool


@functools.lru_cache(maxsize=64)
def _context(identity: ClientIdentity | None) -> _Client:
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
    ctx.set_ocsp_client_callback(_stapled)
    if identity is not None:
        ctx.use_certificate(_load_der(identity.chain[0]))
        for extra in identity.chain[1:]:
            ctx.add_extra_chain_cert(_load_der(extra))
        key = serialization.load_pem_private_key(identity.key_pem, password=None)
        ctx.use_privatekey(key)  # type: ignore[arg-type]
    return _Client(ctx, _REQUESTS.install(ctx))


def _load_der(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


MAX_STAPLE_BYTES = 64 * 1024


def _stapled(conn: SSL.Connection, response: bytes, _data: Any) -> bool:
    """Keep the stapled OCSP response for ``scanner.evaluate.revocation`` (judged there, not here:
    a bad or missing staple must never end the handshake, so this always says yes)."""
    try:
        capture = conn.get_app_data()
        if response and isinstance(capture, Capture) and len(response) <= MAX_STAPLE_BYTES:
            capture.ocsp_staple = bytes(response)
    except Exception:  # noqa: BLE001 - a callback must never raise into OpenSSL
        pass
    return True


class _CertificateRequests:
    """Which connections the server asked for a client certificate.

    OpenSSL calls a context's certificate callback (``SSL_CTX_set_cert_cb``) on a client only
    when a CertificateRequest arrives (TLS 1.2 and 1.3 alike), so registering one C-level
    callback answers the question for the rare connection that needs it. Why not the info
    callback, which saw the request as a state name: it calls into Python about fifteen times
    per handshake, and that was about a sixth of the probe loop's CPU. pyOpenSSL has no public
    API for this callback; when its internals are not as expected, ``install`` says so and the
    probe watches with the info callback as before.
    """

    def __init__(self) -> None:
        self.seen: set[int] = set()  # addresses of live SSL objects; removed when a probe ends
        self._callback: Any = None

    def install(self, ctx: SSL.Context) -> bool:
        try:
            from OpenSSL._util import ffi, lib

            if self._callback is None:
                self._callback = ffi.callback("int(SSL *, void *)", self._requested, error=1)
            lib.SSL_CTX_set_cert_cb(ctx._context, self._callback, ffi.NULL)  # type: ignore[attr-defined]
            return True
        except Exception:  # noqa: BLE001 - an unexpected pyOpenSSL: use the info callback
            return False

    def _requested(self, ssl: Any, _arg: Any) -> int:
        self.seen.add(_address(ssl))
        return 1  # carry on: with an identity OpenSSL sends it, without one an empty Certificate

    def pop(self, conn: SSL.Connection) -> bool:
        """Whether ``conn`` was asked for a certificate (and forget it: its address is reused)."""
        try:
            key = _address(conn._ssl)  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001
            return False
        found = key in self.seen
        self.seen.discard(key)
        return found


def _address(ssl: Any) -> int:
    from OpenSSL._util import ffi

    return int(ffi.cast("uintptr_t", ssl))


_REQUESTS = _CertificateRequests()


# Info-callback events that carry no new handshake state: an alert, or the handshake function
# returning (after every WANT_READ, many times per handshake). Skipping them halves the callbacks.
_REPEATS = SSL.SSL_CB_EXIT | SSL.SSL_CB_ALERT


class _Observer:
    """Reads the peer chain (called when the handshake ends) and, as an info callback, the
    handshake states: session tickets after a TLS 1.3 handshake that requested a certificate,
    and certificate requests when ``_CertificateRequests`` cannot be installed."""

    def __init__(self, capture: Capture) -> None:
        self.capture = capture
        self.ticket_seen = False

    def __call__(self, conn: SSL.Connection, where: int, ret: int) -> None:
        if where & _REPEATS:  # the state of the last loop event again: nothing new to see
            return
        try:
            state = conn.get_state_string().lower()
            if b"certificate request" in state:
                self.capture.cert_requested = True
            if b"session ticket" in state and b"read" in state:
                self.ticket_seen = True
            # the chain appears with the "read server certificate" state; the calls made after
            # the handshake (where == 0) look whatever the state, so nothing depends on the name
            if not self.capture.chain and (b"certificate" in state or not where):
                chain = conn.get_peer_cert_chain(as_cryptography=True)
                if chain:
                    self.capture.certificates_presented = len(chain)
                    self.capture.chain = [c.public_bytes(serialization.Encoding.DER)
                                          for c in chain[:MAX_CHAIN_CERTS]]
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


@dataclass
class _Progress:
    """How far one probe got, for the message when it ends early."""

    phase: str = "connect"
    wire: Wire | None = None

    @property
    def received(self) -> int:
        return self.wire.bytes_received if self.wire is not None else 0


async def probe(address: str, port: int, *, hostname: str, timeout: float,
                identity: ClientIdentity | None = None, max_bytes: int = MAX_HANDSHAKE_BYTES) -> Capture:
    """Connect, handshake and capture, all under one ``trio.fail_after(timeout)`` deadline.

    ``max_bytes`` caps what the server may send us during the handshake (memory stays bounded
    whatever it does). Raises a ``scanner.probe.errors.ProbeError`` subclass; never anything
    else for network or TLS trouble.
    """
    capture = Capture()
    progress = _Progress()
    where = f"{address} port {port}"
    try:
        with trio.fail_after(timeout):
            stream = await connect(address, port)
            progress.phase = "handshake"
            async with stream:
                await _handshake(stream, hostname, identity, capture, progress, max_bytes)
    except trio.TooSlowError:
        raise _timeout(where, timeout, progress, capture) from None
    except (trio.BrokenResourceError, ConnectionResetError) as exc:
        raise errors.ResetError(f"{where} reset the connection during {progress.phase}; "
                                "a firewall or a non-TLS service may be in the way",
                                phase=progress.phase, capture=_partial(capture)) from exc
    except OversizedError as exc:
        raise errors.ProtocolError(
            f"{where} sent more than {max_bytes // 1024} KB during the TLS handshake ({exc.received} "
            "bytes and counting); dccscan stopped reading. A real handshake is a few KB: check "
            "that this port serves TLS and that its certificate chain is not bloated",
            phase=progress.phase, capture=_partial(capture)) from None
    _check_chain_size(capture)
    return capture


def _partial(capture: Capture) -> Capture | None:
    return capture if capture.chain else None


def _timeout(where: str, timeout: float, progress: _Progress, capture: Capture) -> errors.TimeoutError:
    """Silence, a stall after some bytes and a trickle all end here: say which it was."""
    if progress.phase == "handshake" and progress.received:
        what = (f"the server started its answer ({progress.received} bytes) and then stalled or "
                "trickled; a proxy, load balancer or overloaded server may be in the way")
    elif progress.phase == "handshake":
        what = ("the port accepted the connection but never answered; a firewall may be swallowing "
                "packets, or the service waits for something other than a TLS ClientHello")
    else:
        what = "the host may be filtered or overloaded: check reachability"
    return errors.TimeoutError(
        f"no complete answer from {where} within {timeout:g}s during {progress.phase}: {what}; "
        "raise --timeout only if it is merely slow", phase=progress.phase, capture=_partial(capture))


def _check_chain_size(capture: Capture) -> None:
    """A server presenting more than MAX_CHAIN_CERTS certificates is misconfigured (or hostile):
    the first ones are kept and judged, and the endpoint says what happened."""
    if capture.certificates_presented > MAX_CHAIN_CERTS:
        raise errors.ProtocolError(
            f"the server presented {capture.certificates_presented} certificates; dccscan keeps and "
            f"evaluates the first {MAX_CHAIN_CERTS}. A server should send its certificate and the "
            "intermediates only (usually 2 to 4): fix its chain file", phase="handshake", capture=capture)


async def _handshake(stream: trio.SocketStream, hostname: str, identity: ClientIdentity | None,
                     capture: Capture, progress: _Progress, max_bytes: int) -> None:
    client = _context(identity)
    watched = client.watched
    conn = SSL.Connection(client.ctx, None)
    conn.set_connect_state()
    conn.set_app_data(capture)
    conn.request_ocsp()  # status_request: a stapled OCSP response is revocation evidence
    if hostname and not is_ip_literal(hostname):
        conn.set_tlsext_host_name(hostname.encode("ascii"))
    observer = _Observer(capture)
    if not watched:
        conn.set_info_callback(observer)
    wire = Wire(stream, conn, limit=max_bytes, transcript_limit=TRANSCRIPT_BYTES)
    progress.wire = wire
    try:
        await _run_handshake(wire, conn, observer, capture, identity, progress, watched)
    finally:
        _REQUESTS.pop(conn)  # an SSL object's address is reused once it is freed


async def _run_handshake(wire: Wire, conn: SSL.Connection, observer: _Observer, capture: Capture,
                         identity: ClientIdentity | None, progress: _Progress, watched: bool) -> None:
    """The handshake and what follows it; ``watched``: certificate requests come from
    ``_REQUESTS`` (else from the info callback)."""
    try:
        await wire.handshake()
    except EOFError:
        _seen(conn, observer, capture, watched)
        _check_tls(wire, capture)
        raise errors.HandshakeError("the server closed the connection during the TLS handshake "
                                    "without an alert; it may not speak TLS on this port or "
                                    "refuse our hello", phase="handshake",
                                    capture=capture if capture.chain else None) from None
    except SSL.Error as exc:
        _seen(conn, observer, capture, watched)
        _fill_session(capture, conn)
        _handshake_failed(wire, exc, capture, identity)
        return
    wire.transcript_limit, wire.transcript = 0, bytearray()  # a chain OpenSSL parsed needs no raw copy
    _seen(conn, observer, capture, watched)
    _fill_session(capture, conn)
    capture.client_cert_sent = capture.cert_requested and identity is not None
    capture.client_auth = "optional" if capture.cert_requested else "none"
    if capture.cert_requested and capture.version == "TLSv1.3":
        progress.phase = "after-handshake"
        if watched:  # session tickets are seen by the info callback: watch from here on
            conn.set_info_callback(observer)
        await _read_verdict(wire, observer, capture, identity)
    _require_chain(capture)


def _seen(conn: SSL.Connection, observer: _Observer, capture: Capture, watched: bool) -> None:
    """What the handshake showed, however it ended: the presented chain (OpenSSL keeps it in
    the session after a failure too) and, when watched, whether a certificate was requested."""
    if watched and _REQUESTS.pop(conn):
        capture.cert_requested = True
    observer(conn, 0, 0)


def _check_tls(wire: Wire, capture: Capture) -> None:
    """Raise NotTLSError when the first bytes are not a TLS record (handshake or alert)."""
    if wire.received_any and wire.first_bytes[:1] not in (b"\x16", b"\x15"):
        raise errors.NotTLSError(f"the port answered, but not with TLS: {_looks_like(wire.first_bytes)}; "
                                 "check the port number and that TLS is not terminated elsewhere",
                                 phase="handshake")


def _looks_like(first: bytes) -> str:
    """What the first bytes of a non-TLS answer suggest, with the bytes shown safely."""
    sample = first[:8]
    printable = all(32 <= b < 127 for b in sample)
    shown = repr(sample.decode("ascii")) if printable else sample.hex(" ")
    for prefix, service in ((b"HTTP/", "plain HTTP"), (b"SSH-", "an SSH server"), (b"220", "an FTP or SMTP server")):
        if first.startswith(prefix):
            return f"it looks like {service} (first bytes {shown})"
    return f"first bytes {shown}"


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
    if any(word in reasons for word in OVERSIZE_REASONS):
        raise errors.ProtocolError(
            f"the server sent a TLS message larger than allowed ({reasons}); its certificate chain "
            "is probably bloated (a certificate message over 100 KB): fix the server's chain file",
            phase="handshake", capture=partial)
    if any(word in reasons for word in PARSE_REASONS):
        raise _parse_error(wire, capture, reasons)
    raise errors.HandshakeError(f"the TLS handshake failed: {reasons}", phase="handshake",
                                capture=partial)


def _parse_error(wire: Wire, capture: Capture, reasons: str) -> errors.CertificateParseError:
    """The server's certificate did not parse: keep the raw bytes it sent (TLS 1.2 sends them in
    the clear) so the results and evidence hold exactly what was presented."""
    if not capture.chain:
        raw = records.certificate_list(bytes(wire.transcript), MAX_CHAIN_CERTS + 1)
        capture.certificates_presented = len(raw)
        capture.chain = raw[:MAX_CHAIN_CERTS]
    kept = f"; the {len(capture.chain)} certificate(s) it sent are kept as raw bytes" if capture.chain else ""
    return errors.CertificateParseError(
        f"the server's certificate could not be parsed ({reasons}){kept}. Browsers reject it too: "
        "reissue or reinstall the certificate (check the PEM/DER file the server loads)",
        phase="handshake", capture=_partial(capture))


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

"""One TLS handshake against one address, capturing what the server presented.

Verification is off on purpose: the probe only captures, ``scanner.evaluate`` judges. The chain is
read from the session when the handshake ends, however it ended: OpenSSL keeps the server's
Certificate message once processed, so the chain survives a handshake the server later aborts
because we sent no client certificate (the server's Certificate always precedes the client's).
A CertificateRequest is noticed by the client context's info callback (pyOpenSSL's public
``Context.set_info_callback``), which sees every handshake state; it is encrypted in TLS 1.3, so
the plaintext records cannot tell. In TLS 1.3 a server rejects a missing client certificate only
after our Finished, so when a CertificateRequest arrived we do one short read after the
handshake: an alert or a close means the certificate is required; a session ticket, data or
silence leaves it "requested" (the TLS layer can say no more). The HTTP check
(``scanner.probe.http``) may then ask the application.
"""

from __future__ import annotations

import errno
import functools
import socket
from dataclasses import dataclass
from typing import Any

import trio
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL, crypto

from scanner.address import is_ip_literal
from scanner.probe import errors, http, records
from scanner.probe.bio import OversizedError, Wire, alert_name, error_reasons
from scanner.probe.capture import Capture
from scanner.targets import ClientIdentity

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


@functools.lru_cache(maxsize=64)
def _context(identity: ClientIdentity | None, max_version: int | None = None) -> SSL.Context:
    """One client context per identity, shared by every connection: building an OpenSSL context
    (cipher tables, verify store) costs about as much as a loopback handshake. Its one info
    callback watches every connection made from it (``_watch``)."""
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_verify(SSL.VERIFY_NONE)
    ctx.set_alpn_protos(ALPN_OFFER)
    # Scan what is deployed, including old servers: allow every version and cipher OpenSSL has.
    ctx.set_min_proto_version(0)
    if max_version is not None:
        ctx.set_max_proto_version(max_version)
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
    ctx.set_info_callback(_watch)
    ctx.set_ocsp_client_callback(_stapled)
    return ctx


def _load_der(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


class _Observer:
    """What the info callback saw on one connection (kept as the connection's app data)."""

    __slots__ = ("cert_requested", "ticket_seen", "staple")

    def __init__(self) -> None:
        self.cert_requested = False
        self.ticket_seen = False  # a TLS 1.3 session ticket: the server completed its side
        self.staple: bytes | None = None  # the OCSP response the server stapled, if any


MAX_STAPLE_BYTES = 64 * 1024


def _stapled(conn: SSL.Connection, response: bytes, _data: Any) -> bool:
    """Keep the stapled OCSP response for ``scanner.evaluate.revocation`` (judged there, not here:
    a bad or missing staple must never end the handshake, so this always says yes)."""
    try:
        if response and len(response) <= MAX_STAPLE_BYTES:
            conn.get_app_data().staple = bytes(response)
    except Exception:  # noqa: BLE001 - a callback must never raise into OpenSSL
        pass
    return True


# Info-callback events that carry no handshake state we look for: an alert, the handshake function
# returning (after every WANT_READ), its start and its end. Only the state-machine steps
# (SSL_CB_LOOP) are read, about ten per handshake.
_REPEATS = SSL.SSL_CB_EXIT | SSL.SSL_CB_ALERT | SSL.SSL_CB_HANDSHAKE_START | SSL.SSL_CB_HANDSHAKE_DONE


def _watch(conn: SSL.Connection, where: int, ret: int) -> None:
    """The client contexts' info callback: note a CertificateRequest and a session ticket.

    The state names are OpenSSL's ``SSL_state_string_long`` ("SSLv3/TLS read server certificate
    request"); the same names stand for TLS 1.2 and 1.3."""
    if where & _REPEATS:
        return
    try:
        observer = conn.get_app_data()
        state = conn.get_state_string()
        if b"certificate request" in state:
            observer.cert_requested = True
        elif b"session ticket" in state and b"read" in state:
            observer.ticket_seen = True
    except Exception:  # noqa: BLE001 - a callback must never raise into OpenSSL
        pass


def _read_chain(conn: SSL.Connection, capture: Capture) -> None:
    """The presented chain, read from the session when the handshake ends, however it ended:
    OpenSSL keeps the server's Certificate message once processed."""
    if capture.chain:
        return
    try:  # OpenSSL's own objects, dumped as the bytes received: a certificate OpenSSL accepts and
        # cryptography refuses (a validity time with an offset, month 13) is evidence, kept whatever
        # the TLS version, and judged by the engine
        chain = conn.get_peer_cert_chain()
        if chain:
            capture.chain = [crypto.dump_certificate(crypto.FILETYPE_ASN1, c) for c in chain[:MAX_CHAIN_CERTS]]
            capture.certificates_presented = len(chain)
    except Exception:  # noqa: BLE001 - a hostile chain costs us the chain, not the scan
        return


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
                identity: ClientIdentity | None = None, max_bytes: int = MAX_HANDSHAKE_BYTES,
                http_check: bool = False) -> Capture:
    """Connect, handshake and capture, all under one ``trio.fail_after(timeout)`` deadline.

    ``max_bytes`` caps what the server may send us during the handshake (memory stays bounded
    whatever it does). ``http_check``: when the server requested a client certificate and the
    handshake completed without one, ask the application with one HTTP request
    (``scanner.probe.http``). Raises a ``scanner.probe.errors.ProbeError`` subclass; never
    anything else for network or TLS trouble.
    """
    request = http.request_for(hostname or address, port) if http_check else None
    capture = Capture()
    progress = _Progress()
    where = f"{address} port {port}"
    try:
        with trio.fail_after(timeout):
            stream = await connect(address, port)
            progress.phase = "handshake"
            async with stream:
                try:
                    await _handshake(stream, hostname, identity, capture, progress, max_bytes, request)
                except errors.CertificateParseError as exc:
                    if capture.chain or capture.version != "TLSv1.3":
                        raise
                    raise await _bytes_over_tls12(address, port, hostname, identity, max_bytes, exc) from None
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


async def _bytes_over_tls12(address: str, port: int, hostname: str, identity: ClientIdentity | None,
                            max_bytes: int, first: errors.CertificateParseError) -> errors.CertificateParseError:
    """A certificate OpenSSL cannot parse, sent over TLS 1.3, leaves no bytes: TLS 1.3 encrypts
    the Certificate message. Connect once more allowing TLS 1.2 at most, where it travels in the
    clear, within most of the time left (the first error is kept if that does not work), and say
    that this was done: the bytes come from a second connection."""
    retry = Capture()
    deadline = trio.current_time() + 0.9 * (trio.current_effective_deadline() - trio.current_time())
    with trio.move_on_at(deadline):
        try:
            stream = await connect(address, port)
            async with stream:
                await _handshake(stream, hostname, identity, retry, _Progress(), max_bytes, None,
                                 max_version=SSL.TLS1_2_VERSION)
        except errors.CertificateParseError as second:
            if second.capture is not None and second.capture.chain:
                return errors.CertificateParseError(
                    f"{first.message}. The server chose TLS 1.3, which encrypts certificates, so dccscan "
                    f"connected a second time allowing TLS 1.2 at most: the {len(second.capture.chain)} "
                    "certificate(s) it sent then are kept as raw bytes (tls describes that connection)",
                    phase="handshake", capture=second.capture)
        except (errors.ProbeError, OSError, trio.BrokenResourceError, SSL.Error, EOFError):
            pass
    return errors.CertificateParseError(
        f"{first.message}. Its bytes could not be kept: TLS 1.3 encrypts certificates and a second "
        "connection allowing TLS 1.2 at most did not receive them", phase="handshake", capture=None)


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
                     capture: Capture, progress: _Progress, max_bytes: int, request: http.Request | None,
                     max_version: int | None = None) -> None:
    conn = SSL.Connection(_context(identity, max_version), None)
    conn.set_connect_state()
    if hostname and not is_ip_literal(hostname):
        conn.set_tlsext_host_name(hostname.encode("ascii"))
    observer = _Observer()
    conn.set_app_data(observer)
    conn.request_ocsp()  # status_request: a stapled OCSP response is revocation evidence
    wire = Wire(stream, conn, limit=max_bytes, transcript_limit=TRANSCRIPT_BYTES)
    progress.wire = wire
    try:
        await _run_handshake(wire, conn, observer, capture, identity, progress, request)
    finally:
        capture.ocsp_staple = observer.staple


async def _run_handshake(wire: Wire, conn: SSL.Connection, observer: _Observer, capture: Capture,
                         identity: ClientIdentity | None, progress: _Progress, request: http.Request | None) -> None:
    """The handshake and what follows it: in TLS 1.3 whether the server refused us after it,
    then (``request``) what the application says without a certificate."""
    try:
        await wire.handshake()
    except EOFError:
        _seen(conn, observer, capture)
        _check_tls(wire, capture)
        raise errors.HandshakeError("the server closed the connection during the TLS handshake "
                                    "without an alert; it may not speak TLS on this port or "
                                    "refuse our hello", phase="handshake",
                                    capture=capture if capture.chain else None) from None
    except SSL.Error as exc:
        _seen(conn, observer, capture)
        _fill_session(capture, conn)
        _handshake_failed(wire, exc, capture, identity)
        return
    wire.transcript_limit, wire.transcript = 0, bytearray()  # a chain OpenSSL parsed needs no raw copy
    _seen(conn, observer, capture)
    _fill_session(capture, conn)
    capture.client_cert_sent = capture.cert_requested and identity is not None
    capture.client_auth = "requested" if capture.cert_requested else "none"
    if capture.cert_requested and capture.version == "TLSv1.3":
        progress.phase = "after-handshake"
        await _read_verdict(wire, observer, capture, identity)
    if request is not None and capture.client_auth == "requested" and identity is None:
        progress.phase = "after-handshake"
        await _ask_application(wire, capture, request)
    _require_chain(capture)


async def _ask_application(wire: Wire, capture: Capture, request: http.Request) -> None:
    """The TLS layer said "requested": ask the application over this connection, in the
    protocol ALPN chose (HTTP/2 or HTTP/1.1)."""
    answer = await http.ask(wire, request, capture.alpn)
    capture.client_auth = answer.client_auth
    capture.client_auth_http = answer.to_json(request.text(capture.alpn))


def _seen(conn: SSL.Connection, observer: _Observer, capture: Capture) -> None:
    """What the handshake showed, however it ended: the presented chain and whether a
    certificate was requested."""
    capture.cert_requested = observer.cert_requested
    _read_chain(conn, capture)


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

"""Ask the application whether a missing client certificate matters.

A server that sends a CertificateRequest and then completes the handshake without a certificate
has said all the TLS layer can say: the certificate was *requested*. Whether it is required is
then up to the application behind it: nginx ``ssl_verify_client on`` completes the handshake and
answers HTTP 400 "No required SSL certificate was sent". So, where asked to, the probe sends one
request over the established connection and reads the answer:

    GET / HTTP/1.1
    Host: <hostname>[:<port>]
    User-Agent: dccscan/<version>
    Accept: */*
    Connection: close

or, when the server chose HTTP/2 by ALPN, the same as one HTTP/2 stream. The answer is parsed by
the standard library's ``http.client`` (HTTP/1.1) or the ``h2`` library (HTTP/2; its framing and
HPACK are not ours to hand-write) and judged conservatively, because "optional" is the claim that
hides a missing mutual-TLS control:

* 2xx or 3xx: served without a certificate -> ``optional``;
* 495/496, or a 4xx whose reason or first bytes of body name a certificate -> ``required`` by
  the application (``required-by-application``);
* a ``certificate_required`` (or other) alert instead of an answer -> ``required``;
* anything else (another 4xx/5xx, a close without an answer, silence, not HTTP) says nothing
  about the certificate: it stays ``requested``, and the evidence records what was seen.
"""

from __future__ import annotations

import http.client
import io
import re
from dataclasses import dataclass
from typing import Any, Protocol

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import trio
from OpenSSL import SSL

from scanner import __version__
from scanner.address import is_ip_literal
from scanner.probe.bio import OversizedError, Wire, alert_name
from scanner.probe.capture import ClientAuth

READ_LIMIT = 16 * 1024  # the status line, headers and the start of the body are all we read
READ_TIME = 3.0  # seconds at most, within the endpoint's deadline
_CERTIFICATE = re.compile(rb"certificate|\bcert\b", re.IGNORECASE)
CERTIFICATE_STATUSES = (495, 496)  # nginx: "SSL certificate error", "SSL certificate required"
USER_AGENT = f"dccscan/{__version__}"


@dataclass
class AppAnswer:
    """What the application said to our request without a client certificate."""

    client_auth: ClientAuth  # optional | required-by-application | required | requested
    status: int | None = None
    reason: str | None = None
    alert: str | None = None
    note: str = ""

    def to_json(self, request: str) -> dict[str, Any]:
        """The schema's ``tls.client_auth_http`` object."""
        return {"request": request, "status": self.status, "reason": self.reason, "alert": self.alert,
                "said": self.note}


@dataclass(frozen=True)
class Request:
    """The one request the check sends: ``GET /`` for ``host`` (the Host header / :authority)."""

    host: str

    def http1(self) -> str:
        return (f"GET / HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: {USER_AGENT}\r\nAccept: */*\r\n"
                "Connection: close\r\n\r\n")

    def http2_headers(self) -> list[tuple[str, str]]:
        return [(":method", "GET"), (":scheme", "https"), (":authority", self.host), (":path", "/"),
                ("user-agent", USER_AGENT), ("accept", "*/*")]

    def text(self, alpn: str | None) -> str:
        """What was sent, as recorded in the results (HTTP/2 headers shown one per line)."""
        if alpn == "h2":
            return "HTTP/2\r\n" + "".join(f"{name}: {value}\r\n" for name, value in self.http2_headers()) + "\r\n"
        return self.http1()


def request_for(hostname: str, port: int) -> Request:
    host = f"[{hostname}]" if ":" in hostname and is_ip_literal(hostname) else hostname
    return Request(host if port == 443 else f"{host}:{port}")


async def ask(wire: Wire, request: Request, alpn: str | None) -> AppAnswer:
    """Send ``request`` in the protocol ALPN chose (HTTP/1.1 when none) and judge the answer;
    never raises for what the server does."""
    session: _Session = _Http2(request) if alpn == "h2" else _Http1(request)
    until = min(trio.current_time() + READ_TIME, trio.current_effective_deadline() - 0.05)
    with trio.move_on_at(until) as scope:
        try:
            await wire.send(session.start())
            while not session.done:
                data = await wire.receive()
                if not data:
                    break
                reply = session.feed(data)
                if reply:
                    await wire.send(reply)
        except SSL.Error as exc:
            alert = alert_name(exc)
            if not session.received:
                return AppAnswer("required", alert=alert,
                                 note=f"the server answered the request with the TLS alert {alert or 'unknown'}")
        except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionResetError, OSError,
                OversizedError):
            pass  # judged on what arrived before (the handshake's byte cap still holds)
    if not session.received:
        what = "no answer before the deadline" if scope.cancelled_caught else "the connection closed without an answer"
        return AppAnswer("requested", note=f"{what}; nothing tells whether the certificate is required")
    parsed = session.result()
    if parsed is None:
        return AppAnswer("requested", note=f"the answer is not {session.name} (first bytes {session.first!r})")
    return _judge(*parsed)


def judge(answer: bytes) -> AppAnswer:
    """Classify the start of an HTTP/1.1 answer (see the module docstring)."""
    parsed = _parse(answer)
    if parsed is None:
        return AppAnswer("requested", note=f"the answer is not HTTP/1.1 (first bytes {answer[:16]!r})")
    return _judge(*parsed)


def _judge(status: int, reason: str, body: bytes) -> AppAnswer:
    line = f"HTTP {status} {reason}".strip()
    if 200 <= status < 400:
        return AppAnswer("optional", status, reason, note=f"{line}: served without a client certificate")
    said = reason.encode("utf-8", "replace") + b"\n" + body
    if status in CERTIFICATE_STATUSES or (400 <= status < 500 and _CERTIFICATE.search(said)):
        quoted = _quote(body) or _quote(reason.encode("utf-8", "replace"))
        return AppAnswer("required-by-application", status, reason,
                         note=f"{line}{quoted}: the application refuses requests without a client certificate")
    return AppAnswer("requested", status, reason,
                     note=f"{line}: a refusal or error that does not name a certificate; not evidence either way")


class _Session(Protocol):
    """One request in one protocol: ``start`` gives the bytes to send, ``feed`` takes what came
    and gives what to answer (HTTP/2 acknowledges), ``result`` the status, reason and body."""

    name: str
    done: bool

    @property
    def received(self) -> bool: ...
    @property
    def first(self) -> bytes: ...

    def start(self) -> bytes: ...
    def feed(self, data: bytes) -> bytes: ...
    def result(self) -> tuple[int, str, bytes] | None: ...


class _Http1:
    """HTTP/1.1: collect the answer's first bytes, then parse them with ``http.client``."""

    name = "HTTP/1.1"

    def __init__(self, request: Request) -> None:
        self.request = request
        self.answer = bytearray()
        self.done = False

    @property
    def received(self) -> bool:
        return bool(self.answer)

    @property
    def first(self) -> bytes:
        return bytes(self.answer[:16])

    def start(self) -> bytes:
        return self.request.http1().encode("ascii", "replace")

    def feed(self, data: bytes) -> bytes:
        self.answer += data
        self.done = len(self.answer) >= READ_LIMIT
        return b""

    def result(self) -> tuple[int, str, bytes] | None:
        return _parse(bytes(self.answer[:READ_LIMIT]))


class _Http2:
    """HTTP/2 by the ``h2`` library (framing, HPACK, flow control): one stream, its status and
    the start of its body."""

    name = "HTTP/2"

    def __init__(self, request: Request) -> None:
        self.request = request
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.status: int | None = None
        self.body = bytearray()
        self.done = False
        self.received = False
        self.first = b""

    def start(self) -> bytes:
        self.conn.initiate_connection()
        self.conn.send_headers(1, self.request.http2_headers(), end_stream=True)
        return self.conn.data_to_send()

    def feed(self, data: bytes) -> bytes:
        if not self.received:
            self.received, self.first = True, bytes(data[:16])
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.H2Error:
            self.done = True
            return b""
        for event in events:
            if isinstance(event, h2.events.ResponseReceived) and event.stream_id == 1:
                self.status = _status(event.headers)
            elif isinstance(event, h2.events.DataReceived) and event.stream_id == 1:
                self.body += event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset, h2.events.ConnectionTerminated)):
                self.done = True
        self.done = self.done or len(self.body) >= 4096
        return self.conn.data_to_send()

    def result(self) -> tuple[int, str, bytes] | None:
        return (self.status, "", bytes(self.body[:4096])) if self.status is not None else None


def _status(headers: Any) -> int | None:
    for name, value in headers or ():
        if name in (":status", b":status"):
            text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
            return int(text) if text.isdigit() else None
    return None


def _quote(said: bytes) -> str:
    """A few words around the first mention of a certificate, markup and control characters
    dropped, as evidence: ' ("400 No required SSL certificate was sent")'."""
    words = re.sub(rb"<[^>]*>", b" ", said).decode("latin-1").split()
    for index, word in enumerate(words):
        if _CERTIFICATE.search(word.encode("latin-1")):
            text = " ".join(words[max(0, index - 4): index + 3])
            return ' ("' + "".join(c if c.isprintable() else "?" for c in text) + '")'
    return ""


class _Received:
    """The bytes received, in the shape ``http.client.HTTPResponse`` reads from (a socket)."""

    def __init__(self, data: bytes) -> None:
        self._file = io.BytesIO(data)

    def makefile(self, *_args: Any, **_kwargs: Any) -> io.BytesIO:
        return self._file


def _parse(answer: bytes) -> tuple[int, str, bytes] | None:
    """(status, reason, start of body) by the standard library's HTTP parser; None if not HTTP."""
    response = http.client.HTTPResponse(_Received(answer))  # type: ignore[arg-type]
    try:
        response.begin()
    except (http.client.HTTPException, ValueError, OSError):
        return None
    try:
        body = response.read(4096)
    except (http.client.HTTPException, ValueError, OSError) as exc:
        body = getattr(exc, "partial", b"") or b""
    reason = "".join(c if c.isprintable() else "?" for c in (response.reason or "")[:100])
    return response.status, reason, body

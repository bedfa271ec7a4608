"""Ask the application whether a missing client certificate matters.

A server that sends a CertificateRequest and then completes the handshake without a certificate
has said all the TLS layer can say: the certificate was *requested*. Whether it is required is
then up to the application behind it: nginx ``ssl_verify_client on`` completes the handshake and
answers HTTP 400 "No required SSL certificate was sent". So, where asked to, the probe sends one
plain HTTP/1.1 request over the established connection and reads the answer:

    GET / HTTP/1.1
    Host: <hostname>[:<port>]
    User-Agent: dccscan/<version>
    Accept: */*
    Connection: close

The answer is parsed by the standard library's ``http.client`` and judged conservatively, because
"optional" is the claim that hides a missing mutual-TLS control:

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
from typing import Any

import trio
from OpenSSL import SSL

from scanner import __version__
from scanner.address import is_ip_literal
from scanner.probe.bio import Wire, alert_name
from scanner.probe.capture import ClientAuth

READ_LIMIT = 16 * 1024  # the status line, headers and the start of the body are all we read
READ_TIME = 3.0  # seconds at most, within the endpoint's deadline
_CERTIFICATE = re.compile(rb"certificate|\bcert\b", re.IGNORECASE)
CERTIFICATE_STATUSES = (495, 496)  # nginx: "SSL certificate error", "SSL certificate required"


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


def request_text(hostname: str, port: int) -> str:
    """The exact request sent (recorded in the results as it went on the wire)."""
    host = f"[{hostname}]" if ":" in hostname and is_ip_literal(hostname) else hostname
    if port != 443:
        host += f":{port}"
    return (f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: dccscan/{__version__}\r\nAccept: */*\r\n"
            "Connection: close\r\n\r\n")


async def ask(wire: Wire, request: str) -> AppAnswer:
    """Send ``request`` (from ``request_text``) and judge the answer; never raises for what the
    server does."""
    until = min(trio.current_time() + READ_TIME, trio.current_effective_deadline() - 0.05)
    received = bytearray()
    with trio.move_on_at(until) as scope:
        try:
            await wire.send(request.encode("ascii", "replace"))
            while len(received) < READ_LIMIT:
                data = await wire.receive()
                if not data:
                    break
                received += data
        except SSL.Error as exc:
            alert = alert_name(exc)
            if not received:
                return AppAnswer("required", alert=alert,
                                 note=f"the server answered the request with the TLS alert {alert or 'unknown'}")
        except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionResetError, OSError):
            pass
    if not received:
        what = "no answer before the deadline" if scope.cancelled_caught else "the connection closed without an answer"
        return AppAnswer("requested", note=f"{what}; nothing tells whether the certificate is required")
    return judge(bytes(received[:READ_LIMIT]))


def judge(answer: bytes) -> AppAnswer:
    """Classify the start of an HTTP answer (see the module docstring)."""
    parsed = _parse(answer)
    if parsed is None:
        return AppAnswer("requested", note=f"the answer is not HTTP (first bytes {answer[:16]!r})")
    status, reason, body = parsed
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

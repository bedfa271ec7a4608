"""Plain-HTTP fetches of revocation data (CRLs, OCSP) and missing issuers (AIA), bounded in size
and time, each URL once per scan (``Once``).

CAs publish CRLs and answer OCSP over plain http (RFC 5280 4.2.1.13, RFC 6960 A.1: https would
need a revocation check of its own). The HTTP/1.1 framing is h11's (a well-kept sans-I/O parser);
the bytes move over a trio TCP stream, so a fetch is cancellable and shares the scan's event loop.
Everything is bounded: one deadline for connect + request + whole answer, a cap on the body
(the answer is abandoned, not truncated, when it is larger) and a few redirects at most.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Generic, Hashable, TypeVar

import h11
import trio

T = TypeVar("T")

USER_AGENT = "dccscan (revocation check)"
MAX_REDIRECTS = 3


class FetchError(Exception):
    """The URL gave no usable answer; ``kind`` is ``unreachable`` or ``unsupported``."""

    def __init__(self, message: str, kind: str = "unreachable") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class _Pending(Generic[T]):
    done: trio.Event = field(default_factory=trio.Event)
    result: T | None = None


class Once(Generic[T]):
    """Each key fetched once per scan, however many endpoints ask: concurrent askers wait for
    the first fetch, and its answer (a failure included) is what every later asker gets. Fetches
    run at most ``concurrency`` at once. ``get`` returns None when the first fetch was cancelled
    (the scan is stopping)."""

    def __init__(self, concurrency: int) -> None:
        self.concurrency = max(1, concurrency)
        self._pending: dict[Hashable, _Pending[T]] = {}
        self._limiter: trio.CapacityLimiter | None = None  # made inside trio.run

    async def get(self, key: Hashable, fetch: Callable[[], Awaitable[T]]) -> T | None:
        pending = self._pending.get(key)
        if pending is not None:
            await pending.done.wait()
            return pending.result
        pending = self._pending[key] = _Pending()
        if self._limiter is None:
            self._limiter = trio.CapacityLimiter(self.concurrency)
        try:
            async with self._limiter:
                pending.result = await fetch()
        finally:
            pending.done.set()
        return pending.result


@dataclass(frozen=True)
class Answer:
    """A 200 answer's body and content type."""

    body: bytes
    content_type: str


def _split(url: str) -> tuple[str, int, str, str]:
    """(host, port, request target, Host header) of an http URL; FetchError for anything else."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "http":
        raise FetchError(f"{parts.scheme or 'no'} scheme: dccscan fetches revocation data over http only",
                         kind="unsupported")
    if not parts.hostname:
        raise FetchError("the URL names no host", kind="unsupported")
    try:
        port = parts.port or 80
    except ValueError:
        raise FetchError("the URL has an invalid port", kind="unsupported") from None
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    host_header = parts.netloc.rsplit("@", 1)[-1]
    return parts.hostname, port, target, host_header


async def _exchange(host: str, port: int, request: h11.Request, body: bytes, limit: int) -> tuple[h11.Response, bytes]:
    """One request on a fresh connection; the response head and body (at most ``limit`` bytes)."""
    try:
        stream = await trio.open_tcp_stream(host, port)
    except OSError as exc:
        raise FetchError(f"cannot connect to {host} port {port}: {exc.strerror or exc}") from None
    async with stream:
        conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=16 * 1024)
        data = conn.send(request) or b""
        if body:
            data += conn.send(h11.Data(data=body)) or b""
        data += conn.send(h11.EndOfMessage()) or b""
        await stream.send_all(data)
        response: h11.Response | None = None
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise FetchError(f"{host} port {port} did not answer with valid HTTP ({exc})") from None
            if event is h11.NEED_DATA:
                received = await stream.receive_some(65536)
                conn.receive_data(received)
                continue
            if isinstance(event, h11.Response):
                response = event
                if event.status_code != 200 and not 300 <= event.status_code < 400:
                    return event, b""
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > limit:
                    raise FetchError(f"the answer is larger than the {limit // 1024} KB dccscan accepts")
                chunks.append(bytes(event.data))
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                if response is None:
                    raise FetchError(f"{host} port {port} closed the connection without an answer")
                return response, b"".join(chunks)


def _header(response: h11.Response, name: bytes) -> str:
    return next((value.decode("latin-1") for key, value in response.headers if key.lower() == name), "")


async def http_fetch(url: str, *, timeout: float, limit: int, body: bytes = b"",
                     content_type: str = "") -> Answer:
    """GET ``url`` (or POST ``body`` as ``content_type``) within ``timeout`` seconds for the
    whole exchange, redirects included; the 200 answer's body, at most ``limit`` bytes.
    Raises FetchError, never anything else for network or HTTP trouble."""
    try:
        with trio.fail_after(timeout):
            for _ in range(MAX_REDIRECTS + 1):
                host, port, target, host_header = _split(url)
                headers = [("Host", host_header), ("User-Agent", USER_AGENT), ("Connection", "close"),
                           ("Accept", "*/*")]
                if body:
                    headers += [("Content-Type", content_type), ("Content-Length", str(len(body)))]
                request = h11.Request(method="POST" if body else "GET", target=target, headers=headers)
                response, data = await _exchange(host, port, request, body, limit)
                if 300 <= response.status_code < 400 and _header(response, b"location"):
                    url = urllib.parse.urljoin(url, _header(response, b"location"))
                    continue
                if response.status_code != 200:
                    raise FetchError(f"HTTP {response.status_code} {response.reason.decode('latin-1', 'replace')}")
                return Answer(data, _header(response, b"content-type"))
            raise FetchError(f"more than {MAX_REDIRECTS} redirects")
    except trio.TooSlowError:
        raise FetchError(f"no complete answer within {timeout:g}s") from None
    except (trio.BrokenResourceError, OSError) as exc:
        raise FetchError(f"the connection broke ({exc})") from None
    except h11.LocalProtocolError as exc:
        raise FetchError(f"cannot send this request ({exc})", kind="unsupported") from None

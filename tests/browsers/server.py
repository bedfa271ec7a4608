"""A loopback TLS server that presents every case's chain, chosen by SNI.

All DNS-named cases share one port and are told apart by the SNI the browser sends; IP-literal
cases (no SNI) get a port each; one plain-HTTP port serves the intermediates that AIA caIssuers
URLs name (Chromium fetches them; Firefox never does). After the handshake it answers a tiny HTTP 200 page, so a browser
that accepted the certificate shows a plain success rather than an ambiguous connection error.
Stdlib ``ssl`` in background threads: the browsers drive it from synchronous test code.
"""

from __future__ import annotations

import socket
import ssl
import tempfile
import threading
from pathlib import Path
from typing import Iterable
from urllib.parse import urlsplit

from .cases import Case, aia_url

BODY = b"<!doctype html><title>dccscan oracle</title><p id=ok>accepted</p>"
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)


def _context(case: Case, folder: Path) -> ssl.SSLContext:
    """A server context presenting exactly the case's chain; weak keys and SHA-1 allowed."""
    chain_file = folder / f"{case.id}.chain.pem"
    key_file = folder / f"{case.id}.key.pem"
    chain_file.write_bytes(case.chain_pem)
    key_file.write_bytes(case.key_pem)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # else OpenSSL refuses SHA-1 / RSA-1024 chains to serve
    ctx.load_cert_chain(chain_file, key_file)
    return ctx


class OracleServer:
    """Serves ``cases`` on 127.0.0.1 (and ::1 for IPv6 cases) until ``close()``."""

    def __init__(self, cases: Iterable[Case]) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="dccscan-oracle-server-")
        folder = Path(self._folder.name)
        self.cases = list(cases)
        self._by_sni = {_sni_key(c.hostname): _context(c, folder) for c in self.cases if not c.is_ip}
        self._aia = {urlsplit(aia_url(c.id)).path: c.aia_der for c in self.cases if c.aia_der}
        self._sockets: list[socket.socket] = []
        self._closed = threading.Event()
        self.sni_port = self._listen("127.0.0.1", self._sni_context())
        self.ports: dict[str, int] = {}
        self.unavailable: dict[str, str] = {}  # case id -> why it cannot be served here
        for case in self.cases:
            if not case.is_ip:
                self.ports[case.id] = self.sni_port
                continue
            try:
                self.ports[case.id] = self._listen(case.hostname, _context(case, folder))
            except OSError as exc:  # e.g. a container without IPv6 loopback
                self.unavailable[case.id] = f"cannot listen on {case.hostname}: {exc}"
        self.aia_port = self._listen("127.0.0.1", None)

    def url(self, case: Case) -> str:
        return case.url(self.ports[case.id])

    def _sni_context(self) -> ssl.SSLContext:
        """The shared-port context: switches to the case's context from the SNI name."""
        default = next(iter(self._by_sni.values()))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.load_cert_chain(*self._first_files())

        def pick(sock: ssl.SSLObject, server_name: str | None, _ctx: ssl.SSLContext) -> None:
            sock.context = self._by_sni.get(_sni_key(server_name or ""), default)

        ctx.sni_callback = pick  # type: ignore[assignment]
        return ctx

    def _first_files(self) -> tuple[Path, Path]:
        first = next(c for c in self.cases if not c.is_ip)
        folder = Path(self._folder.name)
        return folder / f"{first.id}.chain.pem", folder / f"{first.id}.key.pem"

    def _listen(self, address: str, ctx: ssl.SSLContext | None) -> int:
        """Accept on ``address`` in a thread: TLS with ``ctx``, or plain HTTP (AIA) when None."""
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.bind((address, 0))
        sock.listen(64)
        sock.settimeout(0.5)  # so the accept loop notices close()
        self._sockets.append(sock)
        threading.Thread(target=self._accept_loop, args=(sock, ctx), daemon=True).start()
        return sock.getsockname()[1]

    def _accept_loop(self, sock: socket.socket, ctx: ssl.SSLContext) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            threading.Thread(target=self._serve_one, args=(conn, ctx), daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        for sock in self._sockets:
            sock.close()
        self._folder.cleanup()

    def __enter__(self) -> "OracleServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


    def _serve_one(self, conn: socket.socket, ctx: ssl.SSLContext | None) -> None:
        """Handshake, read one request head, answer; any failure just drops the connection."""
        conn.settimeout(10)
        try:
            stream = ctx.wrap_socket(conn, server_side=True) if ctx else conn
            with stream:
                request = _read_head(stream)
                stream.sendall(RESPONSE if ctx else self._aia_answer(request))
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def _aia_answer(self, request: bytes) -> bytes:
        """The DER a case's AIA caIssuers URL names, or 404."""
        parts = request.split(b" ", 2)
        body = self._aia.get(parts[1].decode("ascii", "replace")) if len(parts) > 2 else None
        if body is None:
            return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        return (b"HTTP/1.1 200 OK\r\nContent-Type: application/pkix-cert\r\nConnection: close\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def _sni_key(hostname: str) -> str:
    """Browsers send SNI lowercase and without a trailing dot (RFC 6066)."""
    return hostname.lower().rstrip(".")


def _read_head(stream: socket.socket) -> bytes:
    request = b""
    while b"\r\n\r\n" not in request and len(request) < 65536:
        chunk = stream.recv(4096)
        if not chunk:
            break
        request += chunk
    return request

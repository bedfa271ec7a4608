"""TLS (and deliberately broken) servers on loopback, for tests, benchmarks and ``dccscan demo``.

Servers use pyOpenSSL over memory BIOs (the same ``Wire`` pump as the probe) so that they can send
exactly the chain they are given, in that order, and the CA names of a CertificateRequest, which
the stdlib ``ssl`` module cannot. After a handshake they answer a tiny ``HTTP/1.1 200``, so a real
browser pointed at them gets a page.

Use ``start_servers(nursery, specs)`` inside trio (pytest-trio tests), or ``LabEstate(specs)`` as a
context manager that runs trio in a background thread (CLI, subprocess and demo use).
"""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import trio
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL, crypto

from scanner.probe.bio import Wire

Kind = Literal["tls", "closed", "silent", "reset", "http", "hangup"]
VERSIONS = {"TLSv1": SSL.TLS1_VERSION, "TLSv1.1": SSL.TLS1_1_VERSION,
            "TLSv1.2": SSL.TLS1_2_VERSION, "TLSv1.3": SSL.TLS1_3_VERSION}
HTTP_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
HTTP_BAD = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
SERVER_DEADLINE = 10.0


@dataclass
class ServerSpec:
    """One loopback endpoint.

    ``kind``: ``tls`` (serve ``chain_pem``/``key_pem``), ``closed`` (a port nobody listens on),
    ``silent`` (accepts, never answers), ``reset`` (reads the hello, then TCP RST), ``http``
    (answers plain HTTP), ``hangup`` (reads the hello, then closes cleanly without a word). ``client_auth``: ``none``, ``optional`` (request) or ``required``; the
    CertificateRequest names ``client_cas`` (PEM), and only client leaves issued by one of them
    are accepted when any are given.
    """

    kind: Kind = "tls"
    chain_pem: bytes = b""
    key_pem: bytes = field(default=b"", repr=False)
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port; a fixed port lets a later estate stand in at the same address
    client_auth: Literal["none", "optional", "required"] = "none"
    client_cas: Sequence[bytes] = ()
    min_version: str | None = None
    max_version: str | None = None
    alpn: Sequence[str] | None = None
    cipher_list: str | None = None
    log: list[dict[str, Any]] | None = None  # when a list: one entry per TLS handshake
    hold: trio.Event | None = None  # when set: every connection waits for it before answering
    accepted: list[int] | None = None  # when a list: one entry per accepted connection

    def record(self, conn: SSL.Connection) -> None:
        """What a test wants to know the server saw: SNI and the client certificate."""
        if self.log is None:
            return
        name = conn.get_servername()
        peer = conn.get_peer_certificate()
        self.log.append({"sni": name.decode("ascii") if name else None,
                         "client_cert": peer.to_cryptography().subject.rfc4514_string() if peer else None,
                         "version": conn.get_protocol_version_name()})


def _certs(pem: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem)


def _verifier(allowed: list[x509.Name]) -> Any:
    def verify(conn: SSL.Connection, cert: crypto.X509, errnum: int, depth: int, ok: int) -> bool:
        if depth > 0 or not allowed:
            return True
        return cert.to_cryptography().issuer in allowed
    return verify


def server_context(spec: ServerSpec) -> SSL.Context:
    """An OpenSSL server context presenting ``spec.chain_pem`` exactly, in order."""
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    certs = _certs(spec.chain_pem)
    ctx.use_certificate(certs[0])
    for extra in certs[1:]:
        ctx.add_extra_chain_cert(extra)
    key = serialization.load_pem_private_key(spec.key_pem, password=None)
    ctx.use_privatekey(key)  # type: ignore[arg-type]
    if spec.min_version:
        ctx.set_min_proto_version(VERSIONS[spec.min_version])
    if spec.max_version:
        ctx.set_max_proto_version(VERSIONS[spec.max_version])
    if spec.cipher_list:
        ctx.set_cipher_list(spec.cipher_list.encode("ascii"))
    if spec.alpn:
        offered = [p.encode("ascii") for p in spec.alpn]
        ctx.set_alpn_select_callback(lambda conn, protos: next((p for p in offered if p in protos), SSL.NO_OVERLAPPING_PROTOCOLS))
    if spec.client_auth != "none":
        cas = [c for pem in spec.client_cas for c in _certs(pem)]
        for ca in cas:
            ctx.add_client_ca(ca)
        mode = SSL.VERIFY_PEER | (SSL.VERIFY_FAIL_IF_NO_PEER_CERT if spec.client_auth == "required" else 0)
        ctx.set_verify(mode, _verifier([c.subject for c in cas]))
    return ctx


async def _serve_tls(spec: ServerSpec, ctx: SSL.Context, stream: trio.SocketStream) -> None:
    conn = SSL.Connection(ctx, None)
    conn.set_accept_state()
    wire = Wire(stream, conn)
    with trio.move_on_after(SERVER_DEADLINE):
        try:
            await wire.handshake()
            spec.record(conn)
            request = await wire.receive()
            if request:
                await wire.send(HTTP_OK)
            conn.shutdown()
            await wire.flush()
        except (SSL.Error, EOFError, trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            return


async def _serve_silent(stream: trio.SocketStream) -> None:
    await trio.sleep_forever()


async def _serve_reset(stream: trio.SocketStream, *, rst: bool = True) -> None:
    """Read the client's first flight, then close: abortively (RST) or quietly (FIN)."""
    with trio.move_on_after(SERVER_DEADLINE):
        try:
            await stream.receive_some(65536)
        except (trio.BrokenResourceError, OSError):
            return
    if rst:
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


async def _serve_http(stream: trio.SocketStream) -> None:
    with trio.move_on_after(SERVER_DEADLINE):
        try:
            await stream.receive_some(65536)
            await stream.send_all(HTTP_BAD)
        except (trio.BrokenResourceError, OSError):
            return


def _handler(spec: ServerSpec) -> Any:
    ctx = server_context(spec) if spec.kind == "tls" else None

    async def handle(stream: trio.SocketStream) -> None:
        async with stream:
            if spec.accepted is not None:
                spec.accepted.append(1)
            if spec.hold is not None:
                await spec.hold.wait()
            if ctx is not None:
                await _serve_tls(spec, ctx, stream)
            elif spec.kind == "silent":
                await _serve_silent(stream)
            elif spec.kind in ("reset", "hangup"):
                await _serve_reset(stream, rst=spec.kind == "reset")
            else:
                await _serve_http(stream)
    return handle


def closed_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago and that nobody listens on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def serve(spec: ServerSpec, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """Serve one spec until cancelled; reports the bound port through ``task_status``."""
    if spec.kind == "closed":
        task_status.started(spec.port or closed_port(spec.host))
        return
    listeners = await trio.open_tcp_listeners(spec.port, host=spec.host)
    port = listeners[0].socket.getsockname()[1]
    await trio.serve_listeners(_handler(spec), listeners, task_status=_Started(task_status, port))


class _Started:
    """Adapts serve_listeners' task_status (listeners) to ours (the port)."""

    def __init__(self, status: Any, port: int) -> None:
        self.status = status
        self.port = port

    def started(self, value: Any = None) -> None:
        self.status.started(self.port)


async def start_servers(nursery: trio.Nursery, specs: Sequence[ServerSpec]) -> list[int]:
    """Start every spec in ``nursery``; their ports, in order."""
    return [await nursery.start(serve, spec) for spec in specs]


def ipv6_available() -> bool:
    """Whether ::1 can be bound on this machine (containers often lack it)."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


class LabEstate:
    """Run servers in a background thread with its own trio loop: ``with LabEstate(specs) as
    ports:``. Stops them (and joins the thread) on exit."""

    def __init__(self, specs: Sequence[ServerSpec]) -> None:
        self.specs = list(specs)
        self.ports: list[int] = []
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._scope: trio.CancelScope | None = None
        self._thread = threading.Thread(target=self._run, name="dccscan-lab", daemon=True)

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        with trio.CancelScope() as scope:
            self._scope = scope
            async with trio.open_nursery() as nursery:
                self.ports = await self._start(nursery)
                self._ready.set()
                await trio.sleep_forever()

    async def _start(self, nursery: trio.Nursery) -> list[int]:
        """Start the servers; subclasses (the hostile lab) start others."""
        return await start_servers(nursery, self.specs)

    def __enter__(self) -> list[int]:
        self._thread.start()
        self._ready.wait(timeout=60)
        if self._error is not None:
            raise RuntimeError(f"lab servers failed to start: {self._error}") from self._error
        if not self._ready.is_set():
            raise RuntimeError("lab servers did not start within 60s")
        return self.ports

    def __exit__(self, *exc: object) -> None:
        if self._token is not None and self._scope is not None:
            try:
                trio.from_thread.run_sync(self._scope.cancel, trio_token=self._token)
            except trio.RunFinishedError:
                pass
        self._thread.join(timeout=30)

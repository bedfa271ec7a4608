"""pyOpenSSL over memory BIOs on a trio stream.

trio's own ``SSLStream`` wraps the stdlib ``ssl`` module, which cannot hand over the chain a
server presented (only the leaf, and only after verification). pyOpenSSL can, and with memory
BIOs it never touches a socket: we move the bytes between the ``SSL.Connection`` and a trio
stream ourselves. The lab servers use the same pump, so client and server share one code path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import trio
from OpenSSL import SSL

RECEIVE_SIZE = 65536


@dataclass
class Wire:
    """One TLS connection: the trio stream, the OpenSSL object and what arrived first."""

    stream: trio.abc.Stream
    conn: SSL.Connection
    first_bytes: bytes = b""
    received_any: bool = False
    eof: bool = False
    notes: list[str] = field(default_factory=list)
    bytes_received: int = 0
    limit: int | None = None  # the probe caps what one handshake may send us
    transcript_limit: int = 0  # the probe keeps the first bytes that arrived, to read unparseable certificates
    transcript: bytearray = field(default_factory=bytearray, repr=False)

    async def flush(self) -> None:
        """Send whatever OpenSSL has queued (handshake records, alerts, application data)."""
        while True:
            try:
                data = self.conn.bio_read(RECEIVE_SIZE)
            except SSL.WantReadError:
                return
            if not data:
                return
            await self.stream.send_all(data)

    async def feed(self) -> None:
        """Receive once from the stream into OpenSSL; at EOF tell OpenSSL so it stops waiting."""
        data = await self.stream.receive_some(RECEIVE_SIZE)
        if not data:
            self.eof = True
            self.conn.bio_shutdown()
            return
        if not self.received_any:
            self.first_bytes = bytes(data[:16])
            self.received_any = True
        self.bytes_received += len(data)
        if self.limit is not None and self.bytes_received > self.limit:
            raise OversizedError(self.bytes_received)
        if len(self.transcript) < self.transcript_limit:
            self.transcript += data[: self.transcript_limit - len(self.transcript)]
        self.conn.bio_write(data)

    async def handshake(self) -> None:
        """Run the handshake to completion; SSL.Error (alerts included) propagates after the
        pending alert bytes have been sent, so the peer learns why."""
        while True:
            try:
                self.conn.do_handshake()
            except SSL.WantReadError:
                await self.flush()
                if self.eof:
                    raise EOFError("peer closed the connection during the handshake") from None
                await self.feed()
                continue
            except SSL.Error:
                await self._flush_quietly()
                raise
            await self.flush()
            return

    async def receive(self) -> bytes:
        """Application data; b"" at EOF. SSL.Error means the peer sent an alert."""
        while True:
            try:
                return self.conn.recv(RECEIVE_SIZE)
            except SSL.WantReadError:
                await self.flush()
                if self.eof:
                    return b""
                await self.feed()
            except SSL.ZeroReturnError:
                return b""
            except SSL.Error:
                await self._flush_quietly()
                raise

    async def send(self, data: bytes) -> None:
        self.conn.sendall(data)
        await self.flush()

    async def _flush_quietly(self) -> None:
        try:
            await self.flush()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass


class OversizedError(Exception):
    """The peer sent more than ``Wire.limit`` bytes: reading stops so memory stays bounded."""

    def __init__(self, received: int) -> None:
        super().__init__(f"{received} bytes received")
        self.received = received


# OpenSSL reasons for alerts that do not contain the word "alert" (ssl/ssl_err.c)
_ALERT_REASONS = {"tlsv1 unrecognized name": "unrecognized_name",
                  "tlsv1 unsupported extension": "unsupported_extension",
                  "tlsv1 certificate unobtainable": "certificate_unobtainable",
                  "tlsv1 bad certificate status response": "bad_certificate_status_response",
                  "tlsv1 bad certificate hash value": "bad_certificate_hash_value",
                  "tlsv13 alert certificate required": "certificate_required"}


def alert_name(error: SSL.Error) -> str | None:
    """``handshake_failure`` from an OpenSSL reason such as 'sslv3 alert handshake failure'."""
    for reason in error_reasons(error):
        if reason in _ALERT_REASONS:
            return _ALERT_REASONS[reason]
        if " alert " in f" {reason} ":
            tail = reason.split("alert", 1)[1].strip()
            if tail:
                return tail.replace(" ", "_")
    return None


def error_reasons(error: SSL.Error) -> list[str]:
    """The OpenSSL reason strings in an SSL.Error, lower-case."""
    out: list[str] = []
    for item in error.args[0] if error.args and isinstance(error.args[0], list) else []:
        if isinstance(item, tuple) and item:
            out.append(str(item[-1]).lower())
    if not out and error.args:
        out.append(str(error.args[0]).lower())
    return out

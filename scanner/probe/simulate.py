"""Client simulation: how the server answers each real browser's ClientHello.

For every browser recording (``scanner.clienthellos``) one extra TCP connection sends that
browser's ClientHello, byte for byte as the browser sent it, with only the server_name extension
set to the target's name (removed for an IP address, as browsers send none), and reads the
server's first answer: a ServerHello (or HelloRetryRequest), an alert, a close, a reset or
silence. Then the connection is closed; no handshake is completed.

Why replay the bytes rather than build a hello from a list of suites (as sslyze does) or complete
a handshake: the server's choice depends on everything in the hello (suite order, groups, key
shares, signature algorithms, supported_versions, extensions, GREASE), and only the real bytes
carry all of it. The random and the key shares are the recorded ones: a server cannot tell, since
it has not seen them before and chooses its answer before any key is used (testssl.sh's client
simulation replays the same way). What the browser would do after the ServerHello (certificate,
signature over the key share) is the certificate verdict's business, or a key or curve the
server could not use with this hello, which shows here as the server's alert.

Only bytes are captured (the ServerHello message or the alert, as hex); ``scanner.evaluate.
handshake`` judges them offline. Cost: one connection and one round trip per browser (two per
endpoint), each under the endpoint's timeout.
"""

from __future__ import annotations

import errno
from typing import Any

import trio

from scanner.address import is_ip_literal
from scanner.clienthellos import Recording, as_record, recordings, with_server_name
from scanner.probe import records
from scanner.probe.errors import ProbeError
from scanner.probe.tls import connect

SERVER_HELLO = 2
MAX_ANSWER = 64 * 1024  # a ServerHello arrives within the first few KB; more is not a TLS server


def _first_answer(data: bytes) -> tuple[str, bytes] | None:
    """("server_hello", message) or ("alert", fragment) once ``data`` holds one, else None.

    A handshake message may span records, so the handshake records are joined first
    (``records.handshake_messages``). Anything that is not a TLS handshake or alert record is
    reported as ("not_tls", first bytes)."""
    if data and data[0] not in (records.HANDSHAKE, records.ALERT):
        return "not_tls", data[:16]
    for kind, fragment in records.records(data):
        if kind == records.ALERT and len(fragment) >= 2:
            return "alert", fragment[:2]
        if kind != records.HANDSHAKE:
            return "not_tls", data[:16]
        break
    for kind, body in records.handshake_messages(data):
        if kind == SERVER_HELLO:
            return "server_hello", bytes([kind]) + len(body).to_bytes(3, "big") + body
        return "unexpected", bytes([kind])
    return None


def _answer(outcome: str, recording: Recording, received: bytes = b"", detail: str | None = None) -> dict[str, Any]:
    return {"client": recording.label, "outcome": outcome, "received": received.hex() or None, "detail": detail}


async def replay(address: str, port: int, hostname: str | None, recording: Recording, timeout: float) -> dict[str, Any]:
    """One browser's hello to one address; the server's first answer as the results store it."""
    sni = hostname if hostname and not is_ip_literal(hostname) else None
    hello = as_record(with_server_name(recording.hello, sni))
    data = b""
    try:
        with trio.fail_after(timeout):
            stream = await connect(address, port)
            async with stream:
                await stream.send_all(hello)
                while len(data) < MAX_ANSWER:
                    chunk = await stream.receive_some(16384)
                    if not chunk:
                        return _answer("closed", recording, data[:64], "closed without an answer"
                                       if not data else "closed in the middle of a record")
                    data += chunk
                    found = _first_answer(data)
                    if found is not None:
                        return _answer(found[0], recording, found[1])
                return _answer("not_tls", recording, data[:16], f"{len(data)} bytes without a ServerHello")
    except trio.TooSlowError:
        return _answer("timeout", recording, data[:64], f"no answer within {timeout:g}s")
    except (trio.BrokenResourceError, ConnectionResetError) as exc:
        reset = isinstance(exc.__cause__, ConnectionResetError) or isinstance(exc, ConnectionResetError) \
            or getattr(exc.__cause__, "errno", None) == errno.ECONNRESET
        return _answer("reset" if reset else "closed", recording, data[:64], str(exc) or None)
    except ProbeError as exc:
        return _answer(exc.kind if exc.kind in ("refused", "reset") else "error", recording, b"", exc.message)


async def simulate(address: str, port: int, hostname: str | None, timeout: float) -> dict[str, dict[str, Any]]:
    """Every recorded browser's answer from one address, keyed by browser (chrome, firefox).

    One after the other, not at once: the per-address limit protects a listener from our
    concurrency, and these connections count against it as the probe's own does."""
    return {rec.browser: await replay(address, port, hostname, rec, timeout) for rec in recordings()}

"""Which TLS protocol versions (1.0 to 1.3) an endpoint accepts.

Without extra connections, the main handshake already says part of it: we offer every version
OpenSSL has (TLS 1.0 needs ``@SECLEVEL=0`` in OpenSSL 3) and a server picks the highest it shares
(RFC 8446 section 4.2.1, RFC 5246 appendix E.1), so the negotiated version is accepted and every
higher one is not. What lies below is unknown (``null``) unless the enumeration is on
(``--tls-versions``): then one handshake per lower version, OpenSSL restricted to exactly that
version, says accepted (a ServerHello with that version) or not (an alert, a close, a reset). At
most three extra connections, one after the other, each under the endpoint's timeout.
"""

from __future__ import annotations

import functools

import trio
from OpenSSL import SSL

from scanner.address import is_ip_literal
from scanner.probe.bio import Wire
from scanner.probe.errors import ProbeError
from scanner.probe.tls import connect

VERSIONS = {"TLSv1": SSL.TLS1_VERSION, "TLSv1.1": SSL.TLS1_1_VERSION, "TLSv1.2": SSL.TLS1_2_VERSION,
            "TLSv1.3": SSL.TLS1_3_VERSION}
ORDER = list(VERSIONS)
MAX_BYTES = 256 * 1024


def from_negotiated(negotiated: str | None) -> dict[str, bool | None]:
    """What the main handshake shows: the negotiated version yes, higher ones no, lower unknown."""
    if negotiated not in VERSIONS:
        return {name: None for name in ORDER}
    at = ORDER.index(negotiated)
    return {name: (None if i < at else i == at) for i, name in enumerate(ORDER)}


@functools.lru_cache(maxsize=8)
def _context(version: str) -> SSL.Context:
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_verify(SSL.VERIFY_NONE)
    ctx.set_min_proto_version(VERSIONS[version])
    ctx.set_max_proto_version(VERSIONS[version])
    ctx.set_cipher_list(b"ALL:@SECLEVEL=0")  # TLS 1.0/1.1 suites and SHA-1 signatures need level 0
    return ctx


async def accepts(address: str, port: int, hostname: str | None, version: str, timeout: float) -> bool:
    """One handshake offering exactly ``version``: True when the server completes it."""
    conn = SSL.Connection(_context(version), None)
    conn.set_connect_state()
    if hostname and not is_ip_literal(hostname):
        conn.set_tlsext_host_name(hostname.encode("ascii"))
    try:
        with trio.fail_after(timeout):
            stream = await connect(address, port)
            async with stream:
                await Wire(stream, conn, limit=MAX_BYTES).handshake()
                return conn.get_protocol_version_name() == version
    except (SSL.Error, EOFError, ProbeError, trio.TooSlowError, trio.BrokenResourceError, OSError):
        return False  # refused in any way (alert, close, reset, silence): this version is not served
    except Exception:  # noqa: BLE001 - a hostile answer (oversized, malformed) is not a served version either
        return False


async def enumerate_versions(address: str, port: int, hostname: str | None, negotiated: str | None,
                             timeout: float) -> dict[str, bool | None]:
    """Every version from TLS 1.0 to 1.3: the main handshake's facts, the unknown ones tried."""
    found = from_negotiated(negotiated)
    for version, known in found.items():
        if known is None:
            found[version] = await accepts(address, port, hostname, version, timeout)
    return found

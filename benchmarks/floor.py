"""The floor: the smallest trio + pyOpenSSL loop that connects, handshakes and keeps the chain.

No evaluation, no results file, no reports: whatever dccscan spends above this is its own
overhead. Same concurrency as dccscan's default, same memory-BIO handshake (``Wire``), SNI set,
the presented chain kept in memory as DER. Prints how many chains it captured.

``--replay-hellos``: the same network work as dccscan's default scan, which also replays each
recorded browser ClientHello (``scanner.clienthellos``) on a connection of its own and reads the
server's first answer. Here each hello (with the endpoint's SNI) is sent and the connection is
closed as soon as 5 bytes of answer arrived: the server has then done its whole first flight
(in TLS 1.3 its signature too), which is the cost the replays add on both sides.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path
from typing import Callable

import trio
from OpenSSL import SSL
from cryptography.hazmat.primitives.serialization import Encoding

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scanner.probe.bio import Wire  # noqa: E402


async def grab(ctx: SSL.Context, port: int, hostname: str, limit: trio.CapacityLimiter,
               chains: list[list[bytes]], replays: Callable[[str], list[bytes]]) -> None:
    async with limit:
        try:
            with trio.fail_after(30):
                stream = await trio.open_tcp_stream("127.0.0.1", port)
                async with stream:
                    conn = SSL.Connection(ctx, None)
                    conn.set_connect_state()
                    conn.set_tlsext_host_name(hostname.encode("ascii"))
                    await Wire(stream, conn).handshake()
                    chain = conn.get_peer_cert_chain(as_cryptography=True) or []
                    chains.append([c.public_bytes(Encoding.DER) for c in chain])
                for record in replays(hostname):
                    await replay(port, record)
        except (OSError, SSL.Error, EOFError, trio.TooSlowError, trio.BrokenResourceError):
            pass


async def replay(port: int, record: bytes) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(record)
        received = b""
        while len(received) < 5:
            chunk = await stream.receive_some(16384)
            if not chunk:
                return
            received += chunk


def no_replays(hostname: str) -> list[bytes]:
    return []


def hello_replays() -> Callable[[str], list[bytes]]:
    """Each recorded browser hello as one record with the endpoint's SNI, as dccscan sends them
    (imported only for --replay-hellos: the plain floor must not pay for tlslite-ng)."""
    from scanner.clienthellos import as_record, recordings, with_server_name

    hellos = [r.hello for r in recordings()]
    return lambda hostname: [as_record(with_server_name(h, hostname)) for h in hellos]


async def main(endpoints: list[tuple[int, str]], concurrency: int,
               replays: Callable[[str], list[bytes]] = no_replays) -> int:
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_verify(SSL.VERIFY_NONE)
    limit = trio.CapacityLimiter(concurrency)
    chains: list[list[bytes]] = []
    async with trio.open_nursery() as nursery:
        for port, hostname in endpoints:
            nursery.start_soon(grab, ctx, port, hostname, limit, chains, replays)
    return len(chains)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("endpoints", type=Path, help="JSON list of [port, hostname]")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--replay-hellos", action="store_true",
                        help="also replay the recorded browser ClientHellos, as dccscan's default scan does")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    pairs = [(int(p), str(h)) for p, h in json.loads(args.endpoints.read_text())]
    print(json.dumps({"captured": trio.run(main, pairs, args.concurrency,
                                                hello_replays() if args.replay_hellos else no_replays)}))

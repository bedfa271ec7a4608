"""Benchmark estate server: serves a slice of the generated endpoints, one port each, on 127.0.0.1.

Run by ``run.py`` as its own process (several of them), so that the servers' RSA signatures do not
compete with the scanner's event loop. Prints one JSON line ``{"ports": [...]}`` when every
listener is up, then serves until killed. Each connection gets a handshake with the endpoint's own
chain and key (``endpoints.jsonl``: leaf + issuing CA, some with the root), then a clean close:
the minimum a TLS server does.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from itertools import islice
from pathlib import Path

import trio
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scanner.probe.bio import Wire  # noqa: E402

HANDSHAKE_DEADLINE = 30.0


def die_with_parent() -> None:
    """Linux: get SIGTERM when run.py exits, however it exits (no orphaned estates)."""
    try:
        import ctypes
        import signal
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def raise_fd_limit() -> int:
    """Each endpoint is a listening socket: lift the soft descriptor limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def contexts(endpoints: list[dict[str, str]]) -> list[SSL.Context]:
    """One server context per endpoint: its own chain (leaf, issuing CA, and for some the root)
    and its own private key."""
    out = []
    for endpoint in endpoints:
        ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
        pems = split_pems(endpoint["chain"].encode("ascii"))
        ctx.use_certificate(x509.load_pem_x509_certificate(pems[0]))
        for pem in pems[1:]:
            ctx.add_extra_chain_cert(x509.load_pem_x509_certificate(pem))
        ctx.use_privatekey(serialization.load_pem_private_key(endpoint["key"].encode("ascii"), password=None))  # type: ignore[arg-type]
        out.append(ctx)
    return out


def handler(ctx: SSL.Context):  # type: ignore[no-untyped-def]
    async def handle(stream: trio.SocketStream) -> None:
        async with stream:
            conn = SSL.Connection(ctx, None)
            conn.set_accept_state()
            wire = Wire(stream, conn)
            with trio.move_on_after(HANDSHAKE_DEADLINE):
                try:
                    await wire.handshake()
                except (SSL.Error, EOFError, trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    return
    return handle


async def main(endpoints: list[dict[str, str]]) -> None:
    ctxs = contexts(endpoints)
    async with trio.open_nursery() as nursery:
        ports = []
        for ctx in ctxs:
            listeners = await trio.open_tcp_listeners(0, host="127.0.0.1", backlog=4096)
            ports.append(listeners[0].socket.getsockname()[1])
            nursery.start_soon(trio.serve_listeners, handler(ctx), listeners)
        print(json.dumps({"ports": ports}), flush=True)


def split_pems(text: bytes) -> list[bytes]:
    marker = b"-----END CERTIFICATE-----"
    return [part.strip() + b"\n" + marker + b"\n" for part in text.split(marker) if part.strip()]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path, help="estate folder written by run.py")
    parser.add_argument("--start", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args()
    die_with_parent()
    raise_fd_limit()
    with open(args.folder / "endpoints.jsonl", encoding="ascii") as lines:
        endpoints = [json.loads(line) for line in islice(lines, args.start, args.start + args.count)]
    trio.run(main, endpoints)

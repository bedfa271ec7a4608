"""Benchmark estate multiplexed by SNI: its generation, and one listener on 127.0.0.1 serving many hostnames.

Why: 100,000 endpoints do not fit one machine as one port each (ports, descriptors, memory). Each
hostname ``host<i>.bench.test`` still has its own leaf certificate and its own EC P-256 key,
issued by one shared RSA-2048 issuing CA under a root, as in a real estate; the server picks the
endpoint's context in the SNI callback.

The estate folder (written by ``generate``, once, cached)::

    root.pem  issuing.pem  issuing-key.pem     the shared CAs (the key: to add chunks later)
    chunk-00000.pem  chunk-00001.pem ...       CHUNK leaves each: leaf, then its key, per host

Generation is fast by structure: leaves come in chunks of ``CHUNK`` hosts, each chunk made by a
process of a pool (one per core) that loads the issuing CA once, and written atomically, so an
interrupted generation resumes and a larger estate reuses the chunks a smaller one made (N =
100,000 after N = 10,000 makes only the 90 new chunks).

The server reads a chunk when one of its names is first asked for and keeps a bounded number of
chunks and of contexts (LRU), so its memory does not grow with the estate either. Prints one JSON
line ``{"port": P}`` when it listens, then serves until killed. A handshake without a known SNI
name is refused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import trio
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from estate import die_with_parent, handler, raise_fd_limit  # noqa: E402

CHUNK = 1000  # hosts per chunk file
CHUNKS_KEPT = 8  # parsed chunk files a server keeps (the scan walks the estate in order)
CONTEXTS_KEPT = 2048
HOST_SUFFIX = ".bench.test"
END_KEY = b"-----END PRIVATE KEY-----\n"


def hostname(i: int) -> str:
    return f"host{i}{HOST_SUFFIX}"


def chunk_path(folder: Path, chunk: int) -> Path:
    return folder / f"chunk-{chunk:05d}.pem"


def chunks_for(n: int) -> range:
    return range((n + CHUNK - 1) // CHUNK)


# --- generation ---------------------------------------------------------------------------------

_ISSUING: Any = None  # the issuing CA (scanner.lab.pki.Issued), loaded once per generator process


def _load_issuing(folder: str) -> None:
    """Pool initializer: read the shared issuing CA and its key once per process."""
    global _ISSUING
    from scanner.lab.pki import Issued

    base = Path(folder)
    cert = x509.load_pem_x509_certificate((base / "issuing.pem").read_bytes())
    key = serialization.load_pem_private_key((base / "issuing-key.pem").read_bytes(), password=None)
    _ISSUING = Issued(cert=cert, key=key)  # type: ignore[arg-type]


def _make_chunk(folder: str, chunk: int) -> int:
    """Write chunk ``chunk``: for each of its hosts the leaf (own EC P-256 key) and that key."""
    from scanner.lab.pki import issue, name, new_key

    parts = []
    for i in range(chunk * CHUNK, (chunk + 1) * CHUNK):
        leaf = issue(subject=name(hostname(i), ou="DCCKI Infrastructure"), issuer=_ISSUING,
                     key=new_key("ec-p256"), dns=[hostname(i)])
        parts += [leaf.pem, leaf.key_pem]
    final = chunk_path(Path(folder), chunk)
    temp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    temp.write_bytes(b"".join(parts))
    os.replace(temp, final)  # a chunk on disk is whole: an interrupted generation resumes
    return chunk


def _make_cas(folder: Path) -> None:
    from scanner.lab.pki import LabPKI

    pki = LabPKI.create(org="DCCKI Bench", key="rsa-2048")
    (folder / "root.pem").write_bytes(pki.root.pem)
    (folder / "issuing-key.pem").write_bytes(pki.issuing.key_pem)
    (folder / "issuing.pem").write_bytes(pki.issuing.pem)  # last: its presence means the CAs are whole


def generate(folder: Path, n: int, workers: int | None = None) -> int:
    """Make the estate's missing chunks for ``n`` hosts (and the CAs when new); returns how
    many chunks were made."""
    folder.mkdir(parents=True, exist_ok=True)
    if not ((folder / "issuing.pem").exists() and (folder / "issuing-key.pem").exists()):
        for stale in folder.glob("chunk-*.pem"):  # leaves of other CAs would not verify
            stale.unlink()
        _make_cas(folder)
    missing = [c for c in chunks_for(n) if not chunk_path(folder, c).exists()]
    if not missing:
        return 0
    print(f"generating {len(missing) * CHUNK} leaves ({len(missing)} chunks of {CHUNK}), one EC P-256 key "
          f"each, in {folder} (cached)", flush=True)
    with ProcessPoolExecutor(workers or os.cpu_count() or 1, initializer=_load_issuing,
                             initargs=(str(folder),)) as pool:
        for done, _ in enumerate(pool.map(_make_chunk, [str(folder)] * len(missing), missing), 1):
            if done % 10 == 0 or done == len(missing):
                print(f"  {done}/{len(missing)} chunks", flush=True)
    return len(missing)


# --- serving ------------------------------------------------------------------------------------

def split_chunk(data: bytes) -> list[tuple[bytes, bytes]]:
    """(leaf PEM, key PEM) per host of a chunk file, in host order."""
    out = []
    for part in data.split(END_KEY):
        if part.strip():
            cert, key = part.split(b"-----BEGIN PRIVATE KEY-----")
            out.append((cert.strip() + b"\n", b"-----BEGIN PRIVATE KEY-----" + key + END_KEY))
    return out


class Contexts:
    """Server contexts by host number, built from the chunk files on first use (both LRU)."""

    def __init__(self, folder: Path, count: int) -> None:
        self.folder = folder
        self.count = count
        self.issuing = x509.load_pem_x509_certificate((folder / "issuing.pem").read_bytes())
        self.chunks: OrderedDict[int, list[tuple[bytes, bytes]]] = OrderedDict()
        self.kept: OrderedDict[int, SSL.Context] = OrderedDict()

    def index(self, server_name: bytes | None) -> int | None:
        name = (server_name or b"").decode("ascii", "replace")
        if not (name.startswith("host") and name.endswith(HOST_SUFFIX)):
            return None
        number = name[4:-len(HOST_SUFFIX)]
        return int(number) if number.isdigit() and int(number) < self.count else None

    def _pems(self, i: int) -> tuple[bytes, bytes]:
        chunk = i // CHUNK
        if chunk not in self.chunks:
            self.chunks[chunk] = split_chunk(chunk_path(self.folder, chunk).read_bytes())
            if len(self.chunks) > CHUNKS_KEPT:
                self.chunks.popitem(last=False)
        self.chunks.move_to_end(chunk)
        return self.chunks[chunk][i % CHUNK]

    def get(self, i: int) -> SSL.Context:
        if i in self.kept:
            self.kept.move_to_end(i)
            return self.kept[i]
        leaf, key = self._pems(i)
        ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
        ctx.use_certificate(x509.load_pem_x509_certificate(leaf))
        ctx.add_extra_chain_cert(self.issuing)
        ctx.use_privatekey(serialization.load_pem_private_key(key, password=None))  # type: ignore[arg-type]
        self.kept[i] = ctx
        if len(self.kept) > CONTEXTS_KEPT:
            self.kept.popitem(last=False)
        return ctx


def default_context(contexts: Contexts) -> SSL.Context:
    """The context every connection starts with; its SNI callback switches to the endpoint's."""
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)

    def on_sni(conn: SSL.Connection) -> None:
        i = contexts.index(conn.get_servername())
        if i is not None:
            conn.set_context(contexts.get(i))

    ctx.set_tlsext_servername_callback(on_sni)
    return ctx


async def main(folder: Path, count: int) -> None:
    contexts = Contexts(folder, count)
    first = default_context(contexts)  # its SNI callback switches to the endpoint's own context
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1", backlog=4096)
    print(json.dumps({"port": listeners[0].socket.getsockname()[1], "hostnames": count}), flush=True)
    await trio.serve_listeners(handler(first), listeners)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="estate folder (see generate)")
    parser.add_argument("--count", type=int, required=True, help="serve hosts 0 .. count-1")
    parser.add_argument("--generate", action="store_true", help="make the missing chunks for --count hosts and exit")
    args = parser.parse_args()
    if args.generate:
        generate(args.folder, args.count)
        raise SystemExit(0)
    missing = [c for c in chunks_for(args.count) if not chunk_path(args.folder, c).exists()]
    if missing or not (args.folder / "issuing.pem").exists():
        raise SystemExit(f"sni_estate: {args.folder} lacks the CAs or {len(missing)} chunk(s) for {args.count} "
                         f"hosts; fix: run with --generate first")
    die_with_parent()
    raise_fd_limit()
    trio.run(main, args.folder, args.count)

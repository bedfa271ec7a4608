"""The engine on chains captured from real TLS servers on 127.0.0.1 (the bytes a probe sees)."""

from __future__ import annotations

import datetime as dt
import select
import socket
import ssl
import threading
from pathlib import Path
from typing import Callable, Iterator

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL

from scanner.evaluate import evaluate
from scanner.lab.pki import Issued, LabPKI

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
HOST = "gw.dcc.test"


def serve_once(tmp: Path, leaf: Issued, chain_pem: bytes) -> tuple[int, threading.Thread]:
    """A TLS server on 127.0.0.1 presenting ``chain_pem`` to one client, then closing."""
    (tmp / "chain.pem").write_bytes(chain_pem)
    (tmp / "key.pem").write_bytes(leaf.key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp / "chain.pem", tmp / "key.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(30)

    def run() -> None:
        with listener:
            conn, _ = listener.accept()
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread


def capture(port: int) -> list[bytes]:
    """The presented chain, exactly as sent, without verifying it (as the probe does)."""
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_verify(SSL.VERIFY_NONE, lambda *args: True)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        conn = SSL.Connection(context, sock)
        conn.set_tlsext_host_name(HOST.encode())
        conn.set_connect_state()
        _retry(conn.do_handshake, sock)
        chain = [c.to_cryptography().public_bytes(Encoding.DER) for c in conn.get_peer_cert_chain() or []]
    return chain


def _retry(step: Callable[[], object], sock: socket.socket) -> None:
    """Run a pyOpenSSL step on a socket with a timeout, waiting (bounded) whenever it wants to read."""
    for _ in range(1000):
        try:
            step()
            return
        except SSL.WantReadError:
            if not select.select([sock], [], [], 30)[0]:
                raise TimeoutError("TLS handshake with the test server hung") from None
    raise TimeoutError("TLS handshake did not finish")


@pytest.fixture(scope="module")
def pki() -> LabPKI:
    return LabPKI.create()


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[Callable[[Issued, bytes], list[bytes]]]:
    threads: list[threading.Thread] = []

    def start(leaf: Issued, chain_pem: bytes) -> list[bytes]:
        port, thread = serve_once(tmp_path, leaf, chain_pem)
        threads.append(thread)
        return capture(port)

    yield start
    for thread in threads:
        thread.join(timeout=30)


def test_captured_good_chain_is_accepted(pki: LabPKI, served: Callable[[Issued, bytes], list[bytes]]) -> None:
    leaf = pki.leaf(HOST, dns=[HOST])
    chain = served(leaf, leaf.chain_pem())
    assert chain == [leaf.der, pki.issuing.der]
    result = evaluate(chain, HOST, anchors=[pki.root.der], at=NOW)
    assert result["browsers"]["chrome"]["accepted"] and result["browsers"]["firefox"]["accepted"]
    assert result["profile"]["status"] == "compliant" and result["findings"] == []


def test_captured_leaf_only_is_incomplete(pki: LabPKI, served: Callable[[Issued, bytes], list[bytes]]) -> None:
    leaf = pki.leaf(HOST, dns=[HOST])
    chain = served(leaf, leaf.pem)
    result = evaluate(chain, HOST, anchors=[pki.root.der], at=NOW)
    assert [f["id"] for f in result["findings"]] == ["chain.incomplete"]
    assert result["browsers"]["firefox"]["error"] == "SEC_ERROR_UNKNOWN_ISSUER"


def test_captured_cn_only_certificate(pki: LabPKI, served: Callable[[Issued, bytes], list[bytes]]) -> None:
    leaf = pki.leaf(HOST)
    chain = served(leaf, leaf.chain_pem(include_root=True))
    result = evaluate(chain, HOST, anchors=[pki.root.der], at=NOW)
    assert result["browsers"]["chrome"]["error"] == "ERR_CERT_COMMON_NAME_INVALID"
    assert result["profile"]["breaches"] == ["dccki.san.missing"]
    assert result["browsers"]["chrome"]["reasons"][0]["check"] == "chrome.name.cn_only"

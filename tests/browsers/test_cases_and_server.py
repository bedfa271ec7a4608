"""The oracle's own parts, without browsers: the cases are what they claim, the server serves them."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Iterator

import pytest
from OpenSSL import SSL, crypto

from tests.browsers.cases import CASE_IDS, Case, build_cases
from tests.browsers.server import BODY, OracleServer

RULES_FILE = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "browser-rules.md"


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return build_cases()


@pytest.fixture(scope="module")
def server(cases: list[Case]) -> Iterator[OracleServer]:
    with OracleServer(cases) as running:
        yield running


def test_case_ids_are_listed_for_parametrization(cases: list[Case]) -> None:
    assert tuple(c.id for c in cases) == CASE_IDS
    assert len(cases) >= 45


def test_every_case_is_complete(cases: list[Case]) -> None:
    for case in cases:
        assert case.chain and case.key_pem and case.anchors and case.rule and case.description, case.id


def test_cases_cite_rules_that_exist() -> None:
    if not RULES_FILE.exists():
        pytest.skip(f"{RULES_FILE} absent (the shared reference folder exists only on dev machines and CI)")
    text = RULES_FILE.read_text()
    for case in build_cases():
        for rule in case.rule.split("/"):
            assert f"| {rule} |" in text, f"{case.id} cites {rule}, which browser-rules.md does not define"


def _fetch(port: int, sni: str | None, address: str = "127.0.0.1") -> tuple[list[bytes], bytes]:
    """The chain presented for ``sni`` and the HTTP answer, with no verification at all."""
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_cipher_list(b"DEFAULT:@SECLEVEL=0")
    with socket.create_connection((address, port), timeout=20) as raw:
        raw.setblocking(True)  # pyOpenSSL wants a blocking socket; the server closes within 10 s anyway
        conn = SSL.Connection(ctx, raw)
        if sni:
            conn.set_tlsext_host_name(sni.encode())
        conn.set_connect_state()
        conn.do_handshake()
        chain = [crypto.dump_certificate(crypto.FILETYPE_ASN1, c) for c in conn.get_peer_cert_chain() or []]
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while True:
            try:
                chunk = conn.recv(4096)
            except (SSL.ZeroReturnError, SSL.SysCallError):
                break
            if not chunk:
                break
            answer += chunk
    return chain, answer


@pytest.mark.parametrize("case_id", ["chain-duplicate", "chain-unordered", "sha1-leaf", "rsa1024-leaf",
                                     "missing-intermediate", "ip-ipaddress-san", "ipv6-ipaddress-san"])
def test_server_presents_each_chain_exactly(cases: list[Case], server: OracleServer, case_id: str) -> None:
    """Byte-identical chains, duplicates and disorder kept: the browsers must see what the case says."""
    case = next(c for c in cases if c.id == case_id)
    chain, answer = _fetch(server.ports[case.id], None if case.is_ip else case.hostname,
                           case.hostname if case.is_ip else "127.0.0.1")
    assert chain == list(case.chain)
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(BODY)

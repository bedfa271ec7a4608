"""The oracle's own parts, without browsers: the cases are what they claim, the server serves them."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Iterator

import pytest
from OpenSSL import SSL, crypto

from .cases import CASE_IDS, Case, build_cases
from .observe import load_observed, render, surprises
from .server import BODY, OracleServer
from .session import CODE

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


def test_aia_url_serves_the_intermediate(cases: list[Case], server: OracleServer) -> None:
    """Chromium fetches the AIA caIssuers URL; the server must answer it with the DER, and 404 otherwise."""
    case = next(c for c in cases if c.aia_der)
    with socket.create_connection(("127.0.0.1", server.aia_port), timeout=20) as raw:
        raw.sendall(f"GET /{case.id}.der HTTP/1.1\r\nHost: aia\r\n\r\n".encode())
        answer = _read_all(raw)
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(case.aia_der or b"?")
    with socket.create_connection(("127.0.0.1", server.aia_port), timeout=20) as raw:
        raw.sendall(b"GET /nothing.der HTTP/1.1\r\n\r\n")
        assert _read_all(raw).startswith(b"HTTP/1.1 404")


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_surprises_compare_acceptance_with_the_notes() -> None:
    observed = {"san-exact": ("ERR_CERT_INVALID", None), "san-mismatch": (None, "SSL_ERROR_BAD_CERT_DOMAIN"),
                "expired-root": (None, None)}  # the notes are silent on expired-root
    found = surprises(observed)
    assert len(found) == 2
    assert "`san-exact`: the notes predict Chrome would accept" in found[0]
    assert "`san-mismatch`: the notes predict Chrome would reject" in found[1]


def test_document_carries_a_loadable_observed_dict(cases: list[Case], tmp_path: Path) -> None:
    observed = {c.id: (None, "SEC_ERROR_UNKNOWN_ISSUER") for c in cases}
    text = render(cases, {"chrome": "1", "firefox": "2"}, observed)
    written = tmp_path / "observations.md"
    written.write_text(text)
    assert load_observed(written) == observed
    assert text.count("\n| `") == len(cases)


def test_committed_observations_cover_every_case() -> None:
    """A case added without re-running ``python -m tests.browsers.observe`` is caught here."""
    recorded = load_observed()
    assert list(recorded) == list(CASE_IDS)
    assert all(code is None or CODE.fullmatch(code) for pair in recorded.values() for code in pair)

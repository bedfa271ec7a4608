"""Issue 15 item 9: a certificate's raw bytes are kept whatever the TLS version and whatever fails
to parse.

Two real servers on 127.0.0.1: OpenSSL (Python's ssl module) presenting a certificate whose
validity OpenSSL accepts and cryptography refuses (a UTCTime with a "+0000" offset), and
tlslite-ng, a TLS implementation other than OpenSSL, presenting one whose validity OpenSSL itself
refuses (a UTCTime without seconds): over TLS 1.3 that Certificate message is encrypted, so the
bytes can only be had from a second connection limited to TLS 1.2.
"""

from __future__ import annotations

import base64
import socket
import ssl
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from scanner.lab import der
from scanner.lab.pki import Issued, LabPKI, _alg_id, _key_family, _sign, issue, name
from scanner.probe import errors
from scanner.probe.tls import probe
from tests.lab_fixtures import pki  # noqa: F401 - fixture

HOSTNAME = "gw.dcc-user.example"


def _with_validity(leaf: Issued, signer: Issued, not_before: bytes, not_after: bytes) -> bytes:
    """``leaf`` re-signed with a hand-made Validity (two whole DER time values)."""
    _, body, _ = der.read_tlv(leaf.der)
    _, tbs_body, _ = der.read_tlv(der.children(body)[0][2])
    fields = [whole for _, _, whole in der.children(tbs_body)]
    fields[(1 if fields[0][0] == 0xA0 else 0) + 3] = der.sequence(not_before, not_after)
    tbs = der.sequence(*fields)
    family = _key_family(signer.key)
    return der.sequence(tbs, _alg_id(family, "sha256"), der.bit_string(_sign(signer.key, tbs, "sha256")))


def _utc(text: bytes) -> bytes:
    return bytes([0x17, len(text)]) + text


def _pem(data: bytes) -> bytes:
    return b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(data) + b"-----END CERTIFICATE-----\n"


@contextmanager
def _server(handle: Callable[[socket.socket], None]) -> Iterator[int]:
    """A threaded TCP server on 127.0.0.1 calling ``handle`` per connection until the block ends."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.settimeout(30)
            try:
                handle(conn)
            except Exception:  # noqa: BLE001 - the client hanging up on a bad certificate is expected
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=30)
        listener.close()


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2], ids=["tls1.3", "tls1.2"])
async def test_certificate_only_cryptography_refuses_is_kept_and_judged(pki: LabPKI, tmp_path: Path,
                                                                        version: ssl.TLSVersion) -> None:
    leaf = issue(subject=name("gw"), issuer=pki.issuing, dns=[HOSTNAME])
    odd = _with_validity(leaf, pki.issuing, _utc(b"250101120000+0000"), _utc(b"350101120000+0000"))
    (tmp_path / "cert.pem").write_bytes(_pem(odd))
    (tmp_path / "key.pem").write_bytes(leaf.key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")  # OpenSSL accepts it
    context.minimum_version = context.maximum_version = version

    def handle(conn: socket.socket) -> None:
        with context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)

    with _server(handle) as port:
        capture = await probe("127.0.0.1", port, hostname=HOSTNAME, timeout=20)
    assert capture.chain == [odd]  # the bytes as sent, whatever the version
    assert capture.version == ("TLSv1.3" if version is ssl.TLSVersion.TLSv1_3 else "TLSv1.2")
    from scanner.evaluate import evaluate

    verdict: dict[str, Any] = evaluate(capture.chain, HOSTNAME, anchors=[pki.root.der],
                                       at=datetime.now(timezone.utc), profile=None)
    assert "rfc5280.certificate.unparseable" in {f["id"] for f in verdict["findings"]}
    assert verdict["browsers"]["chrome"]["accepted"] is False


@pytest.fixture
def unparseable(pki: LabPKI) -> tuple[bytes, Any, Any]:
    """A certificate OpenSSL refuses (UTCTime without seconds), as tlslite-ng objects to serve."""
    tlslite = pytest.importorskip("tlslite", reason="tlslite-ng (a test dependency) serves what OpenSSL will not")
    leaf = issue(subject=name("gw"), issuer=pki.issuing, key="rsa-2048", dns=[HOSTNAME])
    broken = _with_validity(leaf, pki.issuing, _utc(b"2501011200Z"), _utc(b"3501011200Z"))
    cert = tlslite.X509()
    cert.parseBinary(bytearray(broken))
    return broken, tlslite.X509CertChain([cert]), tlslite.parsePEMKey(leaf.key_pem.decode(), private=True)


def _tlslite_server(chain: Any, key: Any, lowest: tuple[int, int]) -> Callable[[socket.socket], None]:
    from tlslite import HandshakeSettings, TLSConnection

    def handle(conn: socket.socket) -> None:
        settings = HandshakeSettings()
        settings.minVersion, settings.maxVersion = lowest, (3, 4)
        TLSConnection(conn).handshakeServer(certChain=chain, privateKey=key, settings=settings,
                                            alpn=[bytearray(b"http/1.1")])

    return handle


async def test_unparseable_certificate_over_tls13_is_kept_from_a_tls12_connection(
        unparseable: tuple[bytes, Any, Any]) -> None:
    broken, chain, key = unparseable
    with _server(_tlslite_server(chain, key, lowest=(3, 3))) as port:
        with pytest.raises(errors.CertificateParseError) as failed:
            await probe("127.0.0.1", port, hostname=HOSTNAME, timeout=20)
    assert failed.value.capture is not None and failed.value.capture.chain == [broken]
    assert "The server chose TLS 1.3" in failed.value.message
    assert "connected a second time allowing TLS 1.2 at most" in failed.value.message


async def test_tls13_only_server_says_why_the_bytes_are_missing(unparseable: tuple[bytes, Any, Any]) -> None:
    _, chain, key = unparseable
    with _server(_tlslite_server(chain, key, lowest=(3, 4))) as port:
        with pytest.raises(errors.CertificateParseError) as failed:
            await probe("127.0.0.1", port, hostname=HOSTNAME, timeout=20)
    assert failed.value.capture is None
    assert "Its bytes could not be kept: TLS 1.3 encrypts certificates" in failed.value.message

"""The probe against real TLS servers on loopback: capture, client auth, and every error kind."""

from __future__ import annotations

import hypothesis
import pytest
import trio
from cryptography import x509

from scanner.lab.pki import Issued, LabPKI
from scanner.lab.servers import ServerSpec, ipv6_available, serve
from scanner.probe import errors
from scanner.probe.resolve import resolve
from scanner.probe.tls import Capture, probe
from scanner.targets import ClientIdentity
from tests.lab_fixtures import client, leaf, pki, tls_spec  # noqa: F401 - fixtures

HOSTNAME = "gw.dcc-user.example"


async def start(nursery: trio.Nursery, spec: ServerSpec) -> int:
    port: int = await nursery.start(serve, spec)
    return port


async def wait_for(log: list[dict], count: int) -> None:
    """The server logs after its side of the handshake, a moment after ours: wait (bounded)."""
    with trio.fail_after(10):
        while len(log) < count:
            await trio.sleep(0.01)


def ders(pem: bytes) -> list[bytes]:
    from cryptography.hazmat.primitives.serialization import Encoding
    return [c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(pem)]


async def test_captures_chain_in_presented_order(nursery: trio.Nursery, pki: LabPKI, leaf: Issued) -> None:
    # present the chain with the root too, in an unusual order, to prove we keep it as sent
    pem = leaf.pem + pki.root.pem + pki.issuing.pem
    port = await start(nursery, ServerSpec(chain_pem=pem, key_pem=leaf.key_pem, alpn=["http/1.1"]))
    capture = await probe("127.0.0.1", port, hostname=HOSTNAME, timeout=10)
    assert capture.chain == ders(pem)
    assert capture.version == "TLSv1.3" and capture.cipher
    assert capture.alpn == "http/1.1"
    assert capture.client_auth == "none" and capture.acceptable_ca_names == []


async def test_no_alpn_and_tls12_limit(nursery: trio.Nursery, leaf: Issued) -> None:
    port = await start(nursery, tls_spec(leaf, max_version="TLSv1.2"))
    capture = await probe("127.0.0.1", port, hostname=HOSTNAME, timeout=10)
    assert capture.version == "TLSv1.2" and capture.alpn is None


async def test_sni_is_hostname_but_not_for_ip_literals(nursery: trio.Nursery, leaf: Issued) -> None:
    log: list[dict] = []
    port = await start(nursery, tls_spec(leaf, log=log))
    await probe("127.0.0.1", port, hostname=HOSTNAME, timeout=10)
    await wait_for(log, 1)
    await probe("127.0.0.1", port, hostname="127.0.0.1", timeout=10)
    await wait_for(log, 2)
    assert [entry["sni"] for entry in log] == [HOSTNAME, None]


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
async def test_chain_captured_when_client_cert_required_and_none_configured(
        nursery: trio.Nursery, pki: LabPKI, leaf: Issued, version: str) -> None:
    log: list[dict] = []
    spec = tls_spec(leaf, client_auth="required", client_cas=[pki.issuing.pem], min_version=version,
                    max_version=version, log=log)
    port = await start(nursery, spec)
    capture = await probe("127.0.0.1", port, hostname=HOSTNAME, timeout=10)
    assert capture.chain == ders(leaf.chain_pem())
    assert capture.client_auth == "required" and not capture.client_cert_sent
    assert capture.version == version
    assert capture.acceptable_ca_names == [pki.issuing.cert.subject.rfc4514_string()]
    assert log == []  # the server never completed a handshake with us


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
async def test_requested_client_cert(nursery: trio.Nursery, pki: LabPKI, leaf: Issued, version: str) -> None:
    """The TLS layer says 'requested'; only the application's answer can say 'optional'."""
    port = await start(nursery, tls_spec(leaf, client_auth="optional", client_cas=[pki.root.pem],
                                         max_version=version))
    capture = await probe("127.0.0.1", port, hostname=HOSTNAME, timeout=10)
    assert capture.client_auth == "requested" and capture.client_auth_http is None
    assert capture.acceptable_ca_names == [pki.root.cert.subject.rfc4514_string()]
    capture = await probe("127.0.0.1", port, hostname=HOSTNAME, timeout=10, http_check=True)
    assert capture.client_auth == "optional"  # the lab server answers HTTP 200 without a certificate
    assert capture.client_auth_http is not None and capture.client_auth_http["status"] == 200


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
async def test_mutual_tls_with_client_certificate(nursery: trio.Nursery, pki: LabPKI, leaf: Issued,
                                                  client: Issued, version: str) -> None:
    log: list[dict] = []
    port = await start(nursery, tls_spec(leaf, client_auth="required", client_cas=[pki.issuing.pem],
                                         max_version=version, log=log))
    identity = ClientIdentity(chain=(client.der, pki.issuing.der), key_pem=client.key_pem)
    capture = await probe("127.0.0.1", port, hostname=HOSTNAME, timeout=10, identity=identity)
    assert capture.client_cert_sent and capture.chain == ders(leaf.chain_pem())
    await wait_for(log, 1)
    assert log[0]["client_cert"] == client.cert.subject.rfc4514_string()


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
async def test_client_certificate_rejected(nursery: trio.Nursery, pki: LabPKI, leaf: Issued, version: str) -> None:
    other = LabPKI.create(org="Someone Else")
    stranger = other.leaf("stranger", dns=["stranger.example"])
    port = await start(nursery, tls_spec(leaf, client_auth="required", client_cas=[pki.issuing.pem],
                                         max_version=version))
    identity = ClientIdentity(chain=(stranger.der,), key_pem=stranger.key_pem)
    with pytest.raises(errors.ClientCertRejectedError) as caught:
        await probe("127.0.0.1", port, hostname=HOSTNAME, timeout=10, identity=identity)
    assert caught.value.kind == "client-cert-rejected" and caught.value.alert
    assert caught.value.capture is not None and caught.value.capture.chain == ders(leaf.chain_pem())


async def test_ipv6_loopback(nursery: trio.Nursery, leaf: Issued) -> None:
    if not ipv6_available():
        pytest.skip("this machine cannot bind ::1 (no IPv6 loopback)")
    port = await start(nursery, tls_spec(leaf, host="::1"))
    capture = await probe("::1", port, hostname=HOSTNAME, timeout=10)
    assert capture.chain == ders(leaf.chain_pem())


async def expect(kind: type[errors.ProbeError], port: int, timeout: float = 10) -> errors.ProbeError:
    with pytest.raises(kind) as caught:
        await probe("127.0.0.1", port, hostname=HOSTNAME, timeout=timeout)
    error = caught.value
    assert error.message and error.to_json()["kind"] == error.kind
    return error


async def test_refused(nursery: trio.Nursery) -> None:
    error = await expect(errors.RefusedError, await start(nursery, ServerSpec(kind="closed")))
    assert error.kind == "refused" and error.phase == "connect"


async def test_timeout(nursery: trio.Nursery) -> None:
    error = await expect(errors.TimeoutError, await start(nursery, ServerSpec(kind="silent")), timeout=0.5)
    assert error.kind == "timeout" and error.phase == "handshake"


async def test_reset(nursery: trio.Nursery) -> None:
    error = await expect(errors.ResetError, await start(nursery, ServerSpec(kind="reset")))
    assert error.kind == "reset"


async def test_hangup_is_handshake_error(nursery: trio.Nursery) -> None:
    error = await expect(errors.HandshakeError, await start(nursery, ServerSpec(kind="hangup")))
    assert error.kind == "handshake"


async def test_not_tls(nursery: trio.Nursery) -> None:
    error = await expect(errors.NotTLSError, await start(nursery, ServerSpec(kind="http")))
    assert error.kind == "not-tls" and "HTTP" in error.message


async def test_tls_alert_with_name(nursery: trio.Nursery, leaf: Issued) -> None:
    # the server only accepts a PSK cipher we never offer: it answers with a handshake_failure alert
    spec = tls_spec(leaf, max_version="TLSv1.2", cipher_list="PSK-AES128-CBC-SHA")
    error = await expect(errors.TLSAlertError, await start(nursery, spec))
    assert error.kind == "tls-alert" and error.alert == "handshake_failure"
    assert "handshake_failure" in error.message


async def test_dns_error_for_invalid_name() -> None:
    with pytest.raises(errors.DnsError) as caught:
        await resolve("no-such-host.invalid", 443)
    assert caught.value.kind == "dns"


async def test_resolve_ip_literals_and_localhost() -> None:
    assert await resolve("127.0.0.1", 443) == ["127.0.0.1"]
    assert await resolve("0:0::1", 443) == ["::1"]
    assert "127.0.0.1" in await resolve("localhost", 443)


def test_capture_json_shape() -> None:
    assert set(Capture().to_tls_json()) == {"version", "cipher", "alpn", "client_auth",
                                            "client_cert_sent", "acceptable_ca_names", "client_auth_http"}


@hypothesis.given(hypothesis.strategies.one_of(
    hypothesis.strategies.text(max_size=50),
    hypothesis.strategies.ip_addresses().map(str),
    hypothesis.strategies.from_regex(r"[0-9a-fA-F:.%]{0,45}", fullmatch=True)))
def test_ip_literal_shortcut_agrees_with_ipaddress(text: str) -> None:
    """The quick rejection of names in ``is_ip_literal`` never changes its answer."""
    import ipaddress

    from scanner.address import is_ip_literal
    try:
        ipaddress.ip_address(text)
        expected = True
    except ValueError:
        expected = False
    assert is_ip_literal(text) is expected

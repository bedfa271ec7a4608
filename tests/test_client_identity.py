"""Client identities for mutual TLS and the signing key, each with its own password source, and
PKCS#12 client certificates: real encrypted keys, a real .p12 built here, a real loopback server
that requires a client certificate and records the one it was shown."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import pkcs12

from scanner.cli import cli
from scanner.evidence import verify_pack
from scanner.lab.pki import Issued, LabPKI, new_key
from scanner.lab.servers import LabEstate
from tests.lab_fixtures import leaf, pki, tls_spec, write  # noqa: F401 - fixtures

HOST = "gw.dcc-user.example"
CLIENT_PW, SIGN_PW, P12_PW = "client-Pw-1", "sign-Pw-2", "p12-Pw-3"
PASSWORD_VARS = ("DCCSCAN_KEY_PASSWORD", "DCCSCAN_CLIENT_KEY_PASSWORD", "DCCSCAN_SIGN_KEY_PASSWORD")


def _encrypted(key: Any, password: str) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(password.encode()))


@pytest.fixture(scope="module")
def client_leaf(pki: LabPKI) -> Issued:  # noqa: F811
    """A client certificate with a key of its own (not the lab's shared leaf key)."""
    return pki.leaf("dcc-user-client", dns=["client.dcc-user.example"], key=new_key("ec-p256"))


@pytest.fixture
def files(tmp_path: Path, pki: LabPKI, client_leaf: Issued) -> Path:  # noqa: F811
    """root.pem; client.pem + client.key (CLIENT_PW); client.p12 (P12_PW, key + leaf + issuing
    CA); signer.key (SIGN_PW) and signer.pub."""
    write(tmp_path / "root.pem", pki.root.pem)
    write(tmp_path / "client.pem", client_leaf.pem)
    write(tmp_path / "client.key", _encrypted(client_leaf.key, CLIENT_PW))
    write(tmp_path / "client.p12", pkcs12.serialize_key_and_certificates(
        b"dcc-user-client", client_leaf.key, client_leaf.cert, [pki.issuing.cert],
        serialization.BestAvailableEncryption(P12_PW.encode())))
    signer = ed25519.Ed25519PrivateKey.generate()
    write(tmp_path / "signer.key", _encrypted(signer, SIGN_PW))
    write(tmp_path / "signer.pub", signer.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return tmp_path


@pytest.fixture
def mtls_server(pki: LabPKI, leaf: Issued) -> Iterator[tuple[int, list[dict[str, Any]]]]:  # noqa: F811
    """A server that requires a client certificate from the lab's issuing CA; (port, handshakes)."""
    seen: list[dict[str, Any]] = []
    spec = tls_spec(leaf, client_auth="required", client_cas=[pki.issuing.pem], log=seen)
    with LabEstate([spec]) as (port,):
        yield port, seen


@pytest.fixture(autouse=True)
def no_inherited_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PASSWORD_VARS:
        monkeypatch.delenv(name, raising=False)


def _targets(folder: Path, port: int, identity: str) -> Path:
    return write(folder / "targets.toml", (
        f'[defaults]\ntrust_anchors = ["root.pem"]\n{identity}\n\n[[target]]\nname = "gw"\n'
        f'interface = "gateway"\nhost = "127.0.0.1"\nport = {port}\nhostname = "{HOST}"\n').encode())


def _scan(folder: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["scan", "--out", str(folder / "out"), "--format", "json", "--fail-on", "never",
                                    "--quiet", *args], env=env)


def _sent_our_certificate(folder: Path, seen: list[dict[str, Any]]) -> None:
    (endpoint,) = json.loads((folder / "out" / "results.json").read_text())["endpoints"]
    assert endpoint["status"] == "ok" and endpoint["tls"]["client_cert_sent"] is True, endpoint
    shown = [h["client_cert"] for h in seen if h["client_cert"]]
    assert shown and shown[-1].startswith("CN=dcc-user-client,"), seen
    seen.clear()


def _pack_signed_by(folder: Path, pack: Path) -> None:
    result = verify_pack(pack, folder / "signer.pub")
    assert result.ok, result.problems
    with zipfile.ZipFile(pack) as archive:
        assert "manifest.sig" in archive.namelist()


def test_client_key_and_signing_key_with_different_passwords_from_their_variables(
        files: Path, mtls_server: tuple[int, list[dict[str, Any]]]) -> None:
    port, seen = mtls_server
    targets = _targets(files, port, 'client_cert = "client.pem"\nclient_key = "client.key"')
    result = _scan(files, "--targets", str(targets), "--evidence", str(files / "pack.zip"),
                   "--sign-key", str(files / "signer.key"),
                   env={"DCCSCAN_CLIENT_KEY_PASSWORD": CLIENT_PW, "DCCSCAN_SIGN_KEY_PASSWORD": SIGN_PW})
    assert result.exit_code == 0, result.output
    _sent_our_certificate(files, seen)
    _pack_signed_by(files, files / "pack.zip")


def test_password_files_and_the_shared_variable_as_fallback(
        files: Path, mtls_server: tuple[int, list[dict[str, Any]]]) -> None:
    """Files on the command line win; DCCSCAN_KEY_PASSWORD (the old shared variable) still serves
    the key that has no source of its own."""
    port, seen = mtls_server
    write(files / "client.pw", f"{CLIENT_PW}\n".encode())
    result = _scan(files, f"127.0.0.1:{port}", "--hostname", HOST, "--trust-anchor", str(files / "root.pem"),
                   "--client-cert", str(files / "client.pem"), "--client-key", str(files / "client.key"),
                   "--client-key-password-file", str(files / "client.pw"),
                   "--evidence", str(files / "pack.zip"), "--sign-key", str(files / "signer.key"),
                   env={"DCCSCAN_KEY_PASSWORD": SIGN_PW, "DCCSCAN_CLIENT_KEY_PASSWORD": "not-this-one"})
    assert result.exit_code == 0, result.output
    _sent_our_certificate(files, seen)
    _pack_signed_by(files, files / "pack.zip")
    write(files / "sign.pw", SIGN_PW.encode())  # no final newline: the whole line is the password
    packed = CliRunner().invoke(cli, ["evidence", str(files / "out"), str(files / "again.zip"), "--sign-key",
                                      str(files / "signer.key"), "--sign-key-password-file", str(files / "sign.pw")])
    assert packed.exit_code == 0, packed.output
    _pack_signed_by(files, files / "again.zip")


def test_one_shared_password_cannot_open_two_different_keys(
        files: Path, mtls_server: tuple[int, list[dict[str, Any]]]) -> None:
    """The situation per-key sources exist for: the message names the signing key and the source."""
    port, _ = mtls_server
    targets = _targets(files, port, 'client_cert = "client.pem"\nclient_key = "client.key"')
    result = _scan(files, "--targets", str(targets), "--evidence", str(files / "pack.zip"),
                   "--sign-key", str(files / "signer.key"), env={"DCCSCAN_KEY_PASSWORD": CLIENT_PW})
    assert result.exit_code == 2, result.output
    assert f"{files / 'signer.key'}: the signing key's password is wrong" in result.output
    assert "fix: check DCCSCAN_KEY_PASSWORD" in result.output
    assert not (files / "out" / "results.json").exists()


def test_pkcs12_client_certificate_in_the_targets_file_and_on_the_command_line(
        files: Path, mtls_server: tuple[int, list[dict[str, Any]]]) -> None:
    port, seen = mtls_server
    targets = _targets(files, port, 'client_cert = "client.p12"')
    result = _scan(files, "--targets", str(targets), env={"DCCSCAN_CLIENT_KEY_PASSWORD": P12_PW})
    assert result.exit_code == 0, result.output
    _sent_our_certificate(files, seen)
    document = json.loads((files / "out" / "results.json").read_text())
    assert document["endpoints"][0]["tls"]["client_auth"] == "requested"  # asked, and ours was accepted
    write(files / "p12.pw", f"{P12_PW}\n".encode())
    result = _scan(files, f"127.0.0.1:{port}", "--hostname", HOST, "--trust-anchor", str(files / "root.pem"),
                   "--client-cert", str(files / "client.p12"), "--client-key-password-file", str(files / "p12.pw"))
    assert result.exit_code == 0, result.output
    _sent_our_certificate(files, seen)


@pytest.mark.parametrize(("identity", "env", "line", "words", "fix"), [
    ('client_cert = "client.p12"', {}, 3, "client_cert {folder}/client.p12 is encrypted and no password was given",
     "set DCCSCAN_CLIENT_KEY_PASSWORD (or DCCSCAN_KEY_PASSWORD for every key), or pass --client-key-password-file"),
    ('client_cert = "client.p12"', {"DCCSCAN_CLIENT_KEY_PASSWORD": "wrong"}, 3,
     "neither PEM certificates nor a PKCS#12 file this password opens", "check DCCSCAN_CLIENT_KEY_PASSWORD"),
    ('client_cert = "client.p12"\nclient_key = "client.key"', {"DCCSCAN_CLIENT_KEY_PASSWORD": P12_PW}, 4,
     "it is read as PKCS#12, which holds the key itself", "drop client_key"),
    ('client_cert = "client.pem"', {}, 3, "client_cert and client_key must be given together",
     "set both (or neither) for mutual TLS; a PKCS#12 (.p12/.pfx) file holds the key"),
    ('client_cert = "client.pem"\nclient_key = "client.key"', {"DCCSCAN_KEY_PASSWORD": "wrong"}, 4,
     "client_key {folder}/client.key: the password is wrong", "check DCCSCAN_KEY_PASSWORD"),
])
def test_identity_mistakes_exit_2_naming_the_line_and_the_source(files: Path, identity: str, env: dict[str, str],
                                                                 line: int, words: str, fix: str) -> None:
    targets = _targets(files, 443, identity)
    result = _scan(files, "--targets", str(targets), env=env)
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"dccscan: {targets}:{line}: ") and words.format(folder=files) in result.output
    assert f"\n  fix: {fix}" in result.output, result.output

"""The targets file and command-line targets: every mistake is an InputError with file, line
and fix, and nothing else gets through."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests.lab_fixtures import client, leaf, pki  # noqa: F401 - fixtures
from scanner.errors import InputError
from scanner.lab.pki import Issued, LabPKI
from scanner.targets import client_identity, load_targets, parse_cli_target

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def folder(tmp_path: Path, pki: LabPKI, client: Issued) -> Path:
    (tmp_path / "root.pem").write_bytes(pki.root.pem)
    (tmp_path / "client.pem").write_bytes(client.pem)
    (tmp_path / "client.key").write_bytes(client.key_pem)
    (tmp_path / "empty.pem").write_text("not a certificate\n")
    return tmp_path


def write(folder: Path, text: str) -> Path:
    path = folder / "targets.toml"
    path.write_text(text)
    return path


GOOD = """\
[defaults]
port = 8443
trust_anchors = ["root.pem"]

[[target]]
name = "gw"
interface = "gateway"
host = "127.0.0.1"
hostname = "gw.dcc-user.example."
tags = ["prod"]

[[target]]
name = "ssi"
interface = "self-service"
host = "::1"
port = 443
timeout = 2.5
"""


def test_loads_defaults_and_overrides(folder: Path, pki: LabPKI) -> None:
    loaded = load_targets(write(folder, GOOD))
    gw, ssi = loaded.targets
    assert (gw.port, gw.hostname, gw.tags, gw.timeout) == (8443, "gw.dcc-user.example", ("prod",), 10.0)
    assert (ssi.port, ssi.host, ssi.hostname, ssi.timeout, ssi.interface) == (443, "::1", "::1", 2.5, "self-service")
    assert gw.trust_anchors == ((folder / "root.pem").resolve(),)
    assert gw.to_json() == {"name": "gw", "interface": "gateway", "host": "127.0.0.1", "port": 8443,
                            "hostname": "gw.dcc-user.example", "tags": ["prod"]}
    import hashlib
    assert loaded.sha256 == hashlib.sha256((folder / "targets.toml").read_bytes()).hexdigest()


@pytest.mark.parametrize(("edit", "line", "words"), [
    (("tags = [\"prod\"]", "colour = \"red\""), 10, "unknown key 'colour'"),
    (("port = 443", "port = 70000"), 16, "out of range"),
    (("port = 443", "port = \"443\""), 16, "must be an integer"),
    (("port = 443", "port = true"), 16, "must be an integer"),
    (("interface = \"self-service\"", "interface = \"smets\""), 14, "unknown interface"),
    (("name = \"ssi\"", "name = \"gw\""), 13, "duplicate target name 'gw'"),
    (("host = \"::1\"", "host = \"bad host!\""), 15, "not a valid hostname"),
    (("hostname = \"gw.dcc-user.example.\"", "hostname = \"-gw.example\""), 9, "not a valid hostname"),
    (("trust_anchors = [\"root.pem\"]", "trust_anchors = [\"missing.pem\"]"), 3, "cannot be read"),
    (("trust_anchors = [\"root.pem\"]", "trust_anchors = [\"empty.pem\"]"), 3, "holds no PEM certificate"),
    (("port = 8443\n", "port = 8443\nretries = 2\n"), 3, "unknown key 'retries' in [defaults]"),
    (("timeout = 2.5", "timeout = 0"), 17, "more than 0"),
    (("[[target]]\nname = \"ssi\"", "[[target]]\nnombre = \"ssi\""), 13, "unknown key 'nombre'"),
])
def test_mistakes_name_file_line_and_fix(folder: Path, edit: tuple[str, str], line: int, words: str) -> None:
    path = write(folder, GOOD.replace(*edit, 1))
    with pytest.raises(InputError) as caught:
        load_targets(path)
    error = caught.value
    assert words in error.message
    assert error.file == str(path) and error.line == line and error.fix
    assert str(error).startswith(f"{path}:{line}: ")


def test_syntax_error_has_line(folder: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_targets(write(folder, GOOD.replace("port = 443", "port = = 443")))
    assert caught.value.line == 16


def test_missing_file_and_empty_file(folder: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_targets(folder / "nope.toml")
    with pytest.raises(InputError, match="lists no targets"):
        load_targets(write(folder, "[defaults]\nport = 1\n"))
    with pytest.raises(InputError, match="unknown top-level key 'targets'") as caught:
        load_targets(write(folder, "[[targets]]\nname = \"x\"\nhost = \"h\"\n"))
    assert caught.value.line == 1


def test_idn_hostname_becomes_a_label(folder: Path) -> None:
    loaded = load_targets(write(folder, '[[target]]\nname = "x"\nhost = "127.0.0.1"\nhostname = "Bücher.Example"\n'))
    assert loaded.targets[0].hostname == "xn--bcher-kva.example"
    assert loaded.targets[0].interface == "other"


def test_client_identity_plain_and_encrypted(folder: Path, client: Issued, monkeypatch: pytest.MonkeyPatch) -> None:
    text = '[[target]]\nname = "x"\nhost = "127.0.0.1"\nclient_cert = "client.pem"\nclient_key = "client.key"\n'
    target = load_targets(write(folder, text)).targets[0]
    identity = client_identity(target)
    assert identity is not None and identity.chain == (client.der,)

    encrypted = client.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.BestAvailableEncryption(b"s3cret"))
    (folder / "enc.key").write_bytes(encrypted)
    text = text.replace("client.key", "enc.key")
    monkeypatch.delenv("DCCSCAN_KEY_PASSWORD", raising=False)
    with pytest.raises(InputError, match="encrypted and no password") as caught:
        load_targets(write(folder, text))
    assert caught.value.line == 5
    monkeypatch.setenv("DCCSCAN_KEY_PASSWORD", "wrong")
    with pytest.raises(InputError, match="password is wrong"):
        load_targets(write(folder, text))
    monkeypatch.setenv("DCCSCAN_KEY_PASSWORD", "s3cret")
    target = load_targets(write(folder, text)).targets[0]
    assert client_identity(target) is not None


def test_client_cert_without_key_and_mismatched_key(folder: Path, pki: LabPKI) -> None:
    base = '[[target]]\nname = "x"\nhost = "127.0.0.1"\nclient_cert = "client.pem"\n'
    with pytest.raises(InputError, match="together"):
        load_targets(write(folder, base))
    (folder / "other.key").write_bytes(pki.issuing.key_pem)
    with pytest.raises(InputError, match="does not match"):
        load_targets(write(folder, base + 'client_key = "other.key"\n'))


def test_example_file_is_valid_given_its_anchor(tmp_path: Path, pki: LabPKI) -> None:
    shutil.copy(ROOT / "targets.example.toml", tmp_path / "targets.toml")
    (tmp_path / "dccki-root.pem").write_bytes(pki.root.pem)
    targets = load_targets(tmp_path / "targets.toml").targets
    assert {t.interface for t in targets} == {"gateway", "self-service", "registration"}
    assert all(t.trust_anchors for t in targets)


@pytest.mark.parametrize(("text", "host", "port"), [
    ("gw.example.net", "gw.example.net", 443), ("gw.example.net:8443", "gw.example.net", 8443),
    ("[::1]:8443", "::1", 8443), ("[::1]", "::1", 443), ("::1", "::1", 443), ("127.0.0.1:1", "127.0.0.1", 1),
])
def test_cli_targets(text: str, host: str, port: int) -> None:
    target = parse_cli_target(text, hostname="gw.example.net")
    assert (target.host, target.port, target.hostname, target.name) == (host, port, "gw.example.net", text)


@pytest.mark.parametrize("text", ["gw:0", "gw:65536", "gw:http", "[::1]:x", "bad host", "a:b:c:"])
def test_bad_cli_targets(text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_cli_target(text)
    assert caught.value.file == "command line" and caught.value.fix


def test_command_line_overrides(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from scanner.targets import apply_overrides
    target = load_targets(write(folder, GOOD)).targets[1]
    monkeypatch.chdir(folder)
    changed = apply_overrides(target, timeout=3, trust_anchors=["root.pem"], client_cert="client.pem",
                              client_key="client.key")
    assert changed.timeout == 3.0 and changed.trust_anchors == ((folder / "root.pem").resolve(),)
    assert changed.client_cert == (folder / "client.pem").resolve()
    assert apply_overrides(target) is target
    with pytest.raises(InputError, match="together"):
        apply_overrides(target, client_cert="client.pem")
    with pytest.raises(InputError, match="cannot be read") as caught:
        apply_overrides(target, trust_anchors=["nope.pem"])
    assert caught.value.file == "command line"

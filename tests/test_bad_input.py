"""Every kind of bad input, through the real command: one message naming the file, the line
(where TOML gives one) and the fix, exit code 2, no traceback and nothing scanned."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from scanner.cli import cli
from scanner.lab.pki import Issued, LabPKI
from scanner.targets import parse_cli_target
from tests.lab_fixtures import client, pki  # noqa: F401 - fixtures

TARGET = '[[target]]\nname = "gw"\nhost = "127.0.0.1"\nport = 8443\n'


@pytest.fixture()
def folder(tmp_path: Path, pki: LabPKI, client: Issued) -> Path:
    (tmp_path / "root.pem").write_bytes(pki.root.pem)
    (tmp_path / "client.pem").write_bytes(client.pem)
    (tmp_path / "client.key").write_bytes(client.key_pem)
    (tmp_path / "notes.pem").write_text("-----BEGIN NOTHING-----\nhello\n-----END NOTHING-----\n")
    (tmp_path / "a-folder.pem").mkdir()  # exists, cannot be read as a file
    (tmp_path / "locked.key").write_bytes(client.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"s3cret")))
    return tmp_path


def scan(folder: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, Path]:
    monkeypatch.delenv("DCCSCAN_KEY_PASSWORD", raising=False)
    path = folder / "targets.toml"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["scan", "--targets", str(path), "--out", str(folder / "out")])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert not (folder / "out").exists()  # nothing scanned, no output folder
    return result.exit_code, result.output, path


@pytest.mark.parametrize(("text", "line", "words"), [
    ("[[target]\nname = 1\n", 1, "not valid TOML"),
    (TARGET + "colour = \"red\"\n", 5, "unknown key 'colour'"),
    (TARGET.replace("port = 8443", "port = \"8443\""), 4, "must be an integer"),
    (TARGET + "tags = \"prod\"\n", 5, "must be a list of strings"),
    (TARGET + "timeout = \"10s\"\n", 5, "must be a number of seconds"),
    (TARGET + TARGET.replace("8443", "8444"), 6, "duplicate target name 'gw'"),
    (TARGET.replace("8443", "0"), 4, "port 0 is out of range"),
    (TARGET.replace("8443", "65536"), 4, "port 65536 is out of range"),
    (TARGET.replace("127.0.0.1", "gw..example"), 3, "not a valid hostname"),
    (TARGET + 'hostname = "gw_example .net"\n', 5, "not a valid hostname"),
    (TARGET + 'trust_anchors = ["missing.pem"]\n', 5, "cannot be read"),
    (TARGET + 'trust_anchors = ["a-folder.pem"]\n', 5, "cannot be read"),
    (TARGET + 'trust_anchors = ["notes.pem"]\n', 5, "holds no PEM certificate"),
    (TARGET + 'client_cert = "missing.pem"\nclient_key = "client.key"\n', 5, "cannot be read"),
    (TARGET + 'client_cert = "client.pem"\nclient_key = "missing.key"\n', 6, "cannot be read"),
    (TARGET + 'client_cert = "notes.pem"\nclient_key = "client.key"\n', 5, "holds no PEM certificate"),
    (TARGET + 'client_cert = "client.pem"\nclient_key = "locked.key"\n', 6, "encrypted and no password"),
    (TARGET + 'client_cert = "client.pem"\nclient_key = "root.pem"\n', 6, "not a PEM private key"),
])
def test_targets_file_mistakes(folder: Path, monkeypatch: pytest.MonkeyPatch, text: str, line: int,
                               words: str) -> None:
    code, output, path = scan(folder, text, monkeypatch)
    assert code == 2, output
    assert output.startswith(f"dccscan: {path}:{line}: ") and words in output, output
    assert "\n  fix: " in output and "Traceback" not in output


def test_a_file_that_is_not_text(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = folder / "targets.toml"
    monkeypatch.delenv("DCCSCAN_KEY_PASSWORD", raising=False)
    path.write_bytes(b"\xff\xfe[[target]]\n")
    result = CliRunner().invoke(cli, ["scan", "--targets", str(path), "--out", str(folder / "out")])
    assert result.exit_code == 2 and f"{path}: the targets file is not UTF-8 text" in result.output
    assert "fix: save it as UTF-8" in result.output


@pytest.mark.parametrize(("argument", "words"), [
    ("gw.example.net:0", "port 0 is out of range"),
    ("gw.example.net:70000", "port 70000 is out of range"),
    ("gw.example.net:https", "bad port 'https'"),
    ("gw.example.net:", "bad port ''"),
    ("[::1]:", "bad port ''"),
    ("[::1", "is not HOST[:PORT]"),
    ("::1]:443", "is not HOST[:PORT]"),
    ("[gw.example.net]:443", "not an IPv6 address"),
    ("gw..example.net", "not a valid hostname"),
])
def test_command_line_target_mistakes(tmp_path: Path, argument: str, words: str) -> None:
    result = CliRunner().invoke(cli, ["scan", argument, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("dccscan: command line: ") and words in result.output, result.output
    assert "\n  fix: " in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("argument", "host", "port", "hostname"), [
    ("[::1]:8443", "::1", 8443, "::1"),
    ("[::1]", "::1", 443, "::1"),
    ("::1", "::1", 443, "::1"),
    ("[0:0::1]:443", "::1", 443, "::1"),
    ("Bücher.Example:8443", "xn--bcher-kva.example", 8443, "xn--bcher-kva.example"),
    ("GW.Example.NET.:443", "gw.example.net", 443, "gw.example.net"),
])
def test_command_line_target_forms(argument: str, host: str, port: int, hostname: str) -> None:
    target = parse_cli_target(argument)
    assert (target.host, target.port, target.hostname) == (host, port, hostname)


def test_idn_hostname_option_becomes_a_label() -> None:
    assert parse_cli_target("127.0.0.1:8443", hostname="bücher.example").hostname == "xn--bcher-kva.example"

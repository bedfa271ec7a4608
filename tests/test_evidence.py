"""Evidence packs: verification, tamper detection naming the file, signatures, reproducibility,
and re-evaluation of the recorded verdicts (when the engine is installed)."""

from __future__ import annotations

import copy
import shutil
import zipfile
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from scanner.cli import cli
from scanner.evidence import build_pack, key_fingerprint, load_public_key, verify_pack
from scanner.lab.pki import issue, name
from scanner.report import write_reports
from tests.reportdata import build_estate, write_results

KEYS: dict[str, Callable[[], Any]] = {
    "ed25519": ed25519.Ed25519PrivateKey.generate,
    "ecdsa": lambda: ec.generate_private_key(ec.SECP256R1()),
    "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
}


@pytest.fixture(scope="module")
def scan_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scan's output folder: results.json (verdicts from the engine when it exists), chains,
    targets.toml and report.html."""
    out = tmp_path_factory.mktemp("scan")
    results = write_results(build_estate(use_engine=True), out)
    write_reports(results, out, ["html"])
    (out / "profile.toml").write_text("name = 'dccki-tls-san'\n")
    return out


def _key_files(directory: Path, kind: str) -> tuple[Path, Path]:
    key = KEYS[kind]()
    private = directory / f"{kind}.key.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public = directory / f"{kind}.pub.pem"
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _rewrite(pack: Path, out: Path, change: Callable[[dict[str, bytes]], None]) -> Path:
    with zipfile.ZipFile(pack) as archive:
        members = {i.filename: archive.read(i) for i in archive.infolist()}
    change(members)
    with zipfile.ZipFile(out, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return out


def _flip(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1:]


def test_pack_holds_the_scans_report_pages_or_a_whole_fresh_set(scan_dir: Path, tmp_path: Path) -> None:
    """The report files the scan wrote, byte for byte; when one is missing, report.html and every
    details page rendered afresh together (never the old report.html with new pages)."""
    with zipfile.ZipFile(build_pack(scan_dir, tmp_path / "pack.zip")) as archive:
        assert archive.read("details/0001.html") == (scan_dir / "details" / "0001.html").read_bytes()
        assert archive.read("report.html") == (scan_dir / "report.html").read_bytes()
    folder = tmp_path / "scan"
    shutil.copytree(scan_dir, folder)
    (folder / "report.html").write_text("<p>an older report</p>")
    (folder / "details" / "0001.html").unlink()
    pack = build_pack(folder, tmp_path / "fresh.zip")
    with zipfile.ZipFile(pack) as archive:
        assert archive.read("report.html") == (scan_dir / "report.html").read_bytes()
        assert archive.read("details/0001.html") == (scan_dir / "details" / "0001.html").read_bytes()
    assert verify_pack(pack).problems == []


def test_pack_layout_and_clean_verification(scan_dir: Path, tmp_path: Path) -> None:
    pack = build_pack(scan_dir, tmp_path / "pack.zip")
    names = zipfile.ZipFile(pack).namelist()
    assert names == sorted(names)
    assert {"manifest.json", "results.json", "report.html", "details/0001.html", "targets.toml", "profile.toml",
            "versions.json"} <= set(names)
    assert [n for n in names if n.startswith("details/")] == ["details/0001.html"]  # one page: 7 endpoints
    assert sum(n.startswith("chains/") and n.endswith(".pem") for n in names) == 6
    assert list(tmp_path.iterdir()) == [pack]  # the temporary file was renamed, nothing left over
    result = _run("verify-evidence", str(pack))
    assert result.exit_code == 5, result.output  # intact, but nothing says who made it
    assert "NOT PROVEN:" in result.output and "the pack is not signed" in result.output
    assert "not proven: who made the pack" in result.output and "OK:" not in result.output


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_same_scan_packs_to_identical_bytes(scan_dir: Path, tmp_path: Path, kind: str) -> None:
    private, _ = _key_files(tmp_path, kind)
    first = build_pack(scan_dir, tmp_path / "a.zip", private).read_bytes()
    second = build_pack(scan_dir, tmp_path / "b.zip", private).read_bytes()
    assert first == second
    assert build_pack(scan_dir, tmp_path / "c.zip").read_bytes() == build_pack(scan_dir, tmp_path / "d.zip").read_bytes()


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_signature_with_right_and_wrong_key(scan_dir: Path, tmp_path: Path, kind: str) -> None:
    private, public = _key_files(tmp_path, kind)
    (tmp_path / "other").mkdir()
    _, other = _key_files(tmp_path / "other", kind)
    pack = tmp_path / "signed.zip"
    assert _run("evidence", str(scan_dir), str(pack), "--sign-key", str(private)).exit_code == 0
    fingerprint = key_fingerprint(load_public_key(public))
    embedded = _run("verify-evidence", str(pack))
    assert embedded.exit_code == 5, embedded.output
    assert f"signed by the key embedded in the pack ({fingerprint})" in embedded.output
    assert "re-sign it with a key of their own" in embedded.output
    right = _run("verify-evidence", str(pack), "--public-key", str(public))
    assert right.exit_code == 0 and f"signed by the key you pinned ({fingerprint})" in right.output
    pinned = _run("verify-evidence", str(pack), "--signer-fingerprint", fingerprint.upper().replace("SHA256:", ""))
    assert pinned.exit_code == 0, pinned.output
    other_print = key_fingerprint(load_public_key(other))
    wrong_print = _run("verify-evidence", str(pack), "--signer-fingerprint", other_print)
    assert wrong_print.exit_code == 1 and f"made with key {fingerprint}, not the pinned {other_print}" in wrong_print.output
    wrong = _run("verify-evidence", str(pack), "--public-key", str(other))
    assert wrong.exit_code == 1 and "manifest.sig" in wrong.output


def test_signer_certificate_is_embedded_and_accepted_as_public_key(scan_dir: Path, tmp_path: Path) -> None:
    signer = issue(subject=name("Evidence signer"), key="ec-p256", ca=False)
    key_file = tmp_path / "signer-with-cert.pem"
    key_file.write_bytes(signer.key_pem + signer.pem)
    cert_file = tmp_path / "signer.crt"
    cert_file.write_bytes(signer.pem)
    pack = build_pack(scan_dir, tmp_path / "pack.zip", key_file)
    assert zipfile.ZipFile(pack).read("signer.pem") == signer.pem
    assert verify_pack(pack, cert_file).proven


def _signed_pack(scan_dir: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    private, _ = _key_files(tmp_path, "ed25519")
    pack = build_pack(scan_dir, tmp_path / "signed.zip", private)
    return pack, zipfile.ZipFile(pack).namelist()


def test_one_changed_byte_in_any_file_is_named(scan_dir: Path, tmp_path: Path) -> None:
    pack, names = _signed_pack(scan_dir, tmp_path)
    for member in names:
        def change(members: dict[str, bytes], member: str = member) -> None:
            members[member] = _flip(members[member])

        result = verify_pack(_rewrite(pack, tmp_path / "t.zip", change))
        assert not result.ok and any(member in p for p in result.problems), (member, result.problems)


@pytest.mark.parametrize("member", ["results.json", "report.html", "manifest.sig", "signer.pem",
                                    "chains/ssi-portal@127.0.0.1_8444.pem"])
def test_removed_file_is_named(scan_dir: Path, tmp_path: Path, member: str) -> None:
    pack, _ = _signed_pack(scan_dir, tmp_path)
    tampered = _rewrite(pack, tmp_path / "t.zip", lambda m: m.pop(member))
    result = _run("verify-evidence", str(tampered))
    assert result.exit_code == 1 and f"FAILED: {member}" in result.output


def test_added_file_is_named(scan_dir: Path, tmp_path: Path) -> None:
    pack, _ = _signed_pack(scan_dir, tmp_path)
    tampered = _rewrite(pack, tmp_path / "t.zip", lambda m: m.update({"chains/extra.pem": b"x"}))
    result = _run("verify-evidence", str(tampered))
    assert result.exit_code == 1 and "chains/extra.pem: in the pack but not listed" in result.output


def test_bad_input_exits_2_with_a_fix(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _run("evidence", str(empty), str(tmp_path / "p.zip"))
    assert result.exit_code == 2 and "results.json" in result.output and "fix:" in result.output
    assert not (tmp_path / "p.zip").exists()
    missing = _run("verify-evidence", str(tmp_path / "nope.zip"))
    assert missing.exit_code == 2 and "fix:" in missing.output
    (tmp_path / "junk.pem").write_text("not a key")
    (tmp_path / "results.json").write_text("{}")
    bad_key = _run("evidence", str(tmp_path), str(tmp_path / "p.zip"), "--sign-key", str(tmp_path / "junk.pem"))
    assert bad_key.exit_code == 2 and "junk.pem" in bad_key.output and "Traceback" not in bad_key.output


def test_unreadable_public_key_exits_2(scan_dir: Path, tmp_path: Path) -> None:
    private, _ = _key_files(tmp_path, "ed25519")
    pack = build_pack(scan_dir, tmp_path / "pack.zip", private)
    (tmp_path / "junk.pub").write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    result = _run("verify-evidence", str(pack), "--public-key", str(tmp_path / "junk.pub"))
    assert result.exit_code == 2 and "junk.pub" in result.output and "fix:" in result.output


def test_not_a_zip_fails_verification(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK not really")
    result = _run("verify-evidence", str(junk))
    assert result.exit_code == 1 and "junk.zip" in result.output


def test_recorded_verdict_that_does_not_reproduce_is_named(tmp_path: Path) -> None:
    document = build_estate(use_engine=True)
    forged = copy.deepcopy(document)
    target = next(ep for ep in forged["endpoints"] if ep["target"]["name"] == "ssi-portal")
    target["browsers"]["chrome"] = {"accepted": True, "error": None, "reasons": []}
    write_results(forged, tmp_path / "scan")
    pack = build_pack(tmp_path / "scan", tmp_path / "pack.zip")
    result = _run("verify-evidence", str(pack))
    assert result.exit_code == 1 and "ssi-portal@127.0.0.1:8444: browsers does not reproduce" in result.output


def test_report_is_rendered_when_the_folder_has_none(scan_dir: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "results.json").write_bytes((scan_dir / "results.json").read_bytes())
    pack = build_pack(bare, tmp_path / "pack.zip")
    with zipfile.ZipFile(pack) as archive:
        assert b"dccscan report" in archive.read("report.html")
        assert len([n for n in archive.namelist() if n.startswith("chains/")]) == 6  # from results.json
    assert verify_pack(pack).ok


def test_failed_packing_leaves_an_existing_pack_untouched(scan_dir: Path, tmp_path: Path) -> None:
    pack = build_pack(scan_dir, tmp_path / "pack.zip")
    before = pack.read_bytes()
    (tmp_path / "bad.pem").write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    result = _run("evidence", str(scan_dir), str(pack), "--sign-key", str(tmp_path / "bad.pem"))
    assert result.exit_code == 2 and pack.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pem", "pack.zip"]

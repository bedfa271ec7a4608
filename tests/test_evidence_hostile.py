"""Issue 15 items 2 and 3: forged, bombed and malformed evidence packs.

A pack is hostile input: these tests forge one with an attacker's key, edit an unsigned one and
rewrite its manifest, bomb the verifier with a real 2 GB entry under a real 1 GB memory limit (a
child process with RLIMIT_AS), and feed it manifests of the wrong shape or 100,000 levels deep.
Each must end with the documented exit code and a message, never a traceback or exit 0.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from scanner import evidence
from scanner.cli import cli
from scanner.evidence import (MANIFEST, SIGNATURE, SIGNER, build_pack, canonical_json, key_fingerprint, sign,
                              verify_pack)
from scanner.certinfo import sha256_hex
from scanner.report import write_reports
from tests.reportdata import build_estate, write_results

HANG = 300.0
MEMORY_LIMIT = 1 << 30  # the 1 GB


@pytest.fixture(scope="module")
def scan_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scan")
    write_reports(write_results(build_estate(use_engine=True), out), out, ["html"])
    return out


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _key(directory: Path, stem: str) -> tuple[ed25519.Ed25519PrivateKey, Path, Path]:
    key = ed25519.Ed25519PrivateKey.generate()
    private, public = directory / f"{stem}.key", directory / f"{stem}.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return key, private, public


def _members(pack: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(pack) as archive:
        return {i.filename: archive.read(i) for i in archive.infolist()}


def _zip(members: dict[str, bytes], out: Path) -> Path:
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out


def _forge(pack: Path, out: Path, edit: Callable[[dict[str, bytes]], None],
           key: ed25519.Ed25519PrivateKey | None) -> Path:
    """What a forger does: edit files, recompute every hash, re-sign with their own key (or none)."""
    members = _members(pack)
    members.pop(SIGNATURE, None)
    members.pop(MANIFEST)
    members.pop(SIGNER, None)
    edit(members)
    if key is not None:
        members[SIGNER] = key.public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    manifest = {"format": evidence.FORMAT, "algorithm": "sha256",
                "files": {n: {"sha256": sha256_hex(b), "size": len(b)} for n, b in sorted(members.items())},
                "signature": {"algorithm": "ed25519", "signer": SIGNER} if key else None}
    members[MANIFEST] = canonical_json(manifest)
    if key is not None:
        members[SIGNATURE] = sign(key, members[MANIFEST])
    return _zip(members, out)


def _edit_results(members: dict[str, bytes]) -> None:
    members["report.html"] = members["report.html"].replace(b"dccscan report", b"all endpoints passed")


def test_pack_re_signed_with_another_key_never_exits_0(scan_dir: Path, tmp_path: Path) -> None:
    _, private, public = _key(tmp_path, "scanner")
    attacker, _, _ = _key(tmp_path, "attacker")
    pack = build_pack(scan_dir, tmp_path / "pack.zip", private)
    forged = _forge(pack, tmp_path / "forged.zip", _edit_results, attacker)
    unpinned = _run("verify-evidence", str(forged))
    assert unpinned.exit_code == 5, unpinned.output  # intact as a file set, but signer unknown
    assert key_fingerprint(attacker) in unpinned.output and "not proven: who made the pack" in unpinned.output
    pinned = _run("verify-evidence", str(forged), "--public-key", str(public))
    assert pinned.exit_code == 1 and "FAILED: manifest.sig: does not verify" in pinned.output
    by_print = _run("verify-evidence", str(forged), "--signer-fingerprint", key_fingerprint(_load(public)))
    assert by_print.exit_code == 1 and "not the pinned" in by_print.output
    assert _run("verify-evidence", str(pack), "--public-key", str(public)).exit_code == 0


def _load(public: Path) -> ed25519.Ed25519PublicKey:
    key = serialization.load_pem_public_key(public.read_bytes())
    assert isinstance(key, ed25519.Ed25519PublicKey)
    return key


def test_edited_unsigned_pack_never_exits_0(scan_dir: Path, tmp_path: Path) -> None:
    _, _, public = _key(tmp_path, "scanner")
    pack = build_pack(scan_dir, tmp_path / "pack.zip")
    edited = _zip({**_members(pack), "report.html": b"<p>all endpoints passed</p>"}, tmp_path / "edited.zip")
    assert _run("verify-evidence", str(edited)).exit_code == 1  # hashes no longer match
    rewritten = _forge(pack, tmp_path / "rewritten.zip", _edit_results, None)
    unpinned = _run("verify-evidence", str(rewritten))
    assert unpinned.exit_code == 5 and "the pack is not signed" in unpinned.output
    assert "rewrite its manifest" in unpinned.output
    pinned = _run("verify-evidence", str(rewritten), "--public-key", str(public))
    assert pinned.exit_code == 1 and "not signed" in pinned.output


def test_bad_fingerprint_option_is_bad_input(scan_dir: Path, tmp_path: Path) -> None:
    pack = build_pack(scan_dir, tmp_path / "pack.zip")
    result = _run("verify-evidence", str(pack), "--signer-fingerprint", "SHA256:abc")
    assert result.exit_code == 2 and "fix:" in result.output


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real zip bomb: a few MB on disk, one results.json entry of 2 GB of zeros."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr(MANIFEST, b"{}")
        with archive.open("results.json", "w", force_zip64=True) as entry:
            chunk = bytes(16 << 20)
            for _ in range(128):
                entry.write(chunk)
    assert path.stat().st_size < 16 << 20
    return path


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_AS"), reason="needs RLIMIT_AS to cap the child's memory")
def test_zip_bomb_is_refused_before_reading_under_a_memory_limit(bomb: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "scanner", "verify-evidence", str(bomb)], capture_output=True,
                          text=True, timeout=HANG, preexec_fn=_limit_memory,
                          env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    assert done.returncode == 1, done.stderr
    assert "results.json: declares 2147483648 bytes uncompressed" in done.stderr
    assert "refused before reading" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout and "MemoryError" not in done.stderr


def test_too_many_entries_are_refused_before_reading(scan_dir: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    pack = build_pack(scan_dir, tmp_path / "pack.zip")
    monkeypatch.setattr(evidence, "MAX_ENTRIES", 5)
    result = verify_pack(pack)
    assert not result.ok and "entries, more than the 5 a pack may hold" in result.problems[0]


def test_streamed_entries_bound_memory_not_correctness(scan_dir: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Entries are read in chunks: a chunk far smaller than every file changes nothing."""
    _, private, public = _key(tmp_path, "scanner")
    pack = build_pack(scan_dir, tmp_path / "pack.zip", private)
    monkeypatch.setattr(evidence, "CHUNK", 7)
    assert verify_pack(pack, public).proven


def _with_manifest(pack: Path, out: Path, manifest: bytes) -> Path:
    return _zip({**_members(pack), MANIFEST: manifest}, out)


@pytest.mark.parametrize("manifest, message", [
    (b'"a string where an object belongs"', "is a JSON str, not an object"),
    (b'{"format": "dccscan-evidence/1", "algorithm": "sha256", "files": "x", "signature": null}',
     "files is not an object"),
    (b'{"format": "dccscan-evidence/1", "algorithm": "sha256", "files": {"results.json": "x"}, "signature": null}',
     "files['results.json'] is not"),
    (b'{"format": "dccscan-evidence/1", "algorithm": "sha256", "files": {}, "signature": "yes"}',
     "signature is not null"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"files": ' * 100_000 + b"{}" + b"}" * 100_000, "nested too deeply"),
], ids=["string", "files-string", "entry-string", "signature-string", "deep-list", "deep-object"])
def test_malformed_manifest_is_a_clean_failure(scan_dir: Path, tmp_path: Path, manifest: bytes, message: str) -> None:
    pack = _with_manifest(build_pack(scan_dir, tmp_path / "pack.zip"), tmp_path / "bad.zip", manifest)
    result = _run("verify-evidence", str(pack))
    assert result.exit_code == 1 and message in result.output, result.output
    assert "Traceback" not in result.output


def test_deeply_nested_results_is_a_clean_failure(scan_dir: Path, tmp_path: Path) -> None:
    pack = build_pack(scan_dir, tmp_path / "pack.zip")
    deep = b'{"schema": "dccscan/1", "settings": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"
    forged = _forge(pack, tmp_path / "deep.zip", lambda m: m.update({"results.json": deep}), None)
    result = _run("verify-evidence", str(forged))
    assert result.exit_code == 1 and "results.json:" in result.output, result.output
    assert "Traceback" not in result.output and "RecursionError" not in result.output


def test_entry_names_never_become_paths(scan_dir: Path, tmp_path: Path) -> None:
    pack = build_pack(scan_dir, tmp_path / "pack.zip")
    hostile = _zip({**_members(pack), "../../escaped.txt": b"x", "/abs.txt": b"y"}, tmp_path / "hostile.zip")
    result = verify_pack(hostile)
    assert not result.ok and any("../../escaped.txt: in the pack but not listed" in p for p in result.problems)
    assert not (tmp_path.parent / "escaped.txt").exists() and not Path("/abs.txt").exists()


def test_manifest_json_is_canonical(scan_dir: Path, tmp_path: Path) -> None:
    manifest = json.loads(_members(build_pack(scan_dir, tmp_path / "pack.zip"))[MANIFEST])
    assert evidence.manifest_problems(manifest) == []


def _copy_scan(scan_dir: Path, out: Path) -> Path:
    out.mkdir()
    for path in scan_dir.rglob("*"):
        if path.is_file():
            (out / path.relative_to(scan_dir)).parent.mkdir(parents=True, exist_ok=True)
            (out / path.relative_to(scan_dir)).write_bytes(path.read_bytes())
    return out


def test_pack_refuses_a_linked_chain_file(scan_dir: Path, tmp_path: Path) -> None:
    scan = _copy_scan(scan_dir, tmp_path / "scan")
    secret = tmp_path / "secret.key"
    secret.write_text("-----BEGIN PRIVATE KEY-----\nsecret\n")
    chain = sorted((scan / "chains").iterdir())[0]
    chain.unlink()
    chain.symlink_to(secret)
    result = _run("evidence", str(scan), str(tmp_path / "p.zip"))
    assert result.exit_code == 2 and "symbolic link" in result.output and chain.name in result.output
    assert not (tmp_path / "p.zip").exists()


@pytest.mark.parametrize("member", ["results.json", "report.html"])
def test_pack_refuses_linked_scan_files(scan_dir: Path, tmp_path: Path, member: str) -> None:
    scan = _copy_scan(scan_dir, tmp_path / "scan")
    (tmp_path / "elsewhere").write_bytes((scan / member).read_bytes())
    (scan / member).unlink()
    (scan / member).symlink_to(tmp_path / "elsewhere")
    result = _run("evidence", str(scan), str(tmp_path / "p.zip"))
    assert result.exit_code == 2 and "symbolic link" in result.output


def test_pack_refuses_a_fifo_without_hanging(scan_dir: Path, tmp_path: Path) -> None:
    scan = _copy_scan(scan_dir, tmp_path / "scan")
    (scan / "targets.toml").unlink(missing_ok=True)
    os.mkfifo(scan / "targets.toml")  # nobody ever writes to it: reading it would block forever
    done = subprocess.run([sys.executable, "-m", "scanner", "evidence", str(scan), str(tmp_path / "p.zip")],
                          capture_output=True, text=True, timeout=HANG)
    assert done.returncode == 2 and "FIFO" in done.stderr and "Traceback" not in done.stderr


def test_extra_chain_files_are_flagged_and_left_out(scan_dir: Path, tmp_path: Path) -> None:
    scan = _copy_scan(scan_dir, tmp_path / "scan")
    (tmp_path / "secret.key").write_text("secret")
    (scan / "chains" / "stray.pem").write_text("not an endpoint's")
    (scan / "chains" / "linked.pem").symlink_to(tmp_path / "secret.key")
    result = CliRunner().invoke(cli, ["evidence", str(scan), str(tmp_path / "p.zip")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "warning: chains/stray.pem: belongs to no endpoint in results.json; not packed" in result.output
    assert "warning: chains/linked.pem: belongs to no endpoint" in result.output
    names = zipfile.ZipFile(tmp_path / "p.zip").namelist()
    assert "chains/stray.pem" not in names and "chains/linked.pem" not in names
    assert b"secret" not in (tmp_path / "p.zip").read_bytes()
    assert verify_pack(tmp_path / "p.zip").ok


@pytest.mark.parametrize("content", [b"[" * 100_000 + b"]" * 100_000, b'{"schema": "dccscan/1", "endpoints": "x"}\n',
                                     b"not json"], ids=["deep", "wrong-shape", "not-json"])
def test_packing_a_hostile_results_json_is_bad_input(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "scan").mkdir()
    (tmp_path / "scan" / "results.json").write_bytes(content)
    result = _run("evidence", str(tmp_path / "scan"), str(tmp_path / "p.zip"))
    assert result.exit_code == 2 and "results.json" in result.output and "fix:" in result.output
    assert not (tmp_path / "p.zip").exists()


def test_a_recorded_chain_file_outside_chains_is_refused(tmp_path: Path) -> None:
    document = build_estate(use_engine=True)
    target = next(ep for ep in document["endpoints"] if ep.get("chain"))
    target["chain_file"] = "chains/../../secret.pem"  # results.json is input too
    scan = tmp_path / "scan"
    write_results(document, scan)
    (tmp_path / "secret.pem").write_text("secret")
    result = _run("evidence", str(scan), str(tmp_path / "p.zip"))
    assert result.exit_code == 2 and "is not a file in chains/" in result.output
    assert not (tmp_path / "p.zip").exists()

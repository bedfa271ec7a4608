"""The public root store and public-suffix list a scan judged with are named and hashed in
results.json; merge refuses shards judged with different ones; evidence verification says so
when its own differ (issue 12, pinned inputs)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from scanner.evaluate.inputs import pinned_inputs, pinned_inputs_record
from scanner.lab.pki import LabPKI
from scanner.lab.servers import LabEstate, ServerSpec
from scanner.results import read_header

ROOT = Path(__file__).resolve().parent.parent


def _dccscan(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scanner", *args], capture_output=True, text=True,
                          timeout=180, cwd=cwd)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("pinned")
    pki = LabPKI.create()
    leaf = pki.leaf("gw.dcc-user.example", dns=["gw.dcc-user.example"])
    (base / "root.pem").write_bytes(pki.root.pem)
    with LabEstate([ServerSpec(chain_pem=leaf.chain_pem(), key_pem=leaf.key_pem)]) as ports:
        (base / "targets.toml").write_text(
            f'[defaults]\ntrust_anchors = ["{base / "root.pem"}"]\n[[target]]\nname = "gw"\ninterface = "gateway"\n'
            f'host = "127.0.0.1"\nport = {ports[0]}\nhostname = "gw.dcc-user.example"\nhttp_check = false\n')
        done = _dccscan("scan", "--targets", str(base / "targets.toml"), "--out", str(base / "out"),
                        "--evidence", str(base / "pack.zip"), cwd=base)
    assert done.returncode in (0, 1), done.stderr
    return base


def test_results_name_and_hash_the_inputs(scanned: Path) -> None:
    recorded = read_header(scanned / "out/results.json")["inputs"]
    assert recorded == pinned_inputs_record()
    for key in ("public_roots", "public_suffix_list"):
        assert len(recorded[key]["sha256"]) == 64 and recorded[key]["source"] and recorded[key]["version"]


def test_other_inputs_give_another_record() -> None:
    other = pinned_inputs_record(pinned_inputs(b"", b"// empty list\n"))
    assert other["public_roots"]["sha256"] != pinned_inputs_record()["public_roots"]["sha256"]


def _with_inputs(folder: Path, inputs: dict) -> None:
    path = folder / "results.json"
    lines = path.read_text().splitlines(keepends=True)
    lines = [f'"inputs": {json.dumps(inputs)},\n' if line.startswith('"inputs": ') else line for line in lines]
    path.write_text("".join(lines))


def test_merge_refuses_shards_judged_with_other_inputs(scanned: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(scanned / "out", a)
    shutil.copytree(scanned / "out", b)
    _with_inputs(b, pinned_inputs_record(pinned_inputs(b"", b"")))
    done = _dccscan("merge", str(tmp_path / "merged"), str(a), str(b), cwd=tmp_path)
    assert done.returncode == 2 and "public root store" in done.stderr, done.stderr


def test_verification_says_when_its_inputs_differ(scanned: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(scanned / "out", out)
    recorded = pinned_inputs_record(pinned_inputs(b"other roots", b"// other list\n"))
    _with_inputs(out, recorded)
    pack = tmp_path / "pack.zip"
    done = _dccscan("evidence", str(out), str(pack), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(pack) as z:
        assert json.loads(z.read("results.json").decode().split('"inputs": ', 1)[1].split(",\n", 1)[0]) == recorded
        assert json.loads(z.read("versions.json"))["inputs"] == recorded
    done = _dccscan("verify-evidence", str(pack), cwd=tmp_path)
    said = done.stdout + done.stderr
    assert "public root store differs from the scan's" in said and "public-suffix list differs" in said, said
    same = _dccscan("verify-evidence", str(scanned / "pack.zip"), cwd=tmp_path)
    assert "differs from the scan's" not in same.stdout + same.stderr

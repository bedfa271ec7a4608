"""``dccscan check`` and ``dccscan checks`` run as a user runs them: a real subprocess, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from scanner.lab.pki import LabPKI

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "scanner" / "schema" / "results.schema.json").read_text())
HOST = "gw.dcc.test"


def dccscan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scanner", *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pki = LabPKI.create()
    d = tmp_path_factory.mktemp("pem")
    out = {"root": d / "root.pem", "good": d / "good.pem", "cn_only": d / "cn.pem", "profile": d / "p.toml"}
    out["root"].write_bytes(pki.root.pem)
    out["good"].write_bytes(pki.leaf(HOST, dns=[HOST]).chain_pem())
    out["cn_only"].write_bytes(pki.leaf(HOST).chain_pem())
    out["profile"].write_text('[profile]\nname = "mine"\nexpiry_warning_days = [400]\n')
    return out


def test_good_chain_exits_0_with_both_verdicts(files: dict[str, Path]) -> None:
    run = dccscan("check", str(files["good"]), "--hostname", HOST, "--trust-anchor", str(files["root"]))
    assert run.returncode == 0, run.stderr
    assert "Chrome   accepts" in run.stdout and "Firefox  accepts" in run.stdout
    assert "dccki-tls-san: compliant" in run.stdout


def test_cn_only_chain_exits_1_and_explains(files: dict[str, Path]) -> None:
    run = dccscan("check", str(files["cn_only"]), "--hostname", HOST, "--trust-anchor", str(files["root"]))
    assert run.returncode == 1
    assert "ERR_CERT_COMMON_NAME_INVALID" in run.stdout and "SSL_ERROR_BAD_CERT_DOMAIN" in run.stdout
    assert "dccki.san.missing" in run.stdout and "SECMP0052" in run.stdout


@pytest.mark.parametrize("given", ["GW.DCC.TEST.", "gw.dcc.test."])
def test_hostname_is_read_as_a_scan_reads_it(files: dict[str, Path], given: str) -> None:
    """Upper case and a trailing dot name the same host: the verdict is the scan's, not a
    mismatch, and the report shows the normalised name."""
    run = dccscan("check", str(files["good"]), "--hostname", given, "--trust-anchor", str(files["root"]),
                  "--format", "json")
    assert run.returncode == 0, run.stdout + run.stderr
    doc = json.loads(run.stdout)
    assert doc["hostname"] == HOST
    assert doc["browsers"]["chrome"]["accepted"] and doc["browsers"]["firefox"]["accepted"]


def test_bad_hostname_exits_2_naming_the_option(files: dict[str, Path]) -> None:
    run = dccscan("check", str(files["good"]), "--hostname", "bad_name!.example", "--trust-anchor", str(files["root"]))
    assert run.returncode == 2 and "--hostname" in run.stderr and "Traceback" not in run.stderr


def test_json_output_matches_the_results_schema(files: dict[str, Path]) -> None:
    run = dccscan("check", str(files["cn_only"]), "--hostname", HOST, "--trust-anchor", str(files["root"]),
                  "--format", "json", "--at", "2026-12-01T00:00:00Z")
    doc = json.loads(run.stdout)
    defs = SCHEMA["$defs"]
    endpoint = defs["endpoint"]["properties"]
    for key in ("browsers", "profile", "findings"):
        jsonschema.validate(doc[key], {**endpoint[key], "$defs": defs})
    assert doc["at"] == "2026-12-01T00:00:00Z" and doc["exit_code"] == 1


def test_profile_and_fail_on_change_the_outcome(files: dict[str, Path]) -> None:
    run = dccscan("check", str(files["good"]), "--hostname", HOST, "--trust-anchor", str(files["root"]),
                  "--profile", str(files["profile"]), "--fail-on", "notice")
    assert run.returncode == 1 and "expiry.within_60_days" in run.stdout and "mine:" in run.stdout
    never = dccscan("check", str(files["cn_only"]), "--hostname", HOST, "--trust-anchor", str(files["root"]),
                    "--fail-on", "never")
    assert never.returncode == 0


def test_public_store_when_no_anchor(files: dict[str, Path]) -> None:
    run = dccscan("check", str(files["good"]), "--hostname", HOST)
    assert run.returncode == 1 and "ERR_CERT_AUTHORITY_INVALID" in run.stdout


@pytest.mark.parametrize("content,args,words", [
    ("not a pem", (), "BEGIN CERTIFICATE"),
    ("x\n-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", (), ":2:"),
    (None, ("--at", "tomorrow"), "--at"),
    (None, ("--profile", "/nonexistent/p.toml"), "p.toml"),
])
def test_bad_input_exits_2_without_traceback(files: dict[str, Path], tmp_path: Path, content: str | None,
                                             args: tuple[str, ...], words: str) -> None:
    chain = files["good"]
    if content is not None:
        chain = tmp_path / "bad.pem"
        chain.write_text(content)
    run = dccscan("check", str(chain), "--hostname", HOST, *args)
    assert run.returncode == 2
    assert words in run.stderr and "fix:" in run.stderr
    assert "Traceback" not in run.stderr


def test_checks_catalogue_formats() -> None:
    table = dccscan("checks")
    assert table.returncode == 0 and "dccki.san.missing" in table.stdout and "SEVERITY" in table.stdout
    entries = json.loads(dccscan("checks", "--format", "json").stdout)
    assert {"id", "title", "severity", "source", "citation", "effective_date", "advice", "applies_to"} <= set(entries[0])
    assert len(entries) >= 50
    markdown = dccscan("checks", "--format", "markdown").stdout
    assert markdown.count("| `") == len(entries)

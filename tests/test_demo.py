"""``dccscan demo`` starts its estate, scans it and writes reports/demo/ in the current folder."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from scanner.results import load
from scanner.cli import cli
from scanner.lab.demo import DemoPKI, estate

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "scanner/schema/results.schema.json").read_text())


def test_demo_writes_reports_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["demo", "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = tmp_path / "reports" / "demo"
    jsonschema.validate(json.loads((out / "results.json").read_text()), SCHEMA)
    document = load(out / "results.json")  # chains as full certificate records
    by_name = {e["target"]["name"]: e for e in document["endpoints"]}
    assert set(by_name) == {e.name for e in estate(DemoPKI.create())}
    assert {e["target"]["interface"] for e in document["endpoints"]} == {"gateway", "self-service", "registration"}
    assert by_name["registration-closed"]["error"]["kind"] == "refused"
    mtls = by_name["gateway-mutual-tls"]
    assert mtls["status"] == "ok" and mtls["tls"]["client_auth"] == "required" and len(mtls["chain"]) == 2
    assert len(by_name["self-service-node2"]["chain"]) == 1  # missing intermediate
    assert by_name["self-service-portal"]["chain"][0]["san"] == []  # CN only
    assert by_name["registration-legacy"]["chain"][0]["not_before"].startswith("2018-06-01")
    assert by_name["gateway-wildcard"]["chain"][0]["san"] == [{"type": "dns", "value": "*.dcc-user.example"}]
    assert by_name["gateway-dr"]["chain"][0]["not_after"] < document["started_at"]  # expired
    self_signed = by_name["registration-test"]["chain"]
    assert len(self_signed) == 1 and self_signed[0]["subject"] == self_signed[0]["issuer"]
    assert len(document["settings"]["trust_anchors"]) == 1
    assert (out / "targets.toml").exists() and len(list((out / "chains").glob("*.pem"))) == 8
    assert "report:" in result.output
    inputs = out / "estate"
    assert Path(document["targets_file"]["path"]).resolve() == (inputs / "targets.toml").resolve()
    assert (inputs / "targets.toml").is_file() and (inputs / "dccki-demo-root.pem").is_file()
    assert f"dccscan scan --targets {Path('reports/demo/estate/targets.toml')}" in result.output


def test_demo_serve_keeps_the_estate_for_the_printed_command(tmp_path: Path) -> None:
    """--serve: the printed re-scan command reaches the same running estate, until Ctrl-C."""
    proc = subprocess.Popen([sys.executable, "-m", "scanner", "demo", "--serve", "--format", "json", "--out",
                             str(tmp_path / "demo")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    hang_guard = threading.Timer(120, proc.kill)  # a demo that never prints the command ends the read
    hang_guard.start()
    try:
        assert proc.stdout is not None
        command = ""
        for line in proc.stdout:
            if line.startswith("  dccscan scan "):
                command = line.strip()
                break
        hang_guard.cancel()
        assert command, proc.stderr.read() if proc.stderr else ""
        args = shlex.split(command)[1:]
        rescan = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert rescan.exit_code == 1, rescan.output  # findings, as in the demo itself
        document = json.loads((tmp_path / "demo" / "rescan" / "results.json").read_text())
        assert sum(e["status"] == "ok" for e in document["endpoints"]) == 8
    finally:
        hang_guard.cancel()
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()  # never leave a server behind, even when this test fails
            proc.wait()
            raise
    assert code == 0

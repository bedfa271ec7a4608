"""``dccscan scan`` as a real process against the hostile lab: no traceback, every endpoint
classified, and a run stopped by SIGINT or SIGTERM keeps what it gathered and says what not."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import jsonschema
import pytest

from scanner.certinfo import der_to_pem
from scanner.lab.hostile import HOSTNAME, HostileCertificates, HostileEstate
from scanner.lab.pki import LabPKI
from scanner.probe.tls import ClientIdentity
from scanner.results import iter_endpoints
from tests.hostile_fixtures import hostile_certs, pki, stranger  # noqa: F401 - fixtures
from tests.test_hostile import EXPECTED, SCHEMA, mismatches

HANG = 120  # seconds: hang detection only


@pytest.fixture(scope="module")
def estate(pki: LabPKI, hostile_certs: HostileCertificates) -> Iterator[dict[str, int]]:
    with HostileEstate(pki, hostile_certs) as ports:
        yield ports


def targets_file(folder: Path, ports: dict[str, int], labels: list[str], identity: ClientIdentity,
                 timeout: float) -> Path:
    (folder / "stranger.pem").write_text(der_to_pem(identity.chain[0]))
    (folder / "stranger.key").write_bytes(identity.key_pem)
    lines = ["[defaults]", f"timeout = {timeout}", ""]
    for label in labels:
        lines += ["[[target]]", f'name = "{label}"', 'host = "127.0.0.1"', f"port = {ports[label]}",
                  f'hostname = "{HOSTNAME}"']
        if label == "client-cert-rejected":
            lines += ['client_cert = "stranger.pem"', 'client_key = "stranger.key"']
        lines.append("")
    path = folder / "targets.toml"
    path.write_text("\n".join(lines))
    return path


def scan_command(targets: Path, out: Path, formats: str = "json,html,junit,csv") -> list[str]:
    return [sys.executable, "-m", "scanner", "scan", "--targets", str(targets), "--out", str(out),
            "--format", formats, "--fail-on", "never", "--concurrency", "50"]


def test_hostile_estate_from_the_command_line(estate: dict[str, int], tmp_path: Path,
                                              stranger: ClientIdentity) -> None:
    targets = targets_file(tmp_path, estate, sorted(EXPECTED), stranger, timeout=3)
    done = subprocess.run(scan_command(targets, tmp_path / "out"), capture_output=True, text=True,
                          timeout=HANG, cwd=tmp_path)
    assert done.returncode == 3, done.stderr  # some endpoints could not be scanned
    assert "Traceback" not in done.stderr + done.stdout
    document = json.loads((tmp_path / "out/results.json").read_text())
    jsonschema.validate(document, SCHEMA)
    records = {e["target"]["name"]: e for e in document["endpoints"]}
    assert len(document["endpoints"]) == len(EXPECTED) and mismatches(records) == {}
    report = (tmp_path / "out/report.html").read_text()
    for kind in {k for k, *_ in EXPECTED.values()} - {"ok"}:
        assert kind in report
    assert not list((tmp_path / "out").glob(".*"))  # no temp file left behind


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_scan_writes_what_it_has_and_the_report_says_so(
        estate: dict[str, int], tmp_path: Path, stranger: ClientIdentity, sig: int) -> None:
    stalling = ["silent", "slowloris", "stall-after-server-hello"]
    targets = targets_file(tmp_path, estate, ["backend", *stalling], stranger, timeout=HANG)
    out = tmp_path / "out"
    process = subprocess.Popen(scan_command(targets, out, "json,html"), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    deadline = time.monotonic() + HANG
    while not list(out.glob("chains/*.pem")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)  # wait until the good endpoint is in, the stalling ones are not
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=HANG)
    assert process.returncode == 3 and "Traceback" not in stderr, stderr
    document = json.loads((out / "results.json").read_text())
    jsonschema.validate(document, SCHEMA)
    assert document["complete"] is False
    assert sorted(t["name"] for t in document["not_reached"]) == sorted(stalling)
    assert [e["target"]["name"] for e in iter_endpoints(out / "results.json")] == ["backend"]
    report = (out / "report.html").read_text()
    assert "Incomplete run" in report and all(f">{name}<" in report or name in report for name in stalling)
    assert not list(out.glob(".*"))

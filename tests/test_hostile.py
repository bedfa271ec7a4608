"""The hostile lab scanned for real: every behaviour ends, within its deadline, as one classified
endpoint with a message a person can act on, and the rest of the scan is unaffected."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import trio

from scanner.certinfo import der_to_pem
from scanner.evidence import build_pack, verify_pack
from scanner.lab.hostile import BEHAVIOURS, HOSTNAME, UNPARSEABLE_DER, HostileCertificates
from scanner.lab.pki import LabPKI
from scanner.probe import errors
from scanner.probe.runner import Outcome, scan_targets
from scanner.probe.tls import MAX_CHAIN_CERTS, ClientIdentity, probe
from scanner.assess import endpoint_record
from scanner.results import ResultsWriter
from scanner.targets import Target, parse_cli_target
from tests.hostile_fixtures import hostile, hostile_certs, pki, stranger  # noqa: F401 - fixtures

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "scanner/schema/results.schema.json").read_text())
TIMEOUT = 3.0
MARGIN = 4.0  # hang / serialisation detection: three stalling endpoints in a row would take 9s

# behaviour -> (status or error kind, alert, words the message must contain, certificates kept)
EXPECTED: dict[str, tuple[str, str | None, str, int]] = {
    "backend": ("ok", None, "", 2),
    "silent": ("timeout", None, "never answered", 0),
    "stall-after-server-hello": ("timeout", None, "started its answer", 0),
    "slowloris": ("timeout", None, "stalled or trickled", 0),
    "http": ("not-tls", None, "plain HTTP", 0),
    "ssh": ("not-tls", None, "an SSH server", 0),
    "random-bytes": ("not-tls", None, "first bytes 9f", 0),
    "alert-handshake-failure": ("tls-alert", "handshake_failure", "compare its TLS settings", 0),
    "alert-protocol-version": ("tls-alert", "protocol_version", "TLS versions", 0),
    "alert-unrecognized-name": ("tls-alert", "unrecognized_name", "check 'hostname'", 0),
    "reset": ("reset", None, "reset the connection", 0),
    "chain-of-100": ("protocol", None, "presented 100 certificates", MAX_CHAIN_CERTS),
    "megabyte-certificate": ("protocol", None, "larger than allowed", 0),
    "unparseable-certificate": ("certificate-parse", None, "kept as raw bytes", 1),
    "broken-extension": ("ok", None, "", 2),
    "tls1.0-only": ("ok", None, "", 2),
    "tls1.3-only": ("ok", None, "", 2),
    "sni-required": ("ok", None, "", 2),
    "client-cert-rejected": ("client-cert-rejected", "unknown_ca", "rejected our client certificate", 2),
}


def test_every_behaviour_has_an_expectation() -> None:
    assert set(EXPECTED) == {"backend", *BEHAVIOURS}


def client_files(tmp_path: Path, identity: ClientIdentity) -> tuple[str, str]:
    cert, key = tmp_path / "stranger.pem", tmp_path / "stranger.key"
    cert.write_text(der_to_pem(identity.chain[0]))
    key.write_bytes(identity.key_pem)
    return str(cert), str(key)


def hostile_targets(ports: dict[str, int], tmp_path: Path, identity: ClientIdentity) -> dict[str, Target]:
    cert, key = client_files(tmp_path, identity)
    out = {}
    for label, port in ports.items():
        mutual = {"client_cert": cert, "client_key": key} if label == "client-cert-rejected" else {}
        out[label] = parse_cli_target(f"127.0.0.1:{port}", hostname=HOSTNAME, timeout=TIMEOUT, **mutual)
    return out


def classify(record: dict[str, Any]) -> tuple[str, str | None, str, int]:
    error = record["error"] or {}
    return (error.get("kind", "ok"), error.get("alert"), error.get("message", ""), len(record["chain"]))


def mismatches(records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    wrong = {}
    for label, (kind, alert, words, kept) in EXPECTED.items():
        got_kind, got_alert, message, got_kept = classify(records[label])
        if (got_kind, got_alert, got_kept) != (kind, alert, kept) or words not in message:
            wrong[label] = (got_kind, got_alert, got_kept, message)
    return wrong


async def test_whole_hostile_scan_one_classified_result_each_within_one_deadline(
        hostile: dict[str, int], tmp_path: Path, pki: LabPKI, stranger: ClientIdentity) -> None:
    targets = hostile_targets(hostile, tmp_path, stranger)
    outcomes: list[Outcome] = []
    started = time.monotonic()
    with trio.fail_after(60):  # hang detection
        await scan_targets(list(targets.values()), concurrency=50, sink=outcomes.append)
    elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT + MARGIN, f"the hostile scan took {elapsed:.1f}s: endpoints waited for each other"
    by_name = {t.name: label for label, t in targets.items()}
    assert sorted(by_name[o.target.name] for o in outcomes) == sorted(EXPECTED)  # exactly one each
    now = datetime.now(timezone.utc)
    writer = ResultsWriter(tmp_path / "out", started_at=now, targets_file=None,
                           settings={"concurrency": 50, "timeout": TIMEOUT, "fail_on": "error",
                                     "trust_anchors": [], "profile": None})
    records = {}
    for outcome in outcomes:
        record = endpoint_record(outcome, anchors=[pki.root.der], profile=None)
        records[by_name[outcome.target.name]] = record
        writer.add(record)
    jsonschema.validate(json.loads(writer.finish(now).read_text()), SCHEMA)
    assert mismatches(records) == {}
    assert records["tls1.0-only"]["tls"]["version"] == "TLSv1"
    assert records["tls1.3-only"]["tls"]["version"] == "TLSv1.3"
    assert records["backend"]["browsers"]["chrome"]["accepted"] is True  # the neighbours' trouble is not its own


async def test_unparseable_certificate_is_kept_raw_with_a_finding_and_in_the_evidence(
        hostile: dict[str, int], tmp_path: Path, pki: LabPKI) -> None:
    target = parse_cli_target(f"127.0.0.1:{hostile['unparseable-certificate']}", hostname=HOSTNAME, timeout=10)
    outcomes: list[Outcome] = []
    await scan_targets([target], concurrency=1, sink=outcomes.append)
    record = endpoint_record(outcomes[0], anchors=[pki.root.der], profile=None)
    assert record["status"] == "error" and record["error"]["kind"] == "certificate-parse"
    cert = record["chain"][0]
    assert cert["pem"] == der_to_pem(UNPARSEABLE_DER) and cert["parse_errors"]
    assert "rfc5280.certificate.unparseable" in {f["id"] for f in record["findings"]}
    assert record["browsers"]["chrome"]["error"] == "ERR_CERT_INVALID"
    now = datetime.now(timezone.utc)
    out = tmp_path / "scan"
    writer = ResultsWriter(out, started_at=now, targets_file=None,
                           settings={"concurrency": 1, "timeout": 10.0, "fail_on": "error",
                                     "trust_anchors": [], "profile": None})
    writer.add(record)
    writer.finish(now)
    (pem_file,) = (out / "chains").iterdir()
    assert pem_file.read_text() == der_to_pem(UNPARSEABLE_DER)
    verification = verify_pack(build_pack(out, tmp_path / "evidence.zip"))
    assert verification.ok, verification.problems


async def test_broken_extension_is_scanned_and_reported_not_raised(
        hostile: dict[str, int], hostile_certs: HostileCertificates, pki: LabPKI) -> None:
    target = parse_cli_target(f"127.0.0.1:{hostile['broken-extension']}", hostname=HOSTNAME, timeout=10)
    outcomes: list[Outcome] = []
    await scan_targets([target], concurrency=1, sink=outcomes.append)
    record = endpoint_record(outcomes[0], anchors=[pki.root.der], profile=None)
    assert record["status"] == "ok"
    assert any("san" in e for e in record["chain"][0]["parse_errors"]), record["chain"][0]["parse_errors"]
    assert "rfc5280.extension.malformed" in {f["id"] for f in record["findings"]}
    assert record["browsers"]["firefox"]["accepted"] is False


@pytest.mark.parametrize(("hostname", "kind"), [
    (HOSTNAME, None), ("127.0.0.1", "tls-alert"), ("other.dcc-user.example", "tls-alert")])
async def test_sni_required(hostile: dict[str, int], hostname: str, kind: str | None) -> None:
    port = hostile["sni-required"]
    if kind is None:
        capture = await probe("127.0.0.1", port, hostname=hostname, timeout=10)
        assert capture.version and capture.chain
        return
    with pytest.raises(errors.TLSAlertError) as caught:  # no SNI (IP literal) or the wrong one
        await probe("127.0.0.1", port, hostname=hostname, timeout=10)
    assert caught.value.kind == kind and caught.value.alert == "unrecognized_name"


async def test_handshake_bytes_are_capped(hostile: dict[str, int]) -> None:
    with pytest.raises(errors.ProtocolError) as caught:
        await probe("127.0.0.1", hostile["chain-of-100"], hostname=HOSTNAME, timeout=10, max_bytes=16 * 1024)
    assert "more than 16 KB" in caught.value.message and caught.value.kind == "protocol"


async def test_chain_of_100_keeps_the_first_ones_and_evaluates_them(hostile: dict[str, int], pki: LabPKI,
                                                                    hostile_certs: HostileCertificates) -> None:
    with pytest.raises(errors.ProtocolError) as caught:
        await probe("127.0.0.1", hostile["chain-of-100"], hostname=HOSTNAME, timeout=10)
    capture = caught.value.capture
    assert capture is not None and capture.certificates_presented == 100
    assert capture.chain[0] == hostile_certs.good.der and len(capture.chain) == MAX_CHAIN_CERTS


async def test_an_interrupted_scan_reports_only_finished_targets(hostile: dict[str, int]) -> None:
    """The runner says which targets finished; everything else is 'not reached'."""
    targets = [parse_cli_target(f"127.0.0.1:{hostile[label]}", hostname=HOSTNAME, timeout=60)
               for label in ("backend", "silent", "slowloris")]
    finished: list[str] = []
    outcomes: list[Outcome] = []
    with trio.move_on_after(2):  # stands in for Ctrl-C: the stalling two are still in flight
        await scan_targets(targets, concurrency=10, sink=outcomes.append,
                           finished=lambda t: finished.append(t.name))
    assert finished == [targets[0].name] and [o.target.name for o in outcomes] == [targets[0].name]


def test_readme_explains_every_error_kind() -> None:
    """The README's hostile table is what a person reads to act on a kind: it must list them all."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("<!-- section: hostile -->", 1)[1].split("<!-- section:", 1)[0]
    listed = {line.split("`")[1] for line in section.splitlines() if line.startswith("| `")} - {"error.kind"}
    kinds = SCHEMA["$defs"]["endpoint"]["properties"]["error"]["oneOf"][1]["properties"]["kind"]["enum"]
    assert listed == set(kinds)

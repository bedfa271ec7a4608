"""Revocation end to end: real CRLs over HTTP, a real ``openssl ocsp`` responder, a real stapling
``openssl s_server``; one scan of endpoints whose certificates are good, revoked, on a stale CRL,
under a CRL signed by the wrong key, with an unreachable source, stapled, and with no source."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import pytest
from click.testing import CliRunner, Result
from cryptography import x509

from scanner.cli import cli
from scanner.lab.pki import new_key
from scanner.lab.servers import LabEstate
from tests.lab_fixtures import tls_spec
from tests.revocation_fixtures import (HOST, RevocationLab, StaplingServer, closed_port, crl, revocation_lab,  # noqa: F401
                                       revocation_leaf)

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "scanner/schema/results.schema.json").read_text())
UTC = dt.timezone.utc
ROLES = ("good", "revoked", "stale", "wrong-key", "unreachable", "stapled", "no-source")


def scan(*args: str) -> Result:
    return CliRunner().invoke(cli, ["scan", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def scanned(revocation_lab: RevocationLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    lab = revocation_lab
    now = dt.datetime.now(UTC).replace(microsecond=0)
    leaves = {
        "good": revocation_leaf(lab.pki, "good", crl_url=lab.crls.url("/issuing.crl"), ocsp_url=lab.ocsp.url),
        "revoked": revocation_leaf(lab.pki, "revoked", crl_url=lab.crls.url("/issuing.crl"), ocsp_url=lab.ocsp.url),
        "stale": revocation_leaf(lab.pki, "stale", crl_url=lab.crls.url("/stale.crl")),
        "wrong-key": revocation_leaf(lab.pki, "wrong-key", crl_url=lab.crls.url("/wrong-key.crl")),
        "unreachable": revocation_leaf(lab.pki, "unreachable", crl_url=f"http://127.0.0.1:{closed_port()}/gone.crl"),
        "stapled": revocation_leaf(lab.pki, "stapled"),
        "no-source": revocation_leaf(lab.pki, "no-source"),
    }
    key_compromise = x509.ReasonFlags.key_compromise
    lab.crls.files["/issuing.crl"] = crl(lab.pki.issuing, [(leaves["revoked"].cert, lab.revoked_at, key_compromise)])
    lab.crls.files["/stale.crl"] = crl(lab.pki.issuing, this_update=now - dt.timedelta(days=10),
                                       next_update=now - dt.timedelta(days=3))
    lab.crls.files["/wrong-key.crl"] = crl(lab.pki.issuing, signer=new_key("ec-p256"))
    lab.ocsp.add(leaves["good"].cert)
    lab.ocsp.add(leaves["stapled"].cert)
    lab.ocsp.add(leaves["revoked"].cert, revoked=lab.revoked_at, reason="keyCompromise")
    folder = tmp_path_factory.mktemp("revocation-scan")
    status_file = folder / "stapled.ocsp"
    lab.ocsp.response_for(leaves["stapled"], lab.pki.issuing, status_file)
    stapling = StaplingServer(folder, leaves["stapled"], status_file)
    others = [role for role in ROLES if role != "stapled"]
    try:
        with LabEstate([tls_spec(leaves[role]) for role in others]) as ports:
            port = dict(zip(others, ports), stapled=stapling.port)
            out = folder / "out"
            result = scan(*[f"127.0.0.1:{port[role]}" for role in ROLES], "--hostname", HOST, "--trust-anchor",
                          str(lab.root_pem), "--out", str(out), "--format", "json")
    finally:
        stapling.close()
    document = json.loads((out / "results.json").read_text())
    by_port = {e["target"]["port"]: e for e in document["endpoints"]}
    yield {"result": result, "document": document, "out": out, "leaves": leaves, "lab": lab,
           "endpoints": {role: by_port[port[role]] for role in ROLES}}


def leaf_status(endpoint: dict[str, Any]) -> dict[str, Any]:
    (record,) = [r for r in endpoint["revocation"] if r["certificate_index"] == 0]
    return record


def revocation_findings(endpoint: dict[str, Any]) -> list[str]:
    return sorted(f["id"] for f in endpoint["findings"] if f["id"].startswith("revocation."))


def test_every_endpoint_was_scanned_and_the_results_validate(scanned: dict[str, Any]) -> None:
    document = scanned["document"]
    jsonschema.validate(document, SCHEMA)
    assert [e["error"] for e in document["endpoints"] if e["status"] != "ok"] == []
    assert scanned["result"].exit_code == 1  # the revoked certificate is an error


def test_good_certificate_is_good_by_crl_and_by_the_openssl_responder(scanned: dict[str, Any]) -> None:
    record = leaf_status(scanned["endpoints"]["good"])
    assert record["status"] == "good"
    assert {(s["kind"], s["status"]) for s in record["sources"]} == {("crl", "good"), ("ocsp", "good")}
    assert revocation_findings(scanned["endpoints"]["good"]) == []


def test_revoked_certificate_is_revoked_with_reason_and_date(scanned: dict[str, Any]) -> None:
    endpoint = scanned["endpoints"]["revoked"]
    record = leaf_status(endpoint)
    assert record["status"] == "revoked"
    assert record["reason"] == "key_compromise"
    assert record["revoked_at"] == scanned["lab"].revoked_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert {(s["kind"], s["status"]) for s in record["sources"]} == {("crl", "revoked"), ("ocsp", "revoked")}
    # the browsers as they are (tests/test_revocation_browsers.py): Firefox enforces the OCSP answer
    assert endpoint["browsers"]["chrome"]["accepted"] is True
    assert endpoint["browsers"]["firefox"]["error"] == "SEC_ERROR_REVOKED_CERTIFICATE"
    (finding,) = [f for f in endpoint["findings"] if f["id"] == "revocation.revoked"]
    assert finding["severity"] == "error" and finding["certificate_index"] == 0
    assert "RFC 5280 6.3" in finding["citation"] and "key_compromise" in finding["detail"]


def test_stale_crl_leaves_the_status_unknown_with_a_warning(scanned: dict[str, Any]) -> None:
    endpoint = scanned["endpoints"]["stale"]
    record = leaf_status(endpoint)
    assert record["status"] == "unknown" and "stale" in record["detail"]
    assert [s["problem"] for s in record["sources"]] == ["stale"]
    assert revocation_findings(endpoint) == ["revocation.stale"]
    assert [f["severity"] for f in endpoint["findings"] if f["id"] == "revocation.stale"] == ["warning"]


def test_crl_signed_by_the_wrong_key_is_a_bad_signature(scanned: dict[str, Any]) -> None:
    endpoint = scanned["endpoints"]["wrong-key"]
    record = leaf_status(endpoint)
    assert record["status"] == "unknown"
    assert [s["problem"] for s in record["sources"]] == ["bad-signature"]
    assert revocation_findings(endpoint) == ["revocation.bad_signature"]


def test_unreachable_crl_is_unknown_with_a_warning(scanned: dict[str, Any]) -> None:
    endpoint = scanned["endpoints"]["unreachable"]
    record = leaf_status(endpoint)
    assert record["status"] == "unknown"
    assert [s["problem"] for s in record["sources"]] == ["unreachable"]
    assert "cannot connect" in record["sources"][0]["detail"]
    assert revocation_findings(endpoint) == ["revocation.unreachable"]


def test_stapled_response_gives_the_status(scanned: dict[str, Any]) -> None:
    endpoint = scanned["endpoints"]["stapled"]
    record = leaf_status(endpoint)
    assert [(s["kind"], s["status"], s["detail"]) for s in record["sources"]] == [("stapled", "good", s["detail"])
                                                                                  for s in record["sources"]]
    assert [(s["kind"], s["status"]) for s in record["sources"]] == [("stapled", "good")]
    assert record["status"] == "good"
    assert revocation_findings(endpoint) == []


def test_certificate_without_source_is_unknown_no_source(scanned: dict[str, Any]) -> None:
    endpoint = scanned["endpoints"]["no-source"]
    record = leaf_status(endpoint)
    assert record["status"] == "unknown" and record["detail"].startswith("no source")
    assert record["sources"] == [] and revocation_findings(endpoint) == []


def test_fetched_bytes_are_stored_once_and_listed(scanned: dict[str, Any]) -> None:
    document, out, lab = scanned["document"], scanned["out"], scanned["lab"]
    table = {entry["sha256"]: entry for entry in document["revocation_data"]}
    for entry in table.values():
        assert (out / entry["file"]).read_bytes().__len__() == entry["size"]
    crl_locations = [loc for e in table.values() if e["kind"] == "crl" for loc in e["locations"]]
    assert sorted(crl_locations) == sorted({lab.crls.url(p) for p in ("/issuing.crl", "/stale.crl", "/wrong-key.crl")})
    # two endpoints name /issuing.crl: it was fetched once
    assert lab.crls.requests.count("/issuing.crl") == 1
    sources = [s for e in document["endpoints"] for r in e["revocation"] for s in r["sources"] if s["sha256"]]
    assert {s["sha256"] for s in sources} <= set(table)


def test_crl_option_gives_status_offline(scanned: dict[str, Any], tmp_path: Path) -> None:
    """--offline-revocation fetches nothing; --crl supplies the issuing CA's CRL."""
    lab, leaves = scanned["lab"], scanned["leaves"]
    crl_file = tmp_path / "issuing.crl"
    crl_file.write_bytes(lab.crls.files["/issuing.crl"])
    before = len(lab.crls.requests)
    with LabEstate([tls_spec(leaves["revoked"]), tls_spec(leaves["no-source"])]) as (revoked, plain):
        result = scan(f"127.0.0.1:{revoked}", f"127.0.0.1:{plain}", "--hostname", HOST, "--trust-anchor",
                      str(lab.root_pem), "--out", str(tmp_path / "out"), "--format", "json", "--crl", str(crl_file),
                      "--offline-revocation")
    assert result.exit_code == 1, result.output
    assert len(lab.crls.requests) == before
    document = json.loads((tmp_path / "out/results.json").read_text())
    by_port = {e["target"]["port"]: e for e in document["endpoints"]}
    assert leaf_status(by_port[revoked])["status"] == "revoked"
    assert [s["kind"] for s in leaf_status(by_port[revoked])["sources"]] == ["file"]
    assert leaf_status(by_port[plain])["status"] == "good"
    assert document["settings"]["revocation"]["online"] is False


def test_crl_option_that_is_not_a_crl_exits_2(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.crl"
    bogus.write_text("not a CRL\n")
    result = CliRunner().invoke(cli, ["scan", "127.0.0.1:1", "--crl", str(bogus), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "bogus.crl" in result.output and "holds no CRL" in result.output and "fix:" in result.output


def test_crl_option_that_is_a_fifo_exits_2_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "crl.pipe"
    os.mkfifo(fifo)  # nobody writes: reading it would block for ever
    result = CliRunner().invoke(cli, ["scan", "127.0.0.1:1", "--crl", str(fifo), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "crl.pipe" in result.output and "FIFO" in result.output and "fix:" in result.output


def test_terminal_summary_names_the_revoked_certificate(scanned: dict[str, Any]) -> None:
    revoked = scanned["endpoints"]["revoked"]
    lines = [line for line in scanned["result"].output.splitlines() if line.startswith("REVOKED:")]
    assert lines == [f"REVOKED: {revoked['id']} presents a revoked leaf certificate "
                     f"(revoked {leaf_status(revoked)['revoked_at']}, reason key_compromise)."]


def test_evidence_pack_carries_the_revocation_data_and_reproduces_it(scanned: dict[str, Any], tmp_path: Path) -> None:
    import zipfile

    from scanner.evidence import build_pack, verify_pack

    pack = build_pack(scanned["out"], tmp_path / "pack.zip")
    names = set(zipfile.ZipFile(pack).namelist())
    assert {e["file"] for e in scanned["document"]["revocation_data"]} <= names
    verification = verify_pack(pack)
    assert verification.ok, verification.problems
    assert verification.endpoints_reevaluated == len(ROLES)


def test_evidence_without_the_revocation_files_does_not_reproduce(scanned: dict[str, Any], tmp_path: Path) -> None:
    """verify-evidence judges revocation from the pack's own files: take them out (and re-pack
    with a consistent manifest) and the recorded statuses no longer reproduce."""
    import shutil

    from scanner.evidence import build_pack, verify_pack

    copy = tmp_path / "scan"
    shutil.copytree(scanned["out"], copy)
    shutil.rmtree(copy / "revocation")
    verification = verify_pack(build_pack(copy, tmp_path / "pack.zip"))
    assert not verification.ok
    assert any("revocation does not reproduce" in p for p in verification.problems)


def test_targets_file_crl_key(scanned: dict[str, Any], tmp_path: Path) -> None:
    lab, leaves = scanned["lab"], scanned["leaves"]
    (tmp_path / "issuing.crl").write_bytes(lab.crls.files["/issuing.crl"])
    (tmp_path / "bad.crl").write_text("garbage\n")
    with LabEstate([tls_spec(leaves["no-source"])]) as (port,):
        targets = tmp_path / "targets.toml"
        targets.write_text(f'[defaults]\ntrust_anchors = ["{lab.root_pem}"]\ncrl = ["issuing.crl"]\n\n'
                           f'[[target]]\nname = "gw"\nhost = "127.0.0.1"\nport = {port}\nhostname = "{HOST}"\n')
        result = scan("--targets", str(targets), "--out", str(tmp_path / "out"), "--format", "json")
        assert result.exit_code == 0, result.output
        endpoint = json.loads((tmp_path / "out/results.json").read_text())["endpoints"][0]
        assert leaf_status(endpoint)["status"] == "good"
        assert leaf_status(endpoint)["sources"][0]["location"] == str(tmp_path / "issuing.crl")
        targets.write_text(targets.read_text().replace('crl = ["issuing.crl"]', 'crl = ["bad.crl"]'))
        bad = CliRunner().invoke(cli, ["scan", "--targets", str(targets), "--out", str(tmp_path / "o2")])
    assert bad.exit_code == 2
    assert "targets.toml:3:" in bad.output and "bad.crl holds no CRL" in bad.output and "fix:" in bad.output


def test_a_silent_crl_server_costs_at_most_the_timeout(scanned: dict[str, Any], tmp_path: Path) -> None:
    """A distribution point that accepts and never answers is 'unreachable' after --timeout."""
    from scanner.lab.servers import ServerSpec

    lab = scanned["lab"]
    with LabEstate([ServerSpec(kind="silent")]) as (silent,):
        leaf = revocation_leaf(lab.pki, "silent-crl", crl_url=f"http://127.0.0.1:{silent}/slow.crl")
        with LabEstate([tls_spec(leaf)]) as (port,):
            result = scan(f"127.0.0.1:{port}", "--hostname", HOST, "--trust-anchor", str(lab.root_pem),
                          "--out", str(tmp_path / "out"), "--format", "json", "--timeout", "2")
    assert result.exit_code == 0, result.output  # a warning does not trip --fail-on error
    endpoint = json.loads((tmp_path / "out/results.json").read_text())["endpoints"][0]
    (source,) = leaf_status(endpoint)["sources"]
    assert source["problem"] == "unreachable" and "within 2s" in source["detail"]


def test_a_stop_during_the_fetches_keeps_the_scanned_endpoint(scanned: dict[str, Any], tmp_path: Path) -> None:
    """--max-duration reached while a CRL is being fetched: the handshake's capture is still
    recorded (revocation not evaluated), nothing already scanned is lost."""
    from scanner.lab.servers import ServerSpec

    lab = scanned["lab"]
    with LabEstate([ServerSpec(kind="silent")]) as (silent,):
        leaf = revocation_leaf(lab.pki, "stopped", crl_url=f"http://127.0.0.1:{silent}/slow.crl")
        with LabEstate([tls_spec(leaf)]) as (port,):
            result = scan(f"127.0.0.1:{port}", "--hostname", HOST, "--trust-anchor", str(lab.root_pem),
                          "--out", str(tmp_path / "out"), "--format", "json", "--timeout", "30",
                          "--max-duration", "3")
    assert result.exit_code == 3, result.output
    document = json.loads((tmp_path / "out/results.json").read_text())
    assert document["complete"] is False
    (endpoint,) = document["endpoints"]
    assert endpoint["status"] == "ok" and endpoint["chain"] and endpoint["revocation"] is None


def test_merged_shards_keep_every_revocation_file(scanned: dict[str, Any], tmp_path: Path) -> None:
    """scan --shard I/N on two machines, then merge: one revocation_data table, every file beside
    it, and the merged folder's evidence re-judges revocation as the shards did."""
    from scanner.evidence import build_pack, verify_pack

    lab, leaves = scanned["lab"], scanned["leaves"]
    roles = ("good", "revoked", "stale", "wrong-key")
    with LabEstate([tls_spec(leaves[role]) for role in roles]) as ports:
        targets = tmp_path / "targets.toml"
        targets.write_text(f'[defaults]\ntrust_anchors = ["{lab.root_pem}"]\n\n' + "".join(
            f'[[target]]\nname = "{role}"\nhost = "127.0.0.1"\nport = {port}\nhostname = "{HOST}"\n\n'
            for role, port in zip(roles, ports)))
        for index in (1, 2):
            shard = scan("--targets", str(targets), "--shard", f"{index}/2", "--out", str(tmp_path / f"s{index}"),
                         "--format", "json", "--quiet")
            assert shard.exit_code in (0, 1), shard.output
    merged = CliRunner().invoke(cli, ["merge", str(tmp_path / "merged"), str(tmp_path / "s1"), str(tmp_path / "s2"),
                                      "--format", "json", "--quiet"])
    assert merged.exit_code == 1, merged.output
    document = json.loads((tmp_path / "merged/results.json").read_text())
    shard_shas = {e["sha256"] for i in (1, 2)
                  for e in json.loads((tmp_path / f"s{i}/results.json").read_text())["revocation_data"]}
    assert {e["sha256"] for e in document["revocation_data"]} == shard_shas and shard_shas
    assert all((tmp_path / "merged" / e["file"]).is_file() for e in document["revocation_data"])
    verification = verify_pack(build_pack(tmp_path / "merged", tmp_path / "pack.zip"))
    assert verification.ok, verification.problems


def test_a_reused_out_folder_keeps_only_this_scans_revocation_files(scanned: dict[str, Any], tmp_path: Path) -> None:
    lab, leaves = scanned["lab"], scanned["leaves"]
    out = tmp_path / "nightly"
    for role in ("wrong-key", "good"):
        with LabEstate([tls_spec(leaves[role])]) as (port,):
            scan(f"127.0.0.1:{port}", "--hostname", HOST, "--trust-anchor", str(lab.root_pem), "--out", str(out),
                 "--format", "json", "--quiet")
    listed = {e["file"] for e in json.loads((out / "results.json").read_text())["revocation_data"]}
    on_disk = {f"revocation/{p.name}" for p in (out / "revocation").iterdir()}
    assert on_disk == listed and listed  # the wrong-key CRL of the first night is gone


def test_report_shows_the_revocation_status(scanned: dict[str, Any], tmp_path: Path) -> None:
    from scanner.report import write_reports

    (page,) = write_reports(scanned["out"] / "results.json", tmp_path, ["html"])
    html = (page.parent / "details" / "0001.html").read_text()  # the endpoints' details pages (one here)
    revoked = leaf_status(scanned["endpoints"]["revoked"])
    assert f'<strong class="revocation-revoked">revoked</strong> on {revoked["revoked_at"]} (key_compromise)' in html
    assert html.count('class="revocation-good"') == 2  # the good and the stapled leaf

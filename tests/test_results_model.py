"""The results model dccscan/2 (issue 12), chain file names (issue 15.4/15.5), stable order and
one folder per scan (issue 16), and that everything an older dccscan wrote (dccscan/1 results,
evidence packs, history databases, in tests/data/dccscan1) keeps working."""

from __future__ import annotations

import csv
import io
import json
import random
import shutil
import sqlite3
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import pytest
from click.testing import CliRunner, Result

from scanner.cli import cli
from scanner.lab.pki import Issued, LabPKI
from scanner.lab.servers import LabEstate, ServerSpec
from scanner.report import write_reports
from scanner.results import (CERTIFICATES_LINE, ENDPOINTS_LINE, ResultsWriter, add_header_keys, chain_file,
                             chain_file_name, iter_certificates, iter_endpoints, load, read_header)
from tests.lab_fixtures import leaf, pki, tls_spec  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "scanner/schema/results.schema.json").read_text())
SCHEMA_V1 = json.loads((ROOT / "scanner/schema/results-dccscan1.schema.json").read_text())
V1 = ROOT / "tests/data/dccscan1"
NOW = datetime(2026, 12, 7, 3, 4, 5, tzinfo=timezone.utc)  # after the fixture scan
HOST = "gw.dcc-user.example"


def scan(*args: str) -> Result:
    return CliRunner().invoke(cli, ["scan", *args], catch_exceptions=False)


def rewrite_as_v2(source: Path, out_dir: Path, order: list[str] | None = None) -> Path:
    """The endpoints of ``source`` written again by today's writer (as merge does), shuffled."""
    header = read_header(source)
    endpoints = list(iter_endpoints(source))
    random.Random(7).shuffle(endpoints)
    writer = ResultsWriter(out_dir, started_at=NOW, targets_file=header.get("targets_file"),
                           settings=header["settings"], order=order or ())
    for endpoint in endpoints:
        writer.add(endpoint)
    return writer.finish(NOW)


def without_new_keys(endpoint: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in endpoint.items() if k not in ("position", "chain_file")}


# --- dccscan/1 files keep working ---------------------------------------------------------------

def test_the_dccscan1_fixture_is_read_as_it_was_written() -> None:
    raw = json.loads((V1 / "results.json").read_text())
    jsonschema.validate(raw, SCHEMA_V1)
    assert raw["schema"] == "dccscan/1" and list(iter_endpoints(V1 / "results.json")) == raw["endpoints"]
    assert read_header(V1 / "results.json") == {k: v for k, v in raw.items() if k != "endpoints"}
    assert list(iter_certificates(V1 / "results.json")) == []
    for endpoint in raw["endpoints"]:  # dccscan/1 names, derived because dccscan/1 did not record them
        name = chain_file(endpoint)
        assert (name is None) == (not endpoint["chain"])
        if name:
            assert (V1 / name).read_text() == "".join(c["pem"] for c in endpoint["chain"])


def test_dccscan1_and_dccscan2_of_the_same_scan_read_alike(tmp_path: Path) -> None:
    """The same endpoints in both schemas: ``iter_endpoints`` yields equal records (chains of
    full certificate records) and every renderer writes the same CSV."""
    v2 = rewrite_as_v2(V1 / "results.json", tmp_path / "v2")
    raw = json.loads(v2.read_text())
    jsonschema.validate(raw, SCHEMA)
    old = sorted(iter_endpoints(V1 / "results.json"), key=lambda e: e["id"])
    new = sorted(iter_endpoints(v2), key=lambda e: e["id"])
    assert [without_new_keys(e) for e in new] == old
    # every certificate once: 14 presented, 9 distinct (6 endpoints presented the same issuing CA)
    presented = [c["sha256"] for e in old for c in e["chain"]]
    assert len(presented) == 14 and len(raw["certificates"]) == len(set(presented)) == 9
    assert v2.stat().st_size < (V1 / "results.json").stat().st_size
    for endpoint in new:
        if endpoint["chain"]:
            assert (v2.parent / endpoint["chain_file"]).read_text() == "".join(c["pem"] for c in endpoint["chain"])

    def rows(path: Path, folder: str) -> list[list[str]]:
        (table,) = write_reports(path, tmp_path / folder, ["csv"])
        return sorted(csv.reader(io.StringIO(table.read_text(encoding="utf-8"))))

    assert rows(v2, "new") == rows(V1 / "results.json", "old")


def test_junit_of_a_dccscan1_file_says_the_catalogue_was_not_recorded(tmp_path: Path) -> None:
    (junit,) = write_reports(V1 / "results.json", tmp_path, ["junit"])
    root = ET.parse(junit).getroot()
    ok = [s for s in root.findall("./testsuite") if any(p.get("name") == "chrome" and p.get("value") != "not-evaluated"
                                                         for p in s.iter("property"))]
    assert ok
    for suite in ok:  # only the scan and the checks that fired: today's registry is not the scan's
        names = [c.get("name") for c in suite.findall("testcase")]
        assert len(names) == 1 + len({f.get("name") for f in suite.findall("testcase")[1:]})
        assert {p.get("name"): p.get("value") for p in suite.iter("property")}["checks"].startswith("not recorded")
    assert "not recorded in results.json" in junit.read_text()


def test_junit_lists_the_catalogue_the_scan_recorded_not_the_live_registry(tmp_path: Path) -> None:
    source = rewrite_as_v2(V1 / "results.json", tmp_path / "v2")
    recorded = [{"id": "made.up.first", "title": "t", "severity": "error"},
                {"id": "made.up.second", "title": "t", "severity": "notice"}]
    add_header_keys(source, checks=recorded)
    (junit,) = write_reports(source, tmp_path, ["junit"])
    root = ET.parse(junit).getroot()
    endpoints = {e["id"]: e for e in iter_endpoints(source)}
    evaluated = 0
    for suite in root.findall("./testsuite"):
        endpoint = endpoints[suite.get("name")]
        names = [c.get("name") for c in suite.findall("testcase")]
        fired = [f["id"] for f in endpoint["findings"]]
        if endpoint["browsers"] is None:
            assert names == ["scan", *fired]
        else:  # the recorded catalogue, whatever today's registry holds
            evaluated += 1
            assert names == ["scan", *fired, "made.up.first", "made.up.second"]
    assert evaluated == 8 and "checks" not in {p.get("name") for p in root.iter("property")}


def test_dccscan1_evidence_pack_still_verifies() -> None:
    from scanner.evidence import verify_pack

    result = verify_pack(V1 / "evidence.zip", V1 / "signer-public.pem")
    assert result.problems == [] and result.endpoints_reevaluated == 8


def test_a_dccscan1_history_database_takes_dccscan2_scans(tmp_path: Path) -> None:
    """A database recorded from a dccscan/1 file, then the same scan as dccscan/2: nothing changed."""
    from scanner.history.store import record_scan

    database = tmp_path / "history.db"
    shutil.copyfile(V1 / "history.db", database)  # never opened in place: sqlite would add files beside it
    count = "SELECT COUNT(*) FROM certificates"  # the 9 presented and the trust anchor, once across both
    with sqlite3.connect(database) as conn:
        assert conn.execute(count).fetchone()[0] == 10
    v2 = rewrite_as_v2(V1 / "results.json", tmp_path / "v2")
    assert record_scan(database, v2) == 2
    result = CliRunner().invoke(cli, ["diff", "--db", str(database), "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    changes = json.loads(result.output)
    assert (changes["from_scan"], changes["to_scan"]) == (1, 2)
    assert not any(value for key, value in changes.items() if isinstance(value, list)), changes
    with sqlite3.connect(database) as conn:
        assert conn.execute(count).fetchone()[0] == 10


# --- the layout and the readers ------------------------------------------------------------------

def test_layout_is_one_certificate_and_one_endpoint_per_line_and_readers_stream_it(tmp_path: Path) -> None:
    path = rewrite_as_v2(V1 / "results.json", tmp_path)
    lines = path.read_text().splitlines()
    table, endpoints = lines.index(CERTIFICATES_LINE), lines.index(ENDPOINTS_LINE)
    certificate_lines = lines[table + 1:endpoints - 1]
    assert len(certificate_lines) == 9 and lines[endpoints - 1] == "},"
    digests = [line[1:65] for line in certificate_lines]
    assert digests == sorted(digests)  # stable: sorted by digest, whatever order they arrived in
    assert len(lines) == endpoints + 1 + 9 + 1 and lines[-1] == "]}"
    raw = json.loads(path.read_text())
    assert dict(iter_certificates(path)) == raw["certificates"]
    for endpoint in raw["endpoints"]:
        assert all(isinstance(d, str) and d in raw["certificates"] for d in endpoint["chain"])
    # add_header_keys copies the tables byte for byte
    before = path.read_text()
    add_header_keys(path, changes={"since": None, "from_scan": None, "to_scan": None})
    after = path.read_text()
    assert after[after.index(CERTIFICATES_LINE):] == before[before.index(CERTIFICATES_LINE):]
    assert read_header(path)["changes"]["from_scan"] is None and "certificates" not in read_header(path)


def test_a_results_file_read_whole_resolves_the_same_chains(tmp_path: Path) -> None:
    """Any valid JSON layout (here: pretty-printed by a user) reads the same as the streamed one."""
    path = rewrite_as_v2(V1 / "results.json", tmp_path)
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(json.loads(path.read_text()), indent=2))
    assert list(iter_endpoints(pretty)) == list(iter_endpoints(path))
    assert read_header(pretty) == read_header(path)
    assert dict(iter_certificates(pretty)) == dict(iter_certificates(path))


def test_dangling_reference_and_hostile_chain_file_are_errors_not_guesses(tmp_path: Path) -> None:
    path = rewrite_as_v2(V1 / "results.json", tmp_path)
    text = path.read_text()
    digest = json.loads(text)["endpoints"][0]["chain"][0]
    broken = tmp_path / "broken.json"
    broken.write_text(text.replace(f'"{digest}": ', f'"{"0" * 64}": ', 1))
    with pytest.raises(ValueError, match="not in the certificates table"):
        list(iter_endpoints(broken))
    for hostile in ("../../etc/passwd", "chains/../x.pem", "/etc/x.pem", "chains/.hidden.pem", 7):
        with pytest.raises(ValueError, match="chain_file"):
            chain_file({"id": "x", "chain": ["a"], "chain_file": hostile})


def test_no_reader_imports_the_engine() -> None:
    """results, renderers and history read results.json without the verdict engine (issue 12.4)."""
    import subprocess
    import sys

    code = ("import sys\nimport scanner.results, scanner.report.junit, scanner.report.csv, scanner.history._source\n"
            "print(sorted(m for m in sys.modules if m.startswith(('scanner.evaluate', 'scanner.checks', 'scanner.assess'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# --- chain file names (issue 15.4, 15.5) ----------------------------------------------------------

def test_chain_file_names_are_unique_and_bounded() -> None:
    names = [chain_file_name(f"{name}@127.0.0.1:443") for name in ("lb/a", "lb_a", "gw-é", "gw-ü", "x" * 300)]
    assert len(set(names)) == len(names)
    assert all(n.startswith("chains/") and n.endswith(".pem") and len(n) < 110 for n in names)
    assert names[0].startswith("chains/lb_a@127.0.0.1_443-")  # readable prefix
    assert chain_file_name("..@127.0.0.1:1").startswith("chains/_.@")  # never a hidden file
    assert chain_file_name("a\udcff@x:1") != chain_file_name("a\udcfe@x:1")  # undecodable argv bytes too


@pytest.fixture(scope="module")
def one_server(leaf: Issued) -> Iterator[int]:
    with LabEstate([tls_spec(leaf)]) as (port,):
        yield port


def write_targets(path: Path, names: list[str], port: int) -> Path:
    lines = []
    for name in names:
        lines += ["[[target]]", f"name = {json.dumps(name)}", 'interface = "gateway"', 'host = "127.0.0.1"',
                  f"port = {port}", f'hostname = "{HOST}"', ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_colliding_and_long_names_on_one_address_keep_every_chain(one_server: int, tmp_path: Path,
                                                                   leaf: Issued) -> None:
    names = ["lb/a", "lb_a", "gw-é", "gw-ü", "n" * 300]
    targets = write_targets(tmp_path / "targets.toml", names, one_server)
    result = scan("--targets", str(targets), "--out", str(tmp_path / "out"), "--format", "json,csv",
                  "--fail-on", "never", "--quiet")
    assert result.exit_code == 0, result.output
    document = load(tmp_path / "out/results.json")
    assert [e["target"]["name"] for e in document["endpoints"]] == names
    files = [e["chain_file"] for e in document["endpoints"]]
    assert len(set(files)) == 5 and sorted(p.name for p in (tmp_path / "out/chains").iterdir()) == \
        sorted(f.removeprefix("chains/") for f in files)
    for name in files:
        assert (tmp_path / "out" / name).read_bytes() == leaf.chain_pem()
    from scanner.evidence import build_pack, verify_pack
    verification = verify_pack(build_pack(tmp_path / "out", tmp_path / "pack.zip"))
    assert verification.problems == [], verification.problems


# --- stable order and one folder per scan (issue 16) -----------------------------------------------

def test_writer_orders_by_targets_file_then_address_whatever_the_completion_order(tmp_path: Path) -> None:
    template = next(iter_endpoints(V1 / "results.json"))
    names = ["zeta", "alpha", "mid"]
    expected = [(n, a) for n in names for a in ("127.0.0.9", "127.0.0.10", "::1", "::2", None)]
    for seed in (1, 2):
        shuffled = expected[:]
        random.Random(seed).shuffle(shuffled)
        writer = ResultsWriter(tmp_path / str(seed), started_at=NOW, targets_file=None, settings={"fail_on": "error"},
                               order=names)
        for name, address in shuffled:
            writer.add(dict(template, id=f"{name}@{address}:443", position=writer.position(name),
                            target=dict(template["target"], name=name), address=address))
        got = [(e["target"]["name"], e["address"]) for e in iter_endpoints(writer.finish(NOW))]
        assert got == expected


def test_two_scans_of_the_same_targets_list_endpoints_in_the_same_order(leaf: Issued, tmp_path: Path) -> None:
    specs = [tls_spec(leaf) for _ in range(6)] + [ServerSpec(kind="closed")]
    with LabEstate(specs) as ports:
        lines = []
        names = [f"t{i}" for i in (5, 3, 0, 6, 1, 4, 2)]  # neither alphabetical nor by port
        for name, port in zip(names, ports):
            lines += ["[[target]]", f'name = "{name}"', 'interface = "gateway"', 'host = "127.0.0.1"',
                      f"port = {port}", f'hostname = "{HOST}"', ""]
        (tmp_path / "targets.toml").write_text("\n".join(lines))
        outputs = []
        for run in ("a", "b"):
            result = scan("--targets", str(tmp_path / "targets.toml"), "--out", str(tmp_path / run),
                          "--format", "json,csv", "--concurrency", "7", "--fail-on", "never")
            assert result.exit_code == 3, result.output
            table = [line.split()[0] for line in result.output.splitlines() if line.startswith("t")]
            outputs.append(([e["target"]["name"] for e in iter_endpoints(tmp_path / run / "results.json")],
                            [row[1] for row in csv.reader((tmp_path / run / "results.csv").open())][1:], table))
    assert outputs[0] == outputs[1] and outputs[0][0] == outputs[0][1] == names
    assert [n.split("@")[0] for n in outputs[0][2]] == names  # the terminal table too


def test_reused_out_keeps_no_output_of_the_previous_run(one_server: int, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = write_targets(tmp_path / "first.toml", ["old-a", "old-b"], one_server)
    assert scan("--targets", str(first), "--out", str(out), "--format", "json,html,junit,csv,prometheus",
                "--fail-on", "never", "--quiet").exit_code == 0
    assert {p.name for p in out.iterdir()} >= {"junit.xml", "results.csv", "report.html", "metrics.prom", "targets.toml"}
    (out / "notes.txt").write_text("mine")  # not dccscan's: left alone
    second = write_targets(tmp_path / "second.toml", ["new"], one_server)
    assert scan("--targets", str(second), "--out", str(out), "--format", "json,html",
                "--fail-on", "never", "--quiet").exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["chains", "details", "notes.txt", "report.html", "results.json",
                                                     "targets.toml"]
    (endpoint,) = iter_endpoints(out / "results.json")
    assert [f"chains/{p.name}" for p in (out / "chains").iterdir()] == [endpoint["chain_file"]]
    assert (out / "targets.toml").read_text() == second.read_text()
    from scanner.evidence import build_pack, verify_pack
    pack = build_pack(out, tmp_path / "pack.zip")
    import zipfile
    with zipfile.ZipFile(pack) as archive:
        assert [n for n in archive.namelist() if n.startswith("chains/")] == [endpoint["chain_file"]]
    assert verify_pack(pack).problems == []


def test_a_folder_dccscan_never_wrote_results_to_keeps_its_files(one_server: int, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("someone else's report")
    (out / "chains").mkdir()
    (out / "chains" / "stale.pem").write_text("from a killed run")  # chains/ is dccscan's own
    targets = write_targets(tmp_path / "t.toml", ["one"], one_server)
    assert scan("--targets", str(targets), "--out", str(out), "--format", "json",
                "--fail-on", "never", "--quiet").exit_code == 0
    assert (out / "report.html").read_text() == "someone else's report"
    assert not (out / "chains" / "stale.pem").exists() and len(list((out / "chains").iterdir())) == 1


def test_merged_shards_come_out_in_targets_file_order(one_server: int, tmp_path: Path) -> None:
    names = [f"svc-{i:02}" for i in range(12)][::-1]
    targets = write_targets(tmp_path / "t.toml", names, one_server)
    for index in (1, 2, 3):
        assert scan("--targets", str(targets), "--out", str(tmp_path / f"s{index}"), "--shard", f"{index}/3",
                    "--format", "json", "--fail-on", "never", "--quiet").exit_code == 0
    result = CliRunner().invoke(cli, ["merge", str(tmp_path / "merged"), *(str(tmp_path / f"s{i}") for i in (3, 1, 2)),
                                      "--format", "json", "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    merged = list(iter_endpoints(tmp_path / "merged/results.json"))
    assert [e["target"]["name"] for e in merged] == names
    assert len(json.loads((tmp_path / "merged/results.json").read_text())["certificates"]) == 2
    assert sorted(f"chains/{p.name}" for p in (tmp_path / "merged/chains").iterdir()) == sorted(e["chain_file"] for e in merged)
    # a shard scanned by a dccscan with another check catalogue is not part of this scan
    add_header_keys(tmp_path / "s1/results.json", checks=[{"id": "other.check", "title": "t", "severity": "info"}])
    refused = CliRunner().invoke(cli, ["merge", str(tmp_path / "again"), *(str(tmp_path / f"s{i}") for i in (1, 2, 3))])
    assert refused.exit_code == 2 and "check catalogue" in refused.output, refused.output


def test_merge_reads_a_dccscan1_folder_and_writes_dccscan2(tmp_path: Path) -> None:
    """An old scan's folder given to merge alone comes out as dccscan/2, with the same endpoints."""
    result = CliRunner().invoke(cli, ["merge", str(tmp_path / "out"), str(V1), "--format", "json", "--quiet"],
                                catch_exceptions=False)
    assert result.exit_code == 1, result.output  # the demo's findings, as the scan itself exited
    merged = tmp_path / "out/results.json"
    jsonschema.validate(json.loads(merged.read_text()), SCHEMA)
    old = list(iter_endpoints(V1 / "results.json"))
    assert [without_new_keys(e) for e in iter_endpoints(merged)] == old  # order kept: no positions to sort by
    for endpoint in iter_endpoints(merged):
        if endpoint["chain"]:
            assert (tmp_path / "out" / endpoint["chain_file"]).read_text() == \
                "".join(c["pem"] for c in endpoint["chain"])


@pytest.mark.parametrize("edit", ["dangling", "not-ascii"])
def test_merge_of_an_edited_results_file_is_an_input_error(tmp_path: Path, edit: str) -> None:
    source = rewrite_as_v2(V1 / "results.json", tmp_path / "in")
    text = source.read_text()
    if edit == "dangling":
        digest = json.loads(text)["endpoints"][0]["chain"][0]
        text = text.replace(f'"{digest}": ', f'"{"0" * 64}": ', 1)
    else:
        table = text.index(CERTIFICATES_LINE)  # a certificate's pem, not the trust anchor's in the header
        text = text[:table] + text[table:].replace("-----BEGIN CERTIFICATE-----\\nMII", "-----BEGIN CERTIFICATE-----\\nMIé", 1)
    source.write_text(text)
    result = CliRunner().invoke(cli, ["merge", str(tmp_path / "out"), str(tmp_path / "in"), "--format", "json"])
    assert result.exit_code == 2 and "results.json" in result.output and "Traceback" not in result.output, result.output
    assert not (tmp_path / "out/results.json").exists()


def test_leftovers_of_a_killed_run_are_swept_but_a_live_runs_are_not(one_server: int, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    dead, alive = finished.pid, os.getpid()
    out = tmp_path / "out"
    (out / "chains").mkdir(parents=True)
    (out / "revocation").mkdir()
    leftovers = [f".endpoints-{dead}-k1x.spool", f".certificates-{dead}-k2x.spool",
                 f".results.json.{dead}-deadbeef.tmp", f"chains/.a.pem.{dead}-0123abcd.tmp",
                 f"revocation/.{'ab' * 32}.crl.{dead}-0123abcd.tmp"]
    kept = [f".endpoints-{alive}-k3x.spool", ".dccscan-notes"]
    for name in leftovers + kept:
        (out / name).write_text("x")
    targets = write_targets(tmp_path / "t.toml", ["one"], one_server)
    assert scan("--targets", str(targets), "--out", str(out), "--format", "json",
                "--fail-on", "never", "--quiet").exit_code == 0
    assert [name for name in leftovers if (out / name).exists()] == []
    assert all((out / name).exists() for name in kept)

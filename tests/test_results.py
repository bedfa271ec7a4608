"""Runner + results: streamed records, the results.json layout, schema validity, exit codes."""

from __future__ import annotations

import dataclasses

import importlib.util
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import trio
import trio.testing

from scanner.lab.pki import Issued, LabPKI
from scanner.lab.servers import ServerSpec, serve
from scanner.probe.runner import Outcome, scan_targets
from scanner.assess import endpoint_record, evaluate_chain
from scanner.results import (CERTIFICATES_LINE, ENDPOINTS_LINE, ResultsWriter, Summary, copy_inputs, endpoint_id,
                             iter_certificates, iter_endpoints, load, read_header, safe_id)
from scanner.targets import parse_cli_target
from tests.lab_fixtures import client, leaf, pki, tls_spec  # noqa: F401 - fixtures

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "scanner/schema/results.schema.json").read_text())
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
SETTINGS = {"concurrency": 4, "timeout": 5.0, "fail_on": "error", "trust_anchors": [], "profile": None}


async def scan(specs: list[ServerSpec], nursery: trio.Nursery, extra: list[str] = ()) -> tuple[list[Outcome], list[tuple[int, int]]]:
    ports = [await nursery.start(serve, spec) for spec in specs]
    targets = [parse_cli_target(f"127.0.0.1:{p}", hostname="gw.dcc-user.example", timeout=5) for p in ports]
    targets += [parse_cli_target(text, timeout=5) for text in extra]
    outcomes: list[Outcome] = []
    progress: list[tuple[int, int]] = []
    await scan_targets(targets, concurrency=2, sink=outcomes.append, progress=lambda d, t: progress.append((d, t)))
    return outcomes, progress


async def test_runner_streams_one_outcome_per_endpoint(nursery: trio.Nursery, leaf: Issued) -> None:
    specs = [tls_spec(leaf), ServerSpec(kind="closed"), tls_spec(leaf)]
    outcomes, progress = await scan(specs, nursery, extra=["nothing-here.invalid:443"])
    assert len(outcomes) == 4 and [p[0] for p in progress] == [1, 2, 3, 4]
    kinds = sorted(o.error.kind if o.error else "ok" for o in outcomes)
    assert kinds == ["dns", "ok", "ok", "refused"]
    dns = next(o for o in outcomes if o.error and o.error.kind == "dns")
    assert dns.address is None


def write_results(tmp_path: Path, outcomes: list[Outcome],
                  anchors: list[bytes] | None = None) -> tuple[Path, ResultsWriter]:
    writer = ResultsWriter(tmp_path, started_at=NOW, targets_file=None, settings=SETTINGS)
    for outcome in outcomes:
        writer.add(endpoint_record(outcome, anchors=anchors, profile=None))
    return writer.finish(NOW), writer


async def test_results_json_layout_schema_and_chains(nursery: trio.Nursery, tmp_path: Path, pki: LabPKI,
                                                     leaf: Issued) -> None:
    specs = [tls_spec(leaf), tls_spec(leaf, client_auth="required", client_cas=[pki.issuing.pem]),
             ServerSpec(kind="http")]
    outcomes, _ = await scan(specs, nursery)
    path, writer = write_results(tmp_path, outcomes, anchors=[pki.root.der])
    raw = json.loads(path.read_text())
    jsonschema.validate(raw, SCHEMA)
    document = load(path)
    assert all(f["severity"] != "error" for e in document["endpoints"] for f in e["findings"])
    lines = path.read_text().splitlines()
    assert lines[0] == "{" and lines[1] == '"schema": "dccscan/2",'
    table = lines.index(CERTIFICATES_LINE)
    start = lines.index(ENDPOINTS_LINE)
    # the leaf and the issuing CA, each once, although two endpoints presented both
    assert start == table + 1 + 2 + 1 and lines[start - 1] == "},"
    assert len(raw["certificates"]) == 2 and sorted(raw["certificates"]) == [lines[table + 1][1:65], lines[table + 2][1:65]]
    assert len(lines) == start + 1 + 3 + 1 and lines[-1] == "]}"  # one endpoint per line
    assert read_header(path) == {k: v for k, v in raw.items() if k not in ("endpoints", "certificates")}
    assert dict(iter_certificates(path)) == raw["certificates"]
    for streamed, whole in zip(iter_endpoints(path), raw["endpoints"]):
        assert streamed["chain"] == [{"index": i, **raw["certificates"][d]} for i, d in enumerate(whole["chain"])]
        assert {k: v for k, v in streamed.items() if k != "chain"} == {k: v for k, v in whole.items() if k != "chain"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chains", "results.json"]  # no spool left
    assert document["summary"]["by_status"] == {"ok": 2, "error": 1}
    assert document["summary"]["exit_code"] == 3
    required = next(e for e in document["endpoints"] if e["tls"] and e["tls"]["client_auth"] == "required")
    assert required["status"] == "ok" and len(required["chain"]) == 2
    assert [c["index"] for c in required["chain"]] == [0, 1] and list(required["chain"][0])[:2] == ["index", "pem"]
    for endpoint in document["endpoints"]:
        if endpoint["chain"]:
            assert (tmp_path / endpoint["chain_file"]).read_bytes() == leaf.chain_pem()  # byte-identical, leaf first
        else:
            assert endpoint["chain_file"] is None and endpoint["error"]["kind"] == "not-tls"
    assert len(list((tmp_path / "chains").iterdir())) == 2


def test_iter_endpoints_reads_a_plain_json_document(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"schema": "dccscan/1", "endpoints": [{"id": "a"}, {"id": "b"}]}, indent=2))
    assert [e["id"] for e in iter_endpoints(path)] == ["a", "b"]
    assert read_header(path) == {"schema": "dccscan/1"}


def test_endpoint_ids() -> None:
    assert endpoint_id("gw", "::1", "gw.example", 443) == "gw@[::1]:443"
    assert endpoint_id("gw", None, "gw.example", 443) == "gw@gw.example:443"
    assert safe_id("gw one@[::1]:443") == "gw_one@___1__443"


def endpoint(status: str = "ok", severities: tuple[str, ...] = ()) -> dict[str, Any]:
    findings = [{"id": "x.y", "severity": s, "title": "t", "certificate_index": 0, "detail": "d"} for s in severities]
    return {"status": status, "target": {"interface": "gateway"}, "findings": findings}


@pytest.mark.parametrize(("endpoints", "fail_on", "complete", "code"), [
    ([endpoint()], "error", True, 0),
    ([endpoint(severities=("warning",))], "error", True, 0),
    ([endpoint(severities=("warning",))], "warning", True, 1),
    ([endpoint(severities=("error",)), endpoint("error")], "error", True, 1),
    ([endpoint(severities=("error",))], "never", True, 0),
    ([endpoint(), endpoint("error")], "error", True, 3),
    ([endpoint()], "error", False, 3),
    ([endpoint(severities=("info",))], "notice", True, 0),
])
def test_exit_codes(endpoints: list[dict[str, Any]], fail_on: str, complete: bool, code: int) -> None:
    summary = Summary(fail_on=fail_on)
    for item in endpoints:
        summary.add(item)
    assert summary.exit_code(complete) == code
    assert summary.to_json(complete)["by_interface"]["gateway"]["ok" if endpoints[0]["status"] == "ok" else "error"] >= 1


def test_evaluation_is_skipped_while_the_engine_is_absent(leaf: Issued) -> None:
    if importlib.util.find_spec("scanner.evaluate") is not None:
        result = evaluate_chain([leaf.der], "gw.dcc-user.example", None, NOW, None)
        assert result is not None and {"browsers", "profile", "findings"} <= set(result)
    else:
        assert evaluate_chain([leaf.der], "gw.dcc-user.example", None, NOW, None) is None


def test_copy_inputs(tmp_path: Path) -> None:
    (tmp_path / "in.toml").write_text("x = 1\n")
    out = tmp_path / "out"
    out.mkdir()
    copy_inputs(out, tmp_path / "in.toml", tmp_path / "in.toml")
    assert (out / "targets.toml").read_text() == (out / "profile.toml").read_text() == "x = 1\n"


@pytest.mark.parametrize(("concurrency", "per_address", "in_flight"), [(2, None, 2), (10, 1, 1), (10, 3, 3)])
async def test_concurrency_limits_hold(nursery: trio.Nursery, leaf: Issued, concurrency: int,
                                       per_address: int | None, in_flight: int) -> None:
    gate = trio.Event()
    accepted: list[int] = []
    port = await nursery.start(serve, tls_spec(leaf, hold=gate, accepted=accepted))
    # five names behind one load balancer: one address and port (the per-address key)
    targets = [dataclasses.replace(parse_cli_target(f"127.0.0.1:{port}", timeout=60), name=f"lb{i}")
               for i in range(5)]
    outcomes: list[Outcome] = []

    async def run() -> None:
        await scan_targets(targets, concurrency=concurrency, per_address=per_address, sink=outcomes.append)

    nursery.start_soon(run)
    with trio.fail_after(30):  # hang detection only
        while len(accepted) < in_flight:
            await trio.sleep(0.01)
        await trio.testing.wait_all_tasks_blocked(cushion=0.2)
    assert len(accepted) == in_flight  # the others wait for a limiter, not for the server
    gate.set()
    with trio.fail_after(30):
        while len(outcomes) < 5:
            await trio.sleep(0.01)
    assert all(o.error is None for o in outcomes) and len(accepted) == 5


async def test_every_address_of_a_name_is_its_own_endpoint(nursery: trio.Nursery, leaf: Issued) -> None:
    from scanner.probe.resolve import resolve
    port = await nursery.start(serve, tls_spec(leaf))
    addresses = await resolve("localhost", port)
    outcomes: list[Outcome] = []
    await scan_targets([parse_cli_target(f"localhost:{port}", timeout=10)], concurrency=4, sink=outcomes.append)
    assert sorted(o.address for o in outcomes) == sorted(addresses)
    assert next(o for o in outcomes if o.address == "127.0.0.1").error is None
    ids = {endpoint_record(o, anchors=None, profile=None)["id"] for o in outcomes}
    assert len(ids) == len(addresses)

"""``dccscan scan`` end to end against loopback servers running in a background thread."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import jsonschema
import pytest
from click.testing import CliRunner, Result

from scanner.cli import cli
from scanner.lab.pki import Issued, LabPKI
from scanner.lab.servers import LabEstate, ServerSpec, ipv6_available
from scanner.results import load
from tests.lab_fixtures import client, leaf, pki, tls_spec  # noqa: F401 - fixtures

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "scanner/schema/results.schema.json").read_text())
HOST = "gw.dcc-user.example"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["scan", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def small_estate(leaf: Issued, pki: LabPKI) -> Iterator[dict[str, int]]:
    specs = {"good": tls_spec(leaf), "closed": ServerSpec(kind="closed"),
             "mtls": tls_spec(leaf, client_auth="required", client_cas=[pki.issuing.pem])}
    with LabEstate(list(specs.values())) as ports:
        yield dict(zip(specs, ports))


def test_one_cli_target_exit_0(small_estate: dict[str, int], tmp_path: Path, pki: LabPKI) -> None:
    (tmp_path / "root.pem").write_bytes(pki.root.pem)
    result = run(f"127.0.0.1:{small_estate['good']}", "--hostname", HOST, "--out", str(tmp_path / "out"),
                 "--format", "json", "--trust-anchor", str(tmp_path / "root.pem"), "--fail-on", "never")
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "out/results.json").read_text())
    jsonschema.validate(document, SCHEMA)
    assert document["targets_file"] is None
    assert [a["sha256"] for a in document["settings"]["trust_anchors"]] == [
        __import__("hashlib").sha256(pki.root.der).hexdigest()]
    assert document["endpoints"][0]["target"]["hostname"] == HOST
    assert f"127.0.0.1:{small_estate['good']}" in result.output


def test_the_same_cli_target_twice_is_scanned_once(small_estate: dict[str, int], tmp_path: Path) -> None:
    target = f"127.0.0.1:{small_estate['good']}"
    result = run(target, "localhost:1", target, "--hostname", HOST, "--out", str(tmp_path / "out"),
                 "--format", "json", "--fail-on", "never", "--no-client-simulation")
    assert result.exit_code == 3, result.output  # localhost:1 is not scanned
    ids = [e["id"] for e in load(tmp_path / "out/results.json")["endpoints"]]
    assert len(ids) == len(set(ids)) and sum(i.endswith(target) for i in ids) == 1, ids


def test_unscanned_endpoint_exit_3_and_quiet(small_estate: dict[str, int], tmp_path: Path) -> None:
    result = run(f"127.0.0.1:{small_estate['good']}", f"127.0.0.1:{small_estate['closed']}",
                 "--out", str(tmp_path), "--format", "json", "--fail-on", "never", "--quiet")
    assert result.exit_code == 3  # --quiet: a run with something wrong still says what (cron mails it)
    assert f"127.0.0.1:{small_estate['closed']}" in result.stdout and "refused" in result.stdout
    document = json.loads((tmp_path / "results.json").read_text())
    assert document["summary"]["by_status"] == {"ok": 1, "error": 1}
    clean = run(f"127.0.0.1:{small_estate['good']}", "--out", str(tmp_path / "clean"), "--format", "json",
                "--fail-on", "never", "--quiet")
    assert (clean.exit_code, clean.stdout, clean.stderr) == (0, "", "")


def test_client_cert_required_and_mutual_tls(small_estate: dict[str, int], tmp_path: Path, client: Issued) -> None:
    target = f"127.0.0.1:{small_estate['mtls']}"
    result = run(target, "--out", str(tmp_path / "a"), "--format", "json", "--fail-on", "never")
    first = json.loads((tmp_path / "a/results.json").read_text())["endpoints"][0]
    assert result.exit_code == 0 and first["status"] == "ok" and first["tls"]["client_auth"] == "required"
    assert len(first["chain"]) == 2
    (tmp_path / "c.pem").write_bytes(client.pem)
    (tmp_path / "c.key").write_bytes(client.key_pem)
    result = run(target, "--out", str(tmp_path / "b"), "--format", "json", "--fail-on", "never",
                 "--client-cert", str(tmp_path / "c.pem"), "--client-key", str(tmp_path / "c.key"))
    second = json.loads((tmp_path / "b/results.json").read_text())["endpoints"][0]
    assert result.exit_code == 0 and second["tls"]["client_cert_sent"] is True


def test_ipv6_cli_target(leaf: Issued, tmp_path: Path) -> None:
    if not ipv6_available():
        pytest.skip("this machine cannot bind ::1 (no IPv6 loopback)")
    with LabEstate([tls_spec(leaf, host="::1")]) as (port,):
        result = run(f"[::1]:{port}", "--out", str(tmp_path), "--format", "json", "--fail-on", "never")
    endpoint = json.loads((tmp_path / "results.json").read_text())["endpoints"][0]
    assert result.exit_code == 0 and endpoint["id"] == f"[::1]:{port}@[::1]:{port}"
    assert (tmp_path / endpoint["chain_file"]).read_bytes() == leaf.chain_pem()


def test_twenty_endpoints_chains_byte_identical(pki: LabPKI, tmp_path: Path) -> None:
    leaves = [pki.leaf(f"node{i}.dcc-user.example", dns=[f"node{i}.dcc-user.example"]) for i in range(20)]
    # vary what is presented: leaf only, leaf + issuing CA, leaf + issuing CA + root
    chains = [[leaf.pem, leaf.pem + pki.issuing.pem, leaf.pem + pki.issuing.pem + pki.root.pem][i % 3]
              for i, leaf in enumerate(leaves)]
    specs = [ServerSpec(chain_pem=c, key_pem=leaf.key_pem) for c, leaf in zip(chains, leaves)]
    with LabEstate(specs) as ports:
        lines = []
        for i, port in enumerate(ports):
            lines += ["[[target]]", f'name = "node-{i}"', 'interface = "gateway"', 'host = "127.0.0.1"',
                      f"port = {port}", f'hostname = "node{i}.dcc-user.example"', ""]
        (tmp_path / "targets.toml").write_text("\n".join(lines))
        result = run("--targets", str(tmp_path / "targets.toml"), "--out", str(tmp_path / "out"),
                     "--format", "json", "--concurrency", "8", "--fail-on", "never")
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    jsonschema.validate(json.loads((out / "results.json").read_text()), SCHEMA)
    document = load(out / "results.json")
    assert document["summary"]["endpoints"] == 20 and document["targets_file"]["sha256"]
    assert (out / "targets.toml").read_bytes() == (tmp_path / "targets.toml").read_bytes()
    for endpoint in document["endpoints"]:
        index = int(endpoint["target"]["name"].split("-")[1])
        assert (out / endpoint["chain_file"]).read_bytes() == chains[index]
        assert "".join(c["pem"] for c in endpoint["chain"]).encode() == chains[index]
    # targets-file order, whatever order the handshakes finished in (issue 16)
    assert [e["target"]["name"] for e in document["endpoints"]] == [f"node-{i}" for i in range(20)]
    assert [e["position"] for e in document["endpoints"]] == list(range(20))


def test_invalid_targets_file_exit_2_nothing_scanned(tmp_path: Path) -> None:
    (tmp_path / "t.toml").write_text('[[target]]\nname = "a"\nhost = "127.0.0.1"\nport = 0\n')
    result = CliRunner().invoke(cli, ["scan", "--targets", str(tmp_path / "t.toml"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert f"{tmp_path / 't.toml'}:4: port 0 is out of range" in result.output and "fix:" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args", [[], ["127.0.0.1", "--targets", "x.toml"], ["127.0.0.1", "--format", "pdf"],
                                  ["127.0.0.1:99999"], ["127.0.0.1", "--fail-on", "sometimes"]])
def test_bad_command_lines_exit_2(args: list[str], tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["scan", "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "o").exists()


def test_no_traceback_from_the_real_process(tmp_path: Path) -> None:
    (tmp_path / "t.toml").write_text('[[target]]\nname = "a"\nhost = "127.0.0.1"\nsurprise = 1\n')
    done = subprocess.run([sys.executable, "-m", "scanner", "scan", "--targets", str(tmp_path / "t.toml")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "t.toml:4: unknown key 'surprise'" in done.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopped_scan_keeps_results_and_lists_not_reached(leaf: Issued, tmp_path: Path, sig: int) -> None:
    with LabEstate([tls_spec(leaf), ServerSpec(kind="silent")]) as (good, silent):
        out = tmp_path / "out"
        process = subprocess.Popen([sys.executable, "-m", "scanner", "scan", f"127.0.0.1:{good}",
                                    f"127.0.0.1:{silent}", "--timeout", "120", "--out", str(out),
                                    "--format", "json", "--fail-on", "never"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60  # hang detection only
        while not list(out.glob("chains/*.pem")) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 3, stderr
    document = json.loads((out / "results.json").read_text())
    jsonschema.validate(document, SCHEMA)
    assert document["complete"] is False
    assert [t["name"] for t in document["not_reached"]] == [f"127.0.0.1:{silent}"]
    assert document["summary"]["by_status"] == {"ok": 1} and document["summary"]["exit_code"] == 3


def test_progress_bar_only_on_a_terminal(leaf: Issued, tmp_path: Path) -> None:
    pty = pytest.importorskip("pty", reason="no pseudo-terminals on this platform")
    with LabEstate([tls_spec(leaf)]) as (port,):
        command = [sys.executable, "-m", "scanner", "scan", f"127.0.0.1:{port}", "--format", "json",
                   "--fail-on", "never"]
        plain = subprocess.run([*command, "--out", str(tmp_path / "a")], capture_output=True, text=True, timeout=120)
        controller, terminal = pty.openpty()
        try:
            done = subprocess.run([*command, "--out", str(tmp_path / "b")], stdout=subprocess.PIPE,
                                  stderr=terminal, text=True, timeout=120)
            os.set_blocking(controller, False)
            drawn = os.read(controller, 65536).decode("utf-8", "replace")
        finally:
            os.close(controller)
            os.close(terminal)
    assert plain.returncode == done.returncode == 0
    assert "scanning" not in plain.stderr and f"127.0.0.1:{port}" in plain.stdout  # cron: summary only
    assert "scanning" in drawn and "1/1" in drawn


def test_unwritable_out_is_input_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    result = CliRunner().invoke(cli, ["scan", "127.0.0.1:1", "--out", str(tmp_path / "file" / "sub")])
    assert result.exit_code == 2 and "cannot write the output folder" in result.output and "fix:" in result.output

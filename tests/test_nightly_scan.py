"""The nightly options of ``dccscan scan`` end to end (issue 5 "Done when" 1 and 3, issue 4's
``--evidence``): real loopback estates, real history database, real webhook receiver, real
``dccscan`` processes where the behaviour is about processes (lock, deadline)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from scanner.certinfo import sha256_hex
from scanner.cli import EXIT_LOCKED, cli
from scanner.history import integrity_problems, list_scans
from scanner.history.diff import CHANGE_KINDS
from scanner.lab.pki import Issued, LabPKI
from scanner.lab.servers import LabEstate, ServerSpec
from scanner.results import read_header
from scanner.runlock import EXIT_LOCKED as RUNLOCK_EXIT_LOCKED
from scanner.runlock import lock_path_for
from tests.lab_fixtures import leaf, pki, tls_spec, write  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "scanner/schema/results.schema.json").read_text())
HOST = "gw.dcc-user.example"
HANG = 120.0  # hang detection only, never a speed requirement


def dccscan(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def targets_toml(path: Path, ports: dict[str, int], root: Path) -> Path:
    lines = [f'[defaults]\ntrust_anchors = ["{root}"]\ntimeout = 20\n']
    for name, port in ports.items():
        lines.append(f'[[target]]\nname = "{name}"\ninterface = "gateway"\nhost = "127.0.0.1"\nport = {port}\n'
                     f'hostname = "{HOST}"\n')
    return write(path, "\n".join(lines).encode())


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(json.loads(body))  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP receiver on 127.0.0.1: (URL with a secret in its path, the JSON bodies received)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/secret-token", server.received  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=HANG)


@dataclass
class Nightly:
    """Two recorded scans of one targets file, with a rotation, a stopped endpoint and a finding."""

    tmp: Path
    db: Path
    first: Path
    second: Path
    ids: dict[str, str]
    old_leaf: Issued
    new_leaf: Issued
    pack: Path
    public_key: Path
    first_run: Result
    second_run: Result
    hook: list[dict[str, Any]]


@pytest.fixture(scope="module")
def nightly(pki: LabPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nightly]:
    tmp = tmp_path_factory.mktemp("nightly")
    root = write(tmp / "root.pem", pki.root.pem)
    profile = write(tmp / "profile.toml", b"[profile]\ncn_must_be_in_san = true\n")
    steady = pki.leaf(HOST, dns=[HOST])
    old_leaf, stopping = pki.leaf(HOST, dns=[HOST]), pki.leaf(HOST, dns=[HOST])
    new_leaf = pki.leaf("gw-2026.dcc-user.example", dns=[HOST])  # CN not in the SAN: one new finding
    key = ed25519.Ed25519PrivateKey.generate()
    sign_key = write(tmp / "signer.key", key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                            serialization.NoEncryption()))
    public_key = write(tmp / "signer.pub", key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    db, targets = tmp / "history.db", tmp / "targets.toml"
    common = ["scan", "--targets", str(targets), "--db", str(db), "--profile", str(profile), "--fail-on", "never",
              "--log-format", "json"]
    with LabEstate([tls_spec(steady), tls_spec(old_leaf), tls_spec(stopping)]) as (p1, p2, p3):
        ports = {"steady": p1, "rotating": p2, "stopping": p3}
        targets_toml(targets, ports, root)
        first = dccscan(*common, "--out", str(tmp / "first"), "--quiet")
    assert first.exit_code == 0, first.output
    second_specs = [tls_spec(steady, port=p1), tls_spec(new_leaf, port=p2), ServerSpec(kind="closed", port=p3)]
    with LabEstate(second_specs), webhook_receiver() as (url, received):
        second = dccscan(*common, "--out", str(tmp / "second"), "--notify-webhook", url,
                         "--evidence", str(tmp / "evidence" / "night-2.zip"), "--sign-key", str(sign_key))
    ids = {name: f"{name}@127.0.0.1:{port}" for name, port in ports.items()}
    yield Nightly(tmp=tmp, db=db, first=tmp / "first", second=tmp / "second", ids=ids, old_leaf=old_leaf,
                  new_leaf=new_leaf, pack=tmp / "evidence" / "night-2.zip", public_key=public_key,
                  first_run=first, second_run=second, hook=received)


def _expected_counts() -> dict[str, int]:
    return {kind: {"rotated": 1, "unreachable": 1, "appeared": 1}.get(kind, 0) for kind in CHANGE_KINDS}


def test_diff_shows_exactly_the_rotation_the_stopped_endpoint_and_the_new_finding(nightly: Nightly) -> None:
    assert nightly.second_run.exit_code == 3, nightly.second_run.output  # the stopped endpoint is unscanned
    result = dccscan("diff", "--db", str(nightly.db), "--format", "json")
    changes = json.loads(result.stdout)
    assert {kind: len(changes[kind]) for kind in CHANGE_KINDS} == _expected_counts()
    (rotated,) = changes["rotated"]
    assert rotated["endpoint"] == nightly.ids["rotating"]
    assert (rotated["old_sha256"], rotated["new_sha256"]) == (sha256_hex(nightly.old_leaf.der),
                                                              sha256_hex(nightly.new_leaf.der))
    assert [c["endpoint"] for c in changes["unreachable"]] == [nightly.ids["stopping"]]
    assert changes["unreachable"][0]["error_kind"] == "refused"
    assert [(c["endpoint"], c["finding"]) for c in changes["appeared"]] == [(nightly.ids["rotating"], "dccki.cn.not_in_san")]
    text = dccscan("diff", "--db", str(nightly.db)).stdout
    for heading in ("Certificates rotated (1)", "Endpoints now unreachable (1)", "Findings appeared (1)"):
        assert heading in text
    assert "Findings resolved" not in text and "Browser verdict changes" not in text


def test_results_carry_the_changes_and_the_report_shows_them(nightly: Nightly) -> None:
    document = json.loads((nightly.second / "results.json").read_text())
    jsonschema.validate(document, SCHEMA)
    first = read_header(nightly.first / "results.json")
    assert "changes" not in first  # the first recorded scan has nothing to compare with
    changes = document["changes"]
    assert changes["since"] == first["started_at"] and (changes["from_scan"], changes["to_scan"]) == (1, 2)
    diffed = json.loads(dccscan("diff", "--db", str(nightly.db), "--format", "json").stdout)
    assert changes == diffed
    report = (nightly.second / "report.html").read_text()
    assert f"Changes since {first['started_at']}" in report
    section = report.split('id="changes-h"', 1)[1].split("</section>", 1)[0]
    for title in ("Certificates rotated (1)", "Endpoints now unreachable (1)", "Findings appeared (1)"):
        assert title in section  # dccscan diff's titles, as tables
    assert nightly.ids["stopping"] in section and nightly.ids["rotating"] in section
    assert nightly.ids["steady"] not in section and "Findings resolved" not in section
    assert "Changes since" not in (nightly.first / "report.html").read_text()


def test_results_carry_the_trend_and_the_report_draws_it(nightly: Nightly) -> None:
    """The nightly step adds the history's counts for this scan and the earlier ones (oldest
    first); the report draws them as inline SVG, with no network resource."""
    trend = json.loads((nightly.second / "results.json").read_text())["trend"]
    assert [p["scan_id"] for p in trend] == [1, 2]
    assert [p["unreachable"] for p in trend] == [0, 1]  # the stopping endpoint, second night
    assert [p["refused"] for p in trend] == [{"chrome": 0, "firefox": 0}] * 2
    assert [p["endpoints"] for p in trend] == [3, 3] and all(p["expiring"] == 0 for p in trend)
    report = (nightly.second / "report.html").read_text()
    chart = report.split('<figure class="trend">', 1)[1].split("</figure>", 1)[0]
    assert "Trend over the last 2 scans" in chart and "Unreachable: 1" in chart and "href" not in chart
    assert "trend" not in read_header(nightly.first / "results.json")


def test_history_lists_both_scans_and_the_database_is_sound(nightly: Nightly) -> None:
    scans = list_scans(nightly.db)
    assert [s["id"] for s in scans] == [1, 2] and [s["exit_code"] for s in scans] == [0, 3]
    assert integrity_problems(nightly.db) == []


def test_webhook_receives_the_summary_and_the_changes(nightly: Nightly) -> None:
    (payload,) = nightly.hook
    header = read_header(nightly.second / "results.json")
    assert payload["event"] == "dccscan.scan" and payload["scan_id"] == 2
    assert payload["summary"] == header["summary"] and payload["exit_code"] == 3
    assert payload["change_counts"] == _expected_counts()
    assert payload["changes"] == header["changes"]


def test_log_lines_are_json_and_never_show_the_webhook_secret(nightly: Nightly) -> None:
    lines = [json.loads(line) for line in nightly.second_run.stderr.splitlines()]
    events = [line["event"] for line in lines]
    assert events == ["run.started", "history.recorded", "evidence.written", "webhook.sent", "run.finished"]
    assert "secret-token" not in nightly.second_run.stderr


def test_a_clean_quiet_night_prints_nothing(nightly: Nightly) -> None:
    """The first night is clean (exit 0) and ran with --quiet: no summary, no INFO log line."""
    assert (nightly.first_run.exit_code, nightly.first_run.stdout, nightly.first_run.stderr) == (0, "", "")
    assert list_scans(nightly.db)[0]["exit_code"] == 0


def test_evidence_pack_of_the_scan_verifies_with_the_real_engine(nightly: Nightly) -> None:
    done = subprocess.run([sys.executable, "-m", "scanner", "verify-evidence", str(nightly.pack),
                           "--public-key", str(nightly.public_key)], capture_output=True, text=True, timeout=HANG)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 endpoint(s) re-evaluated to the recorded verdicts" in done.stdout
    with zipfile.ZipFile(nightly.pack) as pack:
        assert pack.read("results.json") == (nightly.second / "results.json").read_bytes()
        assert b"Changes since" in pack.read("report.html")


def test_exit_code_4_is_one_value() -> None:
    assert EXIT_LOCKED == RUNLOCK_EXIT_LOCKED == 4


def _popen(args: list[str], stderr: Path) -> subprocess.Popen[str]:
    with open(stderr, "w") as handle:
        return subprocess.Popen([sys.executable, "-m", "scanner", "scan", *args], stdout=subprocess.DEVNULL,
                                stderr=handle, text=True)


def _wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + HANG
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"hang: {what}")
        time.sleep(0.05)


def test_two_runs_on_one_database_never_overlap(leaf: Issued, tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    common = ["--db", str(db), "--format", "json", "--fail-on", "never", "--log-format", "json"]
    with LabEstate([tls_spec(leaf), ServerSpec(kind="silent")]) as (good, silent):
        holder = _popen([f"127.0.0.1:{good}", f"127.0.0.1:{silent}", "--timeout", "300", "--out",
                         str(tmp_path / "a"), *common], tmp_path / "a.err")
        try:
            _wait_for(lambda: f"pid {holder.pid}" in (lock_path_for(db).read_text() if lock_path_for(db).exists() else "")
                      and list((tmp_path / "a").glob("chains/*.pem")), "the first run to hold the lock and scan")
            refused = subprocess.run([sys.executable, "-m", "scanner", "scan", f"127.0.0.1:{good}", "--out",
                                      str(tmp_path / "b"), *common], capture_output=True, text=True, timeout=HANG)
            assert refused.returncode == 4
            assert f"pid {holder.pid}" in refused.stderr and "Nothing was scanned or changed" in refused.stderr
            assert not (tmp_path / "b" / "results.json").exists()
            waiter = _popen([f"127.0.0.1:{good}", "--out", str(tmp_path / "c"), "--wait-lock", "300", *common],
                            tmp_path / "c.err")
            _wait_for(lambda: "run.lock_wait" in (tmp_path / "c.err").read_text(), "the third run to wait")
            assert waiter.poll() is None and not (tmp_path / "c" / "results.json").exists()
            holder.send_signal(signal.SIGTERM)
            assert holder.wait(timeout=HANG) == 3
            assert waiter.wait(timeout=HANG) == 0, (tmp_path / "c.err").read_text()
        finally:
            for process in (holder, locals().get("waiter")):
                if process is not None and process.poll() is None:
                    process.kill()
                    process.wait()
    first, third = read_header(tmp_path / "a/results.json"), read_header(tmp_path / "c/results.json")
    assert first["complete"] is False and third["started_at"] >= first["finished_at"]
    assert [s["complete"] for s in list_scans(db)] == [False, True]
    assert integrity_problems(db) == []


def test_max_duration_stops_a_silent_endpoint_and_keeps_what_was_gathered(leaf: Issued, tmp_path: Path) -> None:
    with LabEstate([tls_spec(leaf), ServerSpec(kind="silent")]) as (good, silent):
        done = subprocess.run([sys.executable, "-m", "scanner", "scan", f"127.0.0.1:{good}", f"127.0.0.1:{silent}",
                               "--timeout", "600", "--max-duration", "6", "--out", str(tmp_path / "out"),
                               "--format", "json,html", "--fail-on", "never", "--db", str(tmp_path / "h.db"),
                               "--log-format", "json"], capture_output=True, text=True, timeout=HANG)
    assert done.returncode == 3, done.stderr
    document = json.loads((tmp_path / "out/results.json").read_text())
    jsonschema.validate(document, SCHEMA)
    assert document["complete"] is False
    assert [t["port"] for t in document["not_reached"]] == [silent]
    assert [e["target"]["port"] for e in document["endpoints"]] == [good]
    assert "run.deadline" in [json.loads(line)["event"] for line in done.stderr.splitlines()]
    assert [s["complete"] for s in list_scans(tmp_path / "h.db")] == [False]


@pytest.mark.parametrize("args, message", [
    (["--notify-webhook", "ftp://example.net/x"], "is not an http:// or https:// URL"),
    (["--sign-key", "KEY"], "no --evidence PACK.zip was given"),
    (["--evidence", "p.zip", "--sign-key", "missing.pem"], "cannot read the signing key"),
    (["--db", "KEY/h.db"], "the folder of --db does not exist"),
    (["--evidence", "DIR"], "--evidence"),
])
def test_bad_nightly_options_exit_2_before_scanning(args: list[str], message: str, tmp_path: Path) -> None:
    (tmp_path / "KEY").write_text("not a key")
    (tmp_path / "DIR").mkdir()
    args = [str(tmp_path / a) if a in ("KEY", "DIR", "missing.pem", "p.zip", "KEY/h.db") else a for a in args]
    result = CliRunner().invoke(cli, ["scan", "127.0.0.1:1", "--out", str(tmp_path / "out"), *args])
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "out" / "results.json").exists()


def test_a_failing_webhook_is_logged_and_changes_nothing(leaf: Issued, tmp_path: Path) -> None:
    from scanner.lab.servers import closed_port
    url = f"http://127.0.0.1:{closed_port()}/hook?token=secret"
    with LabEstate([tls_spec(leaf)]) as (port,):
        result = dccscan("scan", f"127.0.0.1:{port}", "--out", str(tmp_path), "--format", "json",
                         "--fail-on", "never", "--notify-webhook", url, "--log-format", "json")
    assert result.exit_code == 0
    events = {json.loads(line)["event"]: json.loads(line) for line in result.stderr.splitlines()}
    assert events["webhook.failed"]["level"] == "warning" and "secret" not in result.stderr
    assert read_header(tmp_path / "results.json")["summary"]["exit_code"] == 0


def test_recorded_time_is_the_evaluation_time(pki: LabPKI, tmp_path: Path) -> None:
    """A certificate that expired half a second before the scan: the recorded verdict must be the
    one re-evaluation at the recorded (whole-second) ``scanned_at`` gives, or the pack would not
    verify (the engine evaluates at whole seconds for exactly this reason)."""
    from datetime import datetime, timezone

    from scanner.evidence import build_pack, verify_pack
    from scanner.probe.runner import Outcome
    from scanner.probe.tls import Capture
    from scanner.assess import endpoint_record
    from scanner.results import ResultsWriter
    from scanner.targets import parse_cli_target

    expiry = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
    issued = pki.leaf(HOST, dns=[HOST], not_before=expiry - timedelta(days=90), not_after=expiry)
    target = parse_cli_target("127.0.0.1:443", hostname=HOST, timeout=5.0, trust_anchors=(), client_cert=None,
                              client_key=None)
    outcome = Outcome(target=target, address="127.0.0.1", capture=Capture(chain=[issued.der, pki.issuing.der]),
                      error=None, scanned_at=expiry + timedelta(microseconds=500_000), duration_ms=1.0)
    writer = ResultsWriter(tmp_path, started_at=expiry, targets_file=None,
                           settings={"concurrency": 1, "timeout": 5.0, "fail_on": "never", "profile": None,
                                     "trust_anchors": [{"pem": pki.root.pem.decode(), "sha256": sha256_hex(pki.root.der)}]})
    writer.add(endpoint_record(outcome, anchors=[pki.root.der], profile=None))
    writer.finish(expiry)
    verification = verify_pack(build_pack(tmp_path, tmp_path / "pack.zip"))
    assert verification.ok and verification.endpoints_reevaluated == 1, verification.problems


def test_a_night_renders_its_reports_once_after_the_history_step(leaf: Issued, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """With --db the reports are written once per night, after the changes are in results.json
    (they were written, then written again with the changes: at 100,000 endpoints a whole
    render)."""
    import scanner.report as report

    written: list[Path] = []
    real = report.write_reports

    def counted(results: Path, out_dir: Path, formats: Any) -> Any:
        written.append(Path(out_dir))
        return real(results, out_dir, formats)

    monkeypatch.setattr(report, "write_reports", counted)
    db = tmp_path / "history.db"
    with LabEstate([tls_spec(leaf)]) as (port,):
        for night in ("1", "2"):
            result = dccscan("scan", f"127.0.0.1:{port}", "--db", str(db), "--out", str(tmp_path / night),
                             "--format", "json,html,csv", "--fail-on", "never", "--quiet")
            assert result.exit_code == 0, result.output
    assert written == [tmp_path / "1", tmp_path / "2"]
    second = json.loads((tmp_path / "2" / "results.json").read_text())
    assert second["changes"] is not None and "Changes since" in (tmp_path / "2" / "report.html").read_text()

"""``--format prometheus``: OUT/metrics.prom for a real scan of a mixed loopback estate, read back
with the official ``prometheus_client`` parser and checked value by value against results.json;
label escaping with hostile target names and certificate text; ``promtool`` on the file, on the
example alerting rules (syntax and, with ``promtool test rules``, which alerts this very scan
raises); the textfile-collector wrapper script and its cron and systemd recipes."""

from __future__ import annotations

import configparser
import datetime as dt
import json
import os
import re
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import time
import tracemalloc
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from scanner.cli import cli
from scanner.lab.demo import DemoPKI, estate as demo_estate, host
from scanner.lab.servers import LabEstate, ServerSpec
from scanner.report import write_reports
from scanner.report.prometheus import ENDPOINT_FAMILIES, FAMILIES, SCAN_FAMILIES, label_text, write_prometheus
from scanner.results import iter_endpoints, read_header
from tests.reportdata import build_estate, write_results

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RULES = DOCS / "prometheus-alerts.yml"
WRAPPER = DOCS / "prometheus-textfile.sh"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package "
                                    "'prometheus'): the exposition file and the alerting rules are not checked by it")

# A targets-file name and certificate text no label should be broken or disguised by: quotes,
# backslashes, a line feed, an escape sequence, Unicode bidi overrides and isolates.
HOSTILE_NAME = 'gw "prod" \\ C:\\certs\\\nline2 \u202egnp.exe\x1b[31m'
HOSTILE_CN = 'x"y\\z\n\u202eevil\u2066i\u2069'
HOSTILE_O = 'O "Ltd" \\ back\\slash'
DAY = 86400


def toml_string(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's for text without surrogates)."""
    return json.dumps(text)


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The demo's mixed estate (conformant, CN-only new and grandfathered, expired, missing
    intermediate, self-signed, wildcard, client certificate required, closed port) plus a
    certificate expiring in 10 days and an endpoint with a hostile name and certificate, scanned
    by ``dccscan scan --format json,prometheus``."""
    from scanner.lab.pki import issue, name

    folder = tmp_path_factory.mktemp("prom")
    pki = DemoPKI.create()
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    soon = pki.leaf(host("gw-soon"), dns=[host("gw-soon")], not_before=now - dt.timedelta(days=355), days=365)
    odd = issue(subject=name(HOSTILE_CN, o=HOSTILE_O), issuer=pki.issuing, dns=[host("odd")])
    endpoints = [(e.name, e.interface, e.hostname, e.spec) for e in demo_estate(pki)]
    endpoints += [("gateway-expiring", "gateway", host("gw-soon"),
                   ServerSpec(chain_pem=soon.chain_pem(), key_pem=soon.key_pem)),
                  (HOSTILE_NAME, "other", host("odd"), ServerSpec(chain_pem=odd.chain_pem(), key_pem=odd.key_pem))]
    (folder / "root.pem").write_bytes(pki.root.pem)
    with LabEstate([spec for *_, spec in endpoints]) as ports:
        lines = ["[defaults]", 'trust_anchors = ["root.pem"]', "timeout = 5"]
        for (tname, interface, hostname, _), port in zip(endpoints, ports):
            lines += ["[[target]]", f"name = {toml_string(tname)}", f'interface = "{interface}"',
                      'host = "127.0.0.1"', f"port = {port}", f'hostname = "{hostname}"']
        targets = folder / "targets.toml"
        targets.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out = folder / "out"
        result = CliRunner().invoke(cli, ["scan", "--targets", str(targets), "--out", str(out), "--quiet",
                                          "--format", "json,prometheus"], catch_exceptions=False)
        assert result.exit_code == 1, result.output  # findings (and a closed port)
        yield {"out": out, "targets": targets, "results": out / "results.json", "metrics": out / "metrics.prom"}


def parse(path: Path) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(path.read_text(encoding="utf-8"))}


def samples(path: Path) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the file, keyed by name and label set (a duplicate series fails)."""
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in parse(path).values():
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return out


def unix(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def expected_samples(results: Path) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """What metrics.prom must hold, worked out from results.json on its own terms."""
    header = read_header(results)
    eps = list(iter_endpoints(results))
    want: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}

    def put(name: str, labels: dict[str, Any], value: float) -> None:
        want[(name, frozenset((k, label_text(v)) for k, v in labels.items()))] = value

    tf = header["targets_file"] or {}
    put("dccscan_scan_info", {"version": header["scanner"]["version"], "schema": header["schema"],
                              "targets_file": tf.get("path"), "targets_sha256": tf.get("sha256"),
                              "shard": header["settings"].get("shard"), "fail_on": header["settings"]["fail_on"],
                              "profile": (header["settings"].get("profile") or {}).get("name")}, 1)
    put("dccscan_scan_start_timestamp_seconds", {}, unix(header["started_at"]))
    put("dccscan_scan_duration_seconds", {}, unix(header["finished_at"]) - unix(header["started_at"]))
    put("dccscan_scan_complete", {}, 1 if header["complete"] else 0)
    put("dccscan_scan_endpoints", {}, len(eps))
    put("dccscan_scan_targets_not_reached", {}, len(header["not_reached"]))
    put("dccscan_scan_exit_code", {}, header["summary"]["exit_code"])
    for ep in eps:
        t = ep["target"]
        base = {"target": t["name"], "interface": t["interface"], "hostname": t["hostname"],
                "address": ep["address"], "port": t["port"]}
        tls = ep["tls"] or {}
        put("dccscan_endpoint_info", {**base, "id": ep["id"], "host": t["host"], "tls_version": tls.get("version"),
                                      "client_auth": tls.get("client_auth")}, 1)
        put("dccscan_endpoint_scan_success",
            {**base, "error": (ep["error"] or {}).get("kind") if ep["status"] == "error" else ""},
            1 if ep["status"] == "ok" else 0)
        put("dccscan_endpoint_scan_duration_seconds", base, ep["duration_ms"] / 1000)
        if ep["chain"]:
            leaf = ep["chain"][0]
            put("dccscan_leaf_not_after_timestamp_seconds", base, unix(leaf["not_after"]))
            put("dccscan_chain_earliest_expiry_timestamp_seconds", base,
                min(unix(c["not_after"]) for c in ep["chain"]))
            put("dccscan_leaf_info", {**base, "subject": leaf["subject"], "issuer": leaf["issuer"],
                                      "serial": leaf["serial"], "sha256": leaf["sha256"],
                                      "san": " ".join(f"{s['type']}:{s['value']}" for s in leaf["san"])}, 1)
        for browser, verdict in (ep["browsers"] or {}).items():
            put("dccscan_browser_accepted", {**base, "browser": browser, "error": verdict["error"] or ""},
                1 if verdict["accepted"] else 0)
        status = (ep["profile"] or {}).get("status", "not-evaluated")
        for state in ("compliant", "noncompliant", "grandfathered", "not-evaluated"):
            put("dccscan_profile_status", {**base, "status": state}, 1 if state == status else 0)
        for severity in ("error", "warning", "notice", "info"):
            put("dccscan_endpoint_findings", {**base, "severity": severity},
                sum(1 for f in ep["findings"] or [] if f["severity"] == severity))
    return want


def test_every_value_matches_results_json(scan: dict[str, Any]) -> None:
    got, want = samples(scan["metrics"]), expected_samples(scan["results"])
    assert set(got) == set(want), (set(got) ^ set(want))
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=1e-9), key


def by_target(path: Path, family: str) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for s in parse(path)[family].samples:
        out.setdefault(s.labels["target"], []).append(s)
    return out


def test_the_mixed_estate_reads_as_an_operator_expects(scan: dict[str, Any]) -> None:
    """Not just "equal to results.json": the estate's known situations show in the metrics."""
    metrics = scan["metrics"]
    start = parse(metrics)["dccscan_scan_start_timestamp_seconds"].samples[0].value
    expiry = {t: s[0].value for t, s in by_target(metrics, "dccscan_leaf_not_after_timestamp_seconds").items()}
    assert expiry["gateway-dr"] < start  # expired
    assert start + 9 * DAY < expiry["gateway-expiring"] < start + 11 * DAY
    assert expiry["gateway-primary"] > start + 300 * DAY
    assert "registration-closed" not in expiry  # no chain, no made-up expiry
    success = {t: (s[0].value, s[0].labels["error"])
               for t, s in by_target(metrics, "dccscan_endpoint_scan_success").items()}
    assert success["registration-closed"] == (0, "refused")
    assert success["gateway-mutual-tls"] == (1, "")  # chain captured though a client cert is required
    info = by_target(metrics, "dccscan_endpoint_info")
    assert info["gateway-mutual-tls"][0].labels["client_auth"] == "required"
    browsers = {(t, s.labels["browser"]): (s.value, s.labels["error"])
                for t, ss in by_target(metrics, "dccscan_browser_accepted").items() for s in ss}
    assert browsers[("gateway-primary", "chrome")] == (1, "") == browsers[("gateway-primary", "firefox")]
    assert browsers[("self-service-portal", "chrome")] == (0, "ERR_CERT_COMMON_NAME_INVALID")  # CN only
    assert browsers[("self-service-portal", "firefox")] == (0, "SSL_ERROR_BAD_CERT_DOMAIN")
    assert browsers[("registration-test", "chrome")] == (0, "ERR_CERT_AUTHORITY_INVALID")  # untrusted
    assert browsers[("registration-test", "firefox")][1].startswith(("SEC_ERROR_UNKNOWN_ISSUER", "MOZILLA_PKIX"))
    assert browsers[("gateway-dr", "chrome")] == (0, "ERR_CERT_DATE_INVALID")
    assert not any(t == "registration-closed" for t, _ in browsers)
    profile = {t: [s.labels["status"] for s in ss if s.value == 1]
               for t, ss in by_target(metrics, "dccscan_profile_status").items()}
    assert profile["self-service-portal"] == ["noncompliant"]
    assert profile["registration-legacy"] == ["grandfathered"]
    assert profile["gateway-primary"] == ["compliant"]
    assert profile["registration-closed"] == ["not-evaluated"]
    errors = {t: s.value for t, ss in by_target(metrics, "dccscan_endpoint_findings").items()
              for s in ss if s.labels["severity"] == "error"}
    assert errors["gateway-primary"] == 0 and errors["self-service-portal"] >= 1


def test_format_help_type_grouping_and_names(scan: dict[str, Any]) -> None:
    text = scan["metrics"].read_text(encoding="utf-8")
    families = parse(scan["metrics"])
    assert list(families) == [f.name for f in FAMILIES]  # every family present here, in order
    documented = {f.name: f for f in FAMILIES}
    for name, family in families.items():
        assert family.type == "gauge" and family.documentation == documented[name].help
        assert re.fullmatch(r"dccscan_[a-z_]+", name)
        names = documented[name].labels
        if documented[name] in ENDPOINT_FAMILIES:
            names = ("target", "interface", "hostname", "address", "port", *names)
        assert all(tuple(s.labels) == names for s in family.samples), name
    # every family's samples are in one block right after its own HELP and TYPE lines
    blocks: list[str] = []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            blocks.append(line.split()[2])
        elif line.startswith("# TYPE "):
            assert line == f"# TYPE {blocks[-1]} gauge"
        else:
            assert re.match(r"[a-z_]+", line).group(0) == blocks[-1], line  # type: ignore[union-attr]
    assert len(blocks) == len(set(blocks)) == len(FAMILIES)
    assert text.endswith("\n") and not re.search(r"\} \S+ \S+$", text, re.M)  # no sample timestamps
    assert not list(scan["out"].glob(".*"))  # no spool or temporary file left in OUT


def test_hostile_names_and_certificate_text_are_escaped(scan: dict[str, Any]) -> None:
    raw = scan["metrics"].read_bytes()
    text = raw.decode("utf-8")  # valid UTF-8
    # nothing that breaks a line or reorders text on screen reaches the file
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]", text)
    shown = 'gw "prod" \\ C:\\certs\\\\x0aline2 \\u202egnp.exe\\x1b[31m'
    assert label_text(HOSTILE_NAME) == shown
    assert f'target="{shown.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"' in text
    for family in ENDPOINT_FAMILIES:
        assert shown in by_target(scan["metrics"], family.name), family.name
    (leaf_info,) = by_target(scan["metrics"], "dccscan_leaf_info")[shown]
    (ep,) = [e for e in iter_endpoints(scan["results"]) if e["target"]["name"] == HOSTILE_NAME]
    subject = ep["chain"][0]["subject"]
    assert "\n" in subject and "\u202e" in subject and '"' in subject  # what the certificate said
    assert leaf_info.labels["subject"] == label_text(subject)
    assert 'O=O \\"Ltd\\" \\\\ back' in leaf_info.labels["subject"] and "\\u202eevil\\u2066i\\u2069" in leaf_info.labels["subject"]
    assert "\\x0a" in leaf_info.labels["subject"]


def test_label_text_and_unpaired_surrogates(tmp_path: Path) -> None:
    """JSON can carry an unpaired surrogate (not UTF-8); an interrupted scan reads as incomplete."""
    assert label_text('a"b\\c') == 'a"b\\c' and label_text("Bücher ✓") == "Bücher ✓"
    assert label_text("\ud800\x00\x7f\x85\u2028\ufeff\uffff") == "\\ud800\\x00\\x7f\\x85\\u2028\\ufeff\\uffff"
    document = build_estate(complete=False)
    document["endpoints"][0]["target"]["name"] = "bad\ud800name"
    document["endpoints"][0]["chain"][0]["subject"] = "CN=\udcff"
    results = write_results(document, tmp_path)
    (written,) = write_reports(results, tmp_path, ["prometheus"])
    assert written == tmp_path / "metrics.prom"
    families = parse(written)
    assert "bad\\ud800name" in {s.labels["target"] for s in families["dccscan_endpoint_info"].samples}
    assert "CN=\\udcff" in {s.labels["subject"] for s in families["dccscan_leaf_info"].samples}
    assert families["dccscan_scan_complete"].samples[0].value == 0
    assert families["dccscan_scan_targets_not_reached"].samples[0].value == 1
    assert set(samples(written)) == set(expected_samples(results))


def test_memory_does_not_grow_with_the_estate(tmp_path: Path) -> None:
    """One pass, spooled to files: 10x the endpoints must not mean 10x the memory."""
    document = build_estate()
    template = document["endpoints"][0]

    def peak(count: int) -> int:
        folder = tmp_path / str(count)
        many = dict(document, endpoints=[dict(template, id=f"ep{i}@127.0.0.1:443",
                                              target=dict(template["target"], name=f"ep{i}-" + "x" * 2000))
                                         for i in range(count)])
        results = write_results(many, folder)
        tracemalloc.start()
        try:
            write_prometheus(results, folder / "metrics.prom")
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    peak(1)  # imports and caches first
    small, large = peak(40), peak(400)
    # the 360 more endpoints carry ~9 MB of label text in the output; none of it may stay in memory
    assert large < small + 1_000_000, (small, large)


def promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], input=stdin.decode() if stdin is not None else None,
                          capture_output=True, text=True, timeout=120)


@needs_promtool
def test_promtool_check_metrics(scan: dict[str, Any]) -> None:
    """promtool parses the file as Prometheus does and lints the names (units, suffixes, help)."""
    done = promtool("check", "metrics", stdin=scan["metrics"].read_bytes())
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), done


@needs_promtool
def test_promtool_check_rules() -> None:
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done
    names = [r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    assert names == ["DccscanCertificateExpired", "DccscanCertificateExpiresSoon", "DccscanBrowserRefuses",
                     "DccscanProfileNoncompliant", "DccscanEndpointNotScanned", "DccscanScanIncomplete",
                     "DccscanScanMissing", "DccscanMetricsAbsent"]


def series(path: Path, start: float) -> list[dict[str, str]]:
    """promtool input series: every sample of the file held for 40 hours, with Unix times
    shifted so that the scan started at promtool's time 0."""
    out = []
    for family in parse(path).values():
        shift = start if family.name.endswith("_timestamp_seconds") else 0
        for s in family.samples:
            labels = ",".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in s.labels.items())
            value = s.value - shift
            text = str(int(value)) if float(value).is_integer() else repr(float(value))
            out.append({"series": f"{s.name}{{{labels}}}", "values": f"{text}+0x2400"})
    return out


def expected_alerts(results: Path) -> dict[str, dict[str, list[dict[str, str]]]]:
    """alertname -> eval time -> labels of the alerts that must fire, from results.json."""
    header = read_header(results)
    start = unix(header["started_at"])
    fired: dict[str, dict[str, list[dict[str, str]]]] = {
        name: {"10m": []} for name in ("DccscanCertificateExpired", "DccscanCertificateExpiresSoon",
                                       "DccscanBrowserRefuses", "DccscanProfileNoncompliant",
                                       "DccscanEndpointNotScanned", "DccscanScanIncomplete", "DccscanMetricsAbsent")}
    fired["DccscanScanMissing"] = {"1h": [], "37h": [{"severity": "warning"}]}
    if not header["complete"]:
        fired["DccscanScanIncomplete"]["10m"].append({"severity": "warning"})
    for ep in iter_endpoints(results):
        t = ep["target"]
        base = {"target": t["name"], "interface": t["interface"], "hostname": t["hostname"],
                "address": ep["address"], "port": str(t["port"])}
        base = {k: label_text(v) for k, v in base.items()}
        if ep["chain"]:
            left = min(unix(c["not_after"]) for c in ep["chain"]) - start - 600  # at 10m
            if left <= 0:
                fired["DccscanCertificateExpired"]["10m"].append({**base, "severity": "critical"})
            elif left < 30 * DAY:
                fired["DccscanCertificateExpiresSoon"]["10m"].append({**base, "severity": "warning"})
        for browser, verdict in (ep["browsers"] or {}).items():
            if not verdict["accepted"]:
                fired["DccscanBrowserRefuses"]["10m"].append({**base, "browser": browser, "error": verdict["error"],
                                                              "severity": "critical"})
        if (ep["profile"] or {}).get("status") == "noncompliant":
            fired["DccscanProfileNoncompliant"]["10m"].append({**base, "status": "noncompliant", "severity": "warning"})
        if ep["status"] == "error":
            fired["DccscanEndpointNotScanned"]["10m"].append({**base, "error": ep["error"]["kind"],
                                                              "severity": "warning"})
    return fired


def run_rule_tests(tmp_path: Path, results: Path, metrics: Path) -> dict[str, dict[str, list[dict[str, str]]]]:
    """``promtool test rules`` over this metrics file; returns the alerts it was told to expect.
    The rules are the example's with annotations removed (promtool compares annotations too, and
    they are prose for people)."""
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yml").write_text(json.dumps(rules))
    fired = expected_alerts(results)
    tests = [{"alertname": name, "eval_time": at, "exp_alerts": [{"exp_labels": labels} for labels in alerts]}
             for name, times in fired.items() for at, alerts in times.items()]
    start = parse(metrics)["dccscan_scan_start_timestamp_seconds"].samples[0].value
    suite = {"rule_files": [str(tmp_path / "rules.yml")], "evaluation_interval": "1m",
             "tests": [{"interval": "1m", "input_series": series(metrics, start), "alert_rule_test": tests}]}
    (tmp_path / "test.yml").write_text(json.dumps(suite, ensure_ascii=False), encoding="utf-8")
    done = promtool("test", "rules", str(tmp_path / "test.yml"))
    assert done.returncode == 0, done.stdout + done.stderr
    return fired


@needs_promtool
def test_example_alerts_fire_for_this_scan(scan: dict[str, Any], tmp_path: Path) -> None:
    fired = run_rule_tests(tmp_path, scan["results"], scan["metrics"])
    targets = {name: {a.get("target") for a in times["10m"]} for name, times in fired.items() if "10m" in times}
    assert targets["DccscanCertificateExpired"] == {"gateway-dr"}
    assert targets["DccscanCertificateExpiresSoon"] == {"gateway-expiring"}
    assert {"self-service-portal", "registration-test", "gateway-dr"} <= targets["DccscanBrowserRefuses"]
    assert "self-service-portal" in targets["DccscanProfileNoncompliant"]
    assert targets["DccscanEndpointNotScanned"] == {"registration-closed"}
    assert not targets["DccscanScanIncomplete"]


@needs_promtool
def test_incomplete_scan_alert_fires(tmp_path: Path) -> None:
    results = write_results(build_estate(complete=False), tmp_path / "out")
    (metrics,) = write_reports(results, tmp_path / "out", ["prometheus"])
    fired = run_rule_tests(tmp_path, results, metrics)
    assert fired["DccscanScanIncomplete"]["10m"] == [{"severity": "warning"}]


# ---- the textfile-collector recipe -------------------------------------------------------------

NODE_EXPORTER = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")


def scrape_node_exporter(collector: Path) -> str:
    """Start a real node_exporter with only the textfile collector on ``collector``, scrape it
    once, stop it."""
    assert NODE_EXPORTER is not None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([NODE_EXPORTER, "--collector.disable-defaults", "--collector.textfile",
                             f"--collector.textfile.directory={collector}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                    return str(response.read().decode("utf-8"))
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
    finally:
        proc.terminate()
        _, errors = proc.communicate(timeout=10)
        assert "error gathering metrics" not in errors, errors


def wrapper(*args: str) -> subprocess.CompletedProcess[str]:
    dccscan = Path(sys.executable).with_name("dccscan")
    if not dccscan.exists():
        pytest.skip(f"no dccscan console script beside {sys.executable} (install the project with pip)")
    env = dict(os.environ, DCCSCAN=str(dccscan))
    return subprocess.run(["sh", str(WRAPPER), *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def published(scan: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The wrapper run once over the scan's targets, publishing into an empty collector folder."""
    folder = tmp_path_factory.mktemp("published")
    collector = folder / "node-exporter"
    collector.mkdir()
    done = wrapper(str(collector / "dccscan.prom"), str(folder / "night1"), "--targets", str(scan["targets"]),
                   "--quiet")
    return {"done": done, "collector": collector, "file": collector / "dccscan.prom", "night": folder / "night1"}


def test_wrapper_publishes_metrics_atomically_and_keeps_the_old_file_on_failure(
        scan: dict[str, Any], published: dict[str, Any], tmp_path: Path) -> None:
    collector, target = published["collector"], published["file"]
    assert published["done"].returncode == 1, published["done"].stderr  # the scan's own exit code (findings)
    assert target.read_bytes() == (published["night"] / "metrics.prom").read_bytes()
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert sorted(p.name for p in collector.iterdir()) == ["dccscan.prom"]  # no temporary left
    assert (published["night"] / "report.html").exists()
    before = target.read_bytes()
    (tmp_path / "bad.toml").write_text("[[target]]\nname = 'x'\nport = 70000\nhost = '127.0.0.1'\n")
    done = wrapper(str(target), str(tmp_path / "night2"), "--targets", str(tmp_path / "bad.toml"))
    assert done.returncode == 2 and "port" in done.stderr
    assert target.read_bytes() == before and sorted(p.name for p in collector.iterdir()) == ["dccscan.prom"]
    done = wrapper(str(collector / "dccscan.txt"), str(tmp_path / "night3"), "--targets", str(scan["targets"]))
    assert done.returncode == 2 and "*.prom" in done.stderr and not (tmp_path / "night3").exists()


@pytest.mark.skipif(NODE_EXPORTER is None, reason="node_exporter not installed (Debian package "
                    "'prometheus-node-exporter'): the file is not served through its textfile collector")
def test_node_exporter_serves_the_published_file_unchanged(published: dict[str, Any]) -> None:
    served = scrape_node_exporter(published["collector"])
    families = {f.name: f for f in text_string_to_metric_families(served)}
    assert families["node_textfile_scrape_error"].samples[0].value == 0
    dccscan = {(s.name, frozenset(s.labels.items())): s.value
               for name, f in families.items() if name.startswith("dccscan_") for s in f.samples}
    assert dccscan == samples(published["file"])  # every series, hostile labels included
    assert "dccscan_endpoint_info" in {n for n, _ in dccscan}


def _wrapper_argv(shell_line: str) -> list[str]:
    lexer = shlex.shlex(shell_line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in (";", "&&", "||"):
            commands.append([])
        elif not (token == "exec" and not commands[-1]):
            commands[-1].append(token)
    (argv,) = [c for c in commands if c and Path(c[0]).name == "dccscan-prometheus"]
    return argv


def test_cron_and_systemd_recipes_call_the_wrapper() -> None:
    lines = [line for line in (DOCS / "prometheus-cron.example").read_text().splitlines()
             if line.strip() and not line.startswith("#") and not re.match(r"^[A-Z_]+=", line)]
    (line,) = lines
    argv = _wrapper_argv(line.split(None, 5)[5].replace("\\%", "%"))
    assert argv[1].endswith(".prom") and "--targets" in argv and "--db" in argv
    parser = configparser.ConfigParser(interpolation=None, strict=False, empty_lines_in_values=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    text = (DOCS / "prometheus-nightly.conf").read_text()
    parser.read_string(text)
    assert parser.sections() == ["Service"]
    starts = re.findall(r"^ExecStart=(.*)$", text, re.M)
    assert starts[0] == "" and len(starts) == 2  # the service's ExecStart is cleared first
    command = shlex.split(starts[1].replace("%%", "%").replace("$$", "$"))
    assert command[:2] == ["/bin/sh", "-c"]
    argv = _wrapper_argv(command[2])
    assert argv[1].endswith(".prom") and "--targets" in argv and "--db" in argv


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed: "
                    "the drop-in is parsed by the test above only")
def test_systemd_accepts_the_service_with_the_drop_in(tmp_path: Path) -> None:
    shutil.copyfile(DOCS / "dccscan-nightly.service", tmp_path / "dccscan-nightly.service")
    (tmp_path / "dccscan-nightly.service.d").mkdir()
    shutil.copyfile(DOCS / "prometheus-nightly.conf", tmp_path / "dccscan-nightly.service.d/prometheus.conf")
    done = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "dccscan-nightly.service")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "dccscan" not in done.stderr, done.stderr


def test_label_text_shows_invisible_characters_as_every_plain_text_sink_does() -> None:
    """A zero-width space or joiner could make two different target names look the same in a
    dashboard: labels go through the same escaper as the terminal, CSV and JUnit."""
    from scanner.report._text import printable

    for text in ("gw\u200b1", "gw\u200d1", "gw\u20601", HOSTILE_NAME, HOSTILE_CN):
        assert label_text(text) == printable(text)
    assert label_text("gw\u200b1") == "gw\\u200b1" and label_text(None) == ""

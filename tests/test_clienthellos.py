"""The recorded browser ClientHellos, their replay and the pure handshake verdict.

The real-browser proof of the verdict rules is tests/browsers/test_handshake_oracle.py; here the
recordings are checked against the installed browsers, the SNI rewrite against the bytes, the
replay against real loopback servers (TLS, reset, hang-up, silence, plain HTTP) and the verdict
against answers made with tlslite-ng.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import trio
from click.testing import CliRunner
from tlslite.constants import CipherSuite
from tlslite.extensions import SNIExtension, SrvSupportedVersionsExtension
from tlslite.messages import ServerHello

from scanner.cli import cli
from scanner.clienthellos import parse, recordings, summarise, with_server_name
from scanner.evaluate.handshake import MIN_VERSION, combine, parse_answer, verdict
from scanner.lab.pki import Issued, LabPKI
from scanner.lab.servers import LabEstate, ServerSpec, serve
from scanner.probe.simulate import replay, simulate
from tests.lab_fixtures import leaf, pki, tls_spec  # noqa: F401 - fixtures

BINARIES = {"chrome": ("/usr/bin/chromium", r"Chromium (\d+(?:\.\d+)+)"),
            "firefox": ("/usr/bin/firefox-esr", r"Firefox (\d+(?:\.\d+)+)")}


# ---- the recordings ---------------------------------------------------------------------------

@pytest.mark.parametrize("browser", sorted(BINARIES))
def test_recording_matches_the_installed_browser(browser: str) -> None:
    """After a browser update this fails until the hellos are recorded again."""
    binary, pattern = BINARIES[browser]
    if shutil.which(binary) is None:
        pytest.skip(f"{binary} is not installed; the recording cannot be compared")
    output = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60).stdout
    match = re.search(pattern, output)
    assert match, f"cannot read a version from `{binary} --version`: {output!r}"
    recording = next(r for r in recordings() if r.browser == browser)
    assert match.group(1) == recording.version, (
        f"{binary} is {match.group(1)} but scanner/data/clienthellos holds the ClientHello of "
        f"{recording.version} ({recording.path.name}); re-record with: python -m scanner.lab.record_hellos")


def test_recordings_are_complete_and_their_summaries_current() -> None:
    found = {r.browser: r for r in recordings()}
    assert set(found) == {"chrome", "firefox"}
    for recording in found.values():
        data = json.loads(recording.path.read_text())
        assert data["summary"] == summarise(recording.hello), f"{recording.path.name}: summary is stale"
        assert bytes(parse(recording.hello).write()) == recording.hello  # tlslite-ng round-trips it exactly
        # the verdict's version floor is what the browser offers
        offered = [v for v in data["summary"]["versions"] if v.startswith("TLS")]
        assert min(offered) == "TLSv1.2" and MIN_VERSION[recording.browser] == 0x0303


def test_server_name_is_replaced_and_nothing_else() -> None:
    for recording in recordings():
        original = parse(recording.hello)
        renamed = parse(with_server_name(recording.hello, "gw.dcc-user.example"))
        assert [e.extType for e in renamed.extensions] == [e.extType for e in original.extensions]
        sni = next(e for e in renamed.extensions if e.extType == 0)
        assert sni.hostNames == (b"gw.dcc-user.example",)
        others = [bytes(e.write()) for e in renamed.extensions if e.extType != 0]
        assert others == [bytes(e.write()) for e in original.extensions if e.extType != 0]
        assert renamed.cipher_suites == original.cipher_suites and renamed.random == original.random
        without = parse(with_server_name(recording.hello, None))
        assert 0 not in [e.extType for e in without.extensions]
        # the same bytes as tlslite-ng writing the whole renamed hello
        original.extensions = [SNIExtension().create(b"gw.dcc-user.example") if e.extType == 0 else e
                               for e in original.extensions]
        assert with_server_name(recording.hello, "gw.dcc-user.example") == bytes(original.write())
        assert with_server_name(recording.hello, "clienthello.test") == recording.hello


# ---- the replay against real loopback servers -------------------------------------------------

async def test_replay_reads_the_server_hello_of_a_tls_server(nursery: trio.Nursery, leaf: Issued) -> None:
    log: list[dict[str, object]] = []
    port = await nursery.start(serve, tls_spec(leaf, log=log))
    answers = await simulate("127.0.0.1", port, "gw.dcc-user.example", 5.0)
    assert set(answers) == {"chrome", "firefox"}
    for browser, answer in answers.items():
        assert answer["outcome"] == "server_hello", answer
        facts = parse_answer(answer)
        assert facts["version"] == "TLSv1.3" and facts["cipher"].startswith("TLS_AES_")
        assert facts["group"] in ("x25519", "x25519mlkem768")
        assert verdict(browser, answer)["completed"] is True


async def test_replay_caps_the_version_and_sees_the_alert(nursery: trio.Nursery, leaf: Issued) -> None:
    port = await nursery.start(serve, tls_spec(leaf, max_version="TLSv1.1", cipher_list="ALL:@SECLEVEL=0"))
    answers = await simulate("127.0.0.1", port, "gw.dcc-user.example", 5.0)
    for answer in answers.values():
        assert answer["outcome"] == "alert" and parse_answer(answer)["alert"] == "protocol_version"
    assert verdict("chrome", answers["chrome"])["error"] == "ERR_SSL_VERSION_OR_CIPHER_MISMATCH"
    assert verdict("firefox", answers["firefox"])["error"] == "SSL_ERROR_PROTOCOL_VERSION_ALERT"


@pytest.mark.parametrize(("kind", "outcome"), [("reset", "reset"), ("hangup", "closed"), ("http", "not_tls"),
                                                ("silent", "timeout")])
async def test_replay_classifies_what_is_not_a_server_hello(nursery: trio.Nursery, kind: str, outcome: str) -> None:
    port = await nursery.start(serve, ServerSpec(kind=kind))  # type: ignore[arg-type]
    answer = await replay("127.0.0.1", port, "x.example", recordings()[0], 1.0)
    assert answer["outcome"] == outcome, answer
    assert verdict("chrome", answer)["error"] == {"reset": "ERR_CONNECTION_RESET", "closed": "ERR_CONNECTION_CLOSED",
                                                  "not_tls": "ERR_SSL_PROTOCOL_ERROR",
                                                  "timeout": "ERR_TIMED_OUT"}[outcome]


# ---- the pure verdict ---------------------------------------------------------------------------

def _server_hello(version: tuple[int, int], suite: int, *, tls13: bool = False) -> dict[str, object]:
    hello = ServerHello().create(version=(3, 3) if tls13 else version, random=bytearray(32), session_id=bytearray(0),
                                 cipher_suite=suite, extensions=[])
    if tls13:  # TLS 1.3 names its version in supported_versions (RFC 8446 section 4.2.1)
        hello.extensions = [SrvSupportedVersionsExtension().create(version)]
    return {"client": "test", "outcome": "server_hello", "received": bytes(hello.write()).hex(), "detail": None}


def test_legacy_version_chosen_is_refused_with_each_browsers_code() -> None:
    answer = _server_hello((3, 2), CipherSuite.TLS_RSA_WITH_AES_128_CBC_SHA)
    assert parse_answer(answer)["version"] == "TLSv1.1"
    assert verdict("chrome", answer)["error"] == "ERR_SSL_VERSION_OR_CIPHER_MISMATCH"
    assert verdict("firefox", answer)["error"] == "SSL_ERROR_UNSUPPORTED_VERSION"


def test_tls13_version_comes_from_supported_versions() -> None:
    answer = _server_hello((3, 4), CipherSuite.TLS_AES_128_GCM_SHA256, tls13=True)
    facts = parse_answer(answer)
    assert facts["version"] == "TLSv1.3" and facts["cipher"] == "TLS_AES_128_GCM_SHA256"
    assert verdict("chrome", answer)["completed"] is True


@pytest.mark.parametrize(("alert", "chrome", "firefox"), [
    ("handshake_failure", "ERR_SSL_VERSION_OR_CIPHER_MISMATCH", "SSL_ERROR_NO_CYPHER_OVERLAP"),
    ("protocol_version", "ERR_SSL_VERSION_OR_CIPHER_MISMATCH", "SSL_ERROR_PROTOCOL_VERSION_ALERT"),
    ("insufficient_security", "ERR_SSL_VERSION_OR_CIPHER_MISMATCH", "SSL_ERROR_INSUFFICIENT_SECURITY_ALERT"),
    ("unrecognized_name", "ERR_SSL_UNRECOGNIZED_NAME_ALERT", "SSL_ERROR_UNRECOGNIZED_NAME_ALERT"),
    ("internal_error", "ERR_SSL_PROTOCOL_ERROR", "SSL_ERROR_INTERNAL_ERROR_ALERT"),
])
def test_alert_codes(alert: str, chrome: str, firefox: str) -> None:
    from tlslite.constants import AlertDescription
    answer = {"client": "t", "outcome": "alert", "received": bytes([2, getattr(AlertDescription, alert)]).hex()}
    assert verdict("chrome", answer)["error"] == chrome
    assert verdict("firefox", answer)["error"] == firefox


@pytest.mark.parametrize("garbage", ["02", "02000004deadbeef", "0200ffff" + "00" * 10, ""])
def test_a_hostile_server_hello_is_a_protocol_error_not_a_crash(garbage: str) -> None:
    answer = {"client": "t", "outcome": "server_hello", "received": garbage}
    assert verdict("chrome", answer)["error"] == "ERR_SSL_PROTOCOL_ERROR"
    assert verdict("firefox", answer)["completed"] is False


def test_combine_keeps_the_certificate_verdict_and_requires_both() -> None:
    cert = {"accepted": False, "error": "ERR_CERT_COMMON_NAME_INVALID", "reasons": [{"code": "x", "message": "m"}]}
    failed = {"client": "t", "outcome": "alert", "received": "0246"}
    ok = _server_hello((3, 3), CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)
    browsers = combine({"chrome": cert, "firefox": dict(cert, error="SSL_ERROR_BAD_CERT_DOMAIN")},
                       {"simulation": {"chrome": failed, "firefox": ok}})
    assert browsers is not None
    assert browsers["chrome"]["error"] == "ERR_SSL_VERSION_OR_CIPHER_MISMATCH"
    assert browsers["chrome"]["certificate"]["error"] == "ERR_CERT_COMMON_NAME_INVALID"
    assert browsers["firefox"]["error"] == "SSL_ERROR_BAD_CERT_DOMAIN"
    assert combine(None, None) is None  # no simulation (turned off): the certificate verdict alone


def test_required_client_certificate_is_each_browsers_refusal() -> None:
    cert = {"accepted": True, "error": None, "reasons": []}
    ok = _server_hello((3, 3), CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)
    for alert, chrome, firefox in (("certificate_required", "ERR_BAD_SSL_CLIENT_AUTH_CERT",
                                    "SSL_ERROR_RX_CERTIFICATE_REQUIRED_ALERT"),
                                   ("handshake_failure", "ERR_BAD_SSL_CLIENT_AUTH_CERT",
                                    "SSL_ERROR_HANDSHAKE_FAILURE_ALERT")):
        tls = {"simulation": {"chrome": ok, "firefox": ok}, "client_auth": "required", "client_auth_alert": alert}
        browsers = combine({"chrome": cert, "firefox": cert}, tls)
        assert browsers is not None
        assert (browsers["chrome"]["error"], browsers["firefox"]["error"]) == (chrome, firefox)
        assert browsers["chrome"]["accepted"] is False and browsers["chrome"]["certificate"]["accepted"] is True


def test_findings_are_cited_and_a_browser_breaking_setting_is_an_error() -> None:
    from scanner.checks.tls import handshake_findings
    failed = {"client": "t", "outcome": "alert", "received": "0228"}
    browsers = combine(None, {"simulation": {"chrome": failed, "firefox": failed}})
    findings = handshake_findings(browsers, dt.datetime(2026, 12, 6, tzinfo=dt.timezone.utc))
    assert [f["id"] for f in findings] == ["tls.handshake.browser_cannot_connect"]
    assert findings[0]["severity"] == "error" and "RFC 8996" in findings[0]["citation"]


# ---- end to end through `dccscan scan` ----------------------------------------------------------

SCHEMA_PATH = "scanner/schema/results.schema.json"


def _scan(tmp_path: Path, port: int, root: bytes, *extra: str) -> dict[str, Any]:
    (tmp_path / "root.pem").write_bytes(root)
    out = tmp_path / ("out" + "".join(extra).replace("-", ""))
    result = CliRunner().invoke(cli, ["scan", f"127.0.0.1:{port}", "--hostname", "gw.dcc-user.example", "--out",
                                      str(out), "--format", "json", "--trust-anchor", str(tmp_path / "root.pem"),
                                      "--fail-on", "never", *extra], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    document = json.loads((out / "results.json").read_text())
    schema = json.loads((Path(__file__).resolve().parents[1] / SCHEMA_PATH).read_text())
    jsonschema.validate(document, schema)
    return dict(document["endpoints"][0])


def test_scan_records_simulation_versions_and_both_halves(tmp_path: Path, leaf: Issued, pki: LabPKI) -> None:
    spec = tls_spec(leaf, max_version="TLSv1.2", cipher_list="ALL:@SECLEVEL=0")
    with LabEstate([spec]) as ports:
        endpoint = _scan(tmp_path, ports[0], pki.root.pem, "--tls-versions")
        plain = _scan(tmp_path, ports[0], pki.root.pem, "--no-client-simulation")
    tls = endpoint["tls"]
    assert tls["versions"] == {"TLSv1": True, "TLSv1.1": True, "TLSv1.2": True, "TLSv1.3": False}
    assert set(tls["simulation"]) == {"chrome", "firefox"}
    chrome = endpoint["browsers"]["chrome"]
    assert chrome["handshake"]["completed"] is True and chrome["handshake"]["version"] == "TLSv1.2"
    assert chrome["certificate"]["accepted"] is True and chrome["accepted"] is True
    assert any(f["id"] == "tls.protocol.legacy_version_accepted" for f in endpoint["findings"])
    # turned off: no simulation, no handshake half, and lower versions not tried
    assert plain["tls"]["simulation"] is None and "handshake" not in plain["browsers"]["chrome"]
    assert plain["tls"]["versions"] == {"TLSv1": None, "TLSv1.1": None, "TLSv1.2": True, "TLSv1.3": False}


def test_terminal_summary_says_versions_and_who_cannot_connect(tmp_path: Path, leaf: Issued, pki: LabPKI) -> None:
    from scanner.report.terminal import render_summary
    spec = tls_spec(leaf, max_version="TLSv1.1", cipher_list="ALL:@SECLEVEL=0")
    with LabEstate([spec]) as ports:
        _scan(tmp_path, ports[0], pki.root.pem, "--tls-versions")
    summary = render_summary(tmp_path / "out--tls-versions".replace("-", "") / "results.json", color=False)
    assert "TLS: 1 TLSv1.1; 1 still accept TLS 1.0/1.1; 1 not reachable by Chrome; 1 not reachable by Firefox" in summary
    assert "ERR_SSL_VERSION_OR_CIPHER_MISMATCH" in summary and "SSL_ERROR_PROTOCOL_VERSION_ALERT" in summary


def test_the_recorded_catalogue_lists_the_tls_rules_only_when_they_can_fire() -> None:
    from scanner.assess import catalogue
    with_simulation = {entry["id"] for entry in catalogue()}
    without = {entry["id"] for entry in catalogue(client_simulation=False)}
    assert "tls.handshake.browser_cannot_connect" in with_simulation - without
    assert "tls.protocol.legacy_version_accepted" in with_simulation & without


def test_the_curves_a_leaf_key_may_use_come_from_each_browsers_offer() -> None:
    """The certificate half's 'no signature scheme for this key' rule reads each browser's
    recorded ClientHello: Chromium 156 offers ECDSA schemes for P-256 and P-384, Firefox ESR 153
    for P-521 too (the oracle's ecdsa-p521 configurations agree with the real browsers)."""
    import datetime as dt

    from scanner.clienthellos import ecdsa_curves
    from scanner.evaluate import evaluate
    from scanner.lab.pki import LabPKI

    assert ecdsa_curves("chrome") == {"secp256r1", "secp384r1"}
    assert ecdsa_curves("firefox") == {"secp256r1", "secp384r1", "secp521r1"}
    pki = LabPKI.create()
    leaf = pki.leaf(dns=["p521.dcc.test"], key="ec-p521")
    result = evaluate([leaf.der, pki.issuing.der], "p521.dcc.test", anchors=[pki.root.der],
                      at=dt.datetime.now(dt.timezone.utc))
    findings = {f["id"]: f for f in result["findings"]}
    assert "P-256 and P-384 only" in findings["chrome.tls.no_signature_scheme"]["detail"]
    assert "firefox.tls.no_signature_scheme" not in findings

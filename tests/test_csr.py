"""``dccscan check-csr``: requests built with cryptography (and with the README's openssl command),
judged with the same ids as certificates; malformed input is exit 2 with a fix, never a traceback."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import jsonschema
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from scanner.checks import REGISTRY, REQUEST_CHECKS
from scanner.csr import Request, check_request, parse_request
from scanner.errors import InputError
from scanner.evaluate import evaluate, evaluate_outcomes
from scanner.lab.pki import LabPKI, Requested, request

ROOT = Path(__file__).resolve().parents[1]
HOST = "gw.dcc.test"
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def dccscan(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scanner", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd)


def parsed(made: Requested | bytes) -> Request:
    return parse_request(made.der if isinstance(made, Requested) else made, "test.csr")


def check(made: Requested | bytes, *hostnames: str, **kw: Any) -> dict[str, Any]:
    return check_request(parsed(made), hostnames=hostnames, at=NOW, **kw)


def ids(report: dict[str, Any]) -> set[str]:
    return {f["id"] for f in report["findings"]}


def finding(report: dict[str, Any], check_id: str) -> dict[str, Any]:
    return next(f for f in report["findings"] if f["id"] == check_id)


def broken_signature(made: Requested) -> bytes:
    blob = bytearray(made.der)
    blob[-1] ^= 0x01  # last byte of the signature BIT STRING
    return bytes(blob)


@pytest.fixture(scope="module")
def pki() -> LabPKI:
    return LabPKI.create()


# ---------------------------------------------------------------------------- verdicts


def test_conforming_request_has_no_findings() -> None:
    report = check(request(dns=[HOST], ips=["127.0.0.1"]), HOST, "127.0.0.1")
    assert report["findings"] == []
    assert report["profile"]["status"] == "compliant"
    assert [(r["name"], r["chrome"], r["firefox"]) for r in report["names"]] == [(HOST, True, True),
                                                                               ("127.0.0.1", True, True)]
    req = report["request"]
    assert req["signature_valid"] and req["extended_key_usage"] == ["serverAuth", "clientAuth"]
    assert req["san"] == [{"type": "dns", "value": HOST}, {"type": "ip", "value": "127.0.0.1"}]


def test_missing_san_has_the_certificate_finding(pki: LabPKI) -> None:
    report = check(request(subject=HOST), HOST)
    csr_finding = finding(report, "dccki.san.missing")
    cert = evaluate([pki.leaf(HOST).der, pki.issuing.der], HOST, anchors=[pki.root.der], at=NOW)
    cert_finding = next(f for f in cert["findings"] if f["id"] == "dccki.san.missing")
    for key in ("severity", "title", "source", "citation", "advice"):
        assert csr_finding[key] == cert_finding[key]
    assert "SECMP0052" in csr_finding["citation"] and report["profile"]["status"] == "noncompliant"
    assert "Subject CN" in finding(report, "csr.hostname.not_covered")["detail"]


def test_weak_rsa_key() -> None:
    report = check(request(dns=[HOST], key="rsa-1024"))
    assert ids(report) == {"dccki.key.not_allowed"}
    assert "1024" in finding(report, "dccki.key.not_allowed")["detail"]


def test_sha1_signature_is_a_profile_breach_not_a_forgery() -> None:
    report = check(request(dns=[HOST], key="rsa-2048", hash_name="sha1"))
    assert ids(report) == {"dccki.signature.not_allowed"}
    assert report["request"]["signature_valid"] is True
    assert "sha1" in finding(report, "dccki.signature.not_allowed")["detail"]


def test_broken_self_signature() -> None:
    report = check(broken_signature(request(dns=[HOST])))
    assert ids(report) == {"csr.signature.invalid"}
    assert report["request"]["signature_valid"] is False


def test_ca_requested() -> None:
    report = check(request(dns=[HOST], ca=True, key_usage=["digital_signature", "key_cert_sign"]))
    assert ids(report) == {"dccki.leaf.is_ca", "csr.ca_requested"}
    assert "key_cert_sign" in finding(report, "csr.ca_requested")["detail"]


def test_wildcard_over_public_suffix_warns_naming_both_browsers() -> None:
    made = request(dns=["*.co.uk"])
    for report in (check(made, "gw.co.uk"), check(made)):  # given hostname, and derived from the SAN
        assert ids(report) == {"csr.hostname.browsers_differ"}
        warning = finding(report, "csr.hostname.browsers_differ")
        assert warning["severity"] == "warning"
        assert "Chrome rejects" in warning["detail"] and "Firefox accepts" in warning["detail"]
        assert "public suffix" in warning["detail"]


def test_wildcard_below_a_registrable_domain_is_fine() -> None:
    assert check(request(dns=["*.example.co.uk"]), "gw.example.co.uk")["findings"] == []


def test_hostname_not_covered_names_both_browsers() -> None:
    detail = finding(check(request(dns=[HOST]), "other.dcc.test"), "csr.hostname.not_covered")["detail"]
    assert "other.dcc.test" in detail and "Chrome:" in detail and "Firefox:" in detail


def test_trailing_dot_san_only_firefox_rejects() -> None:
    report = check(request(dns=[HOST + "."]), HOST)
    assert ids(report) == {"csr.hostname.browsers_differ", "firefox.name.absolute_san"}


def test_derived_names_say_which_entry_and_notes_come_once() -> None:
    report = check(request(dns=["*.co.uk", HOST + "."]))
    details = [f["detail"] for f in report["findings"]]
    assert sorted(f["id"] for f in report["findings"]) == [
        "csr.hostname.browsers_differ", "csr.hostname.browsers_differ", "firefox.name.absolute_san"]
    assert any(d.startswith("requested *.co.uk, checked as x.co.uk: Chrome rejects") for d in details)


def test_eku_and_key_usage_rules() -> None:
    report = check(request(dns=[HOST], eku=[ExtendedKeyUsageOID.CLIENT_AUTH], key_usage=["key_encipherment"]))
    assert ids(report) == {"dccki.eku.server_auth_missing", "dccki.key_usage.digital_signature_missing"}


def test_unknown_critical_requested_extension() -> None:
    odd = x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")
    report = check(request(dns=[HOST], extra=[(odd, True)]))
    assert ids(report) == {"rfc5280.extension.unknown_critical"}


def test_user_profile_changes_the_verdict(tmp_path: Path) -> None:
    from scanner.evaluate import load_profile
    path = tmp_path / "p.toml"
    path.write_text('[profile]\nname = "mine"\nrequired_ekus = ["serverAuth", "clientAuth"]\n')
    report = check(request(dns=[HOST], eku=[ExtendedKeyUsageOID.SERVER_AUTH]), profile=load_profile(path))
    assert ids(report) == {"dccki.eku.server_auth_missing"} and report["profile"]["name"] == "mine"


# ---------------------------------------------------------------------------- --against


def test_against_matching_certificate(pki: LabPKI) -> None:
    made = request(dns=[HOST])
    cert = pki.leaf(HOST, dns=[HOST], key=made.key)
    report = check(made, HOST, against=(cert.der, "cert.pem"))
    assert report["findings"] == []
    assert report["against"]["same_key"] and report["against"]["same_san"]
    assert report["against"]["profile"]["status"] == "compliant"


def test_against_other_key_and_missing_san(pki: LabPKI) -> None:
    made = request(dns=[HOST, "alt.dcc.test"])
    cert = pki.leaf(HOST, dns=[HOST, "extra.dcc.test"], key="ec-p384")
    report = check(made, against=(cert.der, "cert.pem"))
    assert ids(report) == {"csr.against.key_mismatch", "csr.against.san_missing", "csr.against.san_extra"}
    assert "DNS:alt.dcc.test" in finding(report, "csr.against.san_missing")["detail"]
    assert "DNS:extra.dcc.test" in finding(report, "csr.against.san_extra")["detail"]


def test_against_certificate_breaking_the_profile(pki: LabPKI) -> None:
    made = request(dns=[HOST])
    cert = pki.leaf(HOST, key=made.key)  # issued without the SAN that was asked for
    report = check(made, HOST, against=(cert.der, "cert.pem"))
    about = {(f["id"], f["about"]) for f in report["findings"]}
    assert {("csr.against.san_missing", "request"), ("dccki.san.missing", "certificate"),
            ("name.mismatch", "certificate")} <= about
    assert report["against"]["profile"]["status"] == "noncompliant"


# ---------------------------------------------------------------------------- the registry


FIRES: dict[str, Callable[[LabPKI], dict[str, Any]]] = {
    "csr.signature.invalid": lambda _: check(broken_signature(request(dns=[HOST]))),
    "csr.ca_requested": lambda _: check(request(dns=[HOST], key_usage=["digital_signature", "crl_sign"])),
    "csr.hostname.not_covered": lambda _: check(request(dns=[HOST]), "x.example.net"),
    "csr.hostname.browsers_differ": lambda _: check(request(dns=["*.co.uk"]), "a.co.uk"),
    "csr.against.key_mismatch": lambda p: check(request(dns=[HOST]), against=(p.leaf(HOST, dns=[HOST], key="ec-p384").der, "c")),
    "csr.against.san_missing": lambda p: check(request(dns=[HOST]), against=(p.leaf(HOST).der, "c")),
    "csr.against.san_extra": lambda p: check(request(dns=[HOST]), against=(p.leaf(HOST, dns=[HOST, "b.dcc.test"]).der, "c")),
}


@pytest.mark.parametrize("check_id", sorted(FIRES))
def test_each_request_check_can_fire(pki: LabPKI, check_id: str) -> None:
    assert check_id in ids(FIRES[check_id](pki))


def test_every_request_check_has_a_firing_case() -> None:
    assert set(REQUEST_CHECKS) == set(FIRES)
    assert all(REGISTRY[c].citation for c in REQUEST_CHECKS)


def test_request_checks_do_not_apply_to_certificates(pki: LabPKI) -> None:
    _, outcomes = evaluate_outcomes([pki.leaf(HOST, dns=[HOST]).der, pki.issuing.der], HOST,
                                    anchors=[pki.root.der], at=NOW)
    statuses = {o.status for o in outcomes if o.check in REQUEST_CHECKS}
    assert statuses == {"not-applicable"}


# ---------------------------------------------------------------------------- the command


def write(tmp_path: Path, name_: str, data: bytes) -> str:
    path = tmp_path / name_
    path.write_bytes(data)
    return str(path)


def test_cli_exit_codes_and_formats(tmp_path: Path) -> None:
    no_san = write(tmp_path, "nosan.csr", request(subject=HOST).pem)
    run = dccscan("check-csr", no_san, "--hostname", HOST)
    assert run.returncode == 1, run.stderr
    assert "ERROR    dccki.san.missing [request]" in run.stdout and "fix:" in run.stdout
    assert "keyUsage   digitalSignature" in run.stdout
    assert dccscan("check-csr", no_san, "--fail-on", "never").returncode == 0
    wildcard = write(tmp_path, "wild.der", request(dns=["*.co.uk"]).der)  # DER input
    run = dccscan("check-csr", wildcard, "--hostname", "gw.co.uk", "--format", "json")
    doc = json.loads(run.stdout)
    assert run.returncode == 0 and doc["exit_code"] == 0 and doc["request"]["encoding"] == "DER"
    assert [f["id"] for f in doc["findings"]] == ["csr.hostname.browsers_differ"]
    defs = json.loads((ROOT / "scanner" / "schema" / "results.schema.json").read_text())["$defs"]
    for f in doc["findings"]:
        jsonschema.validate(f, {**defs["finding"], "$defs": defs})
    assert dccscan("check-csr", wildcard, "--fail-on", "warning").returncode == 1


def test_cli_against(tmp_path: Path, pki: LabPKI) -> None:
    made = request(dns=[HOST])
    csr_path = write(tmp_path, "gw.csr", made.pem)
    good = write(tmp_path, "good.pem", pki.leaf(HOST, dns=[HOST], key=made.key).chain_pem())
    other = write(tmp_path, "other.pem", pki.leaf(HOST, dns=[HOST], key="ec-p384").pem)
    run = dccscan("check-csr", csr_path, "--hostname", HOST, "--against", good)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "same key, same SANs" in run.stdout
    run = dccscan("check-csr", csr_path, "--against", other)
    assert run.returncode == 1 and "csr.against.key_mismatch" in run.stdout and "DIFFERENT KEY" in run.stdout
    garbage = write(tmp_path, "garbage.pem", b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    run = dccscan("check-csr", csr_path, "--against", garbage)
    assert run.returncode == 2 and "garbage.pem" in run.stderr and "does not parse as X.509" in run.stderr
    assert "Traceback" not in run.stderr


def readme_openssl_command() -> str:
    section = (ROOT / "README.md").read_text().split("<!-- section: csr -->")[1].split("<!-- section:")[0]
    return next(line for line in section.splitlines() if line.startswith("openssl req "))


def test_readme_openssl_command_makes_a_conforming_request(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed: cannot run the README's openssl req")
    command = shlex.split(readme_openssl_command())
    made = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    hostname = re.search(r"subjectAltName=DNS:([^\" ,]+)", readme_openssl_command())
    assert hostname
    run = dccscan("check-csr", str(tmp_path / "gw.csr"), "--hostname", hostname.group(1), "--format", "json")
    assert run.returncode == 0, run.stdout + run.stderr
    doc = json.loads(run.stdout)
    assert doc["findings"] == [] and doc["profile"]["status"] == "compliant"
    assert doc["request"]["key"] == {"type": "RSA", "size": 2048, "curve": None}


def test_readme_check_command_is_the_real_one() -> None:
    section = (ROOT / "README.md").read_text().split("<!-- section: csr -->")[1].split("<!-- section:")[0]
    assert "dccscan check-csr gw.csr --hostname gw.example.net" in section


def _pem(label: str, body: bytes = b"MIIB") -> bytes:
    return b"-----BEGIN " + label.encode() + b"-----\n" + body + b"\n-----END " + label.encode() + b"-----\n"


@pytest.mark.parametrize("content,words", [
    (b"hello, I am not a request\n", "neither a PEM nor a DER"),
    (b"", "empty"),
    (request(dns=[HOST]).der[:60], "truncated DER"),
    (request(dns=[HOST]).der + b"\x00\x00", "unexpected bytes"),
    (b"\x30\x03\x02\x01\x00", "not a PKCS#10"),
    (_pem("PRIVATE KEY"), "private key"),
    (_pem("CERTIFICATE"), "a certificate, not a certificate request"),
    (_pem("X509 CRL"), "X509 CRL"),
    (b"x\n" + _pem("CERTIFICATE REQUEST", b"!!!!"), ":2:"),
    (request(dns=[HOST]).pem[:100], "cut short"),
])
def test_malformed_input_exits_2_with_a_fix(tmp_path: Path, content: bytes, words: str) -> None:
    run = dccscan("check-csr", write(tmp_path, "bad.csr", content))
    assert run.returncode == 2, run.stdout
    assert words in run.stderr and "fix:" in run.stderr and "bad.csr" in run.stderr
    assert "Traceback" not in run.stderr


def test_bad_hostname_and_missing_file_exit_2(tmp_path: Path, pki: LabPKI) -> None:
    good = write(tmp_path, "gw.csr", request(dns=[HOST]).pem)
    cases = [((good, "--hostname", "bad name!"), "not a valid hostname"),
             ((str(tmp_path / "missing.csr"),), "cannot read")]
    for args, words in cases:
        run = dccscan("check-csr", *args)
        assert run.returncode == 2 and words in run.stderr and "Traceback" not in run.stderr, run.stderr
    der_cert = write(tmp_path, "cert.der", pki.leaf(HOST, dns=[HOST]).der)
    run = dccscan("check-csr", der_cert)
    assert run.returncode == 2 and "DER certificate, not a certificate request" in run.stderr


_SEED = request(dns=[HOST, "*.dcc.test"], ips=["127.0.0.1"]).der


def test_mutated_requests_never_crash() -> None:
    """Hostile bytes give an InputError or a report, never another exception. A seeded sweep of
    byte edits and cuts (hypothesis's shrinking bias rarely reaches the lazily parsed subject)."""
    rng = random.Random(20261125)
    outcomes = {"input": 0, "report": 0}
    for _ in range(600):
        blob = bytearray(_SEED)
        for _ in range(rng.randint(1, 3)):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
        try:
            report = check(bytes(blob[: rng.randint(len(blob) - 2, len(blob))]), HOST)
        except InputError as exc:
            assert exc.file == "test.csr" and exc.fix
            outcomes["input"] += 1
            continue
        outcomes["report"] += 1
        assert report["profile"]["status"] in ("compliant", "noncompliant")
        assert all(f["id"] in REGISTRY for f in report["findings"])
    assert min(outcomes.values()) > 50, outcomes

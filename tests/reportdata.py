"""A schema-valid results document for renderer and evidence tests, built from real certificates.

The estate mixes every case a report must show: compliant, non-compliant (CN only, issued after
SECMP0052), grandfathered (CN only, issued before it), unreachable, client certificate required,
expiring soon, and a hostile certificate whose CN and SAN carry markup. Certificates come from
``scanner.lab.pki``; chain records from ``scanner.certinfo.describe``, exactly as a scan makes them.

Verdicts are written by hand here (the renderers are under test, not the engine). With
``use_engine=True`` and ``scanner.evaluate`` installed, they come from the engine instead, so that
an evidence pack built from the document re-evaluates to the same verdicts.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any, Iterator

from scanner import __version__
from scanner.assess import catalogue
from scanner.certinfo import describe, iso_utc, sha256_hex
from scanner.lab.pki import LabPKI, Issued

UTC = dt.timezone.utc
HOSTILE_CN = "<script>alert(1)</script>"
HOSTILE_SAN = "<img src=x onerror=alert(2)>.example"
HOSTILE_CA_NAME = "CN=<b>bold</b>,O=DCCKI Lab"

_PKI: LabPKI | None = None


def pki() -> LabPKI:
    """One lab hierarchy per test process: key generation is the slow part."""
    global _PKI
    if _PKI is None:
        _PKI = LabPKI.create()
    return _PKI


def verdict(accepted: bool, error: str | None = None, message: str = "") -> dict[str, Any]:
    reasons = [] if accepted else [{"code": error or "rejected", "message": message, "check": None,
                                    "certificate_index": 0}]
    return {"accepted": accepted, "error": None if accepted else error, "reasons": reasons}


def finding(fid: str, severity: str, title: str, detail: str, advice: str = "") -> dict[str, Any]:
    return {"id": fid, "severity": severity, "title": title, "certificate_index": 0, "detail": detail,
            "source": "DCCKI CP Annex B (SECMP0052)", "citation": "SEC Appendix S, Annex B",
            "advice": advice or "Request a new certificate with the hostname in subjectAltName."}


def target(name: str, interface: str, port: int, hostname: str) -> dict[str, Any]:
    return {"name": name, "interface": interface, "host": "127.0.0.1", "port": port,
            "hostname": hostname, "tags": ["test"]}


def endpoint(tgt: dict[str, Any], scanned_at: str, issued: Issued | None, **fields: Any) -> dict[str, Any]:
    """One endpoint record; ``issued`` None means no chain was captured."""
    chain = []
    if issued is not None:
        ders = [issued.der] + [c.der for c in issued.chain if c.cert.issuer != c.cert.subject]
        chain = [describe(der, i) for i, der in enumerate(ders)]
    record: dict[str, Any] = {
        "id": f"{tgt['name']}@{tgt['host']}:{tgt['port']}", "target": tgt, "address": tgt["host"],
        "status": "ok", "error": None, "scanned_at": scanned_at, "duration_ms": 12.5,
        "tls": {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "alpn": None,
                "client_auth": "none", "client_cert_sent": False, "acceptable_ca_names": []},
        "chain": chain, "browsers": None, "profile": None, "findings": [],
    }
    record.update(fields)
    return record


def _accepting() -> dict[str, Any]:
    return {"browsers": {"chrome": verdict(True), "firefox": verdict(True)},
            "profile": {"name": "dccki-tls-san", "status": "compliant", "effective_date": "2018-11-01",
                        "breaches": []}}


def _cn_only(status: str) -> dict[str, Any]:
    breaches = ["san-required"] if status == "noncompliant" else []
    return {"browsers": {"chrome": verdict(False, "ERR_CERT_COMMON_NAME_INVALID", "no subjectAltName"),
                         "firefox": verdict(False, "SSL_ERROR_BAD_CERT_DOMAIN", "no subjectAltName")},
            "profile": {"name": "dccki-tls-san", "status": status, "effective_date": "2018-11-01",
                        "breaches": breaches}}


def _endpoints(now: dt.datetime, scanned_at: str) -> Iterator[dict[str, Any]]:
    lab = pki()
    yield endpoint(target("gateway-primary", "gateway", 8443, "gw.dcc.test"), scanned_at,
                   lab.leaf("gw.dcc.test", dns=["gw.dcc.test"]), **_accepting())
    yield endpoint(target("ssi-portal", "self-service", 8444, "ssi.dcc.test"), scanned_at,
                   lab.leaf("ssi.dcc.test", san=False), **_cn_only("noncompliant"),
                   findings=[finding("dccki.tls_san.san_missing", "error", "No subjectAltName",
                                     "The certificate names ssi.dcc.test only in its Subject CN.")])
    old = dt.datetime(2017, 6, 1, tzinfo=UTC)
    yield endpoint(target("registration", "registration", 8445, "reg.dcc.test"), scanned_at,
                   lab.leaf("reg.dcc.test", san=False, not_before=old, not_after=now + dt.timedelta(days=400)),
                   **_cn_only("grandfathered"),
                   findings=[finding("browser.name.cn_only", "warning", "Browsers reject CN-only certificates",
                                     "Issued before 2018-11-01: grandfathered, but Chrome and Firefox reject it.")])
    yield endpoint(target("gateway-secondary", "gateway", 8446, "gw2.dcc.test"), scanned_at, None,
                   status="error", tls=None,
                   error={"kind": "refused", "message": "connection refused by 127.0.0.1:8446",
                          "alert": None, "phase": "connect"})
    tls = {"version": "TLSv1.2", "cipher": "ECDHE-ECDSA-AES128-GCM-SHA256", "alpn": None,
           "client_auth": "required", "client_cert_sent": False,
           "acceptable_ca_names": ["C=GB,O=DCCKI Lab,CN=DCCKI Lab Root CA"]}
    yield endpoint(target("dcc-user-interface", "other", 8447, "dui.dcc.test"), scanned_at,
                   lab.leaf("dui.dcc.test", dns=["dui.dcc.test"]), tls=tls, **_accepting())
    yield endpoint(target("expiring-soon", "self-service", 8448, "ssi2.dcc.test"), scanned_at,
                   lab.leaf("ssi2.dcc.test", dns=["ssi2.dcc.test"], not_after=now + dt.timedelta(days=9)),
                   **_accepting(), findings=[finding("cert.validity.expiring_soon", "notice",
                                                     "Expires within 30 days", "9 days left.",
                                                     "Renew the certificate.")])
    hostile_tls = {"version": "TLSv1.3", "cipher": "TLS_AES_128_GCM_SHA256", "alpn": "<i>h2</i>",
                   "client_auth": "optional", "client_cert_sent": False, "acceptable_ca_names": [HOSTILE_CA_NAME]}
    yield endpoint(target("hostile", "other", 8449, "evil.dcc.test"), scanned_at,
                   lab.leaf(HOSTILE_CN, dns=[HOSTILE_SAN]), tls=hostile_tls,
                   browsers={"chrome": verdict(False, "ERR_CERT_COMMON_NAME_INVALID", HOSTILE_CN),
                             "firefox": verdict(False, "SSL_ERROR_BAD_CERT_DOMAIN", HOSTILE_CN)},
                   profile={"name": "dccki-tls-san", "status": "compliant", "effective_date": "2018-11-01",
                            "breaches": []},
                   findings=[finding("browser.name.mismatch", "error", "Hostname not in SAN",
                                     f"SAN {HOSTILE_SAN} does not cover evil.dcc.test; CN {HOSTILE_CN}")])


def _with_engine(record: dict[str, Any], anchors: list[bytes]) -> dict[str, Any]:
    """Replace hand-written verdicts with the engine's, so the estate shows real verdicts."""
    from scanner.evaluate import evaluate

    if not record["chain"]:
        return record
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    ders = [x509.load_pem_x509_certificate(c["pem"].encode()).public_bytes(Encoding.DER) for c in record["chain"]]
    at = dt.datetime.fromisoformat(record["scanned_at"].replace("Z", "+00:00"))
    result = evaluate(ders, record["target"]["hostname"], anchors=anchors, at=at, profile=None)
    record.update({k: result[k] for k in ("browsers", "profile", "findings")})
    return record


def summary(endpoints: list[dict[str, Any]]) -> dict[str, Any]:
    by_status: dict[str, int] = {}
    by_interface: dict[str, dict[str, int]] = {}
    by_severity: dict[str, int] = {}
    for ep in endpoints:
        by_status[ep["status"]] = by_status.get(ep["status"], 0) + 1
        row = by_interface.setdefault(ep["target"]["interface"], {})
        row[ep["status"]] = row.get(ep["status"], 0) + 1
        for f in ep["findings"]:
            by_severity[f["severity"]] = by_severity.get(f["severity"], 0) + 1
    return {"endpoints": len(endpoints), "by_status": by_status, "by_interface": by_interface,
            "by_severity": by_severity, "exit_code": 1}


def build_estate(*, use_engine: bool = False, complete: bool = True) -> dict[str, Any]:
    """The whole results document (a dict), schema-valid."""
    now = dt.datetime.now(UTC).replace(microsecond=0)
    scanned_at = iso_utc(now)
    root = pki().root
    eps = list(_endpoints(now, scanned_at))
    if use_engine:
        eps = [_with_engine(ep, [root.der]) for ep in eps]
    not_reached = [] if complete else [target("never-scanned", "registration", 8450, "late.dcc.test")]
    return {
        "schema": "dccscan/1",
        "scanner": {"name": "dccscan", "version": __version__, "dependencies": {"cryptography": "test"}},
        "started_at": scanned_at, "finished_at": iso_utc(now + dt.timedelta(seconds=2)),
        "complete": complete,
        "targets_file": {"path": "targets.toml", "sha256": sha256_hex(b"# targets\n")},
        "settings": {"concurrency": 8, "per_address": 2, "retries": 0, "timeout": 5.0, "fail_on": "error",
                     "trust_anchors": [{"pem": root.pem.decode(), "sha256": sha256_hex(root.der),
                                        "subject": root.cert.subject.rfc4514_string(), "source": "lab"}],
                     "public_store": None, "profile": None, "shard": None},
        "endpoints": eps, "not_reached": not_reached, "summary": summary(eps),
        "checks": catalogue(),  # the check catalogue a scan records (JUnit lists it)
    }


def chain_stem(endpoint_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@-]", "_", endpoint_id)


def write_results(document: dict[str, Any], out_dir: Path) -> Path:
    """Write results.json in the streaming layout (header keys, then one endpoint per line), its
    chains/*.pem and a targets.toml, as a scan's output folder holds them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    header = {k: v for k, v in document.items() if k != "endpoints"}
    lines = ["{"]
    for key, value in header.items():
        lines.append(f"{json.dumps(key)}: {json.dumps(value, sort_keys=True)},")
    lines.append('"endpoints": [')
    eps = document["endpoints"]
    lines += [json.dumps(ep, sort_keys=True) + ("," if i < len(eps) - 1 else "") for i, ep in enumerate(eps)]
    lines.append("]}")
    path = out_dir / "results.json"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    chains = out_dir / "chains"
    chains.mkdir(exist_ok=True)
    for ep in eps:
        if ep["chain"]:
            (chains / f"{chain_stem(ep['id'])}.pem").write_text("".join(c["pem"] for c in ep["chain"]))
    (out_dir / "targets.toml").write_text("# targets\n")
    return path

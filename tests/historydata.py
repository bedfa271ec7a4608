"""Results documents for history tests, built from real certificates.

Until the scan pipeline is in this branch, the history tests need results documents that look
exactly like a scan's: this builder makes them from certificates the lab PKI generates, described
by ``scanner.certinfo.describe`` as the probe does, and checks every document against
``results.schema.json``. ``write_results`` writes the streaming layout of docs/DESIGN.md.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import jsonschema

from scanner.certinfo import describe, iso_utc, sha256_hex
from scanner.lab.pki import Issued, LabPKI

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "scanner" / "schema" / "results-dccscan1.schema.json"  # these documents are dccscan/1: the readers must keep reading them
T0 = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.timezone.utc)


@lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def validate(doc: dict[str, Any]) -> None:
    _validator().validate(doc)


class Estate:
    """A lab PKI plus leaves by name, so that two "nights" can present the same or new certificates."""

    def __init__(self) -> None:
        self.pki = LabPKI.create()

    def leaf(self, hostname: str, **kwargs: Any) -> Issued:
        return self.pki.leaf(hostname, dns=[hostname], **kwargs)

    def chain(self, leaf: Issued) -> list[bytes]:
        return [leaf.der, self.pki.issuing.der]

    def anchors(self) -> list[dict[str, Any]]:
        root = self.pki.root
        return [{"pem": root.pem.decode("ascii"), "sha256": sha256_hex(root.der),
                 "subject": root.cert.subject.rfc4514_string(), "source": "test"}]


@lru_cache(maxsize=256)
def _described(der: bytes, index: int) -> str:
    return json.dumps(describe(der, index))


def describe_chain(chain: Sequence[bytes]) -> list[dict[str, Any]]:
    """``certinfo.describe`` of each certificate (cached: large estates repeat chains)."""
    return [json.loads(_described(der, i)) for i, der in enumerate(chain)]


def verdict(accepted: bool = True, error: str | None = None) -> dict[str, Any]:
    reasons = [] if accepted else [{"code": error or "rejected", "message": "rejected in test", "check": None,
                                    "certificate_index": 0}]
    return {"accepted": accepted, "error": error, "reasons": reasons}


def finding(finding_id: str, severity: str = "error", index: int | None = 0) -> dict[str, Any]:
    return {"id": finding_id, "severity": severity, "title": f"test finding {finding_id}",
            "certificate_index": index, "detail": "made by tests/historydata.py"}


def endpoint(name: str, address: str | None, port: int, *, chain: Sequence[bytes] = (),
             error: str | None = None, findings: Sequence[dict[str, Any]] = (),
             browsers: dict[str, Any] | None = None, at: dt.datetime = T0,
             interface: str = "gateway") -> dict[str, Any]:
    """One endpoint record; ``error`` is an error kind (``refused``, ``dns``...) for a failed one."""
    ok = error is None
    if ok and browsers is None and chain:
        browsers = {"chrome": verdict(), "firefox": verdict()}
    return {
        "id": f"{name}@{address or ''}:{port}",
        "target": {"name": name, "interface": interface, "host": name, "port": port, "hostname": name, "tags": []},
        "address": address,
        "status": "ok" if ok else "error",
        "error": None if ok else {"kind": error, "message": f"{error} (test)", "alert": None, "phase": "connect"},
        "scanned_at": iso_utc(at),
        "duration_ms": 12.5,
        "tls": ({"version": "TLSv1.3", "cipher": "TLS_AES_128_GCM_SHA256", "alpn": None, "client_auth": "none",
                 "acceptable_ca_names": []} if ok else None),
        "chain": describe_chain(chain) if ok else [],
        "browsers": browsers if ok else None,
        "profile": {"name": "dccki-tls-san", "status": "compliant", "breaches": []} if ok else None,
        "findings": list(findings),
    }


def document(endpoints: list[dict[str, Any]], *, started_at: dt.datetime = T0,
             targets_path: str | None = "/etc/dccscan/targets.toml", targets_sha256: str = "a" * 64,
             anchors: list[dict[str, Any]] | None = None, profile: dict[str, Any] | None = None,
             validate_all: bool = True) -> dict[str, Any]:
    """A whole, schema-valid results document around ``endpoints``.

    ``validate_all=False`` validates the document with its first 20 endpoints only (schema
    validation dominates the cost of building an estate of thousands of alike endpoints).
    """
    by_status: dict[str, int] = {}
    by_severity: dict[str, int] = {}
    for e in endpoints:
        by_status[e["status"]] = by_status.get(e["status"], 0) + 1
        for f in e["findings"]:
            by_severity[f["severity"]] = by_severity.get(f["severity"], 0) + 1
    doc = {
        "schema": "dccscan/1",
        "scanner": {"name": "dccscan", "version": "0.1.0"},
        "started_at": iso_utc(started_at),
        "finished_at": iso_utc(started_at + dt.timedelta(seconds=40)),
        "complete": True,
        "targets_file": {"path": targets_path, "sha256": targets_sha256} if targets_path else None,
        "settings": {"concurrency": 32, "timeout": 10.0, "trust_anchors": anchors or [],
                     "profile": profile if profile is not None else {"name": "dccki-tls-san"}, "fail_on": "error"},
        "endpoints": endpoints,
        "not_reached": [],
        "summary": {"endpoints": len(endpoints), "by_status": by_status, "by_interface": {},
                    "by_severity": by_severity, "exit_code": 1 if by_severity.get("error") else 0},
    }
    validate(doc if validate_all else doc | {"endpoints": endpoints[:20]})
    return doc


def write_results(doc: dict[str, Any], path: Path) -> Path:
    """Write ``doc`` as a scan does: header keys, then one endpoint per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {k: v for k, v in doc.items() if k != "endpoints"}
    with open(path, "w", encoding="utf-8") as out:
        out.write(json.dumps(header)[:-1] + ', "endpoints": [\n')
        out.write(",\n".join(json.dumps(e) for e in doc["endpoints"]))
        out.write("\n]}\n")
    return path

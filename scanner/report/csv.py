"""CSV (results.csv): one row per endpoint, with a stable column list (``COLUMNS``, documented in
the README; new columns are only ever appended).

Cells are attacker controlled: a text cell that a spreadsheet would take as a formula (starting
with ``=``, ``+``, ``-``, ``@``, tab or carriage return) is prefixed with ``'``.
"""

from __future__ import annotations

import csv as _csv
from pathlib import Path
from typing import Any, Mapping

from scanner.report import _facts
from scanner.results import iter_endpoints
from scanner.report._text import printable
from scanner.severity import SEVERITIES

COLUMNS: tuple[str, ...] = (
    "id", "name", "interface", "host", "port", "hostname", "tags", "address", "status", "outcome",
    "error_kind", "error_message", "scanned_at", "tls_version", "cipher", "alpn", "client_auth",
    "acceptable_ca_names", "chrome", "firefox", "profile", "profile_breaches", "worst_severity",
    "worst_finding", "findings_error", "findings_warning", "findings_notice", "findings_info",
    "chain_length", "leaf_subject", "leaf_san", "leaf_not_after", "leaf_days_left", "leaf_sha256",
)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _safe(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = printable(value)
    return "'" + text if text.startswith(_FORMULA) else text


def row(ep: Mapping[str, Any]) -> dict[str, object]:
    """The CSV row for one endpoint (raw values; ``_safe`` is applied when writing)."""
    target = ep.get("target", {})
    error = ep.get("error") or {}
    tls = ep.get("tls") or {}
    chain = ep.get("chain") or []
    leaf = chain[0] if chain else {}
    worst = _facts.worst_finding(ep)
    counts: dict[str, int] = {s: 0 for s in SEVERITIES}
    for f in ep.get("findings") or []:
        counts[str(f.get("severity"))] = counts.get(str(f.get("severity")), 0) + 1
    return {
        "id": ep.get("id"), "name": target.get("name"), "interface": target.get("interface"),
        "host": target.get("host"), "port": target.get("port"), "hostname": target.get("hostname"),
        "tags": " ".join(target.get("tags") or []), "address": ep.get("address"), "status": ep.get("status"),
        "outcome": _facts.outcome(ep), "error_kind": error.get("kind"), "error_message": error.get("message"),
        "scanned_at": ep.get("scanned_at"), "tls_version": tls.get("version"), "cipher": tls.get("cipher"),
        "alpn": tls.get("alpn"), "client_auth": tls.get("client_auth"),
        "acceptable_ca_names": "; ".join(tls.get("acceptable_ca_names") or []),
        "chrome": _facts.verdict_label(ep, "chrome"), "firefox": _facts.verdict_label(ep, "firefox"),
        "profile": _facts.profile_status(ep),
        "profile_breaches": " ".join((ep.get("profile") or {}).get("breaches") or []),
        "worst_severity": _facts.worst_severity(ep), "worst_finding": worst.get("id") if worst else None,
        **{f"findings_{s}": counts[s] for s in SEVERITIES},
        "chain_length": len(chain), "leaf_subject": leaf.get("subject"),
        "leaf_san": " ".join(f"{s.get('type')}:{s.get('value')}" for s in leaf.get("san") or []),
        "leaf_not_after": leaf.get("not_after"),
        "leaf_days_left": _facts.days_left(leaf.get("not_after"), ep.get("scanned_at")),
        "leaf_sha256": leaf.get("sha256"),
    }


def write_csv(results_path: Path, out_path: Path) -> Path:
    """Write results.csv for ``results_path`` (UTF-8, RFC 4180 quoting, header row first)."""
    with open(out_path, "w", encoding="utf-8", newline="") as out:
        writer = _csv.writer(out, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for ep in iter_endpoints(results_path):
            values = row(ep)
            writer.writerow([_safe(values[c]) for c in COLUMNS])
    return out_path

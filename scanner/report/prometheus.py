"""Prometheus metrics (metrics.prom): the scan as gauges in the Prometheus text exposition format
(version 0.0.4), the format node_exporter's textfile collector reads.

The metric names and labels are a public interface like results.json: alerting rules and
dashboards are written against them, so renaming a family, a label or a label value is a schema
change (``FAMILIES`` is the list; the README documents it). Every family is a gauge; names carry
the ``dccscan_`` prefix and base units (``_seconds``, ``_timestamp_seconds``); ``_info`` families
have the value 1 and carry text in labels.

Streaming and grouping. The exposition format wants all samples of one family together, under
one ``# HELP`` and ``# TYPE``, while results.json yields endpoints one at a time. Reading the
results once per family would parse the whole file (a few KB of JSON per endpoint, chains
included) a dozen times; keeping the samples in memory would grow with the estate. So the
endpoints are read once and each family's samples go to a spool file of its own, unlinked at
creation (``tempfile.TemporaryFile``: a killed run leaves nothing behind) and created in the
output folder, not in /tmp, which is often a RAM disk; at the end the spools are copied in
family order into the output. Memory stays flat at any estate size; the disk holds the metrics
twice for a moment.

Label values come from targets files, certificates and servers. Besides the format's own escapes
(backslash, double quote, line feed) ``label_text`` shows control characters, unpaired
surrogates (JSON can carry them; they are not UTF-8), noncharacters, Unicode bidi controls and
invisible format characters (zero-width spaces and joiners) as
visible ``\\xNN`` / ``\\uNNNN`` text, so a label can neither break the file nor reorder what
Grafana or an Alertmanager notification displays.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterable, Mapping

from scanner.report import _facts
from scanner.report._text import printable
from scanner.results import iter_endpoints, read_header
from scanner.severity import SEVERITIES

BROWSERS = ("chrome", "firefox")
PROFILE_STATES = ("compliant", "noncompliant", "grandfathered", _facts.NOT_EVALUATED)
ENDPOINT_LABELS = ("target", "interface", "hostname", "address", "port")


@dataclass(frozen=True)
class Family:
    name: str
    help: str
    labels: tuple[str, ...]  # its label names (after ENDPOINT_LABELS for per-endpoint families)

    @property
    def header(self) -> str:
        return f"# HELP {self.name} {self.help}\n# TYPE {self.name} gauge\n"


SCAN_FAMILIES: tuple[Family, ...] = (
    Family("dccscan_scan_info", "The scan: scanner version, results schema, targets file, shard, "
           "failure threshold and profile (value 1).",
           ("version", "schema", "targets_file", "targets_sha256", "shard", "fail_on", "profile")),
    Family("dccscan_scan_start_timestamp_seconds", "When the scan started (Unix time).", ()),
    Family("dccscan_scan_duration_seconds", "Wall time of the scan, from start to results written.", ()),
    Family("dccscan_scan_complete", "1 if every target was scanned; 0 after Ctrl-C, SIGTERM or "
           "--max-duration.", ()),
    Family("dccscan_scan_endpoints", "Endpoints recorded in this scan (every address of every target "
           "reached).", ()),
    Family("dccscan_scan_targets_not_reached", "Targets never scanned (the scan was stopped first).", ()),
    Family("dccscan_scan_exit_code", "The scan's exit code: 0 clean, 1 findings at or above fail_on, "
           "3 endpoints not scanned.", ()),
)

ENDPOINT_FAMILIES: tuple[Family, ...] = (
    Family("dccscan_endpoint_info", "An endpoint of the scan: its id, host, TLS version and client "
           "certificate demand (value 1).", ("id", "host", "tls_version", "client_auth")),
    Family("dccscan_endpoint_scan_success", "1 if a TLS handshake captured the endpoint's chain, "
           "0 if it could not be scanned; error is the error kind, empty on success.", ("error",)),
    Family("dccscan_endpoint_scan_duration_seconds", "Time spent scanning the endpoint.", ()),
    Family("dccscan_leaf_not_after_timestamp_seconds", "notAfter of the leaf certificate the endpoint "
           "presented (Unix time).", ()),
    Family("dccscan_chain_earliest_expiry_timestamp_seconds", "Earliest notAfter among all certificates "
           "the endpoint presented (Unix time), as blackbox_exporter's probe_ssl_earliest_cert_expiry.", ()),
    Family("dccscan_leaf_info", "The leaf certificate the endpoint presented: subject, issuer, serial, "
           "SHA-256 fingerprint and subjectAltName (value 1).", ("subject", "issuer", "serial", "sha256", "san")),
    Family("dccscan_browser_accepted", "1 if the browser would accept the endpoint's certificate for its "
           "hostname, 0 if not; error is the code the browser shows, empty when accepted.", ("browser", "error")),
    Family("dccscan_profile_status", "DCCKI TLS profile status of the endpoint's leaf: 1 for the current "
           "status, 0 for the others.", ("status",)),
    Family("dccscan_endpoint_findings", "Findings on the endpoint, by severity.", ("severity",)),
)

FAMILIES: tuple[Family, ...] = SCAN_FAMILIES + ENDPOINT_FAMILIES

_FORMAT_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})


def label_text(value: object) -> str:
    """The label value a text becomes (before the format's escaping): unchanged, except that
    characters that could break or disguise it are written as visible escapes (the one escaper
    of every plain-text sink, ``report._text.printable``). None is ''."""
    return "" if value is None else printable(value)


def escape_label(value: object) -> str:
    """``label_text`` escaped as the exposition format requires inside double quotes."""
    return label_text(value).translate(_FORMAT_ESCAPES)


def labels(pairs: Iterable[tuple[str, object]]) -> str:
    return ",".join(f'{name}="{escape_label(value)}"' for name, value in pairs)


def number(value: float | int | bool) -> str:
    """A sample value as Go's ParseFloat reads it; whole numbers without a fraction."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return str(int(value)) if value.is_integer() else repr(value)


def timestamp(text: Any) -> int | None:
    """A results-model time (``...Z``) as Unix seconds; None when absent or malformed."""
    when = _facts.parse_time(text) if isinstance(text, str) else None
    return int(when.timestamp()) if when is not None else None


def _sample(name: str, label_part: str, value: float | int | bool) -> str:
    return f"{name}{{{label_part}}} {number(value)}\n" if label_part else f"{name} {number(value)}\n"


# ---- per endpoint --------------------------------------------------------------------------------

def endpoint_labels(ep: Mapping[str, Any]) -> str:
    """The labels every per-endpoint sample carries, already escaped."""
    target = ep.get("target") or {}
    return labels(zip(ENDPOINT_LABELS, (target.get("name"), target.get("interface"), target.get("hostname"),
                                         ep.get("address"), target.get("port"))))


def endpoint_samples(ep: Mapping[str, Any]) -> dict[str, list[tuple[str, float | int | bool]]]:
    """Family name -> (extra labels, value) for one endpoint; families without a value for it
    (no chain, no verdicts) are left out rather than given a made-up number."""
    target = ep.get("target") or {}
    tls = ep.get("tls") or {}
    error = ep.get("error") or {}
    chain = [c for c in ep.get("chain") or [] if isinstance(c, Mapping)]
    ok = ep.get("status") == "ok"
    out: dict[str, list[tuple[str, float | int | bool]]] = {f.name: [] for f in ENDPOINT_FAMILIES}
    out["dccscan_endpoint_info"].append((labels([("id", ep.get("id")), ("host", target.get("host")),
                                                 ("tls_version", tls.get("version")),
                                                 ("client_auth", tls.get("client_auth"))]), 1))
    out["dccscan_endpoint_scan_success"].append((labels([("error", "" if ok else error.get("kind") or "error")]), ok))
    duration = ep.get("duration_ms")
    if isinstance(duration, (int, float)) and not isinstance(duration, bool):
        out["dccscan_endpoint_scan_duration_seconds"].append(("", round(duration / 1000, 6)))
    if chain:
        leaf = chain[0]
        leaf_expiry = timestamp(leaf.get("not_after"))
        if leaf_expiry is not None:
            out["dccscan_leaf_not_after_timestamp_seconds"].append(("", leaf_expiry))
        expiries = [t for t in (timestamp(c.get("not_after")) for c in chain) if t is not None]
        if expiries:
            out["dccscan_chain_earliest_expiry_timestamp_seconds"].append(("", min(expiries)))
        san = " ".join(f"{s.get('type')}:{s.get('value')}" for s in leaf.get("san") or [] if isinstance(s, Mapping))
        out["dccscan_leaf_info"].append((labels([("subject", leaf.get("subject")), ("issuer", leaf.get("issuer")),
                                                 ("serial", leaf.get("serial")), ("sha256", leaf.get("sha256")),
                                                 ("san", san)]), 1))
    browsers = ep.get("browsers") or {}
    for browser in BROWSERS:
        verdict = browsers.get(browser)
        if isinstance(verdict, Mapping):
            accepted = bool(verdict.get("accepted"))
            code = "" if accepted else verdict.get("error") or "rejected"
            out["dccscan_browser_accepted"].append((labels([("browser", browser), ("error", code)]), accepted))
    status = _facts.profile_status(ep)
    for state in PROFILE_STATES:
        out["dccscan_profile_status"].append((labels([("status", state)]), state == status))
    counts = dict.fromkeys(SEVERITIES, 0)
    for finding in ep.get("findings") or []:
        severity = str(finding.get("severity")) if isinstance(finding, Mapping) else "error"
        counts[severity if severity in counts else "error"] += 1
    for severity, count in counts.items():
        out["dccscan_endpoint_findings"].append((labels([("severity", severity)]), count))
    return out


# ---- per scan ------------------------------------------------------------------------------------

def scan_samples(header: Mapping[str, Any], endpoints: int) -> dict[str, list[tuple[str, float | int | bool]]]:
    """Family name -> samples for the scan as a whole (``endpoints``: how many were read)."""
    scanner = header.get("scanner") or {}
    targets = header.get("targets_file") or {}
    settings = header.get("settings") or {}
    profile = settings.get("profile") or {}
    info = labels([("version", scanner.get("version")), ("schema", header.get("schema")),
                   ("targets_file", targets.get("path")), ("targets_sha256", targets.get("sha256")),
                   ("shard", settings.get("shard")), ("fail_on", settings.get("fail_on")),
                   ("profile", profile.get("name") if isinstance(profile, Mapping) else None)])
    out: dict[str, list[tuple[str, float | int | bool]]] = {f.name: [] for f in SCAN_FAMILIES}
    out["dccscan_scan_info"].append((info, 1))
    started, finished = timestamp(header.get("started_at")), timestamp(header.get("finished_at"))
    if started is not None:
        out["dccscan_scan_start_timestamp_seconds"].append(("", started))
        if finished is not None:
            out["dccscan_scan_duration_seconds"].append(("", max(0, finished - started)))
    out["dccscan_scan_complete"].append(("", header.get("complete") is not False))
    out["dccscan_scan_endpoints"].append(("", endpoints))
    out["dccscan_scan_targets_not_reached"].append(("", len(header.get("not_reached") or [])))
    exit_code = (header.get("summary") or {}).get("exit_code")
    if isinstance(exit_code, int) and not isinstance(exit_code, bool):
        out["dccscan_scan_exit_code"].append(("", exit_code))
    return out


# ---- the file ------------------------------------------------------------------------------------

def _write_family(out: IO[str], family: Family, samples: list[tuple[str, float | int | bool]]) -> None:
    if samples:
        out.write(family.header)
        out.writelines(_sample(family.name, text, value) for text, value in samples)


def write_prometheus(results_path: Path, out_path: Path) -> Path:
    """Write the metrics for ``results_path`` to ``out_path`` (``write_reports`` passes a temporary
    name beside OUT/metrics.prom and renames it into place). A family with no sample is left out
    whole: HELP and TYPE without samples mean nothing to a reader."""
    header = read_header(results_path)
    folder = Path(out_path).parent
    spools: dict[str, IO[str]] = {}
    counts = dict.fromkeys((f.name for f in ENDPOINT_FAMILIES), 0)
    try:
        for family in ENDPOINT_FAMILIES:
            spools[family.name] = tempfile.TemporaryFile("w+", encoding="utf-8", newline="\n", dir=folder)
        endpoints = 0
        for ep in iter_endpoints(results_path):
            endpoints += 1
            common = endpoint_labels(ep)
            for name, samples in endpoint_samples(ep).items():
                for extra, value in samples:
                    spools[name].write(_sample(name, f"{common},{extra}" if extra else common, value))
                    counts[name] += 1
        with open(out_path, "w", encoding="utf-8", newline="\n") as out:
            per_scan = scan_samples(header, endpoints)
            for family in SCAN_FAMILIES:
                _write_family(out, family, per_scan[family.name])
            for family in ENDPOINT_FAMILIES:
                if counts[family.name]:
                    out.write(family.header)
                    spool = spools[family.name]
                    spool.seek(0)
                    shutil.copyfileobj(spool, out)
    finally:
        for spool in spools.values():
            spool.close()
    return Path(out_path)

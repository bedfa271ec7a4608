"""The self-contained HTML report (report.html).

One file with inline CSS and SVG, no external requests (a Content-Security-Policy forbids them),
readable from file:// and printable. Filters are radio buttons read by CSS ``:has()``: without
JavaScript every section is visible and the filters still work; the only script is an optional
enhancement (sortable matrix, opening collapsed sections before printing).

Rendering streams: a first pass over the endpoints gathers the summary (counts and a bounded list
of the soonest expiries), then the template iterates the endpoints again for the matrix (once per
interface, which sorts it by interface without JavaScript) and once more for the details, writing as it goes, so memory does not grow with the estate.
Everything is escaped by jinja2's autoescape: certificates and servers are attacker controlled.
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, TextIO

import jinja2

from scanner.report import _facts
from scanner.severity import SEVERITIES

INTERFACES = ("gateway", "self-service", "registration", "other")
PROFILE_STATUSES = ("compliant", "noncompliant", "grandfathered", "not-evaluated")
CHANGE_KEYS = ("appeared", "resolved", "rotated", "unreachable", "recovered", "addresses_added",
               "addresses_removed", "verdict_changes", "expiry_windows")
SOONEST = 12

Endpoints = Callable[[], Iterable[Mapping[str, Any]]]


@dataclass(order=True)
class Expiry:
    """One certificate in the soonest-expiries list; ordered by expiry, then fingerprint."""

    not_after: str
    sha256: str
    days: int = field(compare=False)
    subject: str = field(compare=False)
    endpoints: list[tuple[str, str]] = field(compare=False, default_factory=list)  # (name, anchor)


@dataclass
class Summary:
    """What the first pass learns; every field is bounded in size whatever the estate."""

    total: int = 0
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)  # interface -> outcome -> n
    profile: dict[str, int] = field(default_factory=dict)
    accepted: dict[str, int] = field(default_factory=lambda: {"chrome": 0, "firefox": 0})
    severity: dict[str, int] = field(default_factory=dict)
    soonest: list[Expiry] = field(default_factory=list)

    def add(self, ep: Mapping[str, Any]) -> None:
        self.total += 1
        interface = str(ep.get("target", {}).get("interface", "other"))
        row = self.outcomes.setdefault(interface, {})
        out = _facts.outcome(ep)
        row[out] = row.get(out, 0) + 1
        status = _facts.profile_status(ep)
        self.profile[status] = self.profile.get(status, 0) + 1
        for browser in ("chrome", "firefox"):
            self.accepted[browser] += _facts.verdict_label(ep, browser) == "accepted"
        for f in ep.get("findings") or []:
            sev = str(f.get("severity"))
            self.severity[sev] = self.severity.get(sev, 0) + 1
        for cert in ep.get("chain") or []:
            self._consider(ep, cert)

    def _consider(self, ep: Mapping[str, Any], cert: Mapping[str, Any]) -> None:
        """Keep the SOONEST earliest-expiring distinct certificates (same cert: same key)."""
        if not cert.get("not_after"):
            return
        who = (str(ep.get("target", {}).get("name", "")), _facts.anchor(str(ep.get("id", ""))))
        for known in self.soonest:
            if known.sha256 == cert.get("sha256"):
                if len(known.endpoints) < 5:
                    known.endpoints.append(who)
                return
        days = _facts.days_left(cert["not_after"], ep.get("scanned_at")) or 0
        item = Expiry(cert["not_after"], str(cert.get("sha256", "")), days, str(cert.get("subject") or "?"), [who])
        if len(self.soonest) < SOONEST or item < self.soonest[-1]:
            bisect.insort(self.soonest, item)
            del self.soonest[SOONEST:]

    def outcome_columns(self) -> list[str]:
        seen = {o for row in self.outcomes.values() for o in row}
        first = [o for o in ("ok", "client-cert-required") if o in seen]
        return first + sorted(seen - set(first))


def short_name(subject: str) -> str:
    """The first RDN of an RFC 4514 subject (usually the CN's value), for a compact label."""
    first = re.split(r"(?<!\\),", subject, maxsplit=1)[0]
    value = first.split("=", 1)[-1].replace("\\", "")
    return value if len(value) <= 44 else value[:41] + "..."


def timeline(soonest: list[Expiry], width: int = 1100) -> dict[str, Any]:
    """Coordinates for the inline SVG expiry timeline: day 0 is the scan time."""
    left, row, right = 340, 22, 70
    lo = min([0] + [e.days for e in soonest])
    hi = max([30] + [e.days for e in soonest])
    span = max(hi - lo, 1)

    def x(days: int) -> float:
        return round(left + (width - left - right) * (days - lo) / span, 1)

    rows = [{"y": 30 + i * row, "x": x(e.days), "days": e.days, "label": short_name(e.subject),
             "tone": "expired" if e.days < 0 else "soon" if e.days < 30 else "fine"}
            for i, e in enumerate(soonest)]
    return {"width": width, "height": 40 + row * max(len(rows), 1), "zero": x(0), "left": left,
            "rows": rows, "lo": lo, "hi": hi}


def _view(ep: Mapping[str, Any]) -> dict[str, Any]:
    """The endpoint plus what the template shows but the model does not store."""
    at = ep.get("scanned_at")
    chain = [dict(c, days_left=_facts.days_left(c.get("not_after"), at)) for c in ep.get("chain") or []]
    findings = ep.get("findings") or []
    present = list(SEVERITIES) + sorted({str(f.get("severity")) for f in findings} - set(SEVERITIES))
    grouped = [(sev, [f for f in findings if str(f.get("severity")) == sev]) for sev in present]
    worst = _facts.worst_severity(ep)
    return {
        "ep": ep, "chain": chain, "anchor": _facts.anchor(str(ep.get("id", ""))),
        "outcome": _facts.outcome(ep), "profile_status": _facts.profile_status(ep),
        "chrome": _facts.verdict_label(ep, "chrome"), "firefox": _facts.verdict_label(ep, "firefox"),
        "worst": worst or "none", "findings_by_severity": [(s, fs) for s, fs in grouped if fs],
        "filter_status": "unreachable" if ep.get("status") == "error" else _facts.profile_status(ep),
        "interface": str(ep.get("target", {}).get("interface", "other")),
    }


def _views(endpoints: Endpoints, interface: str | None = None) -> Iterator[dict[str, Any]]:
    """Endpoint views in results order; only one interface's when asked (anything outside the
    known interfaces counts as ``other``)."""
    for ep in endpoints():
        found = str(ep.get("target", {}).get("interface", "other"))
        if interface is None or interface == (found if found in INTERFACES else "other"):
            yield _view(ep)


def _matrix_groups(endpoints: Endpoints, summary: Summary) -> list[tuple[str, int, Iterator[dict[str, Any]]]]:
    """The matrix sorted by interface without JavaScript: one lazy pass per interface present."""
    counts = {i: 0 for i in INTERFACES}
    for found, row in summary.outcomes.items():
        counts[found if found in INTERFACES else "other"] += sum(row.values())
    return [(i, counts[i], _views(endpoints, i)) for i in INTERFACES if counts[i]]


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    """One environment per process: it caches the compiled templates."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("scanner.report", "templates"),
        autoescape=True,  # every template, whatever its name: the data is hostile
        trim_blocks=True, lstrip_blocks=True,
    )
    return env


def render_html(header: Mapping[str, Any], endpoints: Endpoints, out: TextIO) -> None:
    """Write the report for ``header`` and the endpoints ``endpoints()`` yields (called up to 6 times)."""
    summary = Summary()
    for ep in endpoints():
        summary.add(ep)
    template = _environment().get_template("report.html.j2")
    changes = header.get("changes")
    stream = template.generate(
        h=header, summary=summary, timeline=timeline(summary.soonest),
        matrix=_matrix_groups(endpoints, summary), details=_views(endpoints),
        interfaces=INTERFACES, profile_statuses=PROFILE_STATUSES, severities=SEVERITIES,
        changes=changes if isinstance(changes, Mapping) else None, change_keys=CHANGE_KEYS,
    )
    for chunk in stream:
        out.write(chunk)


def write_html(results_path: Path, out_path: Path) -> Path:
    """Render ``results_path`` to ``out_path`` (report.html)."""
    from scanner.report._load import iter_endpoints, read_header

    header = read_header(results_path)
    with open(out_path, "w", encoding="utf-8", newline="\n") as out:
        render_html(header, lambda: iter_endpoints(results_path), out)
    return out_path

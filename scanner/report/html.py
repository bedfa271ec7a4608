"""The self-contained HTML report (report.html).

One file with inline CSS and SVG, no external requests (a Content-Security-Policy forbids them),
readable from file:// and printable. Filters are radio buttons read by CSS ``:has()``: without
JavaScript every section is visible and the filters still work; the only script is an optional
enhancement (sortable matrix, opening collapsed sections before printing).

Rendering streams in one pass over the endpoints (each JSON line parsed once): it gathers the
summary (counts and a bounded list of the soonest expiries) and writes each endpoint's matrix row
to a temporary spool per interface (which sorts the matrix by interface without JavaScript) and its
detail article to another spool; the page is then written with the spools copied in, so memory
does not grow with the estate. Per-endpoint HTML that jinja2 was slow at (rows, badges, the
certificate tables) is built in Python with ``markupsafe.escape``.
Everything is escaped by jinja2's autoescape: certificates and servers are attacker controlled.
"""

from __future__ import annotations

import bisect
import functools
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, Mapping, TextIO

import jinja2
from markupsafe import Markup, escape

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


OUTCOME_CLASS = {"ok": "ok", "client-cert-required": "cc"}


def verdict_cell(label: str) -> Markup:
    """The matrix / verdict-table cell for a browser label (was a template macro: macros called
    once per endpoint cost more than the rest of the row)."""
    if label == "accepted":
        return Markup('<span class="badge ok">accepted</span>')
    if label == "not-evaluated":
        return Markup('<span class="badge na">not evaluated</span>')
    return Markup('<span class="badge bad">rejected</span> <span class="mono small">%s</span>') % label


def badge(kind: str, text: str) -> Markup:
    return Markup('<span class="badge %s">%s</span>') % (kind, text)


def _cells(view: dict[str, Any]) -> None:
    """Add the pre-rendered badges and verdict cells the row and the article both show."""
    out_class = "out-" + OUTCOME_CLASS.get(view["outcome"], "err")
    view["outcome_badge"] = badge(out_class, view["outcome"])
    view["profile_badge"] = badge("st-" + view["profile_status"], view["profile_status"])
    view["chrome_cell"] = verdict_cell(view["chrome"])
    view["firefox_cell"] = verdict_cell(view["firefox"])
    view["severity_badges"] = {sev: badge("sev-" + sev, sev) for sev, _ in view["findings_by_severity"]}
    view["tls_html"] = Markup(tls_block(view["ep"].get("tls")))
    view["verdicts_html"] = Markup(verdicts_block(view))
    view["chain_html"] = Markup("".join(cert_block(c) for c in view["chain"])[:-1])
    view["classes"] = Markup("filterable if-%s st-%s sev-%s") % (
        view["interface"], view["filter_status"], view["worst"])


def _days_span(days: int | None) -> str:
    if days is None:
        return ""
    tone = "expired" if days < 0 else "soon" if days < 30 else ""
    return f' <span class="days {tone}">({days} days left{": expired" if days < 0 else ""})</span>'


def _key_text(key: Any) -> str:
    if not key:
        return "unknown"
    curve = key.get("curve")
    return f'{_text(key.get("type"))} {_text(key.get("size") or "")}' + (f" {_text(curve)}" if curve else "")


def _sans(sans: Any) -> str:
    if not sans:
        return "<strong>none</strong> (browsers ignore the Subject CN)"
    items = "".join(f'<li><span class="small">{_text(s.get("type"))}</span> <span class="mono">{_text(s.get("value"))}</span></li>'
                    for s in sans)
    return f'<ul class="sans">{items}</ul>'


def cert_block(c: Mapping[str, Any]) -> str:
    """One presented certificate's table and PEM (built in Python: with a dozen fields per
    certificate, the jinja2 version was most of the report's cost); every value is escaped."""
    index, subject, issuer, errors = c.get("index"), c.get("subject"), c.get("issuer"), c.get("parse_errors")
    problems = ('<tr><th scope="row">Parse errors</th><td><ul>' + "".join(f"<li>{_text(pe)}</li>" for pe in errors)
                + "</ul></td></tr>") if errors else ""
    return (
        '<div class="cert">\n<table class="cert">\n'
        f'<caption>#{_text(index)} {"leaf" if index == 0 else "presented after the leaf"}</caption>\n<tbody>\n'
        f'<tr><th scope="row">Subject</th><td class="mono">{_text(subject) if subject is not None else "(unparseable)"}</td></tr>\n'
        f'<tr><th scope="row">Issuer</th><td class="mono">{_text(issuer) if issuer is not None else "(unparseable)"}</td></tr>\n'
        f'<tr><th scope="row">subjectAltName</th><td>{_sans(c.get("san"))}</td></tr>\n'
        f'<tr><th scope="row">Validity</th><td>{_text(c.get("not_before"))} to {_text(c.get("not_after"))}'
        f'{_days_span(c["days_left"])}</td></tr>\n'
        f'<tr><th scope="row">Key</th><td>{_key_text(c.get("key"))}</td></tr>\n'
        f'<tr><th scope="row">Signature</th><td>{_text(c.get("signature_algorithm") or "unknown")}</td></tr>\n'
        f'<tr><th scope="row">Serial</th><td class="mono">{_text(c.get("serial"))}</td></tr>\n'
        f'<tr><th scope="row">SHA-256</th><td class="mono small">{_text(c.get("sha256"))}</td></tr>\n'
        f'{problems}</tbody>\n</table>\n'
        f'<details><summary>PEM of certificate #{_text(index)}</summary><pre>{_text(c.get("pem"))}</pre></details>\n'
        '</div>\n'
    )


CLIENT_AUTH = {"none": "not requested", "optional": "requested (optional)", "required": "required"}
BROWSERS = (("chrome", "Chrome"), ("firefox", "Firefox"))


def tls_block(tls: Any) -> str:
    """The endpoint's TLS facts (empty without a handshake)."""
    if not tls:
        return ""
    auth = tls.get("client_auth")
    sent = f'; {"one was sent" if tls.get("client_cert_sent") else "none was sent"}' if auth != "none" else ""
    names = ""
    if auth != "none":
        listed = tls.get("acceptable_ca_names")
        inner = ("<ul>" + "".join(f'<li class="mono">{_text(n)}</li>' for n in listed) + "</ul>"
                 if listed else "none listed by the server")
        names = f"<dt>Acceptable CA names</dt><dd>{inner}</dd>\n"
    return (
        '<h4>TLS</h4>\n<dl class="facts">\n'
        f'<dt>Protocol</dt><dd>{_text(tls.get("version") or "unknown")}</dd>\n'
        f'<dt>Cipher</dt><dd class="mono">{_text(tls.get("cipher") or "unknown")}</dd>\n'
        f'<dt>ALPN</dt><dd class="mono">{_text(tls.get("alpn") or "none")}</dd>\n'
        f'<dt>Client certificate</dt><dd>{_text(CLIENT_AUTH.get(auth, auth))}{sent}</dd>\n'
        f"{names}</dl>\n"
    )


def verdicts_block(view: dict[str, Any]) -> str:
    """The Chrome / Firefox / profile table (empty when the endpoint was not evaluated)."""
    ep = view["ep"]
    if not (ep.get("browsers") or ep.get("profile")):
        return ""
    rows = []
    for browser, label in BROWSERS:
        verdict = (ep.get("browsers") or {}).get(browser)
        reasons = verdict.get("reasons") if verdict else None
        listed = ("<ul>" + "".join(f'<li><span class="mono small">{_text(r.get("code"))}</span> {_text(r.get("message"))}</li>'
                                   for r in reasons) + "</ul>") if reasons else ""
        rows.append(f'<tr><th scope="row">{label}</th><td>{view[browser + "_cell"]}</td><td>{listed}</td></tr>\n')
    p = ep.get("profile")
    name = f' <span class="small">({_text(p.get("name"))})</span>' if p else ""
    breaches = ("<ul>" + "".join(f"<li>{_text(br)}</li>" for br in p.get("breaches")) + "</ul>"
                if p and p.get("breaches") else "")
    effective = f'<span class="small">effective {_text(p.get("effective_date"))}</span>' if p and p.get("effective_date") else ""
    rows.append(f'<tr><th scope="row">DCCKI profile{name}</th><td>{view["profile_badge"]}</td><td>{breaches}{effective}</td></tr>\n')
    return ('<h4>Verdicts</h4>\n<table class="verdicts">\n<thead><tr><th scope="col">Judge</th>'
            '<th scope="col">Verdict</th><th scope="col">Reasons</th></tr></thead>\n<tbody>\n'
            + "".join(rows) + "</tbody>\n</table>\n")


def matrix_row(view: dict[str, Any]) -> str:
    """One ``<tr>`` of the matrix, built in Python (a jinja2 loop body per endpoint was most of
    the render's cost); every value is escaped."""
    ep = view["ep"]
    target = ep.get("target", {})
    return (
        f'<tr class="{view["classes"]}">\n'
        f'<th scope="row"><a href="#{escape(view["anchor"])}">{_text(target.get("name"))}</a> '
        f'<span class="mono small">{_text(ep.get("address") or "(unresolved)")}:{_text(target.get("port"))}</span></th>\n'
        f'<td>{escape(view["interface"])}</td>\n'
        f'<td class="mono">{_text(target.get("hostname"))}</td>\n'
        f'<td>{view["outcome_badge"]}</td>\n'
        f'<td>{view["chrome_cell"]}</td>\n'
        f'<td>{view["firefox_cell"]}</td>\n'
        f'<td>{view["profile_badge"]}</td>\n'
        f'<td>{badge("sev-" + view["worst"], view["worst"])}</td>\n'
        '</tr>\n'
    )


def _text(value: Any) -> str:
    """What ``{{ value }}`` prints under autoescape (None prints as ``None``, as jinja2 does)."""
    return str(escape(value))


def _group(ep: Mapping[str, Any]) -> str:
    """The matrix group of an endpoint: anything outside the known interfaces counts as other."""
    found = str(ep.get("target", {}).get("interface", "other"))
    return found if found in INTERFACES else "other"


class _Spools:
    """One pass over the endpoints: matrix rows spooled per interface group, detail articles
    spooled in results order, so the page can be written afterwards in its own order without
    holding any endpoint in memory or reading results.json again."""

    def __init__(self) -> None:
        self.rows = {i: tempfile.TemporaryFile("w+", encoding="utf-8") for i in INTERFACES}
        self.details = tempfile.TemporaryFile("w+", encoding="utf-8")

    def add(self, view: dict[str, Any], article: str) -> None:
        self.rows[_group(view["ep"])].write(matrix_row(view))
        self.details.write(article)

    @staticmethod
    def replay(spool: IO[str]) -> Iterator[Markup]:
        """The spooled HTML (already escaped) in chunks."""
        spool.seek(0)
        while chunk := spool.read(1 << 16):
            yield Markup(chunk)

    def close(self) -> None:
        for spool in (*self.rows.values(), self.details):
            spool.close()


def _matrix_groups(spools: _Spools, summary: Summary) -> list[tuple[str, int, Iterator[Markup]]]:
    """The matrix sorted by interface without JavaScript: one group per interface present."""
    counts = {i: 0 for i in INTERFACES}
    for found, row in summary.outcomes.items():
        counts[found if found in INTERFACES else "other"] += sum(row.values())
    return [(i, counts[i], spools.replay(spools.rows[i])) for i in INTERFACES if counts[i]]


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
    """Write the report for ``header`` and the endpoints ``endpoints()`` yields (called once:
    summary, matrix rows and detail articles all come from that one pass)."""
    summary = Summary()
    spools = _Spools()
    try:
        article = _environment().get_template("endpoint.html.j2")
        for ep in endpoints():
            summary.add(ep)
            view = _view(ep)
            _cells(view)
            spools.add(view, article.render(v=view))
        changes = header.get("changes")
        stream = _environment().get_template("report.html.j2").generate(
            h=header, summary=summary, timeline=timeline(summary.soonest),
            matrix=_matrix_groups(spools, summary), details=spools.replay(spools.details),
            interfaces=INTERFACES, profile_statuses=PROFILE_STATUSES, severities=SEVERITIES,
            changes=changes if isinstance(changes, Mapping) else None, change_keys=CHANGE_KEYS,
        )
        for chunk in stream:
            out.write(chunk)
    finally:
        spools.close()


def write_html(results_path: Path, out_path: Path) -> Path:
    """Render ``results_path`` to ``out_path`` (report.html)."""
    from scanner.results import iter_endpoints, read_header

    header = read_header(results_path)
    with open(out_path, "w", encoding="utf-8", newline="\n") as out:
        render_html(header, lambda: iter_endpoints(results_path), out)
    return out_path

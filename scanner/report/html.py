"""The self-contained HTML report (report.html).

One file with inline CSS and SVG, no external requests (a Content-Security-Policy forbids them),
readable from file:// and printable. Filters are radio buttons read by CSS ``:has()``: without
JavaScript every section is visible and the filters still work; the only script is an optional
enhancement (sortable matrix, opening collapsed sections before printing).

Rendering streams in one pass over the endpoints (each JSON line parsed once): it gathers the
summary (counts and a bounded list of the soonest expiries) and writes each endpoint's matrix row
to a temporary spool per interface (which sorts the matrix by interface without JavaScript) and its
detail article to another spool; the page is then written with the spools copied in, so memory
does not grow with the estate.

The HTML is built in Python, not with jinja2: for a 1,000-endpoint scan, importing jinja2 and
compiling the templates (never cached between runs: PYTHONDONTWRITEBYTECODE) and its per-endpoint
rendering cost several times the rest of the report (issue 6). The static parts live beside this
module as package data (``templates/report.css``, ``templates/enhance.js``). Certificates and
servers are attacker controlled, so every value from results.json goes through ``esc`` (exactly
markupsafe's escaping, which the jinja2 version used); only fixed markup is written unescaped.
``benchmarks/render_golden.py`` checks that the output stays byte for byte what it was.
"""

from __future__ import annotations

import bisect
import functools
import importlib.resources
import re
import tempfile
from collections.abc import Iterable as IterableABC
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, Mapping, TextIO

from scanner.report import _facts
from scanner.severity import SEVERITIES

INTERFACES = ("gateway", "self-service", "registration", "other")
PROFILE_STATUSES = ("compliant", "noncompliant", "grandfathered", "not-evaluated")
CHANGE_KEYS = ("appeared", "resolved", "rotated", "unreachable", "recovered", "addresses_added",
               "addresses_removed", "verdict_changes", "expiry_windows")
SOONEST = 12

Endpoints = Callable[[], Iterable[Mapping[str, Any]]]


def _escape_text(text: str) -> str:
    """markupsafe's escaping of a str, in plain Python (used when its C speedups are missing)."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&#34;").replace("'", "&#39;"))


try:  # the C function behind markupsafe.escape, without building a Markup object per call
    from markupsafe._speedups import _escape_inner as _escape_fast
except ImportError:  # pragma: no cover - markupsafe without its C extension
    _escape_fast = _escape_text


def esc(value: Any) -> str:
    """``value`` as HTML text, escaped exactly as ``markupsafe.escape`` (jinja2's autoescape)
    does: ``& < > " '`` become ``&amp; &lt; &gt; &#34; &#39;``; non-strings print as ``str()``
    (None as ``None``). It skips markupsafe's Markup object per call: a large report escapes
    tens of thousands of short strings, and that object was most of the cost."""
    if type(value) is not str:
        if type(value) is int:  # ports, indexes, counts: the common non-string
            return str(value)
        html = getattr(value, "__html__", None)
        if html is not None:
            return str(html())
        value = str(value)
    return _escape_fast(value)


@dataclass(order=True)
class Expiry:
    """One certificate in the soonest-expiries list; ordered by expiry, then fingerprint."""

    not_after: str
    sha256: str
    days: int = field(compare=False)
    subject: str = field(compare=False)
    endpoints: list[tuple[str, str]] = field(compare=False, default_factory=list)  # (name, anchor)


@dataclass
class Endpoint:
    """One endpoint and the facts every part of the report shows, derived once."""

    ep: Mapping[str, Any]
    anchor: str
    interface: str
    outcome: str
    profile_status: str
    chrome: str
    firefox: str
    worst: str
    chain: list[tuple[Mapping[str, Any], int | None]]  # (certificate, days left at the scan time)

    @classmethod
    def of(cls, ep: Mapping[str, Any]) -> "Endpoint":
        at = ep.get("scanned_at")
        chain = [(c, _facts.days_left(c.get("not_after"), at)) for c in ep.get("chain") or []]
        return cls(ep, _facts.anchor(str(ep.get("id", ""))), str(ep.get("target", {}).get("interface", "other")),
                   _facts.outcome(ep), _facts.profile_status(ep), _facts.verdict_label(ep, "chrome"),
                   _facts.verdict_label(ep, "firefox"), _facts.worst_severity(ep) or "none", chain)

    @property
    def filter_status(self) -> str:
        return "unreachable" if self.ep.get("status") == "error" else self.profile_status

    @property
    def group(self) -> str:
        """The matrix group: anything outside the known interfaces counts as other."""
        return self.interface if self.interface in INTERFACES else "other"


@dataclass
class Summary:
    """What the first pass learns; every field is bounded in size whatever the estate."""

    total: int = 0
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)  # interface -> outcome -> n
    profile: dict[str, int] = field(default_factory=dict)
    accepted: dict[str, int] = field(default_factory=lambda: {"chrome": 0, "firefox": 0})
    severity: dict[str, int] = field(default_factory=dict)
    soonest: list[Expiry] = field(default_factory=list)
    _listed: set[str] = field(default_factory=set, repr=False)  # the fingerprints in soonest

    def add(self, e: Endpoint) -> None:
        self.total += 1
        row = self.outcomes.setdefault(e.interface, {})
        row[e.outcome] = row.get(e.outcome, 0) + 1
        self.profile[e.profile_status] = self.profile.get(e.profile_status, 0) + 1
        self.accepted["chrome"] += e.chrome == "accepted"
        self.accepted["firefox"] += e.firefox == "accepted"
        for f in e.ep.get("findings") or []:
            sev = str(f.get("severity"))
            self.severity[sev] = self.severity.get(sev, 0) + 1
        for cert, days in e.chain:
            self._consider(e, cert, days)

    def _consider(self, e: Endpoint, cert: Mapping[str, Any], days: int | None) -> None:
        """Keep the SOONEST earliest-expiring distinct certificates (same cert: same key)."""
        if not cert.get("not_after"):
            return
        who = (str(e.ep.get("target", {}).get("name", "")), e.anchor)
        if cert.get("sha256") in self._listed:
            for known in self.soonest:
                if known.sha256 == cert.get("sha256"):
                    if len(known.endpoints) < 5:
                        known.endpoints.append(who)
                    return
        key = (cert["not_after"], str(cert.get("sha256", "")))
        if len(self.soonest) >= SOONEST and not key < (self.soonest[-1].not_after, self.soonest[-1].sha256):
            return  # most certificates: later than all those kept, so not worth an Expiry
        bisect.insort(self.soonest, Expiry(*key, days or 0, str(cert.get("subject") or "?"), [who]))
        del self.soonest[SOONEST:]
        self._listed = {known.sha256 for known in self.soonest}

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


# --- per-endpoint fragments -------------------------------------------------------------------

OUTCOME_CLASS = {"ok": "ok", "client-cert-required": "cc"}
CLIENT_AUTH = {"none": "not requested", "optional": "requested (optional)", "required": "required"}
BROWSERS = (("chrome", "Chrome"), ("firefox", "Firefox"))


@functools.lru_cache(maxsize=256)  # a handful of distinct badges, thousands of times each
def badge(kind: str, text: str) -> str:
    return f'<span class="badge {esc(kind)}">{esc(text)}</span>'


@functools.lru_cache(maxsize=256)
def verdict_cell(label: str) -> str:
    """The matrix / verdict-table cell for a browser label."""
    if label == "accepted":
        return '<span class="badge ok">accepted</span>'
    if label == "not-evaluated":
        return '<span class="badge na">not evaluated</span>'
    return f'<span class="badge bad">rejected</span> <span class="mono small">{esc(label)}</span>'


def _outcome_badge(e: Endpoint) -> str:
    return badge("out-" + OUTCOME_CLASS.get(e.outcome, "err"), e.outcome)


def _days_span(days: int | None) -> str:
    if days is None:
        return ""
    tone = "expired" if days < 0 else "soon" if days < 30 else ""
    return f' <span class="days {tone}">({days} days left{": expired" if days < 0 else ""})</span>'


def _key_text(key: Any) -> str:
    if not key:
        return "unknown"
    curve = key.get("curve")
    return f'{esc(key.get("type"))} {esc(key.get("size") or "")}' + (f" {esc(curve)}" if curve else "")


def _sans(sans: Any) -> str:
    if not sans:
        return "<strong>none</strong> (browsers ignore the Subject CN)"
    items = "".join(f'<li><span class="small">{esc(s.get("type"))}</span> <span class="mono">{esc(s.get("value"))}</span></li>'
                    for s in sans)
    return f'<ul class="sans">{items}</ul>'


def cert_block(c: Mapping[str, Any], days: int | None) -> str:
    """One presented certificate's table and PEM; every value is escaped."""
    index, subject, issuer, errors = c.get("index"), c.get("subject"), c.get("issuer"), c.get("parse_errors")
    problems = ('<tr><th scope="row">Parse errors</th><td><ul>' + "".join(f"<li>{esc(pe)}</li>" for pe in errors)
                + "</ul></td></tr>") if errors else ""
    return (
        '<div class="cert">\n<table class="cert">\n'
        f'<caption>#{esc(index)} {"leaf" if index == 0 else "presented after the leaf"}</caption>\n<tbody>\n'
        f'<tr><th scope="row">Subject</th><td class="mono">{esc(subject) if subject is not None else "(unparseable)"}</td></tr>\n'
        f'<tr><th scope="row">Issuer</th><td class="mono">{esc(issuer) if issuer is not None else "(unparseable)"}</td></tr>\n'
        f'<tr><th scope="row">subjectAltName</th><td>{_sans(c.get("san"))}</td></tr>\n'
        f'<tr><th scope="row">Validity</th><td>{esc(c.get("not_before"))} to {esc(c.get("not_after"))}'
        f'{_days_span(days)}</td></tr>\n'
        f'<tr><th scope="row">Key</th><td>{_key_text(c.get("key"))}</td></tr>\n'
        f'<tr><th scope="row">Signature</th><td>{esc(c.get("signature_algorithm") or "unknown")}</td></tr>\n'
        f'<tr><th scope="row">Serial</th><td class="mono">{esc(c.get("serial"))}</td></tr>\n'
        f'<tr><th scope="row">SHA-256</th><td class="mono small">{esc(c.get("sha256"))}</td></tr>\n'
        f'{problems}</tbody>\n</table>\n'
        f'<details><summary>PEM of certificate #{esc(index)}</summary><pre>{esc(c.get("pem"))}</pre></details>\n'
        '</div>\n'
    )


def tls_block(tls: Any) -> str:
    """The endpoint's TLS facts (empty without a handshake)."""
    if not tls:
        return ""
    auth = tls.get("client_auth")
    sent = f'; {"one was sent" if tls.get("client_cert_sent") else "none was sent"}' if auth != "none" else ""
    names = ""
    if auth != "none":
        listed = tls.get("acceptable_ca_names")
        inner = ("<ul>" + "".join(f'<li class="mono">{esc(n)}</li>' for n in listed) + "</ul>"
                 if listed else "none listed by the server")
        names = f"<dt>Acceptable CA names</dt><dd>{inner}</dd>\n"
    return (
        '<h4>TLS</h4>\n<dl class="facts">\n'
        f'<dt>Protocol</dt><dd>{esc(tls.get("version") or "unknown")}</dd>\n'
        f'<dt>Cipher</dt><dd class="mono">{esc(tls.get("cipher") or "unknown")}</dd>\n'
        f'<dt>ALPN</dt><dd class="mono">{esc(tls.get("alpn") or "none")}</dd>\n'
        f'<dt>Client certificate</dt><dd>{esc(CLIENT_AUTH.get(auth, auth))}{sent}</dd>\n'
        f"{names}</dl>\n"
    )


def verdicts_block(e: Endpoint) -> str:
    """The Chrome / Firefox / profile table (empty when the endpoint was not evaluated)."""
    ep = e.ep
    if not (ep.get("browsers") or ep.get("profile")):
        return ""
    rows = []
    for browser, label in BROWSERS:
        verdict = (ep.get("browsers") or {}).get(browser)
        reasons = verdict.get("reasons") if verdict else None
        listed = ("<ul>" + "".join(f'<li><span class="mono small">{esc(r.get("code"))}</span> {esc(r.get("message"))}</li>'
                                   for r in reasons) + "</ul>") if reasons else ""
        cell = verdict_cell(e.chrome if browser == "chrome" else e.firefox)
        rows.append(f'<tr><th scope="row">{label}</th><td>{cell}</td><td>{listed}</td></tr>\n')
    p = ep.get("profile")
    name = f' <span class="small">({esc(p.get("name"))})</span>' if p else ""
    breaches = ("<ul>" + "".join(f"<li>{esc(br)}</li>" for br in p.get("breaches")) + "</ul>"
                if p and p.get("breaches") else "")
    effective = f'<span class="small">effective {esc(p.get("effective_date"))}</span>' if p and p.get("effective_date") else ""
    rows.append(f'<tr><th scope="row">DCCKI profile{name}</th><td>{badge("st-" + e.profile_status, e.profile_status)}'
                f'</td><td>{breaches}{effective}</td></tr>\n')
    return ('<h4>Verdicts</h4>\n<table class="verdicts">\n<thead><tr><th scope="col">Judge</th>'
            '<th scope="col">Verdict</th><th scope="col">Reasons</th></tr></thead>\n<tbody>\n'
            + "".join(rows) + "</tbody>\n</table>\n")


def matrix_row(e: Endpoint) -> str:
    """One ``<tr>`` of the matrix; every value is escaped."""
    ep = e.ep
    target = ep.get("target", {})
    return (
        f'<tr class="filterable if-{esc(e.interface)} st-{esc(e.filter_status)} sev-{esc(e.worst)}">\n'
        f'<th scope="row"><a href="#{e.anchor}">{esc(target.get("name"))}</a> '
        f'<span class="mono small">{esc(ep.get("address") or "(unresolved)")}:{esc(target.get("port"))}</span></th>\n'
        f'<td>{esc(e.interface)}</td>\n'
        f'<td class="mono">{esc(target.get("hostname"))}</td>\n'
        f'<td>{_outcome_badge(e)}</td>\n'
        f'<td>{verdict_cell(e.chrome)}</td>\n'
        f'<td>{verdict_cell(e.firefox)}</td>\n'
        f'<td>{badge("st-" + e.profile_status, e.profile_status)}</td>\n'
        f'<td>{badge("sev-" + e.worst, e.worst)}</td>\n'
        '</tr>\n'
    )


def _plural(n: int) -> str:
    return "" if n == 1 else "s"


def _facts_list(e: Endpoint) -> str:
    """The endpoint's identity: id, address, hostname, tags, scan time."""
    ep = e.ep
    t = ep.get("target", {})
    tags = t.get("tags")
    duration = ep.get("duration_ms")
    return (
        '<dl class="facts">\n'
        f'<dt>Endpoint id</dt><dd class="mono">{esc(ep.get("id"))}</dd>\n'
        f'<dt>Address</dt><dd class="mono">{esc(ep.get("address") or "(not resolved)")} port {esc(t.get("port"))}'
        f' (host {esc(t.get("host"))})</dd>\n'
        f'<dt>Hostname</dt><dd class="mono">{esc(t.get("hostname"))}</dd>\n'
        + (f'<dt>Tags</dt><dd>{esc(", ".join(map(str, tags)))}</dd>' if tags else "")
        + f'<dt>Scanned at</dt><dd>{esc(ep.get("scanned_at"))}'
        + (f' ({esc("%.0f" % (duration,))} ms)' if duration is not None else "")
        + "</dd>\n</dl>\n"
    )


def _error_block(error: Any) -> str:
    if not error:
        return ""
    alert, phase = error.get("alert"), error.get("phase")
    return (
        '<div class="error" role="note">\n'
        f'<h4>Could not be scanned: {esc(error.get("kind"))}</h4>\n'
        f'<p>{esc(error.get("message"))}</p>\n'
        + (f'<p>TLS alert: <span class="mono">{esc(alert)}</span></p>' if alert else "")
        + (f"<p>Phase: {esc(phase)}</p>" if phase else "")
        + "</div>\n"
    )


def _chain_block(e: Endpoint) -> str:
    if e.chain:
        n = len(e.chain)
        return (f"<h4>Chain as presented ({n} certificate{_plural(n)})</h4>\n"
                f'{"".join([cert_block(c, days) for c, days in e.chain])}')
    return "<p>No certificate was received.</p>\n" if e.ep.get("status") == "ok" else ""


def _finding(f: Mapping[str, Any]) -> str:
    index, source, citation, advice = f.get("certificate_index"), f.get("source"), f.get("citation"), f.get("advice")
    return (
        f'<li><strong>{esc(f.get("title"))}</strong> <span class="mono small">{esc(f.get("id"))}</span>'
        + (f' <span class="small">(certificate #{esc(index)})</span>' if index is not None else "")
        + f'<p>{esc(f.get("detail"))}</p>\n'
        + (f'<p class="small">Source: {esc(source or "")}' + (f"; {esc(citation)}" if citation else "") + "</p>"
           if citation or source else "")
        + (f'<p class="advice">How to fix: {esc(advice)}</p>' if advice else "")
        + "</li>\n"
    )


def _findings_block(ep: Mapping[str, Any]) -> str:
    """Findings grouped by severity, most serious first (unknown severities last, sorted)."""
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for f in ep.get("findings") or []:
        grouped.setdefault(str(f.get("severity")), []).append(f)
    if not grouped:
        return "<h4>Findings</h4>\n<p>None.</p>\n"
    order = [s for s in SEVERITIES if s in grouped] + sorted(set(grouped) - set(SEVERITIES))
    parts = ["<h4>Findings</h4>\n"]
    for sev in order:
        fs = grouped[sev]
        parts.append(f'<details class="findings sev-{esc(sev)}" open>\n<summary>{badge("sev-" + sev, sev)} '
                     f"{len(fs)} finding{_plural(len(fs))}</summary>\n<ul>\n"
                     + "".join(_finding(f) for f in fs) + "</ul>\n</details>\n")
    return "".join(parts)


def article(e: Endpoint) -> str:
    """One endpoint's detail section; every value is escaped."""
    ep = e.ep
    a = e.anchor  # only [A-Za-z0-9_-] (_facts.anchor): nothing to escape
    status_badge = badge("st-" + e.profile_status, e.profile_status)
    return (
        f'<article class="endpoint filterable if-{esc(e.interface)} st-{esc(e.filter_status)} sev-{esc(e.worst)}"'
        f' id="{a}" aria-labelledby="{a}-h">\n'
        f'<h3 id="{a}-h">{esc(ep.get("target", {}).get("name"))} <span class="small">({esc(e.interface)})</span>\n'
        f"{_outcome_badge(e)}\n{status_badge}</h3>\n"
        f'{_facts_list(e)}{_error_block(ep.get("error"))}{tls_block(ep.get("tls"))}{verdicts_block(e)}'
        f"{_chain_block(e)}{_findings_block(ep)}"
        '<p class="small"><a href="#matrix-h">Back to the matrix</a></p>\n</article>'
    )  # one f-string: each part is copied once (chained + copied the whole article per part)


# --- the page -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _static(name: str) -> str:
    """A static part of the page (package data), without its final newline."""
    text = importlib.resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")
    return text[:-1] if text.endswith("\n") else text


def _filter_css() -> str:
    """The CSS ``:has()`` rules behind the filter radio buttons."""
    return (
        "".join(f"body:has(#fi-{i}:checked) :is(.filterable, .grp):not(.if-{i}) {{ display: none; }}\n" for i in INTERFACES)
        + "".join(f"body:has(#fs-{s}:checked) .filterable:not(.st-{s}) {{ display: none; }}\n"
                  for s in PROFILE_STATUSES + ("unreachable",))
        + "".join(f"body:has(#fv-{s}:checked) .filterable:not(.sev-{s}) {{ display: none; }}\n"
                  for s in tuple(SEVERITIES) + ("none",))
    )


def _head(h: Mapping[str, Any]) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; '
        "script-src 'unsafe-inline'; img-src data:\">\n"
        f'<title>dccscan report {esc(h.get("started_at", ""))}</title>\n<style>\n'
        + _static("report.css") + _filter_css() + "</style>\n</head>\n<body>\n"
        '<a class="skip" href="#endpoints">Skip to endpoint details</a>\n<header>\n<h1>dccscan report</h1>\n'
        '<p class="lede">TLS endpoints checked against Chrome, Firefox and the DCCKI TLS certificate profile\n'
        "(SECMP0052). Days left are counted from the scan time.</p>\n</header>\n<main>\n"
    )


def _incomplete(h: Mapping[str, Any]) -> str:
    """The banner of an interrupted run, naming the targets never scanned."""
    if h.get("complete", True):
        return ""
    missed = h.get("not_reached", [])
    items = "".join(f'<li><span class="mono">{esc(t.get("name"))}</span> ({esc(t.get("interface"))}) '
                    f'{esc(t.get("host"))}:{esc(t.get("port"))}, hostname {esc(t.get("hostname"))}</li>\n' for t in missed)
    return (
        '<section class="incomplete" aria-labelledby="incomplete-h">\n<h2 id="incomplete-h">Incomplete run</h2>\n'
        f"<p><strong>This scan was interrupted</strong>: {len(missed)} target(s) were never scanned.</p>\n"
        f"<ul>\n{items}</ul>\n</section>\n"
    )


def _run_facts(h: Mapping[str, Any], summary: Summary) -> str:
    """When, with what, against which trust anchors: the run's own facts."""
    scanner = h.get("scanner", {})
    tf = h.get("targets_file")
    targets = (f'{esc(tf.get("path"))}<br><span class="mono small">SHA-256 {esc(tf.get("sha256"))}</span>' if tf
               else "targets given on the command line")
    st = h.get("settings", {})
    anchors = st.get("trust_anchors")
    trust = ("<br>".join(f'{esc(a.get("subject") or "(no subject)")} <span class="mono small">{esc(a.get("sha256"))}</span>'
                         for a in anchors) if anchors else f'public store {esc(st.get("public_store") or "")}')
    return (
        '<section aria-labelledby="summary-h">\n<h2 id="summary-h">Summary</h2>\n<dl class="facts">\n'
        f'<dt>Scan started</dt><dd>{esc(h.get("started_at"))}</dd>\n'
        f'<dt>Scan finished</dt><dd>{esc(h.get("finished_at"))}</dd>\n'
        f'<dt>Scanner</dt><dd>{esc(scanner.get("name", "dccscan"))} {esc(scanner.get("version"))}</dd>\n'
        f"<dt>Targets file</dt><dd>{targets}</dd>\n"
        f"<dt>Trust anchors</dt><dd>{trust}</dd>\n"
        f'<dt>Failure threshold</dt><dd>{esc(st.get("fail_on"))}</dd>\n'
        f"<dt>Endpoints</dt><dd>{summary.total}</dd>\n"
        f'<dt>Complete</dt><dd>{"yes" if h.get("complete", True) else "no"}</dd>\n</dl>\n\n'
    )


def _count_tables(summary: Summary) -> str:
    """Endpoints by interface and outcome, then the profile / browser / severity cards."""
    cols = summary.outcome_columns()
    rows = "".join(
        f'<tr><th scope="row">{i}</th>' + "".join(f"<td>{summary.outcomes.get(i, {}).get(c, 0)}</td>" for c in cols)
        + f"<td>{sum(summary.outcomes.get(i, {}).values())}</td></tr>\n" for i in INTERFACES)
    profile = "".join(f'<tr><th scope="row"><span class="badge st-{s}">{s}</span></th><td>{summary.profile.get(s, 0)}</td></tr>'
                      for s in PROFILE_STATUSES)
    severity = "".join(f'<tr><th scope="row"><span class="badge sev-{s}">{s}</span></th><td>{summary.severity.get(s, 0)}</td></tr>'
                       for s in SEVERITIES)
    return (
        '<h3>Endpoints by interface and outcome</h3>\n<table class="counts">\n<thead><tr><th scope="col">Interface</th>'
        + "".join(f'<th scope="col">{esc(c)}</th>' for c in cols) + '<th scope="col">total</th></tr></thead>\n'
        f"<tbody>\n{rows}</tbody>\n</table>\n\n"
        '<div class="cards">\n<table class="counts"><caption>DCCKI profile</caption>\n'
        f"<tbody>{profile}</tbody></table>\n"
        '<table class="counts"><caption>Browsers accept</caption>\n'
        f'<tbody><tr><th scope="row">Chrome</th><td>{summary.accepted["chrome"]} of {summary.total}</td></tr>\n'
        f'<tr><th scope="row">Firefox</th><td>{summary.accepted["firefox"]} of {summary.total}</td></tr></tbody></table>\n'
        '<table class="counts"><caption>Findings by severity</caption>\n'
        f"<tbody>{severity}</tbody></table>\n</div>\n\n"
    )


def _expiry(summary: Summary) -> str:
    """The soonest expiries as an SVG timeline and a table."""
    if not summary.soonest:
        return '<h3 id="expiry-h">Certificates expiring soonest</h3>\n<p>No certificate was captured.</p>\n</section>\n'
    tl = timeline(summary.soonest)
    width, height, zero = tl["width"], tl["height"], tl["zero"]
    bars = "".join(
        f'<line x1="{zero}" y1="{r["y"]}" x2="{r["x"]}" y2="{r["y"]}" class="bar {r["tone"]}"/>\n'
        f'<circle cx="{r["x"]}" cy="{r["y"]}" r="5" class="dot {r["tone"]}"/>\n'
        f'<text x="4" y="{r["y"] + 4}" class="label">{esc(r["label"])}</text>\n'
        f'<text x="{r["x"] + 8}" y="{r["y"] + 4}" class="axis">{r["days"]} d</text>\n' for r in tl["rows"])
    rows = "".join(
        f'<tr><td class="mono">{esc(e.not_after)}</td>'
        f'<td class="days {"expired" if e.days < 0 else "soon" if e.days < 30 else ""}">{e.days}</td>'
        f"<td>{esc(e.subject)}</td><td>"
        + ", ".join(f'<a href="#{esc(a)}">{esc(name)}</a>' for name, a in e.endpoints) + "</td></tr>\n"
        for e in summary.soonest)
    return (
        '<h3 id="expiry-h">Certificates expiring soonest</h3>\n'
        f'<svg class="timeline" role="img" aria-labelledby="expiry-h expiry-desc" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">\n'
        f'<desc id="expiry-desc">Expiry timeline: days from the scan time (day 0) to each certificate\'s notAfter, '
        f'from {tl["lo"]} to {tl["hi"]} days.</desc>\n'
        f'<line x1="{zero}" y1="12" x2="{zero}" y2="{height - 4}" class="now"/>\n'
        f'<text x="{zero}" y="10" class="axis">scan</text>\n{bars}</svg>\n'
        '<table class="expiry">\n<thead><tr><th scope="col">Expires (notAfter)</th><th scope="col">Days left</th>'
        '<th scope="col">Subject</th><th scope="col">Presented by</th></tr></thead>\n'
        f"<tbody>\n{rows}</tbody>\n</table>\n</section>\n"
    )


def _change_item(item: Any) -> str:
    """One change: a mapping as ``key: value`` pairs sorted by key (case-insensitively), else text."""
    if isinstance(item, MappingABC):
        pairs = sorted(item.items(), key=lambda kv: kv[0].lower() if isinstance(kv[0], str) else kv[0])
        return "; ".join(f'<span class="k">{esc(k)}</span>: {esc(v)}' for k, v in pairs)
    return esc(item)


def _change_list(value: Any) -> str:
    """A change kind's items (a lone mapping, string or scalar is one item)."""
    if isinstance(value, (MappingABC, str)) or not isinstance(value, IterableABC):
        return f"<li>{_change_item(value)}</li>"
    return "".join(f"<li>{_change_item(item)}</li>" for item in value)


def _changes(changes: Any) -> str:
    """What changed since the previous recorded scan: known kinds first, then any others."""
    if not isinstance(changes, MappingABC):
        return ""
    parts = ['<section aria-labelledby="changes-h" class="changes">\n'
             f'<h2 id="changes-h">Changes since {esc(changes.get("since", "the previous scan"))}</h2>\n']
    for key in CHANGE_KEYS:
        if changes.get(key):
            parts.append(f'<h3>{esc(key.replace("_", " ").capitalize())} ({len(changes.get(key))})</h3>\n'
                         + "<ul>" + "".join(f"<li>{_change_item(item)}</li>" for item in changes.get(key)) + "</ul>\n")
    others = [k for k in sorted(changes.keys(), key=lambda k: k.lower() if isinstance(k, str) else k)
              if k not in CHANGE_KEYS and k not in ("since", "from_scan", "to_scan") and changes.get(k)]
    for key in others:
        parts.append(f'<h3>{esc(key.replace("_", " ").capitalize())}</h3>\n<ul>{_change_list(changes.get(key))}</ul>\n')
    if len(parts) == 1:
        parts.append("<p>No changes.</p>")
    return "".join(parts) + "</section>\n"


def _filters() -> str:
    """The filter radio buttons (read by the CSS rules in the head)."""
    def fieldset(legend: str, name: str, values: Iterable[str]) -> str:
        return (f'<fieldset><legend>{legend}</legend>\n'
                f'<input type="radio" name="{name}" id="{name}-all" checked><label for="{name}-all">all</label>\n'
                + "".join(f'<input type="radio" name="{name}" id="{name}-{v}"><label for="{name}-{v}">{v}</label>' for v in values)
                + "</fieldset>\n")
    return ('<div class="filters" role="group" aria-label="Filter endpoints">\n'
            + fieldset("Interface", "fi", INTERFACES) + fieldset("Status", "fs", PROFILE_STATUSES + ("unreachable",))
            + fieldset("Worst finding", "fv", tuple(SEVERITIES) + ("none",)) + "</div>\n")


MATRIX_HEAD = (
    '<table class="matrix" id="matrix">\n<thead><tr>\n'
    '<th scope="col">Endpoint</th><th scope="col">Interface</th><th scope="col">Hostname</th><th scope="col">Outcome</th>\n'
    '<th scope="col">Chrome</th><th scope="col">Firefox</th><th scope="col">DCCKI profile</th><th scope="col">Worst finding</th>\n'
    "</tr></thead>\n"
)


def _foot(h: Mapping[str, Any]) -> str:
    scanner = h.get("scanner", {})
    return (
        "</section>\n</main>\n"
        f'<footer><p>Generated by dccscan {esc(scanner.get("version"))} from results.json (schema {esc(h.get("schema"))}).'
        "</p></footer>\n<script>\n" + _static("enhance.js") + "</script>\n</body>\n</html>"
    )


# --- one pass, then the page --------------------------------------------------------------------


BUFFER = 1 << 18  # bytes: a few system calls per megabyte instead of one per article


def _spool() -> IO[str]:
    return tempfile.TemporaryFile("w+", encoding="utf-8", buffering=BUFFER)


class _Spools:
    """One pass over the endpoints: matrix rows spooled per interface group, detail articles
    spooled in results order, so the page can be written afterwards in its own order without
    holding any endpoint in memory or reading results.json again."""

    def __init__(self) -> None:
        self.rows = {i: _spool() for i in INTERFACES}
        self.details = _spool()

    def add(self, e: Endpoint) -> None:
        self.rows[e.group].write(matrix_row(e))
        self.details.write(article(e))

    @staticmethod
    def replay(spool: IO[str], out: TextIO) -> None:
        """Copy the spooled HTML (already escaped) to ``out`` in chunks."""
        spool.seek(0)
        while chunk := spool.read(1 << 16):
            out.write(chunk)

    def close(self) -> None:
        for spool in (*self.rows.values(), self.details):
            spool.close()


def _write_matrix(spools: _Spools, summary: Summary, out: TextIO) -> None:
    """The matrix sorted by interface without JavaScript: one group per interface present."""
    counts = {i: 0 for i in INTERFACES}
    for found, row in summary.outcomes.items():
        counts[found if found in INTERFACES else "other"] += sum(row.values())
    out.write('<section aria-labelledby="matrix-h">\n'
              '<h2 id="matrix-h">Endpoints against Chrome, Firefox and the DCCKI profile</h2>\n'
              + _filters() + MATRIX_HEAD)
    for group in INTERFACES:
        if counts[group]:
            out.write(f'<tbody class="grp if-{group}">\n'
                      f'<tr class="group"><th scope="rowgroup" colspan="8">{group} ({counts[group]})</th></tr>\n')
            spools.replay(spools.rows[group], out)
            out.write("</tbody>\n")
    out.write("</table>\n</section>\n\n")


def render_html(header: Mapping[str, Any], endpoints: Endpoints, out: TextIO) -> None:
    """Write the report for ``header`` and the endpoints ``endpoints()`` yields (called once:
    summary, matrix rows and detail articles all come from that one pass)."""
    summary = Summary()
    spools = _Spools()
    try:
        for ep in endpoints():
            e = Endpoint.of(ep)
            summary.add(e)
            spools.add(e)
        out.write(_head(header) + _incomplete(header) + _run_facts(header, summary) + _count_tables(summary)
                  + _expiry(summary) + "\n" + _changes(header.get("changes")) + "\n")
        _write_matrix(spools, summary, out)
        out.write('<section id="endpoints" aria-labelledby="endpoints-h">\n<h2 id="endpoints-h">Endpoint details</h2>\n')
        spools.replay(spools.details, out)
        out.write(_foot(header))
    finally:
        spools.close()


def write_html(results_path: Path, out_path: Path) -> Path:
    """Render ``results_path`` to ``out_path`` (report.html)."""
    from scanner.results import iter_endpoints, read_header

    header = read_header(results_path)
    with open(out_path, "w", encoding="utf-8", newline="\n", buffering=BUFFER) as out:
        render_html(header, lambda: iter_endpoints(results_path), out)
    return out_path

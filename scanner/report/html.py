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

The page is a jinja2 template (``templates/report.html.j2``, autoescaped: certificates and servers
are attacker controlled). The per-endpoint parts (matrix rows, detail articles, certificate
tables), written a thousand times per 1,000-endpoint scan, are built in Python instead: as jinja2
templates they cost several times the rest of the report (issue 6). Every value from results.json
in them goes through ``esc``, exactly markupsafe's escaping (what autoescape does), and the page
inserts them as already-escaped ``Markup``. The CSS and script are package data inserted as
they are. ``benchmarks/render_golden.py`` checks that the output stays byte for byte what it was.

Cheaper by construction, never by skipping an escape: results.json is read by
``scanner.results.iter_endpoints`` (each certificate is stored, and parsed, once per file); the spools hold UTF-8
bytes and are appended to report.html in the kernel where the template yields their placeholder;
fragments that depend only on a few plain values (a CA's table at a given days-left, TLS facts,
reason-free verdict tables, filter classes) are cached by those values.
"""

from __future__ import annotations

import bisect
import codecs
import functools
import os
import re
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, Callable, Iterable, Iterator, Mapping, TextIO

import jinja2
from markupsafe import Markup

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


@dataclass(slots=True)
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
        if cert.get("sha256") in self._listed:
            for known in self.soonest:
                if known.sha256 == cert.get("sha256"):
                    if len(known.endpoints) < 5:
                        known.endpoints.append(self._who(e))
                    return
        key = (cert["not_after"], str(cert.get("sha256", "")))
        if len(self.soonest) >= SOONEST and not key < (self.soonest[-1].not_after, self.soonest[-1].sha256):
            return  # most certificates: later than all those kept, so not worth an Expiry
        who = self._who(e)
        bisect.insort(self.soonest, Expiry(*key, days or 0, str(cert.get("subject") or "?"), [who]))
        del self.soonest[SOONEST:]
        self._listed = {known.sha256 for known in self.soonest}

    @staticmethod
    def _who(e: Endpoint) -> tuple[str, str]:
        """How the expiry table names an endpoint: (name, anchor)."""
        return (str(e.ep.get("target", {}).get("name", "")), e.anchor)

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
CLIENT_AUTH = {"none": "not requested", "requested": "requested (whether required is not known)",
               "optional": "optional (served without one)", "required": "required",
               "required-by-application": "required (enforced by the application)"}
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


_CERT_CACHE: dict[tuple[str, int | None], tuple[Mapping[str, Any], str]] = {}
CERT_CACHE_SIZE = 256  # entries (certificates after the leaf, by days left): bounded whatever the file


def cert_block(c: Mapping[str, Any], days: int | None) -> str:
    """``_cert_block`` remembered for certificates presented by many endpoints (the issuing CA's
    table is the same for every endpoint it signed, but for the days left). A hit needs an equal
    certificate dict, not just an equal fingerprint: results.json is input, and a hand-edited or
    hostile file may give two different certificates one ``sha256``."""
    sha = c.get("sha256")
    if type(sha) is not str or c.get("index") == 0:  # a leaf: its endpoint's own, seldom repeated
        return _cert_block(c, days)
    key = (sha, days)
    known = _CERT_CACHE.get(key)
    if known is not None and (known[0] is c or known[0] == c):
        return known[1]
    text = _cert_block(c, days)
    if len(_CERT_CACHE) >= CERT_CACHE_SIZE:
        _CERT_CACHE.clear()  # bounded whatever the estate; a shared CA is back on its next use
    _CERT_CACHE[key] = (c, text)
    return text


def _cert_block(c: Mapping[str, Any], days: int | None) -> str:
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


_TEXT = (str, type(None))


def tls_block(tls: Any) -> str:
    """The endpoint's TLS facts (empty without a handshake). Endpoints mostly repeat a few
    handshakes, so plain values (strings, no CA names or strings) are looked up by value."""
    if not tls:
        return ""
    if type(tls) is dict:
        names = tls.get("acceptable_ca_names")
        key = (tls.get("version"), tls.get("cipher"), tls.get("alpn"), tls.get("client_auth"))
        if (type(names) is list and all(type(n) is str for n in names) or names is None) \
                and all(type(v) in _TEXT for v in key):
            return _tls_cached(*key, bool(tls.get("client_cert_sent")), tuple(names) if names else None)
    return _tls_block(tls)


@functools.lru_cache(maxsize=256)
def _tls_cached(version: str | None, cipher: str | None, alpn: str | None, auth: str | None, sent: bool,
                names: tuple[str, ...] | None) -> str:
    return _tls_block({"version": version, "cipher": cipher, "alpn": alpn, "client_auth": auth,
                       "client_cert_sent": sent, "acceptable_ca_names": names})


def _tls_block(tls: Mapping[str, Any]) -> str:
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
    """The Chrome / Firefox / profile table (empty when the endpoint was not evaluated). Without
    reasons or breaches (most endpoints) it depends on a few strings, so is looked up by them."""
    ep = e.ep
    browsers, p = ep.get("browsers"), ep.get("profile")
    if not (browsers or p):
        return ""
    if type(browsers) is dict and type(p) is dict and p and not p.get("breaches") \
            and not _has_reasons(browsers.get("chrome")) and not _has_reasons(browsers.get("firefox")) \
            and type(p.get("name")) in _TEXT and type(p.get("effective_date")) in _TEXT:
        return _verdicts_cached(e.chrome, e.firefox, e.profile_status, p.get("name"), p.get("effective_date"))
    return _verdicts(browsers, p, e.chrome, e.firefox, e.profile_status)


def _has_reasons(verdict: Any) -> bool:
    """True unless ``verdict`` is absent or a dict without reasons (what the table can cache)."""
    return bool(verdict) and (type(verdict) is not dict or bool(verdict.get("reasons")))


@functools.lru_cache(maxsize=256)
def _verdicts_cached(chrome: str, firefox: str, status: str, name: str | None, effective: str | None) -> str:
    return _verdicts({}, {"name": name, "effective_date": effective}, chrome, firefox, status)


def _verdicts(browsers: Any, p: Any, chrome: str, firefox: str, status: str) -> str:
    rows = []
    for browser, label in BROWSERS:
        verdict = (browsers or {}).get(browser)
        reasons = verdict.get("reasons") if verdict else None
        listed = ("<ul>" + "".join(f'<li><span class="mono small">{esc(r.get("code"))}</span> {esc(r.get("message"))}</li>'
                                   for r in reasons) + "</ul>") if reasons else ""
        cell = verdict_cell(chrome if browser == "chrome" else firefox)
        rows.append(f'<tr><th scope="row">{label}</th><td>{cell}</td><td>{listed}</td></tr>\n')
    name = f' <span class="small">({esc(p.get("name"))})</span>' if p else ""
    breaches = ("<ul>" + "".join(f"<li>{esc(br)}</li>" for br in p.get("breaches")) + "</ul>"
                if p and p.get("breaches") else "")
    effective = f'<span class="small">effective {esc(p.get("effective_date"))}</span>' if p and p.get("effective_date") else ""
    rows.append(f'<tr><th scope="row">DCCKI profile{name}</th><td>{badge("st-" + status, status)}'
                f'</td><td>{breaches}{effective}</td></tr>\n')
    return ('<h4>Verdicts</h4>\n<table class="verdicts">\n<thead><tr><th scope="col">Judge</th>'
            '<th scope="col">Verdict</th><th scope="col">Reasons</th></tr></thead>\n<tbody>\n'
            + "".join(rows) + "</tbody>\n</table>\n")


@functools.lru_cache(maxsize=256)  # a few interface / status / severity combinations
def _filters(interface: str, status: str, worst: str) -> str:
    """The filter classes of a matrix row and its detail article (values escaped)."""
    return f"if-{esc(interface)} st-{esc(status)} sev-{esc(worst)}"


def matrix_row(e: Endpoint) -> str:
    """One ``<tr>`` of the matrix; every value is escaped."""
    ep = e.ep
    target = ep.get("target", {})
    return (
        f'<tr class="filterable {_filters(e.interface, e.filter_status, e.worst)}">\n'
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
        f'<article class="endpoint filterable {_filters(e.interface, e.filter_status, e.worst)}"'
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
    try:  # the package's own folder: importing importlib.resources costs more than the read
        text = (Path(__file__).parent / "templates" / name).read_text(encoding="utf-8")
    except OSError:  # pragma: no cover - installed without a folder (a zip): ask the loader
        import importlib.resources

        text = importlib.resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")
    return text[:-1] if text.endswith("\n") else text


# --- one pass, then the page --------------------------------------------------------------------


BUFFER = 1 << 18  # bytes: a few system calls per megabyte instead of one per article


def _spool() -> IO[bytes]:
    return tempfile.TemporaryFile("w+b", buffering=BUFFER)


class _Spools:
    """One pass over the endpoints: matrix rows spooled per interface group, detail articles
    spooled in results order, so the page can be written afterwards in its own order without
    holding any endpoint in memory or reading results.json again.

    The spools hold UTF-8 bytes and the page template only gets a placeholder for each: a
    placeholder is a per-render random token (no results.json value can equal it), and the
    page writer copies the spool's bytes where the template yields it. Spooled text is thus
    encoded once and never decoded, re-wrapped as Markup or passed through jinja2 (which
    together cost about a quarter of the render)."""

    def __init__(self) -> None:
        self.rows = {i: _spool() for i in INTERFACES}
        self.details = _spool()
        token = secrets.token_hex(16)
        self.placeholders: dict[str, IO[bytes]] = {
            f"\x00spool-{token}-{name}\x00": spool for name, spool in (*self.rows.items(), ("details", self.details))}
        self._marks = {id(spool): Markup(mark) for mark, spool in self.placeholders.items()}

    def add(self, e: Endpoint) -> None:
        self.rows[e.group].write(matrix_row(e).encode("utf-8"))
        self.details.write(article(e).encode("utf-8"))

    def mark(self, spool: IO[bytes]) -> list[Markup]:
        """What the template writes for ``spool``: its placeholder, alone in its own chunk."""
        return [self._marks[id(spool)]]

    def close(self) -> None:
        for spool in (*self.rows.values(), self.details):
            spool.close()


def _matrix_groups(spools: _Spools, summary: Summary) -> list[tuple[str, int, list[Markup]]]:
    """The matrix sorted by interface without JavaScript: one group per interface present."""
    counts = {i: 0 for i in INTERFACES}
    for found, row in summary.outcomes.items():
        counts[found if found in INTERFACES else "other"] += sum(row.values())
    return [(i, counts[i], spools.mark(spools.rows[i])) for i in INTERFACES if counts[i]]


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    """One environment per process, autoescaping everything (the data is hostile)."""
    return jinja2.Environment(loader=jinja2.PackageLoader("scanner.report", "templates"),
                              autoescape=True, trim_blocks=True, lstrip_blocks=True,
                              bytecode_cache=_bytecode_cache())


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """The compiled page template kept between runs in the user's cache folder: compiling it
    costs each run about as much as rendering a thousand endpoints. jinja2 keys the cache on
    the template's source checksum and its own version (never stale) and writes it atomically;
    a folder that cannot be written only means compiling every time."""
    try:
        import platformdirs

        folder = Path(platformdirs.user_cache_dir("dccscan")) / "jinja2"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return jinja2.FileSystemBytecodeCache(str(folder)) if os.access(folder, os.W_OK) else None
    except OSError:
        return None


def _page(header: Mapping[str, Any], endpoints: Endpoints, spools: _Spools) -> Iterator[str]:
    """The page's chunks, after the one pass over ``endpoints`` (spools' placeholders among them)."""
    summary = Summary()
    for ep in endpoints():
        e = Endpoint.of(ep)
        summary.add(e)
        spools.add(e)
    changes = header.get("changes")
    return _environment().get_template("report.html.j2").generate(
        h=header, summary=summary, timeline=timeline(summary.soonest),
        matrix=_matrix_groups(spools, summary), details=spools.mark(spools.details),
        interfaces=INTERFACES, profile_statuses=PROFILE_STATUSES, severities=SEVERITIES,
        changes=changes if isinstance(changes, Mapping) else None, change_keys=CHANGE_KEYS,
        css=Markup(_static("report.css")), script=Markup(_static("enhance.js")),
    )


def render_html(header: Mapping[str, Any], endpoints: Endpoints, out: TextIO) -> None:
    """Write the report for ``header`` and the endpoints ``endpoints()`` yields (called once:
    summary, matrix rows and detail articles all come from that one pass) to a text stream."""
    spools = _Spools()
    try:
        for chunk in _page(header, endpoints, spools):
            spool = spools.placeholders.get(chunk)
            if spool is None:
                out.write(chunk)
                continue
            spool.seek(0)
            decoder = codecs.getincrementaldecoder("utf-8")()  # a block may end mid-character
            while block := spool.read(1 << 16):
                out.write(decoder.decode(block))
            out.write(decoder.decode(b"", final=True))
    finally:
        spools.close()


def _render_bytes(header: Mapping[str, Any], endpoints: Endpoints, out: BinaryIO) -> None:
    """``render_html`` to a binary file: spooled bytes copied as they are (no decoding)."""
    spools = _Spools()
    try:
        pending: list[str] = []
        for chunk in _page(header, endpoints, spools):
            spool = spools.placeholders.get(chunk)
            if spool is None:
                pending.append(chunk)
                continue
            out.write("".join(pending).encode("utf-8"))
            pending.clear()
            _copy(spool, out)
        out.write("".join(pending).encode("utf-8"))
    finally:
        spools.close()


def _copy(spool: IO[bytes], out: BinaryIO) -> None:
    """Append all of ``spool`` to ``out``: in the kernel where it can (the spools are most of a
    large report, tens of megabytes, and a copy through Python reads and writes each byte), else
    through a buffer."""
    spool.seek(0)  # flushes the spool
    start = out.seek(0, os.SEEK_END)  # flushes ``out``: the copy appends at the end of the file
    size = os.fstat(spool.fileno()).st_size
    try:
        while size > 0 and (sent := os.copy_file_range(spool.fileno(), out.fileno(), size)):
            size -= sent
    except (AttributeError, OSError):  # no copy_file_range here, or not between these files
        pass
    copied = out.seek(0, os.SEEK_END) - start  # the file object back in step with its file
    if size > 0:
        spool.seek(copied)
        shutil.copyfileobj(spool, out, 1 << 18)


def write_html(results_path: Path, out_path: Path) -> Path:
    """Render ``results_path`` to ``out_path`` (report.html)."""
    from scanner.results import iter_endpoints, read_header

    header = read_header(results_path)
    with open(out_path, "wb", buffering=BUFFER) as out:
        _render_bytes(header, lambda: iter_endpoints(results_path), out)
    return out_path

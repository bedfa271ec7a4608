"""The HTML report (report.html and its details pages), rendered by jinja2 templates.

Files with inline CSS and SVG and no external request (a Content-Security-Policy forbids
them), readable from file:// (an unzipped evidence pack included) and printable. report.html's
first screen answers the question a reader comes with: which endpoints Chrome and Firefox
refuse, why (the check, in words) and how to fix each, and which endpoints could not be checked
at all; the trend, the changes since the previous scan, the scan's metadata and the matrix (one
compact row an endpoint, filterable without JavaScript, searchable with it) follow. Each row
links to the endpoint's full details in a details page of ``details.PER_PAGE`` endpoints
(``scanner.report.details``): the details were 92% of a single page's bytes, and a browser
needed tens of seconds to open 10,000 endpoints' worth; each page also tables, once, every CA
certificate its endpoints present after the leaf, which they refer to by anchor.

Every byte of markup comes from the templates in ``templates/`` (``report.html.j2``, which
includes ``row.j2`` once per endpoint; ``details.html.j2``, which includes ``endpoint.j2`` once
per endpoint; the macros of ``macros.j2`` for the parts written a bounded number of times),
rendered with autoescaping on: certificates and servers are attacker controlled, and no value
from results.json is ever marked safe. The environment's ``finalize`` prints values for people
(``None`` as nothing, booleans as yes / no, lists and mappings as text), so no Python repr can
reach a page. Python here only derives facts (counts, which check made a browser refuse, days
left, chart coordinates) as plain values.

Memory stays flat whatever the estate: results.json is read through ``scanner.results`` only,
one endpoint at a time, in two passes (the summary, which keeps bounded lists; then the matrix,
which hands each details page to be written as soon as its endpoints have passed, so at most
one page's endpoints are held). Every file is streamed (``Template.generate``) into a temporary
file beside it and renamed over it when all are whole.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, TextIO

import jinja2
from markupsafe import Markup, escape

from scanner.changes import CHANGE_KINDS, TITLES
from scanner.report import _facts, details
from scanner.report._facts import EXPIRING_DAYS
from scanner.severity import SEVERITIES

INTERFACES = ("gateway", "self-service", "registration", "other")
PROFILE_STATUSES = ("compliant", "noncompliant", "grandfathered", "not-evaluated")
BROWSERS = (("chrome", "Chrome"), ("firefox", "Firefox"))
SOONEST = 12  # certificates in the expiry chart
LISTED = 40  # refused and unreachable endpoints named on the first screen (the rest: the matrix)
MATRIX_CHUNK = 200  # matrix rows per table, laid out by the browser only near the viewport (report.css)
# The matrix's filters: (radio name, legend, (value, label) choices, class prefix on its rows)
FILTERS = (
    ("fb", "Browsers", (("all", "all"), ("refused", "refused"), ("accepted", "accepted by both")), "br"),
    ("fi", "Interface", (("all", "all"), *((i, i) for i in INTERFACES)), "if"),
    ("fs", "Status", (("all", "all"), *((s, s) for s in (*PROFILE_STATUSES, "unreachable"))), "st"),
    ("fv", "Worst finding", (("all", "all"), *((s, s) for s in (*SEVERITIES, "none"))), "sev"),
)
OUTCOME_CLASS = {"ok": "ok", "client-cert-required": "cc"}
CLIENT_AUTH = {"none": "not requested", "requested": "requested (whether required is not known)",
               "optional": "optional (served without one)", "required": "required",
               "required-by-application": "required (enforced by the application)"}

Endpoints = Callable[[], Iterable[Mapping[str, Any]]]


def _text(value: Any) -> str:
    """``value`` as text for people (``plain``): never a Python repr."""
    return str(plain(value))


def _map(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else an empty one (results.json is input: shapes may
    lie). A dict test, not ``Mapping``: the ABC check costs several times more, per value."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# --- facts of one endpoint ----------------------------------------------------------------------


@dataclass(frozen=True)
class Cause:
    """Why browsers refuse an endpoint: one check (or, without one, one error code) and the
    browsers it makes refuse, with their error codes."""

    check: str | None
    title: str
    message: str
    advice: str | None
    codes: tuple[tuple[str, str], ...]  # (browser label, error code)


@dataclass(frozen=True)
class CertRef:
    """A certificate of an endpoint's chain with its days left at the endpoint's scan time, and
    its nested values in the shapes the templates iterate (whatever results.json held)."""

    cert: Mapping[str, Any]
    index: Any
    days: int | None
    anchor: str  # the CA table's id (certificates after the leaf), else ""
    sans: list[tuple[Any, Any]]  # (type, value)
    key: Mapping[str, Any]
    parse_errors: list[Any]

    @classmethod
    def of(cls, cert: Mapping[str, Any], index: Any, days: int | None, anchor: str) -> "CertRef":
        sans = [(s.get("type"), s.get("value")) if isinstance(s, dict) else (None, s) for s in _list(cert.get("san"))]
        errors = cert.get("parse_errors")
        return cls(cert, index, days, anchor, sans, _map(cert.get("key")),
                   _list(errors) if isinstance(errors, list) or not errors else [errors])


def ca_anchor(sha256: Any) -> str:
    """The id of a CA certificate's table: one per distinct SHA-256 in the page."""
    return _facts.anchor("ca:" + str(sha256))


def _worst_key(worst: Mapping[str, Any] | None, reachable: bool, browser_state: str) -> str:
    """The worst-finding filter's value: the worst severity; ``none`` only for an endpoint that
    was checked and accepted with no finding (unreachable or refused is never "none")."""
    if worst is not None:
        return str(worst.get("severity") or "error")
    return "none" if reachable and browser_state == "accepted" else "na"


@dataclass
class View:
    """One endpoint and everything the templates show about it, derived once (plain fields,
    not properties: the templates read them several times per endpoint)."""

    ep: Mapping[str, Any]
    target: Mapping[str, Any]
    anchor: str  # the id of the endpoint's details in its page
    page: str  # that page, relative to report.html (``scanner.report.details``)
    interface: str
    group: str  # the interface, or "other" for one outside INTERFACES
    outcome: str
    outcome_class: str
    reachable: bool
    profile_status: str
    status: str  # the status filter's value: "unreachable" before any profile status
    verdicts: dict[str, str]  # browser -> accepted / error code / not-evaluated
    refused_by: list[str]  # labels of the browsers that refuse the endpoint
    browser_state: str  # the browser filter's value: refused (by either), accepted (by both), na
    worst: Mapping[str, Any] | None
    worst_key: str  # the worst-finding filter's value (see ``_worst_key``)
    chain: list[CertRef]
    tls: Mapping[str, Any]
    profile: Mapping[str, Any]
    browser_records: dict[str, Mapping[str, Any]]  # browser -> its verdict record ({} when absent)

    @classmethod
    def of(cls, raw: Mapping[str, Any], position: int) -> "View":
        """The view of the endpoint at ``position`` (0-based, results order: it names the page)."""
        ep = _map(raw)
        target = _map(ep.get("target"))
        at = ep.get("scanned_at")
        chain = []
        for place, c in enumerate(_list(ep.get("chain"))):
            cert = _map(c)
            index = cert.get("index", place)
            chain.append(CertRef.of(cert, index, _facts.days_left(cert.get("not_after"), at),
                                    "" if index == 0 else ca_anchor(cert.get("sha256"))))
        interface = str(target.get("interface", "other"))
        outcome = _facts.outcome(ep)
        reachable = ep.get("status") != "error"
        profile_status = _facts.profile_status(ep)
        verdicts = {b: _facts.verdict_label(ep, b) for b, _ in BROWSERS}
        refused_by = [label for b, label in BROWSERS if verdicts[b] not in ("accepted", _facts.NOT_EVALUATED)]
        state = "refused" if refused_by else "accepted" if all(x == "accepted" for x in verdicts.values()) else "na"
        worst = _facts.worst_finding(ep)
        return cls(ep, target, _facts.anchor(str(ep.get("id", ""))), details.page_of(position), interface,
                   interface if interface in INTERFACES else "other", outcome, OUTCOME_CLASS.get(outcome, "err"),
                   reachable, profile_status, profile_status if reachable else "unreachable", verdicts, refused_by,
                   state, worst, _worst_key(worst, reachable, state), chain, _map(ep.get("tls")),
                   _map(ep.get("profile")), {b: _map(_map(ep.get("browsers")).get(b)) for b, _ in BROWSERS})

    @property
    def href(self) -> str:
        """The link from report.html to the endpoint's details."""
        return f"{self.page}#{self.anchor}"

    @property
    def classes(self) -> str:
        """The filter classes of the endpoint's matrix row (see FILTERS)."""
        return f"if-{self.group} st-{self.status} sev-{self.worst_key} br-{self.browser_state}"

    @property
    def leaf_days(self) -> int | None:
        return self.chain[0].days if self.chain and self.chain[0].index == 0 else None

    @property
    def findings(self) -> list[Mapping[str, Any]]:
        return [_map(f) for f in _list(self.ep.get("findings"))]

    def findings_by_severity(self) -> list[tuple[str, list[Mapping[str, Any]]]]:
        """Findings grouped by severity, most serious first (unknown severities last, sorted)."""
        grouped: dict[str, list[Mapping[str, Any]]] = {}
        for f in self.findings:
            grouped.setdefault(str(f.get("severity")), []).append(f)
        order = [s for s in SEVERITIES if s in grouped] + sorted(set(grouped) - set(SEVERITIES))
        return [(s, grouped[s]) for s in order]

    def causes(self) -> list[Cause]:
        """Why the browsers refuse, one entry per check (the findings give title and fix)."""
        by_id = {str(f.get("id")): f for f in self.findings}
        worst = self.worst
        found: dict[str, tuple[str | None, str, str, str | None, list[tuple[str, str]]]] = {}
        for browser, label in BROWSERS:
            verdict = self.browser_records[browser]
            if not verdict or verdict.get("accepted"):
                continue
            reasons = [_map(r) for r in _list(verdict.get("reasons"))] or [{"code": verdict.get("error")}]
            for reason in reasons:
                check = reason.get("check")
                code = _text(reason.get("code") or verdict.get("error")) or "rejected"
                finding = by_id.get(str(check)) if check else None
                if not check and worst is not None:
                    finding = worst  # a reason naming no check (older results): the worst finding
                key = str(check) if check else "finding:" + _text(finding.get("id")) if finding else "code:" + code
                if key not in found:
                    message = _text(reason.get("message"))
                    title = _text(finding.get("title")) if finding and finding.get("title") else (message or code)
                    advice = _text(finding.get("advice")) if finding else ""
                    named = _text(check) if check else _text(finding.get("id")) if finding else None
                    found[key] = (named, title, message, advice or None, [])
                codes = found[key][4]
                if (label, code) not in codes:
                    codes.append((label, code))
        return [Cause(c, t, m, a, tuple(codes)) for c, t, m, a, codes in found.values()]

    def search_text(self) -> str:
        """What the search box matches: names, hostname, address, error codes and finding ids."""
        words = [self.ep.get("id"), self.target.get("name"), self.target.get("hostname"), self.ep.get("address"),
                 self.outcome, *self.verdicts.values(), *(f.get("id") for f in self.findings)]
        return " ".join(_text(w) for w in words if w).lower()


# --- what the first pass learns -----------------------------------------------------------------


@dataclass(order=True)
class Expiry:
    """One certificate in the soonest-expiries list; ordered by expiry, then fingerprint."""

    not_after: str
    sha256: str
    days: int = field(compare=False)
    subject: str = field(compare=False)
    endpoints: list[tuple[str, str]] = field(compare=False, default_factory=list)  # (name, href)


@dataclass
class Summary:
    """Counts and bounded lists from one pass over the endpoints, whatever the estate's size."""

    total: int = 0
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)  # interface -> outcome -> n
    profile: dict[str, int] = field(default_factory=dict)
    accepted: dict[str, int] = field(default_factory=lambda: {b: 0 for b, _ in BROWSERS})
    refused_by: dict[str, int] = field(default_factory=lambda: {b: 0 for b, _ in BROWSERS})
    severity: dict[str, int] = field(default_factory=dict)
    refused_total: int = 0
    refused: list[View] = field(default_factory=list)  # the first LISTED
    unreachable_total: int = 0
    unreachable: list[View] = field(default_factory=list)  # the first LISTED
    expiring: int = 0  # reachable endpoints whose leaf has EXPIRING_DAYS or fewer left
    ca_count: dict[str, int] = field(default_factory=dict)  # CA sha256 -> endpoints presenting it
    soonest: list[Expiry] = field(default_factory=list)
    _listed: set[str] = field(default_factory=set, repr=False)

    def add(self, v: View) -> None:
        self.total += 1
        row = self.outcomes.setdefault(v.interface, {})
        row[v.outcome] = row.get(v.outcome, 0) + 1
        self.profile[v.profile_status] = self.profile.get(v.profile_status, 0) + 1
        for browser, _ in BROWSERS:
            self.accepted[browser] += v.verdicts[browser] == "accepted"
            self.refused_by[browser] += v.verdicts[browser] not in ("accepted", _facts.NOT_EVALUATED)
        for f in v.findings:
            sev = str(f.get("severity"))
            self.severity[sev] = self.severity.get(sev, 0) + 1
        if v.refused_by:
            self.refused_total += 1
            if len(self.refused) < LISTED:
                self.refused.append(v)
        if not v.reachable:
            self.unreachable_total += 1
            if len(self.unreachable) < LISTED:
                self.unreachable.append(v)
        if v.reachable and v.leaf_days is not None and v.leaf_days <= EXPIRING_DAYS:
            self.expiring += 1
        for ref in v.chain:
            if ref.index != 0:
                sha = str(ref.cert.get("sha256"))
                self.ca_count[sha] = self.ca_count.get(sha, 0) + 1
            self._consider(v, ref)

    def _consider(self, v: View, ref: CertRef) -> None:
        """Keep the SOONEST earliest-expiring distinct certificates (same cert: same key)."""
        not_after, sha = ref.cert.get("not_after"), str(ref.cert.get("sha256", ""))
        if not isinstance(not_after, str) or not not_after:
            return
        who = (_text(v.target.get("name")), v.href)
        if sha in self._listed:
            for known in self.soonest:
                if known.sha256 == sha and len(known.endpoints) < 5:
                    known.endpoints.append(who)
            return
        key = (not_after, sha)
        if len(self.soonest) >= SOONEST and not key < (self.soonest[-1].not_after, self.soonest[-1].sha256):
            return
        bisect.insort(self.soonest, Expiry(*key, ref.days or 0, _text(ref.cert.get("subject")) or "?", [who]))
        del self.soonest[SOONEST:]
        self._listed = {known.sha256 for known in self.soonest}

    def outcome_columns(self) -> list[str]:
        seen = {o for row in self.outcomes.values() for o in row}
        first = [o for o in ("ok", "client-cert-required") if o in seen]
        return first + sorted(seen - set(first))


def summarise(endpoints: Iterable[Mapping[str, Any]]) -> Summary:
    summary = Summary()
    for position, ep in enumerate(endpoints):
        summary.add(View.of(ep, position))
    return summary


# --- charts -------------------------------------------------------------------------------------


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


TREND_SERIES = (("chrome", "Chrome refuses", "s-chrome"), ("firefox", "Firefox refuses", "s-firefox"),
                ("noncompliant", "DCCKI noncompliant", "s-noncompliant"), ("expiring", "Expiring (30 days)", "s-expiring"),
                ("unreachable", "Unreachable", "s-unreachable"))


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def trend_chart(trend: Any, width: int = 640, height: int = 170) -> dict[str, Any] | None:
    """Coordinates for the trend chart from the header's ``trend`` (oldest scan first), or None
    when there are fewer than two usable points. Values that are not counts are left out."""
    points = []
    for item in _list(trend):
        item = _map(item)
        refused = _map(item.get("refused"))
        values = {"chrome": _count(refused.get("chrome")), "firefox": _count(refused.get("firefox")),
                  **{k: _count(item.get(k)) for k in ("noncompliant", "expiring", "unreachable")}}
        points.append((str(item.get("started_at") or ""), values))
    if len(points) < 2:
        return None
    left, right, top, bottom = 34, 200, 10, 24
    top_value = max([1] + [v for _, values in points for v in values.values() if v is not None])
    step = (width - left - right) / (len(points) - 1)

    def y(value: int) -> float:
        return round(top + (height - top - bottom) * (1 - value / top_value), 1)

    series = []
    for key, label, css in TREND_SERIES:
        dots = [(round(left + i * step, 1), y(n), n) for i, (_, values) in enumerate(points)
                if (n := values[key]) is not None]
        if dots:
            series.append({"label": label, "css": css, "last": dots[-1][2], "dots": dots,
                           "path": " ".join(f"{x},{yy}" for x, yy, _ in dots)})
    for n, s in enumerate(series):
        s["legend_y"] = top + 8 + n * 18
    return {"width": width, "height": height, "left": left, "right": width - right, "top": top,
            "bottom": height - bottom, "max": top_value, "series": series,
            "first": points[0][0][:10], "last": points[-1][0][:10], "scans": len(points)}


# --- changes since the previous scan ------------------------------------------------------------


def _verdict_text(value: Any) -> str:
    v = _map(value)
    return "accepted" if v.get("accepted") else f"rejected ({v.get('error') or 'no error code'})"


def _short(sha: Any) -> str:
    return str(sha or "?")[:16]


CHANGE_COLUMNS: dict[str, tuple[tuple[str, ...], Callable[[Mapping[str, Any]], tuple[Any, ...]]]] = {
    "appeared": (("Endpoint", "Finding", "Severity", "Title"),
                 lambda c: (c.get("endpoint"), c.get("finding"), c.get("severity"), c.get("title"))),
    "resolved": (("Endpoint", "Finding", "Severity", "Title"),
                 lambda c: (c.get("endpoint"), c.get("finding"), c.get("severity"), c.get("title"))),
    "rotated": (("Endpoint", "Old leaf (SHA-256)", "Old expiry", "New leaf (SHA-256)", "New expiry"),
                lambda c: (c.get("endpoint"), _short(c.get("old_sha256")), c.get("old_not_after"),
                           _short(c.get("new_sha256")), c.get("new_not_after"))),
    "unreachable": (("Endpoint", "Error", "Message"),
                    lambda c: (c.get("endpoint"), c.get("error_kind") or "error", c.get("error"))),
    "recovered": (("Endpoint", "Was"), lambda c: (c.get("endpoint"), c.get("error_kind") or "error")),
    "addresses_added": (("Target", "Address"), lambda c: (c.get("target"), c.get("address"))),
    "addresses_removed": (("Target", "Address"), lambda c: (c.get("target"), c.get("address"))),
    "verdict_changes": (("Endpoint", "Browser", "Before", "Now"),
                        lambda c: (c.get("endpoint"), c.get("browser"), _verdict_text(c.get("old")),
                                   _verdict_text(c.get("new")))),
    "revoked": (("Endpoint", "Certificate", "Serial", "Revoked at", "Reason"),
                lambda c: (c.get("endpoint"), c.get("subject") or _short(c.get("certificate_sha256")), c.get("serial"),
                           c.get("revoked_at") or "date unknown", c.get("reason"))),
    "expiry_windows": (("Endpoint", "Expires", "Days left", "Window"),
                       lambda c: (c.get("endpoint"), c.get("not_after"), c.get("days_left"),
                                  f"inside the {c.get('window_days')}-day window")),
}


def change_tables(changes: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The changes as tables, one per kind of change that has items, in ``dccscan diff``'s order
    and with its titles and content (``scanner.history.diff``'s model, named by ``scanner.changes``). An item that is not a
    change record (a hand-edited file) is shown as text in the first column."""
    tables = []
    for kind in CHANGE_KINDS:
        items = _list(changes.get(kind))
        if not items:
            continue
        heads, cells = CHANGE_COLUMNS[kind]
        rows = [cells(item) if isinstance(item, dict) else (item,) + ("",) * (len(heads) - 1) for item in items]
        tables.append({"kind": kind, "title": TITLES[kind], "heads": heads, "rows": rows})
    return tables


# --- the environment ----------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """What ``{{ value }}`` prints (the environment's ``finalize``): text for people, never a
    Python repr. None prints nothing, booleans yes / no, lists and mappings as readable text;
    markup the templates made (macro output) passes through; the result is escaped as usual."""
    kind = type(value)
    if kind is str or kind is int or kind is float or hasattr(value, "__html__"):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (str, int, float)):
        return value
    if isinstance(value, dict):
        return "; ".join(f"{plain(k)}: {plain(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(str(plain(v)) for v in value)
    return str(value)


_PART_BREAK = Markup('.</span><wbr><span class="hp">')
_HOST = Markup('<span class="hp">%s</span>')


def break_at_dots(value: Any) -> Markup:
    """A hostname that may wrap only after a dot: each dot-ended part in a span that CSS keeps
    whole (``white-space: nowrap``, which also stops breaks at hyphens), ``<wbr>`` between.
    The hostname is escaped first (``markupsafe.escape``, what autoescape calls); its dots are
    then replaced by markup, which is exact because no character reference contains a dot."""
    return _HOST % escape(plain(value)).replace(".", _PART_BREAK)


def days_tone(days: Any) -> str:
    if not isinstance(days, int):
        return ""
    return "expired" if days < 0 else "soon" if days <= EXPIRING_DAYS else ""


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """The compiled templates kept between runs in the user's cache folder: compiling them costs
    a run about as much as rendering a few hundred endpoints. jinja2 keys the cache on each
    template's source checksum and its own version (never stale); a folder that cannot be
    written only means compiling every time."""
    try:
        import platformdirs

        folder = Path(platformdirs.user_cache_dir("dccscan")) / "jinja2"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return jinja2.FileSystemBytecodeCache(str(folder)) if os.access(folder, os.W_OK) else None
    except OSError:
        return None


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """One environment per process, autoescaping everything (the data is hostile)."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("scanner.report", "templates"),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True, finalize=plain,
                             bytecode_cache=_bytecode_cache())
    env.filters["host"] = break_at_dots
    env.globals.update(days_tone=days_tone, CLIENT_AUTH=CLIENT_AUTH,
                       BROWSERS=BROWSERS, EXPIRING_DAYS=EXPIRING_DAYS)
    return env


# --- the pages ----------------------------------------------------------------------------------

PageSink = Callable[[str, Iterable[str]], None]  # (name relative to report.html, its text in chunks)


def _views(endpoints: Endpoints) -> Iterator[View]:
    for position, ep in enumerate(endpoints()):
        yield View.of(ep, position)


def page_chunks(header: Mapping[str, Any], summary: Summary, endpoints: Endpoints, pages: PageSink) -> Iterator[str]:
    """report.html as text chunks: the first screen and the summaries from ``summary`` (the
    first pass), then the matrix from a second pass, which also hands each details page to
    ``pages`` as soon as the matrix has passed its endpoints (``_rows_and_pages``)."""
    header = _map(header)
    changes = header.get("changes")
    return environment().get_template("report.html.j2").generate(
        h=header, summary=summary, timeline=timeline(summary.soonest),
        trend=trend_chart(header.get("trend")),
        changes=changes if isinstance(changes, dict) else None,
        change_tables=change_tables(changes) if isinstance(changes, dict) else [],
        interfaces=INTERFACES, profile_statuses=PROFILE_STATUSES, severities=SEVERITIES, filters=FILTERS,
        matrix=_rows_and_pages(header, summary, endpoints, pages), chunk=MATRIX_CHUNK,
        pages=len(details.page_names(summary.total)), per_page=details.PER_PAGE,
    )


def _rows_and_pages(header: Mapping[str, Any], summary: Summary, endpoints: Endpoints,
                    pages: PageSink) -> Iterator[View]:
    """The views of one pass over ``endpoints()``, in order, for the matrix; every
    ``details.PER_PAGE`` of them, their details page goes to ``pages``. One pass for both: a pass
    (reading results.json, deriving the views) was a sixth of the render's CPU."""
    group: list[View] = []
    number = 0
    for v in _views(endpoints):
        if group and v.page != group[0].page:
            pages(*_detail_page(header, summary, group, number))
            group, number = [], number + 1
        group.append(v)
        yield v
    if group:
        pages(*_detail_page(header, summary, group, number))


def _page_cas(views: list[View], at: Any) -> list[CertRef]:
    """Each distinct certificate the page's endpoints present after a leaf, once, in the order
    first presented, with its days left from the scan's start."""
    found: dict[str, CertRef] = {}
    for v in views:
        for ref in v.chain:
            if ref.anchor and ref.anchor not in found:
                found[ref.anchor] = CertRef.of(ref.cert, ref.index, _facts.days_left(ref.cert.get("not_after"), at),
                                               ref.anchor)
    return list(found.values())


def _detail_page(header: Mapping[str, Any], summary: Summary, views: list[View],
                 number: int) -> tuple[str, Iterator[str]]:
    """Details page ``number`` (0-based) as (name, text chunks): its endpoints' details and the
    tables of the CA certificates they present, so that every page stands alone."""
    names = [n.rsplit("/", 1)[-1] for n in details.page_names(summary.total)]  # as linked from a page
    first = number * details.PER_PAGE + 1
    return views[0].page, environment().get_template("details.html.j2").generate(
        h=header, views=views, total=summary.total, number=number + 1, pages=len(names),
        first=first, last=first + len(views) - 1,
        previous=names[number - 1] if 0 < number <= len(names) else None,
        next=names[number + 1] if number + 1 < len(names) else None,
        cas=_page_cas(views, header.get("started_at")), ca_count=summary.ca_count)


def render_html(header: Mapping[str, Any], endpoints: Endpoints, out: TextIO, pages: PageSink) -> None:
    """Write the report for ``header`` and the endpoints ``endpoints()`` yields (called once per
    pass, two passes; each call must yield the same endpoints): report.html to the text stream
    ``out``, chunk by chunk as the template yields them (``writelines`` hands them to the stream's
    buffer without a Python loop), and each details page to ``pages(name, chunks)`` on the way."""
    header = _map(header)
    summary = summarise(endpoints())
    out.writelines(page_chunks(header, summary, endpoints, pages))


def _remove_stale_pages(folder: Path, written: set[str]) -> None:
    """Remove the details pages an earlier report left that this one did not write (a smaller
    estate has fewer pages); only names a report writes are touched."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if details.is_page(entry.name) and f"{details.FOLDER}/{entry.name}" not in written:
            entry.unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()  # only when empty: an estate of no endpoints has no page


def write_html(results_path: Path, out_path: Path) -> Path:
    """Render ``results_path`` to ``out_path`` (report.html) and its details pages to the
    ``details/`` folder beside it: every file streamed into a temporary file beside its final
    name, and all of them renamed over those names only when every one is whole (the pages
    first, report.html last), so an interrupted render leaves the previous report as it was."""
    from scanner.results import iter_endpoints, read_header, replacing

    out_path = Path(out_path)
    folder = out_path.parent / details.FOLDER
    header = read_header(results_path)
    written: set[str] = set()
    with contextlib.ExitStack() as stack:
        temp = stack.enter_context(replacing(out_path))

        def page(name: str, chunks: Iterable[str]) -> None:
            folder.mkdir(exist_ok=True)
            page_temp = stack.enter_context(replacing(out_path.parent / name))
            with open(page_temp, "w", encoding="utf-8", newline="") as out:
                out.writelines(chunks)
            written.add(name)

        with open(temp, "w", encoding="utf-8", newline="") as out:
            render_html(header, lambda: iter_endpoints(results_path), out, page)
    _remove_stale_pages(folder, written)
    return out_path

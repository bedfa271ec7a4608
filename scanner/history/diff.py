"""What changed between two scans: the morning report of a nightly run.

Rules (each list in the result is sorted, so equal inputs give equal output):

* ``appeared`` / ``resolved``: findings keyed by (endpoint id, finding id, SHA-256 of the
  certificate the finding is about, or null). A finding counts as resolved only when its endpoint
  was scanned successfully in the new scan: an endpoint that went dark is reported under
  ``unreachable``, not as a fix. Findings of new or recovered endpoints count as appeared.
* ``rotated``: the same endpoint presented a different leaf (SHA-256) in both scans.
* ``unreachable`` / ``recovered``: an endpoint scanned ``ok`` in one scan and ``error`` in the
  other; a target whose name stopped resolving makes each of its old endpoints unreachable (and
  the reverse for recovered) instead of "addresses removed".
* ``addresses_added`` / ``addresses_removed``: per target name, the addresses (with port) seen.
  A target listed in a scan's ``not_reached`` (an interrupted run) is unknown in that scan, not
  gone: it adds or removes no addresses.
* ``verdict_changes``: per endpoint and browser, ``accepted`` or ``error`` differs.
* ``expiry_windows``: the leaf of an ``ok`` endpoint is now inside a tighter warning window than
  before (windows from ``settings.profile.expiry_warning_days``, default 60 and 30 days; the
  days left are counted from each scan's ``started_at``).
* ``revoked``: "revoked since last night": a certificate the endpoint presents is ``revoked`` in
  the new scan's ``revocation`` block and was not revoked (or not presented) in the older one.

How (streaming): every rule above compares an endpoint only with the same endpoint id, or with the
records of the same target name (its addresses, its address-less DNS failure). An endpoint id
begins with its target name (``name@address:port``), so both scans are read ordered by (target
name, endpoint id) -- from SQLite, which sorts on disk, or by sorting a document already in
memory -- merged on the target name, and the rules run on one target's records at a time. Memory
holds one target's records of each scan plus the changes found, never a whole scan. Each list is
sorted at the end, so the output is exactly what comparing the whole scans at once gives.
"""

from __future__ import annotations

import itertools
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from scanner.changes import CHANGE_KINDS, TITLES  # the model's names (tests import them from here)
from scanner.history.store import default_db_path, finding_certificate, iter_scan_endpoints, opened, scan_header
from scanner.report._text import printable

DEFAULT_WINDOWS: tuple[int, ...] = (60, 30)

Doc = dict[str, Any]


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _by_id(doc: Doc) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in doc.get("endpoints", [])}


def _ok(endpoint: dict[str, Any] | None) -> bool:
    return endpoint is not None and endpoint.get("status") == "ok"


def _leaf(endpoint: dict[str, Any]) -> dict[str, Any] | None:
    chain = endpoint.get("chain") or []
    return chain[0] if chain else None


def _target(endpoint: dict[str, Any]) -> str:
    return str((endpoint.get("target") or {}).get("name", ""))


def _finding_keys(doc: Doc) -> dict[tuple[str, str, str], dict[str, Any]]:
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for endpoint in doc.get("endpoints", []):
        shas = [c["sha256"] for c in endpoint.get("chain") or []]
        for finding in endpoint.get("findings") or []:
            sha = finding_certificate(finding, shas)
            out[(endpoint["id"], finding["id"], sha or "")] = {
                "endpoint": endpoint["id"], "target": _target(endpoint), "finding": finding["id"],
                "severity": finding.get("severity"), "title": finding.get("title"), "certificate_sha256": sha}
    return out


def _findings(old: Doc, new: Doc) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    before, after = _finding_keys(old), _finding_keys(new)
    new_endpoints = _by_id(new)
    appeared = [after[k] for k in sorted(after.keys() - before.keys())]
    resolved = [before[k] for k in sorted(before.keys() - after.keys()) if _ok(new_endpoints.get(k[0]))]
    return appeared, resolved


def _rotated(old_eps: dict[str, Any], new_eps: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for endpoint_id in sorted(old_eps.keys() & new_eps.keys()):
        old_leaf, new_leaf = _leaf(old_eps[endpoint_id]), _leaf(new_eps[endpoint_id])
        if old_leaf and new_leaf and old_leaf["sha256"] != new_leaf["sha256"]:
            out.append({"endpoint": endpoint_id, "target": _target(new_eps[endpoint_id]),
                        "old_sha256": old_leaf["sha256"], "new_sha256": new_leaf["sha256"],
                        "old_not_after": old_leaf.get("not_after"), "new_not_after": new_leaf.get("not_after"),
                        "old_subject": old_leaf.get("subject"), "new_subject": new_leaf.get("subject")})
    return out


def _dark_targets(eps: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Targets with an address-less (DNS failure) record, name -> that record."""
    return {_target(e): e for e in eps.values() if e.get("address") is None}


def _reachability(old_eps: dict[str, Any], new_eps: dict[str, Any]) -> list[dict[str, Any]]:
    """Endpoints ok in ``old_eps`` and failing in ``new_eps`` (swap the arguments for recovered)."""
    dark = _dark_targets(new_eps)
    out = []
    for endpoint_id in sorted(old_eps):
        before = old_eps[endpoint_id]
        if not _ok(before) or before.get("address") is None:
            continue
        after = new_eps.get(endpoint_id) or dark.get(_target(before))
        if after is None or _ok(after):
            continue
        error = after.get("error") or {}  # ``after`` is the failing record in both directions
        out.append({"endpoint": endpoint_id, "target": _target(before), "error_kind": error.get("kind"),
                    "error": error.get("message")})
    return out


def _addresses(eps: dict[str, Any]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for endpoint in eps.values():
        if endpoint.get("address") is not None:
            port = (endpoint.get("target") or {}).get("port")
            out.setdefault(_target(endpoint), set()).add(f"{endpoint['address']}:{port}" if port else endpoint["address"])
    return out


def _not_reached(doc: Doc) -> set[str]:
    """Targets an interrupted run never reached (read once per scan, from its header)."""
    return {str(t.get("name", "")) for t in doc.get("not_reached") or []}


def _unknown_targets(not_reached: set[str], eps: dict[str, Any]) -> set[str]:
    """Targets whose addresses this scan does not know: name did not resolve, or never reached."""
    return set(_dark_targets(eps)) | not_reached


def _address_changes(old: set[str], new: set[str], old_eps: dict[str, Any],
                     new_eps: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per target, addresses added and removed; ``old``/``new``: each scan's not-reached targets."""
    before, after = _addresses(old_eps), _addresses(new_eps)
    unknown_old, unknown_new = _unknown_targets(old, old_eps), _unknown_targets(new, new_eps)
    added = [{"target": t, "address": a} for t in sorted(after) if t not in unknown_old
             for a in sorted(after[t] - before.get(t, set()))]
    removed = [{"target": t, "address": a} for t in sorted(before) if t not in unknown_new
               for a in sorted(before[t] - after.get(t, set()))]
    return added, removed


def _verdict_changes(old_eps: dict[str, Any], new_eps: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for endpoint_id in sorted(old_eps.keys() & new_eps.keys()):
        old_b, new_b = old_eps[endpoint_id].get("browsers"), new_eps[endpoint_id].get("browsers")
        if not old_b or not new_b:
            continue
        for browser in sorted(old_b.keys() & new_b.keys()):
            was = {"accepted": old_b[browser].get("accepted"), "error": old_b[browser].get("error")}
            now = {"accepted": new_b[browser].get("accepted"), "error": new_b[browser].get("error")}
            if was != now:
                out.append({"endpoint": endpoint_id, "target": _target(new_eps[endpoint_id]),
                            "browser": browser, "old": was, "new": now})
    return out


def warning_windows(doc: Doc) -> list[int]:
    """The profile's expiry warning windows in days, widest first (default 60 and 30)."""
    profile = (doc.get("settings") or {}).get("profile") or {}
    value = profile.get("expiry_warning_days", DEFAULT_WINDOWS) if isinstance(profile, dict) else DEFAULT_WINDOWS
    values = [value] if isinstance(value, (int, float)) else list(value or [])
    return sorted({int(v) for v in values if isinstance(v, (int, float)) and v > 0}, reverse=True)


def _window(endpoint: dict[str, Any] | None, at: datetime | None, windows: list[int]) -> tuple[int | None, float | None]:
    """(tightest window the leaf is inside, days left) for an ok endpoint; (None, None) otherwise."""
    leaf = _leaf(endpoint) if _ok(endpoint) else None  # type: ignore[arg-type]
    not_after = _parse_time(leaf.get("not_after")) if leaf else None
    if not_after is None or at is None:
        return None, None
    days_left = (not_after - at).total_seconds() / 86400
    inside = [w for w in windows if days_left <= w]
    return (min(inside) if inside else None), days_left


def _expiry(old: Doc, new: Doc, old_eps: dict[str, Any], new_eps: dict[str, Any],
            windows: list[int]) -> list[dict[str, Any]]:
    old_at, new_at = _parse_time(old.get("started_at")), _parse_time(new.get("started_at"))
    out = []
    for endpoint_id in sorted(new_eps):
        window, days_left = _window(new_eps[endpoint_id], new_at, windows)
        previous, _ = _window(old_eps.get(endpoint_id), old_at, windows)
        if window is not None and (previous is None or window < previous):
            leaf = _leaf(new_eps[endpoint_id]) or {}
            out.append({"endpoint": endpoint_id, "target": _target(new_eps[endpoint_id]), "window_days": window,
                        "previous_window_days": previous, "days_left": round(days_left or 0.0, 1),
                        "not_after": leaf.get("not_after"), "sha256": leaf.get("sha256")})
    return out


def _revoked_certificates(endpoint: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """SHA-256 -> revocation record of each presented certificate the endpoint's scan found revoked."""
    records = (endpoint or {}).get("revocation") or []
    return {r["sha256"]: r for r in records if isinstance(r, dict) and r.get("status") == "revoked" and r.get("sha256")}


def _revoked(old_eps: dict[str, Any], new_eps: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for endpoint_id in sorted(new_eps):
        before = _revoked_certificates(old_eps.get(endpoint_id))
        chain = new_eps[endpoint_id].get("chain") or []
        for sha, record in sorted(_revoked_certificates(new_eps[endpoint_id]).items()):
            if sha in before:
                continue
            index = record.get("certificate_index")
            cert = chain[index] if isinstance(index, int) and 0 <= index < len(chain) else {}
            out.append({"endpoint": endpoint_id, "target": _target(new_eps[endpoint_id]), "certificate_index": index,
                        "certificate_sha256": sha, "subject": cert.get("subject"), "serial": cert.get("serial"),
                        "revoked_at": record.get("revoked_at"), "reason": record.get("reason"),
                        "detail": record.get("detail")})
    return out


class _Scan:
    """One side of a diff: its header, its not-reached targets and its endpoints ordered by
    (target name, endpoint id)."""

    def __init__(self, value: Doc | int, db_path: str | Path | None, stack: ExitStack) -> None:
        self.id: int | None = None
        if isinstance(value, dict):
            self.header = value
            self.endpoints: Iterator[dict[str, Any]] = iter(sorted(value.get("endpoints") or [], key=_order))
        else:
            db = db_path or default_db_path()
            conn = stack.enter_context(opened(db, create=False))
            self.id = int(value)
            self.header = scan_header(conn, self.id, db)
            self.endpoints = iter_scan_endpoints(conn, self.id, order="target")
        self.not_reached = _not_reached(self.header)


def _order(endpoint: dict[str, Any]) -> tuple[str, str]:
    return _target(endpoint), str(endpoint["id"])


def _by_target(endpoints: Iterator[dict[str, Any]]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    for name, group in itertools.groupby(endpoints, key=_target):
        yield name, list(group)


def _paired(old: Iterator[dict[str, Any]],
            new: Iterator[dict[str, Any]]) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """Merge two streams ordered by target name: each target's records in the old and the new
    scan (an empty list where the scan has none)."""
    old_groups, new_groups = _by_target(old), _by_target(new)
    a, b = next(old_groups, None), next(new_groups, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] < b[0]):
            assert a is not None
            yield a[1], []
            a = next(old_groups, None)
        elif a is None or b[0] < a[0]:
            yield [], b[1]
            b = next(new_groups, None)
        else:
            yield a[1], b[1]
            a, b = next(old_groups, None), next(new_groups, None)


def _sort_key(change: dict[str, Any]) -> str:
    """Each target's lists come out of the rules already sorted, and an endpoint belongs to one
    target: a stable sort by endpoint id (by target name for a change of a target's addresses)
    therefore gives the order comparing whole scans gives."""
    return str(change["endpoint"] if "endpoint" in change else change.get("target", ""))


def _target_changes(old: _Scan, new: _Scan, old_list: list[dict[str, Any]], new_list: list[dict[str, Any]],
                    windows: list[int]) -> dict[str, list[dict[str, Any]]]:
    """The changes of one target: every rule, run on that target's records only."""
    old_doc, new_doc = {**old.header, "endpoints": old_list}, {**new.header, "endpoints": new_list}
    old_eps, new_eps = _by_id(old_doc), _by_id(new_doc)
    appeared, resolved = _findings(old_doc, new_doc)
    added, removed = _address_changes(old.not_reached, new.not_reached, old_eps, new_eps)
    return {
        "appeared": appeared, "resolved": resolved, "rotated": _rotated(old_eps, new_eps),
        "unreachable": _reachability(old_eps, new_eps), "recovered": _reachability(new_eps, old_eps),
        "addresses_added": added, "addresses_removed": removed,
        "verdict_changes": _verdict_changes(old_eps, new_eps),
        "expiry_windows": _expiry(old_doc, new_doc, old_eps, new_eps, windows),
        "revoked": _revoked(old_eps, new_eps),
    }


def diff_scans(old: Doc | int, new: Doc | int, *, db_path: str | Path | None = None) -> dict[str, Any]:
    """Changes from ``old`` to ``new``: each a results document or a scan id in ``db_path``.

    Streams both scans target by target (see the module docstring): memory is bounded by the
    largest target and the number of changes, not by the size of the scans."""
    with ExitStack() as stack:
        old_scan, new_scan = _Scan(old, db_path, stack), _Scan(new, db_path, stack)
        windows = warning_windows(new_scan.header)
        changes: dict[str, list[dict[str, Any]]] = {kind: [] for kind in CHANGE_KINDS}
        for old_list, new_list in _paired(old_scan.endpoints, new_scan.endpoints):
            for kind, items in _target_changes(old_scan, new_scan, old_list, new_list, windows).items():
                changes[kind] += items
    for items in changes.values():
        items.sort(key=_sort_key)
    return {"since": old_scan.header.get("started_at"), "from_scan": old_scan.id, "to_scan": new_scan.id,
            **changes}


def change_count(changes: dict[str, Any]) -> int:
    return sum(len(changes.get(kind, [])) for kind in CHANGE_KINDS)


def _verdict_text(v: dict[str, Any]) -> str:
    return "accepted" if v.get("accepted") else f"rejected ({v.get('error') or 'no error code'})"


def _lines(kind: str, items: Iterable[dict[str, Any]]) -> list[str]:
    render: Callable[[dict[str, Any]], str] = {
        "appeared": lambda c: f"{c['endpoint']}: {c['finding']} [{c['severity']}] {c.get('title') or ''}".rstrip(),
        "resolved": lambda c: f"{c['endpoint']}: {c['finding']} [{c['severity']}]",
        "rotated": lambda c: (f"{c['endpoint']}: {c['old_sha256'][:16]} (expires {c['old_not_after']}) -> "
                              f"{c['new_sha256'][:16]} (expires {c['new_not_after']})"),
        "unreachable": lambda c: f"{c['endpoint']}: {c['error_kind'] or 'error'}: {c['error'] or ''}".rstrip(": "),
        "recovered": lambda c: f"{c['endpoint']} (was {c['error_kind'] or 'error'})",
        "addresses_added": lambda c: f"{c['target']}: {c['address']}",
        "addresses_removed": lambda c: f"{c['target']}: {c['address']}",
        "verdict_changes": lambda c: (f"{c['endpoint']} {c['browser']}: {_verdict_text(c['old'])} -> "
                                      f"{_verdict_text(c['new'])}"),
        "expiry_windows": lambda c: (f"{c['endpoint']}: expires {c['not_after']} ({c['days_left']:g} days left, "
                                     f"inside the {c['window_days']}-day window)"),
        "revoked": lambda c: (f"{c['endpoint']}: {c.get('subject') or c['certificate_sha256'][:16]} revoked "
                              f"{c.get('revoked_at') or '(date unknown)'}"
                              + (f" ({c['reason']})" if c.get("reason") else "")),
    }[kind]
    return [f"  {render(item)}" for item in items]


def render_text(changes: dict[str, Any]) -> str:
    """Plain-text rendering for the terminal and for mail: one block per kind of change."""
    scans = f"scan {changes.get('from_scan') or '?'} -> scan {changes.get('to_scan') or '?'}"
    lines = [f"Changes since {changes.get('since')} ({scans})"]
    if change_count(changes) == 0:
        lines.append("  no changes")
    for kind in CHANGE_KINDS:
        items = changes.get(kind) or []
        if items:
            lines.append(f"{TITLES[kind]} ({len(items)}):")
            lines += _lines(kind, items)
    return "\n".join(printable(line) for line in lines) + "\n"  # names and server text cannot forge a line

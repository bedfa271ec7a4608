"""The nightly diff as it was before it streamed: every scan held whole in memory.

Kept ONLY as the reference the streaming ``scanner.history.diff.diff_scans`` is tested against
(verbatim the rules of commit 3b5c8b3, when the diff compared whole documents, plus the
``revoked`` rule added since, taken from the module: it compares one endpoint id at a time). ``checked_diff``
runs both and fails unless they agree, so every existing diff test also proves the streaming diff
equals this one.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

from scanner.history import diff as streaming
from scanner.history.store import default_db_path, finding_certificate, get_scan_document

DEFAULT_WINDOWS: tuple[int, ...] = (60, 30)
CHANGE_KINDS: tuple[str, ...] = (
    "appeared", "resolved", "rotated", "unreachable", "recovered", "addresses_added",
    "addresses_removed", "verdict_changes", "expiry_windows",
)

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


def _unknown_targets(doc: Doc, eps: dict[str, Any]) -> set[str]:
    """Targets whose addresses this scan does not know: name did not resolve, or never reached."""
    return set(_dark_targets(eps)) | {str(t.get("name", "")) for t in doc.get("not_reached") or []}


def _address_changes(old: Doc, new: Doc, old_eps: dict[str, Any],
                     new_eps: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
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


def _expiry(old: Doc, new: Doc, old_eps: dict[str, Any], new_eps: dict[str, Any]) -> list[dict[str, Any]]:
    windows = warning_windows(new)
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


def _document(value: Doc | int, db_path: str | Path | None) -> tuple[Doc, int | None]:
    if isinstance(value, dict):
        return value, None
    return get_scan_document(db_path or default_db_path(), int(value)), int(value)


def diff_scans(old: Doc | int, new: Doc | int, *, db_path: str | Path | None = None) -> dict[str, Any]:
    """Changes from ``old`` to ``new``: each a results document or a scan id in ``db_path``."""
    old_doc, old_id = _document(old, db_path)
    new_doc, new_id = _document(new, db_path)
    old_eps, new_eps = _by_id(old_doc), _by_id(new_doc)
    appeared, resolved = _findings(old_doc, new_doc)
    added, removed = _address_changes(old_doc, new_doc, old_eps, new_eps)
    return {
        "since": old_doc.get("started_at"), "from_scan": old_id, "to_scan": new_id,
        "appeared": appeared, "resolved": resolved, "rotated": _rotated(old_eps, new_eps),
        "unreachable": _reachability(old_eps, new_eps),
        "recovered": _reachability(new_eps, old_eps),
        "addresses_added": added, "addresses_removed": removed,
        "verdict_changes": _verdict_changes(old_eps, new_eps),
        "expiry_windows": _expiry(old_doc, new_doc, old_eps, new_eps),
        "revoked": streaming._revoked(old_eps, new_eps),  # added by the revocation work, per endpoint like the rest
    }



def checked_diff(old: Doc | int, new: Doc | int, *, db_path: str | Path | None = None) -> dict[str, Any]:
    """``streaming.diff_scans(old, new)``, after asserting it equals this reference's diff."""
    got = streaming.diff_scans(old, new, db_path=db_path)
    assert got == diff_scans(old, new, db_path=db_path)
    return got

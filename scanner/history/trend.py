"""The trend over recent scans of the same targets, for the report's chart.

Why here and not in the report: renderers read only results.json, so the nightly step (``scan
--db``) asks the history database for these counts once the scan is recorded and stores them in
results.json as ``trend``; the report draws them from there, and a report rendered again later
(or from an evidence pack) shows the same chart.

Counted per scan with the same rules as the report's first screen: an endpoint is refused by a
browser when its verdict is not accepted; noncompliant by its DCCKI profile status; unreachable
when it was not scanned ``ok``; expiring when it was scanned ``ok`` and its leaf has fewer than
``EXPIRING_DAYS + 1`` whole days left at the scan's start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scanner.history.store import opened, previous_scan_id
from scanner.report._facts import EXPIRING_DAYS

POINTS = 12  # scans in the chart: the recorded scan and up to 11 before it


def _point(conn: Any, scan_id: int) -> dict[str, Any]:
    """One scan's counts, from its observations and the endpoint states they refer to (schema 2)."""
    started, endpoints = conn.execute("SELECT started_at, endpoint_count FROM scans WHERE id = ?", (scan_id,)).fetchone()
    refused = {row[0]: row[1] for row in conn.execute(
        "SELECT b.key, COUNT(*) FROM observations o JOIN states s ON s.id = o.state_id, "
        "json_each(s.body, '$.browsers') b WHERE o.scan_id = ? AND b.type = 'object' "
        "AND COALESCE(json_extract(b.value, '$.accepted'), 0) = 0 GROUP BY b.key", (scan_id,))}
    noncompliant, unreachable = conn.execute(
        "SELECT COALESCE(SUM(json_extract(s.body, '$.profile.status') = 'noncompliant'), 0), "
        "COALESCE(SUM(COALESCE(json_extract(s.body, '$.status'), 'error') != 'ok'), 0) "
        "FROM observations o JOIN states s ON s.id = o.state_id WHERE o.scan_id = ?", (scan_id,)).fetchone()
    (expiring,) = conn.execute(
        "SELECT COUNT(*) FROM observations o JOIN states s ON s.id = o.state_id "
        "JOIN state_certificates leaf ON leaf.state_id = s.id AND leaf.position = 0 "
        "JOIN certificates c ON c.sha256 = leaf.cert_sha256 JOIN scans sc ON sc.id = o.scan_id "
        "WHERE o.scan_id = ? AND json_extract(s.body, '$.status') = 'ok' "
        "AND julianday(json_extract(c.record, '$.not_after')) - julianday(sc.started_at) < ?",
        (scan_id, EXPIRING_DAYS + 1)).fetchone()
    return {"scan_id": scan_id, "started_at": started, "endpoints": endpoints,
            "refused": {"chrome": refused.get("chrome", 0), "firefox": refused.get("firefox", 0)},
            "noncompliant": noncompliant, "unreachable": unreachable, "expiring": expiring}


def trend(db_path: str | Path, scan_id: int, points: int = POINTS) -> list[dict[str, Any]]:
    """Counts for ``scan_id`` and the scans of the same targets before it (``previous_scan_id``'s
    rule), oldest first, at most ``points`` of them."""
    chain = [scan_id]
    while len(chain) < points:
        earlier = previous_scan_id(db_path, chain[-1])
        if earlier is None:
            break
        chain.append(earlier)
    with opened(db_path, create=False) as conn:
        return [_point(conn, sid) for sid in reversed(chain)]

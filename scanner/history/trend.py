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

POINTS = 12  # scans in the chart: the recorded scan and up to 11 before it
EXPIRING_DAYS = 30


def _point(conn: Any, scan_id: int) -> dict[str, Any]:
    started, endpoints = conn.execute("SELECT started_at, endpoint_count FROM scans WHERE id = ?", (scan_id,)).fetchone()
    refused = {row[0]: row[1] for row in conn.execute(
        "SELECT browser, COUNT(*) FROM verdicts WHERE scan_id = ? AND accepted = 0 GROUP BY browser", (scan_id,))}
    noncompliant, unreachable = conn.execute(
        "SELECT COALESCE(SUM(json_extract(record, '$.profile.status') = 'noncompliant'), 0), "
        "COALESCE(SUM(status != 'ok'), 0) FROM endpoints WHERE scan_id = ?", (scan_id,)).fetchone()
    (expiring,) = conn.execute(
        "SELECT COUNT(*) FROM endpoints e JOIN certificates c ON c.sha256 = e.leaf_sha256 "
        "JOIN scans s ON s.id = e.scan_id WHERE e.scan_id = ? AND e.status = 'ok' "
        "AND julianday(json_extract(c.record, '$.not_after')) - julianday(s.started_at) < ?",
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

"""The kinds of change between two scans, in the order they are shown, and their titles.

The vocabulary of the change model that ``scanner.history.diff`` computes and that every
rendering of it shares (``dccscan diff``'s text, the webhook's counts, the HTML report's
tables). It lives apart from the history store so that a renderer can name the changes without
importing the store (renderers read only results.json).
"""

from __future__ import annotations

CHANGE_KINDS: tuple[str, ...] = (
    "appeared", "resolved", "rotated", "unreachable", "recovered", "addresses_added",
    "addresses_removed", "verdict_changes", "expiry_windows", "revoked",
)

TITLES: dict[str, str] = {
    "appeared": "Findings appeared", "resolved": "Findings resolved", "rotated": "Certificates rotated",
    "unreachable": "Endpoints now unreachable", "recovered": "Endpoints reachable again",
    "addresses_added": "Addresses added", "addresses_removed": "Addresses removed",
    "verdict_changes": "Browser verdict changes", "expiry_windows": "Entering an expiry warning window",
    "revoked": "Revoked since the previous scan",
}

"""History of recorded scans (SQLite) and the changes between two of them.

Public surface: the store (``record_scan``, ``list_scans``, ``get_scan_document``,
``previous_scan_id``, ``latest_scan_id``, ``prune``, ``default_db_path``) and the diff
(``diff_scans``, ``render_text``).
"""

from scanner.history.diff import diff_scans, render_text
from scanner.history.store import (
    default_db_path,
    get_scan_document,
    integrity_problems,
    latest_scan_id,
    list_scans,
    previous_scan_id,
    prune,
    record_scan,
)

__all__ = [
    "default_db_path", "diff_scans", "get_scan_document", "integrity_problems", "latest_scan_id",
    "list_scans", "previous_scan_id", "prune", "record_scan", "render_text",
]

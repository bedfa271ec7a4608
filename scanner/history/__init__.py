"""History of recorded scans (SQLite) and the changes between two of them.

Public surface: the store (``record_scan``, ``list_scans``, ``get_scan_document``,
``previous_scan_id``, ``latest_scan_id``, ``prune``, ``prepare_db``, ``default_db_path``,
``read_results``) and the diff
(``diff_scans``, ``render_text``).
"""

from scanner.history._source import read_results
from scanner.history.diff import diff_scans, render_text
from scanner.history.store import (
    default_db_path,
    get_scan_document,
    integrity_problems,
    latest_scan_id,
    list_scans,
    prepare_db,
    previous_scan_id,
    prune,
    record_scan,
)

__all__ = [
    "default_db_path", "diff_scans", "get_scan_document", "integrity_problems", "latest_scan_id",
    "list_scans", "prepare_db", "previous_scan_id", "prune", "read_results", "record_scan",
    "render_text",
]

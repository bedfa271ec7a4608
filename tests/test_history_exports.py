"""The public surface other modules call (scan command, HTML report) stays as documented."""

from __future__ import annotations

import inspect

import scanner.history as history
from scanner.cli import history_cmd
from scanner.history.diff import CHANGE_KINDS


def test_history_exports() -> None:
    assert set(history.__all__) == {
        "default_db_path", "diff_scans", "get_scan_document", "integrity_problems", "latest_scan_id",
        "list_scans", "prepare_db", "previous_scan_id", "prune", "read_results", "record_scan", "render_text"}
    assert list(inspect.signature(history.record_scan).parameters) == ["db_path", "results_path"]
    assert list(inspect.signature(history.diff_scans).parameters) == ["old", "new", "db_path"]


def test_scan_command_helpers_and_diff_keys() -> None:
    assert list(inspect.signature(history_cmd.record_and_diff).parameters) == ["db_path", "results_path"]
    assert {"history", "diff", "prune"} <= set(vars(history_cmd))
    assert CHANGE_KINDS == ("appeared", "resolved", "rotated", "unreachable", "recovered", "addresses_added",
                            "addresses_removed", "verdict_changes", "expiry_windows", "revoked")

"""Unattended runs: a killed recorder never leaves half a scan, concurrent runs never corrupt.

Each test drives real processes (``tests/history_worker.py``) against one database file.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.historydata import Estate, document, endpoint, finding, write_results
from scanner.history import get_scan_document, integrity_problems, list_scans, record_scan
from scanner.runlock import LockBusy, run_lock

WORKER = Path(__file__).resolve().parent / "history_worker.py"
LARGE = 600
HANG_DEADLINE = 60.0  # seconds; only to turn a hang into a failure, never a speed check


@pytest.fixture(scope="module")
def large_scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    estate = Estate()
    chains = [estate.chain(estate.leaf(f"h{i}.test")) for i in range(3)]
    eps = [endpoint(f"h{i}.test", f"127.0.{i // 250}.{i % 250 + 1}", 8443, chain=chains[i % 3],
                    findings=[finding("dccki.test_rule", "warning")]) for i in range(LARGE)]
    doc = document(eps, anchors=estate.anchors(), validate_all=False)
    return write_results(doc, tmp_path_factory.mktemp("large") / "results.json"), doc


def _worker(*args: str, stdin: int | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(WORKER), *args], stdout=subprocess.PIPE, stdin=stdin, text=True)


def _writer_is_mid_transaction(db: Path) -> bool:
    """True when another connection holds the write lock, i.e. is inside ``record_scan``'s transaction."""
    conn = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()


def _kill_mid_write(db: Path, results: Path, sig: int) -> None:
    """Start a recording loop, wait until it is inside its second scan's transaction, kill it."""
    child = _worker("record-loop", str(db), str(results))
    assert child.stdout is not None
    deadline = time.monotonic() + HANG_DEADLINE
    while child.stdout.readline().strip() != "mid-write":
        assert time.monotonic() < deadline and child.poll() is None, "recorder never reached its second scan"
    assert _writer_is_mid_transaction(db)
    child.send_signal(sig)
    assert child.wait(timeout=HANG_DEADLINE) != 0


def _assert_whole_scans(db: Path, doc: dict[str, Any]) -> None:
    assert integrity_problems(db) == []
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT s.id, s.endpoint_count, COUNT(e.seq) FROM scans s "
                            "LEFT JOIN observations e ON e.scan_id = s.id GROUP BY s.id").fetchall()
    assert rows and all(count == actual == len(doc["endpoints"]) for _, count, actual in rows), rows


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_killed_recorder_leaves_earlier_scans_intact(tmp_path: Path, large_scan: tuple[Path, dict[str, Any]],
                                                     sig: int) -> None:
    results, doc = large_scan
    db = tmp_path / "h.db"
    earlier = record_scan(db, results)
    _kill_mid_write(db, results, sig)
    _assert_whole_scans(db, doc)
    assert get_scan_document(db, earlier) == doc
    after = record_scan(db, results)  # the next run succeeds
    assert get_scan_document(db, after) == doc
    _assert_whole_scans(db, doc)


def test_concurrent_recorders_queue_without_corruption(tmp_path: Path,
                                                       large_scan: tuple[Path, dict[str, Any]]) -> None:
    results, doc = large_scan
    db = tmp_path / "h.db"
    children = [_worker("record-n", str(db), str(results), "2") for _ in range(2)]
    outputs = [child.communicate(timeout=HANG_DEADLINE)[0] for child in children]
    assert [child.returncode for child in children] == [0, 0]
    ids = sorted(int(line) for out in outputs for line in out.split())
    assert ids == [1, 2, 3, 4] and len(list_scans(db)) == 4
    _assert_whole_scans(db, doc)


def test_second_run_refuses_clearly_then_waits(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    holder = _worker("hold-lock", str(db), stdin=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(LockBusy) as refused:
        with run_lock(db, wait=0.2):
            pass
    assert f"pid {holder.pid}" in str(refused.value) and "--wait-lock" in str(refused.value)
    release = threading.Timer(0.3, holder.stdin.close)
    release.start()
    with run_lock(db, wait=HANG_DEADLINE) as lock_file:
        assert holder.wait(timeout=HANG_DEADLINE) == 0  # we got the lock only once the holder let go
        assert lock_file.read_text().startswith(f"pid {__import__('os').getpid()} ")
    release.join()


def test_lock_of_a_killed_run_is_released(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    holder = _worker("hold-lock", str(db), stdin=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    holder.kill()
    holder.wait(timeout=HANG_DEADLINE)
    with run_lock(db, wait=0):
        pass

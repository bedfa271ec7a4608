"""Child process for the history robustness tests (run as ``python tests/history_worker.py``).

    record-loop DB RESULTS      record RESULTS again and again, printing "start N" / "done N";
                                in its second scan, after writing half the endpoints, it prints
                                "mid-write" and pauses (inside the transaction) so that the test
                                can kill it there, not merely somewhere near
    record-n DB RESULTS N       record RESULTS N times, printing each scan id
    hold-lock DB                take the run lock, print "locked", hold it until stdin closes
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import time  # noqa: E402

from scanner.history import record_scan, store  # noqa: E402
from scanner.runlock import run_lock  # noqa: E402


def _pause_mid_write(at_scan: int, at_endpoint: int) -> None:
    """Wrap the store's per-endpoint writer to stop inside the ``at_scan``-th transaction."""
    original = store._Writer.endpoint
    seen = {"scans": set()}

    def endpoint(self: store._Writer, seq: int, record: dict) -> None:  # type: ignore[type-arg]
        seen["scans"].add(self.scan_id)
        original(self, seq, record)
        if len(seen["scans"]) == at_scan and seq == at_endpoint:
            print("mid-write", flush=True)
            time.sleep(600)

    store._Writer.endpoint = endpoint  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    command, db = argv[0], Path(argv[1])
    if command == "record-loop":
        _pause_mid_write(at_scan=2, at_endpoint=100)
        n = 0
        while True:
            n += 1
            print(f"start {n}", flush=True)
            record_scan(db, argv[2])
            print(f"done {n}", flush=True)
    if command == "record-n":
        for _ in range(int(argv[3])):
            print(record_scan(db, argv[2]), flush=True)
        return 0
    if command == "hold-lock":
        with run_lock(db):
            print("locked", flush=True)
            sys.stdin.read()
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Issue 15 item 10 (disk half): a full disk gives one line and the documented exit code, never a
traceback, and leaves no stray spool file; prune on a full disk deletes nothing.

A real full file system: a 64 KiB tmpfs mounted for the test (needs root and a kernel that lets
this process mount; skipped with the reason otherwise).
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from scanner.history import list_scans, record_scan
from scanner.lab.pki import Issued
from scanner.lab.servers import LabEstate
from tests.lab_fixtures import leaf, pki, tls_spec  # noqa: F401 - fixtures
from tests.reportdata import build_estate, write_results

HANG = 300.0


def _mount(size: str) -> Iterator[Path]:
    point = Path("/tmp") / f"dccscan-full-{uuid.uuid4().hex[:8]}"
    point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        point.rmdir()
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or 'mount failed'}): "
                    "the full-disk behaviour is then untested on this machine")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)
        point.rmdir()


@pytest.fixture
def tiny_disk() -> Iterator[Path]:
    yield from _mount("64k")


@pytest.fixture
def small_disk() -> Iterator[Path]:
    yield from _mount("4m")


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError:
            pass
    return filler


def test_scan_to_a_full_disk_is_one_line_and_leaves_no_spool(leaf: Issued, tiny_disk: Path) -> None:
    out = tiny_disk / "out"
    with LabEstate([tls_spec(leaf) for _ in range(30)]) as ports:
        done = subprocess.run([sys.executable, "-m", "scanner", "scan", *[f"127.0.0.1:{p}" for p in ports],
                               "--out", str(out), "--format", "json,html"], capture_output=True, text=True,
                              timeout=HANG)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "No space left on device" in done.stderr and "fix:" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 2
    assert not list(out.glob("*.spool")) and not list(out.glob(".*.spool"))


def test_prune_on_a_full_disk_is_one_line_and_deletes_nothing(small_disk: Path, tmp_path: Path) -> None:
    db = small_disk / "h.db"
    results = write_results(build_estate(), tmp_path)
    for _ in range(3):
        record_scan(db, results)
    filler = _fill(small_disk)
    done = subprocess.run([sys.executable, "-m", "scanner", "prune", "--db", str(db), "--keep-days", "0"],
                          capture_output=True, text=True, timeout=HANG)
    filler.unlink()
    if done.returncode == 0:
        pytest.skip("SQLite found room to prune in place on this file system: nothing to refuse")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "fix:" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 2
    assert len(list_scans(db)) == 3  # nothing was deleted

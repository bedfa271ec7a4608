"""Issue 15 item 1 and the lock half of item 10: a killed nightly never blocks the next one.

Real processes only: a real ``dccscan scan --db`` killed with SIGKILL while its evaluation worker
is alive, a real forked child of a lock holder, a real symlinked alias of the database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scanner.lab.pki import Issued
from scanner.lab.servers import LabEstate, ServerSpec
from scanner.runlock import LockBusy, lock_path_for, run_lock
from tests.lab_fixtures import leaf, pki, tls_spec  # noqa: F401 - fixtures

HANG = 120.0  # hang detection only, never a speed requirement
PROC = Path("/proc")
needs_proc = pytest.mark.skipif(not (PROC / "self/task").is_dir(),
                                reason="needs Linux /proc to find a process's children and open files")


def _wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + HANG
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"hang: {what}")
        time.sleep(0.05)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in (PROC / str(pid) / "task").iterdir():
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def _alive(pid: int) -> bool:
    try:
        state = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _open_files(pid: int) -> set[str]:
    names = set()
    for fd in (PROC / str(pid) / "fd").iterdir():
        try:
            names.add(os.readlink(fd))
        except OSError:
            pass
    return names


@needs_proc
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the scan forks evaluation workers only with 2+ cores")
def test_killed_scan_leaves_no_worker_and_no_lock(leaf: Issued, tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    out = tmp_path / "out"
    with LabEstate([tls_spec(leaf), ServerSpec(kind="silent")]) as (good, silent):
        with open(tmp_path / "err", "w") as err:
            scan = subprocess.Popen([sys.executable, "-m", "scanner", "scan", f"127.0.0.1:{good}",
                                     f"127.0.0.1:{silent}", "--timeout", "300", "--db", str(db), "--out", str(out),
                                     "--format", "json", "--fail-on", "never"], stdout=subprocess.DEVNULL, stderr=err)
        try:
            _wait_for(lambda: list(out.glob("chains/*.pem")), "the scan to evaluate the good endpoint")
            workers = _children(scan.pid)
            assert workers, "the scan forked no evaluation worker"
            lock = str(lock_path_for(db))
            for worker in workers:  # a worker never holds the database's lock itself
                assert lock not in _open_files(worker)
            scan.send_signal(signal.SIGKILL)
            scan.wait(timeout=HANG)
            _wait_for(lambda: not any(_alive(w) for w in workers), "the workers to die with the killed scan")
            with run_lock(db, wait=0):  # taken over at once: nothing to wait for
                pass
        finally:
            if scan.poll() is None:
                scan.kill()
                scan.wait()


HOLD_THEN_FORK = """
import os, sys, time
sys.path.insert(0, sys.argv[2])
from scanner.runlock import run_lock
with run_lock(sys.argv[1]):
    child = os.fork()
    if child == 0:
        time.sleep(600)
        os._exit(0)
    print("locked", child, flush=True)
    sys.stdin.read()
"""


@needs_proc
def test_forked_child_of_the_holder_never_holds_the_lock(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    root = str(Path(__file__).resolve().parents[1])
    holder = subprocess.Popen([sys.executable, "-c", HOLD_THEN_FORK, str(db), root], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdin is not None
    word, pid = holder.stdout.readline().split()
    child = [int(pid)]
    try:
        assert word == "locked" and _alive(child[0])
        # the child drops its copy of the lock file right after the fork, before running any code
        _wait_for(lambda: str(lock_path_for(db)) not in _open_files(child[0]), "the child to drop the lock file")
        with pytest.raises(LockBusy):
            with run_lock(db, wait=0):
                pass
        holder.kill()
        holder.wait(timeout=HANG)
        assert _alive(child[0])  # the child lives on (it was not ours to kill) ...
        with run_lock(db, wait=0):  # ... yet the lock of the dead holder is free at once
            pass
    finally:
        for pid in child:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_symlinked_alias_of_the_database_shares_its_lock(tmp_path: Path) -> None:
    real = tmp_path / "data" / "h.db"
    real.parent.mkdir()
    real.write_bytes(b"")
    alias = tmp_path / "alias.db"
    alias.symlink_to(real)
    spelled = tmp_path / "data" / ".." / "data" / "h.db"
    assert lock_path_for(alias) == lock_path_for(real) == lock_path_for(spelled)
    worker = Path(__file__).with_name("history_worker.py")
    holder = subprocess.Popen([sys.executable, str(worker), "hold-lock", str(real)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline().strip() == "locked"
        for other in (alias, spelled):
            with pytest.raises(LockBusy):
                with run_lock(other, wait=0):
                    pass
        refused = subprocess.run([sys.executable, "-m", "scanner", "prune", "--db", str(alias), "--keep-days", "1"],
                                 capture_output=True, text=True, timeout=HANG)
        assert refused.returncode == 4, refused.stderr
        assert f"pid {holder.pid}" in refused.stderr
    finally:
        holder.stdin.close()
        holder.wait(timeout=HANG)


ORPHAN_WATCH = """
import os, sys, time
sys.path.insert(0, sys.argv[1])
from scanner import lifetime
lifetime._linux_death_signal = lambda: False  # the portable fallback, as on a system without prctl
me = os.getpid()
child = os.fork()
if child == 0:
    lifetime.die_with_parent(me)
    time.sleep(600)
    os._exit(0)
print(child, flush=True)
time.sleep(1)  # the child is watching by now: its parent's death is what it must notice
"""


@needs_proc
def test_portable_fallback_ends_an_orphaned_worker(tmp_path: Path) -> None:
    root = str(Path(__file__).resolve().parents[1])
    parent = subprocess.Popen([sys.executable, "-c", ORPHAN_WATCH, root], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    orphan = int(parent.stdout.readline())
    try:
        assert _alive(orphan)
        parent.wait(timeout=HANG)
        _wait_for(lambda: not _alive(orphan), "the orphaned child to notice its parent died")
    finally:
        if _alive(orphan):
            os.kill(orphan, signal.SIGKILL)

"""The memory of a whole process tree, sampled from /proc: what a tool and every process it
started hold at once (its worker processes included), as the issues' memory targets ask.

``ru_maxrss`` (what ``wait4`` gives) is the largest single process, not the tree: a scan whose
main process peaks at 75 MB while its evaluation worker holds 60 MB needs 135 MB of the machine.
Here the resident set sizes (``VmRSS`` via ``/proc/<pid>/statm``) of the root and all its
descendants are summed every ``interval`` seconds; the peak is the largest sum seen (a spike
shorter than the interval can be missed). Shared pages (libraries, a forked worker's inherited
heap) are counted once per process, so the sum errs high, never low. Linux only.
"""

from __future__ import annotations

import os
import threading
import time

PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024


def children() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc (a snapshot)."""
    out: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        out.setdefault(ppid, []).append(int(entry.name))
    return out


def rss(pid: int) -> int:
    """Resident bytes of one process (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss(root: int) -> tuple[int, int, int]:
    """(sum of resident bytes of ``root`` and all its descendants, number of processes,
    resident bytes of ``root`` alone)."""
    tree = children()
    own = rss(root)
    total, count, todo = 0, 0, [root]
    while todo:
        pid = todo.pop()
        total += own if pid == root else rss(pid)
        count += 1
        todo += tree.get(pid, [])
    return total, count, own


class TreeSampler(threading.Thread):
    """Samples ``tree_rss(pid)`` until ``stop`` is set or the process is gone; keeps the peak
    (``peak``, bytes, with its ``processes``) and the root's own peak (``main_peak``).
    ``sample(total, own, seconds)`` is called for each sample (subclasses keep more)."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak = self.processes = self.main_peak = 0
        self.stop = threading.Event()

    def sample(self, total: int, own: int, seconds: float) -> None:
        """Hook for each sample; the default keeps nothing more."""

    def run(self) -> None:
        started = time.perf_counter()
        while not self.stop.is_set():
            total, count, own = tree_rss(self.pid)
            if own == 0:
                return  # the process has exited
            self.main_peak = max(self.main_peak, own)
            if total > self.peak:
                self.peak, self.processes = total, count
            self.sample(total, own, time.perf_counter() - started)
            self.stop.wait(self.interval)

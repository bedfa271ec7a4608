"""Helper processes die with the process that started them.

A scan forks evaluation workers (``scanner.recordpool``). They ignore SIGTERM and Ctrl-C so that
the scan can stop cleanly and then close them; but a scan killed with SIGKILL (an OOM killer, a
``kill -9`` from a stuck-job script) never closes them, and they would wait forever on a queue
nobody writes to again: one leaked process per killed run, and, before the run lock stopped being
inherited, a lock nobody could take. ``die_with_parent`` is called first thing in each worker:

* on Linux the kernel sends the worker SIGKILL when its parent dies (``PR_SET_PDEATHSIG``);
* elsewhere a daemon thread notices that the parent changed (the worker was re-parented to init
  or a subreaper) and ends the process.

Either way the parent's death between the fork and this call is caught too: the pid the parent
passed is compared with the worker's parent after the arrangement is in place.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCH_SECONDS = 0.5  # fallback's polling period: how long an orphan may outlive its parent


def _linux_death_signal() -> bool:
    """Ask the kernel to SIGKILL this process when its parent dies; False when not possible."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _end_now() -> None:
    """End this process at once, as the kernel's parent-death signal would: no cleanup, since a
    forked worker's inherited state (the parent's files, locks, atexit hooks) is not its own."""
    os.kill(os.getpid(), signal.SIGKILL)


def _watch(parent: int) -> None:
    stop = threading.Event()
    while not stop.wait(WATCH_SECONDS):
        if os.getppid() != parent:
            _end_now()


def die_with_parent(parent: int | None = None) -> None:
    """End this process when its parent ends. ``parent`` is the pid the parent had when it forked
    us (pass ``os.getpid()`` from the parent); None means "my parent now"."""
    expected = os.getppid() if parent is None else parent
    if not _linux_death_signal():
        threading.Thread(target=_watch, args=(expected,), name="dccscan-parent-watch", daemon=True).start()
    if os.getppid() != expected:  # the parent died before the arrangement was in place
        _end_now()

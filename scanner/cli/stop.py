"""How every command stops when asked: SIGINT and SIGTERM, in the foreground or in the background.

Why this is set explicitly at start-up rather than left to Python's defaults:

* A shell starts a background job (``cmd &`` without job control: scripts, CI runners, cron's
  ``sh -c``) with SIGINT set to SIG_IGN, and Python keeps an inherited SIG_IGN, so such a
  process would never see Ctrl-C or ``kill -INT``: ``demo --serve`` ran on forever and a test
  suite run in the background left its server behind.
* SIGTERM (``kill``, ``systemctl stop``, a CI timeout) killed the process on the spot, without
  the clean-up and the message a Ctrl-C gets.

So SIGINT raises ``KeyboardInterrupt`` again (Python's own handler) and SIGTERM is turned into
SIGINT, which makes the two the same event everywhere, including inside trio, whose SIGINT
handling defers the interrupt out of code that must not be interrupted. Commands clean up in
``finally`` blocks and context managers; the ``dccscan`` group turns the interrupt into one line
on stderr and exit code ``EXIT_STOPPED``. ``scan`` watches both signals itself while it scans
(``scan_cmd._scan_until_stopped``) to keep what it gathered.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_STOPPED = 3  # "not everything was done", the exit code of an interrupted scan

_received: list[str] = []


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM becomes SIGINT, so trio (which installs its own SIGINT handler) sees it too."""
    _received.append(signal.Signals(signum).name)
    signal.raise_signal(signal.SIGINT)


def install() -> None:
    """Make SIGINT and SIGTERM raise ``KeyboardInterrupt`` in this process, whatever was inherited.

    Only from the main thread of a real ``dccscan`` process (``scanner.cli.main``): a test
    runner that invokes the commands in-process keeps its own handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    # SIGINT keeps Python's own handler object when nothing else is needed: trio recognises
    # signal.default_int_handler and only then adds its protection of critical sections.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _on_sigterm)


def stopped_by() -> str:
    """``SIGTERM`` when one was received, else ``SIGINT`` (Ctrl-C or ``kill -INT``)."""
    return _received[0] if _received else "SIGINT"

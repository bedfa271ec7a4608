"""Start the oracle estate once (cases, loopback server, both real browsers) and ask the engine.

Shared by the pytest fixtures (``test_oracle.py``) and the observation script (``observe.py``),
so the test and the committed table are produced the same way.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import re
from pathlib import Path
from typing import Protocol


from . import chromium, firefox, nss
from .cases import AIA_HOST, Case
from .server import OracleServer

BROWSERS = ("chrome", "firefox")
CODE = re.compile(r"[A-Z][A-Z0-9_]+")  # the shape of every browser error code


class BrowserDriver(Protocol):
    """What ``chromium.Chromium`` and ``firefox.Firefox`` both offer."""

    version: str

    def error_for(self, url: str) -> str | None: ...

    def close(self) -> None: ...


def unavailable_reason(browser: str) -> str | None:
    """Why ``browser`` cannot be asked on this machine, or None when it can."""
    reason = os.environ.get("DCCSCAN_BROWSERS_UNAVAILABLE")
    if reason:
        return f"browsers unavailable: {reason}"
    binary, package = ((chromium.BINARY, "playwright") if browser == "chrome"
                       else (firefox.BINARY, "marionette_driver"))
    if not Path(binary).exists():
        return f"{binary} is not installed (apt-get install {Path(binary).name})"
    if importlib.util.find_spec(package) is None:
        return f"Python package {package} is not installed (pip install -e '.[test]')"
    if nss.certutil() is None:
        return "certutil is not installed (apt-get install libnss3-tools)"
    return None


def all_anchors(cases: list[Case]) -> list[bytes]:
    """Every case's roots: both browsers trust them all at once."""
    return [anchor for case in cases for anchor in case.anchors]


def dns_hostnames(cases: list[Case]) -> list[str]:
    """Every DNS name a case browses, also without a trailing dot (what the resolver is asked)."""
    names = [case.hostname for case in cases if not case.is_ip]
    return [*names, *(n.rstrip(".") for n in names if n.endswith("."))]


def start_browser(browser: str, cases: list[Case], server: OracleServer) -> BrowserDriver:
    """A running browser trusting every case root and resolving every case name to loopback."""
    if browser == "chrome":
        return chromium.Chromium(all_anchors(cases), [f"MAP {AIA_HOST} 127.0.0.1:{server.aia_port}"])
    return firefox.Firefox(all_anchors(cases), dns_hostnames(cases))


def predicted_error(case: Case, browser: str) -> str | None:
    """dccscan's prediction for ``case``."""
    from scanner.evaluate import evaluate

    result = evaluate(list(case.chain), case.hostname, anchors=list(case.anchors), at=dt.datetime.now(dt.timezone.utc))
    return result["browsers"][browser]["error"]

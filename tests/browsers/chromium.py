"""Ask Debian's Chromium (through playwright) whether it accepts a URL's certificate.

One browser per test session. The case roots are trusted through an NSS database in a temporary
HOME (a locally installed anchor), and ``--host-resolver-rules`` sends every hostname to
127.0.0.1, so the cases can use any names, ``x.co.uk`` included.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Iterable

from . import nss

BINARY = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
HOST_RULES = ["MAP * 127.0.0.1", "EXCLUDE ::1"]  # every name to loopback; the IPv6 literal stays itself
NET_ERROR = re.compile(r"net::(ERR_[A-Z0-9_]+)")
NAV_TIMEOUT_MS = 20_000  # hang detection only


class Chromium:
    """A running headless Chromium trusting ``anchors``; ``error_for(url)`` asks it."""

    def __init__(self, anchors: Iterable[bytes], host_rules: Iterable[str] = ()) -> None:
        """``host_rules`` come before the catch-all mapping (e.g. ``MAP aia.host 127.0.0.1:PORT``)."""
        from playwright.sync_api import sync_playwright

        self._home = tempfile.TemporaryDirectory(prefix="dccscan-oracle-chromium-")
        home = Path(self._home.name)
        nss.create_trusting(home / ".pki" / "nssdb", anchors)
        self._playwright = sync_playwright().start()
        try:
            self._browser = self._playwright.chromium.launch(
                executable_path=BINARY, headless=True, env={"HOME": str(home)},
                args=[*ARGS, "--host-resolver-rules=" + ", ".join([*host_rules, *HOST_RULES])])
            self.version = self._browser.version
        except Exception:
            self._playwright.stop()
            raise

    def error_for(self, url: str) -> str | None:
        """None when the page loaded (certificate accepted), else Chrome's ``ERR_...`` code."""
        context = self._browser.new_context()
        try:
            page = context.new_page()
            page.goto(url, timeout=NAV_TIMEOUT_MS)
            return None
        except Exception as exc:  # playwright.Error: the message carries net::ERR_...
            match = NET_ERROR.search(str(exc))
            return match.group(1) if match else f"UNEXPECTED: {str(exc).splitlines()[0]}"
        finally:
            context.close()

    def close(self) -> None:
        try:
            self._browser.close()
        finally:
            self._playwright.stop()
            self._home.cleanup()

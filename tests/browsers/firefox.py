"""Ask Debian's Firefox ESR (through Marionette) whether it accepts a URL's certificate.

One Marionette session per test session (start-up takes seconds). The profile holds a cert9.db
trusting the case roots and lists every case hostname in ``network.dns.localDomains`` so they
resolve to loopback. Everything that could make a verdict depend on more than the served chain
is switched off: OCSP, CRLite, preloaded intermediates (remote settings), enterprise roots.
"""

from __future__ import annotations

import gc
import json
import socket
import tempfile
from pathlib import Path
from typing import Iterable

from . import nss

BINARY = "/usr/bin/firefox-esr"
STARTUP_TIMEOUT_S = 90  # hang detection only
PAGE_TIMEOUT_MS = 20_000

PREFS: dict[str, object] = {
    "security.enterprise_roots.enabled": False,
    "security.OCSP.enabled": 0,
    "security.OCSP.require": False,
    "security.pki.crlite_mode": 0,
    "security.remote_settings.crlite_filters.enabled": False,
    "security.remote_settings.intermediates.enabled": False,
    "security.certerrors.mitm.priming.enabled": False,
    "security.certerrors.mitm.auto_enable_enterprise_roots": False,
    "services.settings.server": "http://127.0.0.1:9/",
    "network.trr.mode": 5,
    "network.stricttransportsecurity.preloadlist": False,
    "network.http.http3.enable": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.update.enabled": False,
    "app.update.auto": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
}

# In content context on a certificate error page: the code Firefox shows the user.
CERT_ERROR_JS = "return document.getFailedCertSecurityInfo().errorCodeString;"
# On a network error page (the certificate was fine or the handshake failed before it).
NET_ERROR_JS = """
try { const i = document.getNetErrorInfo(); return i.errorCodeString || null; }
catch (e) { return null; }
"""


class Firefox:
    """A running headless Firefox ESR trusting ``anchors`` and resolving ``hostnames`` locally."""

    def __init__(self, anchors: Iterable[bytes], hostnames: Iterable[str]) -> None:
        from marionette_driver.marionette import Marionette

        self._folder = tempfile.TemporaryDirectory(prefix="dccscan-oracle-firefox-")
        profile = Path(self._folder.name) / "profile"
        nss.create_trusting(profile, anchors)
        prefs = dict(PREFS, **{"network.dns.localDomains": ",".join(sorted(set(hostnames)))})
        (profile / "user.js").write_text(
            "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items()))
        # A free port, not Marionette's fixed 2828: another Firefox on the machine (a parallel test
        # run) would hold it, and this session would time out connecting to the wrong browser.
        self._client = Marionette(bin=BINARY, headless=True, profile=str(profile), port=_free_port(),
                                  gecko_log=str(Path(self._folder.name) / "gecko.log"),
                                  startup_timeout=STARTUP_TIMEOUT_S)
        try:
            self._client.start_session()
            self._client.timeout.page_load = PAGE_TIMEOUT_MS / 1000
            self.version = str(self._client.session_capabilities.get("browserVersion", "?"))
        except Exception:
            self._client.cleanup()
            raise

    def error_for(self, url: str) -> str | None:
        """None when the page loaded (certificate accepted), else Firefox's error code string."""
        from marionette_driver.errors import InsecureCertificateException, MarionetteException

        try:
            self._client.navigate(url)
            return None
        except InsecureCertificateException:
            return str(self._client.execute_script(CERT_ERROR_JS))
        except MarionetteException as exc:
            code = self._client.execute_script(NET_ERROR_JS)
            return str(code) if code else f"UNEXPECTED: {str(exc).splitlines()[0]}"

    def close(self) -> None:
        """Stop Firefox and drop its profiles now: mozprofile's own finalisers fail at interpreter exit."""
        try:
            self._client.cleanup()  # deletes the session, stops Firefox, removes the cloned profile
        finally:
            del self._client
            gc.collect()
            self._folder.cleanup()


def _free_port() -> int:
    """A loopback TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])

"""Record the ClientHello that this machine's Chromium and Firefox ESR really send.

Maintainer command, run after a browser update::

    python -m scanner.lab.record_hellos            # writes scanner/data/clienthellos/*.json

A capture server on 127.0.0.1 (a plain TCP listener: it reads the first TLS handshake message
and closes, no TLS library involved) is opened by each browser, headless, exactly as the oracle
tests launch them (Chromium through playwright, Firefox ESR through Marionette). The bytes are
saved with the browser's name and version as package data; ``scanner.probe.simulate`` replays
them against every endpoint. A test (tests/test_clienthellos.py) fails when the installed
browsers' versions differ from the recordings'.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import socket
import sys
import tempfile
import threading
from pathlib import Path

from scanner.clienthellos import BROWSER_FILES, DATA_DIR, summarise
from scanner.probe import records

CAPTURE_HOST = "clienthello.test"
CHROMIUM = "/usr/bin/chromium"
FIREFOX = "/usr/bin/firefox-esr"
READ_LIMIT = 64 * 1024


def read_client_hello(conn: socket.socket) -> bytes | None:
    """The first handshake message (type 1) the peer sends, with its 4-byte header, or None."""
    data = b""
    conn.settimeout(10)
    while len(data) < READ_LIMIT:
        try:
            chunk = conn.recv(65536)
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
        for kind, body in records.handshake_messages(data):
            if kind == records.CLIENT_HELLO:
                return bytes([kind]) + len(body).to_bytes(3, "big") + body
    return None


class CaptureServer:
    """Accepts connections on 127.0.0.1 and keeps the first ClientHello; closes every connection."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.hellos: list[bytes] = []  # handshake messages, header included
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                hello = read_client_hello(conn)
                if hello is not None:
                    self.hellos.append(hello)

    def close(self) -> None:
        self.sock.close()


def record_chromium(port: int) -> str:
    """Point Chromium at the capture server; returns its version."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="dccscan-record-chromium-") as home, sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, env={"HOME": home},
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--host-resolver-rules=MAP * 127.0.0.1"])
        try:
            page = browser.new_page()
            try:
                page.goto(f"https://{CAPTURE_HOST}:{port}/", timeout=20_000)
            except Exception:  # noqa: BLE001 - the capture server closes: an error page is expected
                pass
            return str(browser.version)
        finally:
            browser.close()


def record_firefox(port: int) -> str:
    """Point Firefox ESR at the capture server; returns its version."""
    from marionette_driver.marionette import Marionette

    with tempfile.TemporaryDirectory(prefix="dccscan-record-firefox-") as folder:
        profile = Path(folder) / "profile"
        profile.mkdir()
        prefs = {"network.dns.localDomains": CAPTURE_HOST, "network.trr.mode": 5,
                 "app.update.auto": False, "services.settings.server": "http://127.0.0.1:9/",
                 "network.captive-portal-service.enabled": False,
                 "network.connectivity-service.enabled": False, "security.OCSP.enabled": 0}
        (profile / "user.js").write_text(
            "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items()))
        client = Marionette(bin=FIREFOX, headless=True, profile=str(profile),
                            gecko_log=str(Path(folder) / "gecko.log"), startup_timeout=90)
        try:
            client.start_session()
            client.timeout.page_load = 20
            version = str(client.session_capabilities.get("browserVersion", "?"))
            try:
                client.navigate(f"https://{CAPTURE_HOST}:{port}/")
            except Exception:  # noqa: BLE001 - an error page is expected
                pass
            return version
        finally:
            client.cleanup()


def record(browser: str) -> dict[str, object]:
    """One browser's first ClientHello to the capture server, as the package data stores it."""
    server = CaptureServer()
    try:
        version = (record_chromium if browser == "chrome" else record_firefox)(server.port)
    finally:
        server.close()
    if not server.hellos:
        raise RuntimeError(f"{browser} sent no ClientHello to the capture server")
    hello = server.hellos[0]
    return {
        "browser": browser,
        "product": "chromium" if browser == "chrome" else "firefox-esr",
        "version": version,
        "recorded_at": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "recorded_sni": CAPTURE_HOST,
        "client_hello_hex": hello.hex(),
        "summary": summarise(hello),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="folder for the JSON files")
    parser.add_argument("--browser", choices=sorted(BROWSER_FILES), action="append",
                        help="record only this browser (repeatable); default both")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for browser in args.browser or sorted(BROWSER_FILES):
        data = record(browser)
        major = str(data["version"]).split(".")[0]
        for old in args.out.glob(f"{data['product']}-*.json"):
            old.unlink()
        path = args.out / f"{data['product']}-{major}.json"
        path.write_text(json.dumps(data, indent=1) + "\n")
        print(f"{browser} {data['version']}: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

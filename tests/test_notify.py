"""Webhook alerts reach a real local HTTP server; a failing webhook is logged, never raised."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.historydata import T0, Estate, document, endpoint, finding, write_results
from scanner.cli.nightly import NightlyOptions, after_scan
from scanner.errors import InputError
from scanner.log import configure
from scanner.notify import post_webhook, scan_payload, validate_webhook_url


class _Receiver(BaseHTTPRequestHandler):
    status = 204
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append({"type": self.headers["Content-Type"], "body": json.loads(body), "path": self.path})
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        """Quiet: the test reads what arrived, not the server's access log."""


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"received": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/secret-token", handler
    server.shutdown()
    server.server_close()
    thread.join(timeout=30)


def _payload() -> dict[str, Any]:
    estate = Estate()
    doc = document([endpoint("gw.test", "127.0.0.1", 8443, chain=estate.chain(estate.leaf("gw.test")))])
    changes = {"since": doc["started_at"], "from_scan": 1, "to_scan": 2, "appeared": [{"endpoint": "x"}]}
    return scan_payload({k: v for k, v in doc.items() if k != "endpoints"}, 2, changes)


def test_payload_is_posted_as_json(receiver: tuple[str, type[_Receiver]], capsys: pytest.CaptureFixture[str]) -> None:
    url, handler = receiver
    configure("json")
    payload = _payload()
    post_webhook(url, payload, timeout=30)
    (got,) = handler.received
    assert got["type"] == "application/json" and got["body"] == payload and got["path"] == "/hooks/secret-token"
    assert payload["change_counts"]["appeared"] == 1 and payload["summary"]["endpoints"] == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert json.loads(line)["event"] == "webhook.sent" and "secret-token" not in line


def test_server_error_is_logged_not_raised(receiver: tuple[str, type[_Receiver]],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    url, handler = receiver
    handler.status = 500
    configure("json")
    post_webhook(url, {"event": "x"}, timeout=30)
    event = json.loads(capsys.readouterr().err.splitlines()[-1])
    assert (event["event"], event["level"], event["status"]) == ("webhook.failed", "warning", 500)


def test_closed_port_is_logged_not_raised(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    configure("text")
    post_webhook(f"http://127.0.0.1:{port}/hook?token=abc", {"event": "x"}, timeout=30)
    err = capsys.readouterr().err
    assert " WARNING webhook.failed " in err and "token" not in err and "error=" in err


@pytest.mark.parametrize("url", ["ftp://example.net/x", "hooks.example.net", "file:///etc/passwd"])
def test_bad_webhook_url_is_an_input_error(url: str) -> None:
    with pytest.raises(InputError, match="not an http"):
        validate_webhook_url(url)


def test_after_scan_records_diffs_and_posts_the_changes(tmp_path: Path, receiver: tuple[str, type[_Receiver]],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    url, handler = receiver
    estate = Estate()
    chain = estate.chain(estate.leaf("gw.test"))
    write_results(document([endpoint("gw.test", "127.0.0.1", 8443, chain=chain)]), tmp_path / "1" / "results.json")
    write_results(document([endpoint("gw.test", "127.0.0.1", 8443, chain=chain, findings=[finding("a.b")])],
                           started_at=T0 + dt.timedelta(days=1)), tmp_path / "2" / "results.json")
    options = NightlyOptions(db=tmp_path / "h.db", notify_webhook=url)
    assert after_scan(options, tmp_path / "1", 0) == (1, None, 0)
    scan_id, changes, _ = after_scan(options, tmp_path / "2", 1)
    first, second = (r["body"] for r in handler.received)
    assert first["changes"] is None and first["scan_id"] == 1
    assert second["scan_id"] == scan_id == 2 and second["changes"] == changes
    assert second["change_counts"]["appeared"] == 1 and second["exit_code"] == 1


def test_after_scan_with_a_dead_webhook_still_records(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    estate = Estate()
    doc = document([endpoint("gw.test", "127.0.0.1", 8443, chain=estate.chain(estate.leaf("gw.test")))])
    write_results(doc, tmp_path / "out" / "results.json")
    options = NightlyOptions(db=tmp_path / "h.db", notify_webhook=f"http://127.0.0.1:{port}/")
    scan_id, _, _ = after_scan(options, tmp_path / "out", 0)
    assert scan_id == 1


def test_credentials_in_the_url_never_reach_the_resolver_or_the_logs(
        receiver: tuple[str, type[_Receiver]], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    url, handler = receiver
    with_password = url.replace("http://", "http://alice:s3cret-pw@")
    with pytest.raises(InputError) as refused:
        validate_webhook_url(with_password)
    assert "user name or password" in str(refused.value) and "s3cret-pw" not in str(refused.value)
    looked_up: list[str] = []
    real = socket.getaddrinfo

    def recording(host: Any, *args: Any, **kwargs: Any) -> Any:  # a spy: the real resolver still answers
        looked_up.append(str(host))
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording)
    configure("json")
    post_webhook(with_password, _payload())  # a caller that skipped validation still sends nothing
    post_webhook(url, _payload())  # while a plain URL is resolved and sent as before
    assert not any("s3cret" in host for host in looked_up) and "127.0.0.1" in looked_up
    assert len(handler.received) == 1
    assert "s3cret" not in capsys.readouterr().err

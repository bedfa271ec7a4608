"""Alerts: POST a JSON summary of a scan and its changes to a webhook (``--notify-webhook``).

A webhook is a courtesy on top of the results: an unreachable chat server or a slow receiver must
never cost the night's results or change the exit code. So :func:`post_webhook` never raises; a
failure becomes one structured warning (``webhook.failed``) in the log.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from scanner import __version__
from scanner.errors import InputError
from scanner.changes import CHANGE_KINDS
from scanner.log import log_event


def validate_webhook_url(url: str) -> str:
    """The URL itself, when it is an absolute http(s) URL without credentials; otherwise an
    ``InputError`` (exit 2).

    ``user:password@`` is refused: urllib does not turn it into an Authorization header but keeps
    it in the host name, so the password would be sent to the DNS resolver and written to logs.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"--notify-webhook {_redacted(url)!r} is not an http:// or https:// URL",
                         fix="give the full address of the receiver, e.g. https://hooks.example.net/dccscan")
    if _has_credentials(parts):
        raise InputError(f"--notify-webhook {_redacted(url)!r} holds a user name or password before '@'; "
                         "dccscan never sends credentials from a URL (they would reach the DNS resolver and the logs)",
                         fix="use a receiver URL whose secret is in its path or query, without user:password@")
    return url


def _has_credentials(parts: urllib.parse.SplitResult) -> bool:
    return "@" in parts.netloc


def revoked_certificates(results_path: Any) -> list[dict[str, Any]]:
    """Every presented certificate the scan found revoked (endpoint, index, SHA-256, date,
    reason): the webhook says so on every run, not only the night it changed."""
    from scanner.results import iter_endpoints

    return [{"endpoint": ep.get("id"), "certificate_index": r.get("certificate_index"), "sha256": r.get("sha256"),
             "revoked_at": r.get("revoked_at"), "reason": r.get("reason")}
            for ep in iter_endpoints(results_path) for r in ep.get("revocation") or [] if r.get("status") == "revoked"]


def scan_payload(header: dict[str, Any], scan_id: int | None, changes: dict[str, Any] | None,
                 revoked: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The webhook body: who scanned what, the outcome counts, the changes (or null) and the
    certificates found revoked (``changes.revoked`` says which are new since the previous scan)."""
    summary = header.get("summary", {})
    return {
        "event": "dccscan.scan",
        "scanner": {"name": "dccscan", "version": __version__},
        "scan_id": scan_id,
        "started_at": header.get("started_at"),
        "finished_at": header.get("finished_at"),
        "complete": header.get("complete"),
        "targets_file": header.get("targets_file"),
        "summary": summary,
        "exit_code": summary.get("exit_code"),
        "change_counts": {key: len(changes.get(key, [])) for key in CHANGE_KINDS} if changes else None,
        "changes": changes,
        "revoked": list(revoked or []),
    }


def post_webhook(url: str, payload: dict[str, Any], timeout: float = 10.0) -> None:
    """POST ``payload`` as JSON to ``url``; log success or failure, never raise."""
    if _has_credentials(urllib.parse.urlsplit(url)):  # never resolved, never sent
        log_event("webhook.failed", logging.WARNING, url=_redacted(url), error="the URL holds credentials; not sent")
        return
    body = json.dumps(payload, default=str).encode("utf-8")
    request = urllib.request.Request(
        url, data=body, method="POST",
        headers={"Content-Type": "application/json", "User-Agent": f"dccscan/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked
            status = response.status
    except urllib.error.HTTPError as exc:
        log_event("webhook.failed", logging.WARNING, url=_redacted(url), status=exc.code, error=str(exc.reason))
        return
    except Exception as exc:  # noqa: BLE001 - an alert must never end the run
        log_event("webhook.failed", logging.WARNING, url=_redacted(url), error=f"{type(exc).__name__}: {exc}")
        return
    log_event("webhook.sent", logging.INFO, url=_redacted(url), status=status, bytes=len(body))


def _redacted(url: str) -> str:
    """Scheme and host only: webhook secrets live in the path or query and must not reach logs."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    try:
        if parts.port:
            host += f":{parts.port}"
    except ValueError:  # a port that is not a number
        pass
    return f"{parts.scheme}://{host}/..."

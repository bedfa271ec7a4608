"""Small derived facts every renderer shows the same way (one place, so the HTML report, the
terminal table, JUnit and CSV never disagree about what "worst finding" or "days left" means)."""

from __future__ import annotations

import functools
import hashlib
import re
from datetime import datetime, timezone
from typing import Any, Mapping

from scanner.severity import rank

NOT_EVALUATED = "not-evaluated"
EXPIRING_DAYS = 30  # "expiring" on the report's first screen and in the history trend: leaf inside this many days
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")  # what an anchor may not contain


def parse_time(text: str | None) -> datetime | None:
    """A results-model time (``...Z``) as an aware datetime; None when absent or malformed."""
    if not text:
        return None
    # cached: scan times and shared CA certificates repeat across endpoints (unhashable junk is not)
    return _parse_text(text) if type(text) is str else _parse_text.__wrapped__(text)


@functools.lru_cache(maxsize=1024)
def _parse_text(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)
    except ValueError:
        return None


def days_left(not_after: str | None, at: str | None) -> int | None:
    """Whole days from ``at`` (the scan time, so reports are reproducible) to ``not_after``."""
    if type(not_after) is str and type(at) is str:  # an issuing CA's, at a scan second: repeats
        return _days_text(not_after, at)
    return _days(not_after, at)


@functools.lru_cache(maxsize=1024)
def _days_text(not_after: str, at: str) -> int | None:
    return _days(not_after, at)


def _days(not_after: str | None, at: str | None) -> int | None:
    end, start = parse_time(not_after), parse_time(at)
    if end is None or start is None:
        return None
    return (end - start).days


def worst_severity(endpoint: Mapping[str, Any]) -> str | None:
    """The most serious finding's severity, or None when the endpoint has no findings."""
    severities = [f.get("severity", "error") for f in endpoint.get("findings") or []]
    return min(severities, key=rank) if severities else None


def worst_finding(endpoint: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The most serious finding (the first one of that severity, as the engine ordered them)."""
    findings = list(endpoint.get("findings") or [])
    return min(findings, key=lambda f: rank(f.get("severity", "error"))) if findings else None


def verdict_label(endpoint: Mapping[str, Any], browser: str) -> str:
    """``accepted``, the browser's error code, or ``not-evaluated``."""
    browsers = endpoint.get("browsers") or {}
    verdict = browsers.get(browser)
    if not verdict:
        return NOT_EVALUATED
    if verdict.get("accepted"):
        return "accepted"
    return str(verdict.get("error") or "rejected")


def profile_status(endpoint: Mapping[str, Any]) -> str:
    profile = endpoint.get("profile") or {}
    return str(profile.get("status") or NOT_EVALUATED)


def outcome(endpoint: Mapping[str, Any]) -> str:
    """``ok``, ``client-cert-required`` (chain captured, server wants a client certificate) or
    the classified error kind."""
    if endpoint.get("status") == "error":
        return str((endpoint.get("error") or {}).get("kind") or "error")
    tls = endpoint.get("tls") or {}
    if tls.get("client_auth") in ("required", "required-by-application") and not tls.get("client_cert_sent"):
        return "client-cert-required"
    return "ok"


def anchor(endpoint_id: str) -> str:
    """An HTML id for an endpoint: only characters that need no escaping in a URL fragment."""
    digest = hashlib.sha256(endpoint_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return "ep-" + _UNSAFE.sub("_", endpoint_id[:60]) + "-" + digest  # one character for one


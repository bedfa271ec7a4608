"""Finding severities, most serious first, and the ``--fail-on`` threshold."""

from __future__ import annotations

from typing import Literal

Severity = Literal["error", "warning", "notice", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "notice", "info")
FAIL_ON_CHOICES: tuple[str, ...] = (*SEVERITIES, "never")


def rank(severity: str) -> int:
    """0 for ``error`` (most serious) up to 3 for ``info``; unknown values rank as ``error``."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


def at_or_above(severity: str, threshold: str) -> bool:
    """True when a finding of ``severity`` trips ``--fail-on threshold``."""
    if threshold == "never":
        return False
    return rank(severity) <= rank(threshold)

"""The check catalogue: every finding dccscan can report, with stable ids and metadata.

Importing this package registers every check (one module per concern). Public API:
``REGISTRY`` (id -> ``Check``), ``get(id)``, ``catalogue()`` (sorted metadata dicts),
``run_all(ctx)`` and the ``Check``/``Outcome``/``Context`` types.
"""

from __future__ import annotations

from typing import Any

from scanner.checks import certificate, chain, dccki, engine, expiry, names, request, revocation  # noqa: F401 - registration
from scanner.checks.registry import CRASHED, REGISTRY, Check, Context, Outcome, run_all
from scanner.checks.dccki import PROFILE_CHECKS
from scanner.checks.request import REQUEST_CHECKS

__all__ = ["CRASHED", "REGISTRY", "PROFILE_CHECKS", "REQUEST_CHECKS", "Check", "Context", "Outcome", "run_all", "get", "catalogue"]


def get(check_id: str) -> Check:
    """The registered check; KeyError for an unknown id."""
    return REGISTRY[check_id]


def catalogue() -> list[dict[str, Any]]:
    """Every check's metadata, sorted by id (what ``dccscan checks`` prints)."""
    return [REGISTRY[k].catalogue_entry() for k in sorted(REGISTRY)]

"""The check catalogue: every finding dccscan can report, with stable ids and metadata.

One module per concern defines its checks (``certificate``, ``chain``, ``dccki``, ``engine``,
``expiry``, ``names``, ``request``); ``registry`` builds the immutable table. Public API:
``REGISTRY`` (id -> ``Check``, read-only), ``get(id)``, ``catalogue()`` (sorted metadata dicts),
``run_all(ctx)`` and the ``Check``/``Outcome``/``Context`` types.
"""

from __future__ import annotations

from scanner.checks.dccki import PROFILE_CHECKS
from scanner.checks.model import CRASHED, Check, Context, Outcome
from scanner.checks.registry import REGISTRY, catalogue, run_all
from scanner.checks.request import REQUEST_CHECKS

__all__ = ["CRASHED", "REGISTRY", "PROFILE_CHECKS", "REQUEST_CHECKS", "Check", "Context", "Outcome", "run_all", "get", "catalogue"]


def get(check_id: str) -> Check:
    """The registered check; KeyError for an unknown id."""
    return REGISTRY[check_id]

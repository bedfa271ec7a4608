"""Checks about the engine itself."""

from __future__ import annotations

from scanner.checks.model import CRASHED, Catalogue, Context, Outcome

_CATALOGUE = Catalogue()
define = _CATALOGUE.define


def _never_directly(ctx: Context) -> list[Outcome]:
    """The runner emits failures of this check when another check raises."""
    return [Outcome(CRASHED, "pass", None)]


define(CRASHED, "A check crashed; its verdict is unknown", "error", "dccscan",
       "dccscan scanner/checks/registry.py run_all",
       "Report this as a dccscan bug with the chain (the finding's detail names the check).", _never_directly)

CHECKS = _CATALOGUE.freeze()

"""The check registry: one immutable table of every check, built at import from the check modules.

``REGISTRY`` (id -> ``Check``, read-only) and ``ORDER`` (the checks sorted by id, the order outcomes
are reported in) never change after import, so a results file can record the catalogue it was
judged with (``catalogue()``) and a renderer can list that catalogue rather than whatever the
running code holds. An exception inside a check is caught by the runner and becomes a
``dccscan.check.crashed`` failure: one broken check never costs a scan.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Iterable, Mapping

from scanner.checks import certificate, chain, dccki, engine, expiry, names, request, revocation
from scanner.checks.model import CRASHED, SOURCES, Check, Context, Outcome, Runner, Status

__all__ = ["CRASHED", "SOURCES", "ORDER", "REGISTRY", "Check", "Context", "Outcome", "Runner", "Status",
           "catalogue", "run", "run_all"]

_MODULES = (certificate, chain, dccki, engine, expiry, names, request, revocation)


def _table(checks: Iterable[Check]) -> dict[str, Check]:
    table: dict[str, Check] = {}
    for check in checks:
        if check.id in table:
            raise ValueError(f"check {check.id} defined twice")
        table[check.id] = check
    return table


REGISTRY: Mapping[str, Check] = MappingProxyType(_table(c for module in _MODULES for c in module.CHECKS))
ORDER: tuple[Check, ...] = tuple(REGISTRY[k] for k in sorted(REGISTRY))


def _applies_to(check_id: str) -> str:
    return "request" if check_id in request.REQUEST_CHECKS else "certificate"


def catalogue() -> list[dict[str, Any]]:
    """Every check's metadata, sorted by id: what ``dccscan checks`` prints and what a results file
    records as the catalogue its endpoints were judged with."""
    return [{"id": c.id, "title": c.title, "severity": c.severity, "source": c.source, "citation": c.citation,
             "effective_date": c.effective.isoformat() if c.effective else None, "advice": c.advice,
             "applies_to": _applies_to(c.id)} for c in ORDER]


def run(ctx: Context, checks: Iterable[Check]) -> list[Outcome]:
    """The outcomes of ``checks`` in the order given; a check that raises yields a crash finding."""
    outcomes: list[Outcome] = []
    for check in checks:
        try:
            outcomes.extend(check.run(ctx))
        except Exception as exc:  # noqa: BLE001 - a broken check must not cost the scan
            outcomes.append(Outcome(CRASHED, "fail", None, f"check {check.id} crashed: {type(exc).__name__}: {exc}"))
    return outcomes


def run_all(ctx: Context) -> list[Outcome]:
    """Every check's outcomes, in id order."""
    return run(ctx, ORDER)

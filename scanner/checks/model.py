"""What a check is: stable id and metadata plus the function that runs it, zlint/pkilint style.

Every problem dccscan reports is a ``Check`` with a stable dotted id, a title, a severity, the
source it rests on, a citation, advice and (for a rule that post-dates some certificates) an
effective date. Running a check yields per-certificate ``Outcome``s: ``pass``, ``fail``,
``not-applicable`` or ``not-effective`` (the rule post-dates the certificate); only failures become
findings, but all outcomes are kept so tests and evidence can tell "passed" from "did not apply".

Each check module defines its checks into its own ``Catalogue`` and publishes them, frozen, as
``CHECKS``; ``scanner.checks.registry`` builds the immutable table from those tuples at import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable, Literal

from scanner.severity import Severity

Status = Literal["pass", "fail", "not-applicable", "not-effective"]
SOURCES = ("DCCKI profile (SECMP0052)", "Chrome", "Firefox", "Chrome and Firefox", "RFC 5280", "RFC 2986", "RFC 6125",
           "common PKI practice", "dccscan")
CRASHED = "dccscan.check.crashed"


@dataclass(frozen=True)
class Outcome:
    """The result of one check on one certificate (index None: the endpoint as a whole)."""

    check: str
    status: Status
    certificate_index: int | None = None
    detail: str = ""


@dataclass
class Context:
    """What a check may look at. Built once per evaluation by ``scanner.evaluate`` (or per request
    by ``scanner.csr``)."""

    chain: list[Any]            # CertFacts (or RequestFacts), leaf first, as presented
    hostname: str
    at: datetime
    profile: Any                # scanner.evaluate.profile.Profile
    path: Any                   # scanner.evaluate.path.PathResult
    chrome_names: Any           # scanner.facts.identity.NameResult
    firefox_names: Any
    public_store: bool

    @property
    def leaf(self) -> Any:
        return self.chain[0]


Runner = Callable[[Context], list[Outcome]]


@dataclass(frozen=True)
class Check:
    """Metadata of one check plus the function that runs it."""

    id: str
    title: str
    severity: Severity
    source: str
    citation: str
    advice: str
    run: Runner = field(repr=False, compare=False)
    effective: date | None = None


def path_check(check_id: str) -> Runner:
    """Runner for a check whose failures the path builder (``evaluate/path.py``) reports as issues."""
    passed = Outcome(check_id, "pass", None)  # immutable, so one instance serves every evaluation

    def run(ctx: Context) -> list[Outcome]:
        failures = [Outcome(check_id, "fail", i.index, i.detail) for i in ctx.path.issues if i.check == check_id]
        return failures or [passed]
    return run


class Catalogue:
    """The checks one module defines, in definition order, until the registry freezes them."""

    def __init__(self) -> None:
        self._checks: list[Check] = []
        self._frozen = False

    def define(self, check_id: str, title: str, severity: Severity, source: str, citation: str, advice: str,
               run: Runner | None = None, effective: date | None = None) -> Check:
        """Add a check; without ``run`` it is a path check (see :func:`path_check`)."""
        if self._frozen:
            raise RuntimeError(f"check {check_id}: the catalogue is frozen (checks are defined at import)")
        if source not in SOURCES:
            raise ValueError(f"check {check_id}: unknown source {source!r}")
        check = Check(check_id, title, severity, source, citation, advice, run or path_check(check_id), effective)
        self._checks.append(check)
        return check

    def freeze(self) -> tuple[Check, ...]:
        self._frozen = True
        return tuple(self._checks)

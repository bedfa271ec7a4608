"""The check registry: stable ids with metadata, zlint/pkilint style.

Every problem dccscan reports is a registered ``Check`` with a stable dotted id, a title, a
severity, the source it rests on, a citation and advice. Checks register themselves at import
time (one module per concern in this package). Running a check yields per-certificate
``Outcome``s: ``pass``, ``fail``, ``not-applicable`` or ``not-effective`` (the rule post-dates the
certificate); only failures become findings, but all outcomes are kept so tests and evidence can
tell "passed" from "did not apply". An exception inside a check is caught by the runner and
becomes a ``dccscan.check.crashed`` failure: one broken check never costs a scan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable, Literal

from scanner.severity import Severity

Status = Literal["pass", "fail", "not-applicable", "not-effective"]
SOURCES = ("DCCKI profile (SECMP0052)", "Chrome", "Firefox", "Chrome and Firefox", "RFC 5280", "RFC 2986", "RFC 6125",
           "common PKI practice", "dccscan")


@dataclass(frozen=True)
class Outcome:
    """The result of one check on one certificate (index None: the endpoint as a whole)."""

    check: str
    status: Status
    certificate_index: int | None = None
    detail: str = ""


@dataclass
class Context:
    """What a check may look at. Built once per evaluation by ``scanner.evaluate``."""

    chain: list[Any]            # CertFacts, leaf first, as presented
    hostname: str
    at: datetime
    profile: Any                # scanner.evaluate.profile.Profile
    path: Any                   # scanner.evaluate.path.PathResult
    chrome_names: Any           # scanner.evaluate.names.NameResult
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

    def catalogue_entry(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "severity": self.severity, "source": self.source,
                "citation": self.citation, "effective": self.effective.isoformat() if self.effective else None,
                "advice": self.advice}


class _Registry(dict):  # type: ignore[type-arg]
    """A dict that counts its changes, so ``run_all`` knows when its sorted step list is stale
    without comparing ~70 entries per endpoint (tests add and replace checks through it)."""

    version = 0

    def _changed(self) -> None:
        self.version += 1

    def __setitem__(self, key: str, value: Check) -> None:
        super().__setitem__(key, value)
        self._changed()

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._changed()

    def pop(self, *args: Any) -> Any:
        try:
            return super().pop(*args)
        finally:
            self._changed()

    def popitem(self) -> Any:
        try:
            return super().popitem()
        finally:
            self._changed()

    def setdefault(self, key: str, default: Any = None) -> Any:
        try:
            return super().setdefault(key, default)
        finally:
            self._changed()

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self._changed()

    def clear(self) -> None:
        super().clear()
        self._changed()

    def __ior__(self, other: Any) -> "_Registry":
        self.update(other)
        return self


REGISTRY: dict[str, Check] = _Registry()


def register(check: Check) -> Check:
    """Add ``check``; ids are unique and must follow the dotted lower-case form."""
    if check.id in REGISTRY:
        raise ValueError(f"check {check.id} registered twice")
    if check.source not in SOURCES:
        raise ValueError(f"check {check.id}: unknown source {check.source!r}")
    REGISTRY[check.id] = check
    return check


def path_check(check_id: str) -> Runner:
    """Runner for a check whose failures the path builder (``evaluate/path.py``) reports as issues."""
    passed = Outcome(check_id, "pass", None)  # immutable, so one instance serves every evaluation

    def run(ctx: Context) -> list[Outcome]:
        issues = ctx.path.issues
        if not issues:
            return [passed]
        failures = [Outcome(check_id, "fail", i.index, i.detail) for i in issues if i.check == check_id]
        return failures or [passed]
    run.passed_unless_flagged = passed  # type: ignore[attr-defined]  # lets run_all skip the call
    return run


def define(check_id: str, title: str, severity: Severity, source: str, citation: str, advice: str,
           run: Runner | None = None, effective: date | None = None) -> Check:
    """Register a check; without ``run`` it is a path check (see :func:`path_check`)."""
    return register(Check(check_id, title, severity, source, citation, advice, run or path_check(check_id), effective))


CRASHED = "dccscan.check.crashed"


_Step = tuple[Check, Runner, "Outcome | None", "tuple[type, Outcome] | None"]
_ORDER: tuple[int, list[_Step]] = (-1, [])


def _in_order() -> list[_Step]:
    """The registered checks sorted by id, each with its runner's shortcuts (see ``run_all``),
    worked out again only when the registry changed (a test may add or replace a check):
    sorting ~70 checks and looking up their shortcuts on every evaluation was measurable."""
    global _ORDER
    stamp = REGISTRY.version  # type: ignore[attr-defined]
    if stamp != _ORDER[0]:
        checks = sorted(REGISTRY.values(), key=lambda c: c.id)
        _PLANS.clear()  # they were keyed by the id of the step list this replaces
        _ORDER = (stamp, [(c, c.run, getattr(c.run, "passed_unless_flagged", None),
                           getattr(c.run, "inapplicable_unless", None)) for c in checks])
    return _ORDER[1]


def _flagged(ctx: Context) -> set[str] | None:
    """The check ids the path builder reported issues for (None: unreadable, so every path check
    runs and reports its own failure). Most of the ~40 path checks have no issue on a given
    chain; calling each one just to get its pass outcome was a measurable share of an endpoint."""
    try:
        return {issue.check for issue in ctx.path.issues}
    except Exception:  # noqa: BLE001 - the checks themselves will fail and be reported as crashed
        return None


_UNKNOWN = object()


def _leaf(ctx: Context) -> Any:
    """What a check sees as the leaf (None for an empty chain; _UNKNOWN when unreadable)."""
    try:
        return ctx.chain[0] if ctx.chain else None
    except Exception:  # noqa: BLE001 - the checks themselves will fail and be reported as crashed
        return _UNKNOWN


def run_all(ctx: Context) -> list[Outcome]:
    """Every registered check's outcomes; a crashing check yields a ``dccscan.check.crashed`` failure."""
    flagged = _flagged(ctx)
    leaf = _leaf(ctx)
    steps = _in_order()
    if flagged is None or leaf is _UNKNOWN:
        return _run_steps(ctx, steps, flagged, leaf)
    outcomes: list[Outcome] = []
    for part in _plan(steps, type(leaf), frozenset(flagged)):
        if type(part) is tuple:
            outcomes.extend(part)  # outcomes known without calling the runners
            continue
        try:
            outcomes.extend(part.run(ctx))  # type: ignore[union-attr]
        except Exception as exc:  # noqa: BLE001 - a broken check must not cost the scan
            outcomes.append(_crashed(part, exc))  # type: ignore[arg-type]
    return outcomes


def _crashed(check: Check, exc: Exception) -> Outcome:
    return Outcome(CRASHED, "fail", None, f"check {check.id} crashed: {type(exc).__name__}: {exc}")


def _run_steps(ctx: Context, steps: list[_Step], flagged: set[str] | frozenset[str] | None, leaf: Any) -> list[Outcome]:
    """The reference loop: each check in id order, its outcome taken from a shortcut where one applies."""
    outcomes: list[Outcome] = []
    for check, run, passed, only_for in steps:
        if passed is not None and flagged is not None and passed.check not in flagged:
            outcomes.append(passed)  # a path check the path builder raised no issue for: what run() returns
            continue
        if only_for is not None and leaf is not _UNKNOWN and not isinstance(leaf, only_for[0]):
            outcomes.append(only_for[1])  # e.g. a request check on a certificate: what run() returns
            continue
        try:
            outcomes.extend(run(ctx))
        except Exception as exc:  # noqa: BLE001 - a broken check must not cost the scan
            outcomes.append(_crashed(check, exc))
    return outcomes


_PLANS: dict[tuple[int, type, frozenset[str]], list[tuple[Outcome, ...] | Check]] = {}
_PLANS_MAX = 256


def _plan(steps: list[_Step], leaf_type: type, flagged: frozenset[str]) -> list[tuple[Outcome, ...] | Check]:
    """``_run_steps`` worked out ahead for one leaf type and one set of flagged path checks: runs
    of consecutive shortcut outcomes become one tuple, the other checks stay to be called. Nearly
    every endpoint has the same plan, so the per-check tests run once, not ~70 times an endpoint."""
    key = (id(steps), leaf_type, flagged)
    plan = _PLANS.get(key)
    if plan is not None:
        return plan
    plan = []
    known: list[Outcome] = []
    for check, _run, passed, only_for in steps:
        if passed is not None and passed.check not in flagged:
            known.append(passed)
        elif only_for is not None and not issubclass(leaf_type, only_for[0]):
            known.append(only_for[1])
        else:
            if known:
                plan.append(tuple(known))
                known = []
            plan.append(check)
    if known:
        plan.append(tuple(known))
    if len(_PLANS) >= _PLANS_MAX:
        _PLANS.clear()
    _PLANS[key] = plan
    return plan

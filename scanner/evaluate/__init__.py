"""The verdict engine: captured bytes in, browser verdicts, profile status and findings out.

Pure and deterministic: no network, no clock (the caller passes ``at``), and no hidden input: the
public root store and the public-suffix list are pinned inputs (``inputs.py``: named, versioned and
hashed, recorded by ``pinned_inputs_record()``, passed back as ``inputs=``), so an evidence pack
can be re-evaluated months later with identical results, or with a clear statement
(``compare_pinned``) of which input differs. It never raises: a problem with the input is a
finding, and an exception anywhere inside is caught and reported as ``dccscan.check.crashed``.

Flow: read every certificate once (the certificate model, ``scanner.facts``, cached by SHA-256),
build the path over the presented pool plus the anchors (``path.py``), match the hostname as each browser does
(``names.py``), run every registered check (``scanner.checks``), then derive each browser's
verdict (``browsers.py``) and the profile status from the failed checks.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Mapping, Sequence

from scanner.checks.dccki import PROFILE_CHECKS
from scanner.checks.model import CRASHED, Context, Outcome
from scanner.checks.registry import REGISTRY, run_all
from scanner.evaluate import browsers, names, path
from scanner.evaluate.inputs import PinnedInputs, compare_pinned, installed, pinned_inputs, pinned_inputs_record
from scanner import pem
from scanner.facts import certificate as certs
from scanner.evaluate.profile import Profile, builtin_profile, load_profile

__all__ = ["evaluate", "evaluate_outcomes", "finding_record", "profile_status", "Profile", "builtin_profile", "load_profile",
           "public_anchors", "PinnedInputs", "compare_pinned", "pinned_inputs",
           "pinned_inputs_record"]



@lru_cache(maxsize=1)
def _builtin() -> Profile:
    return builtin_profile()


def public_anchors() -> tuple[certs.CertFacts, ...]:
    """The installed public root store (certifi's Mozilla bundle), parsed once."""
    return installed().anchors


def _utc(at: datetime) -> datetime:
    """UTC, truncated to whole seconds: certificate times have second granularity, and browsers
    compare at that granularity (limbo rfc5280::validity::notafter-fractional)."""
    at = at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)
    return at.replace(microsecond=0)


def _fetched(aia: Sequence[Mapping[str, Any]] | None) -> list[path.Fetched] | None:
    """The probe's AIA records (results ``aia``: url, error, certificates as PEM) as path input."""
    if aia is None:
        return None
    out = []
    for record in aia:
        found = tuple(certs.facts(block.der) for text in record.get("certificates") or []
                      for block in pem.blocks(str(text)) if block.label == "CERTIFICATE" and block.der)
        out.append(path.Fetched(str(record.get("url")), found, record.get("error")))
    return out


def _context(chain: Sequence[bytes], hostname: str, anchors: Sequence[bytes] | None, at: datetime,
             profile: Profile, inputs: PinnedInputs, aia: Sequence[Mapping[str, Any]] | None = None) -> Context:
    facts = [certs.facts(d) for d in chain]
    public = anchors is None
    anchor_facts = list(inputs.anchors) if public else [certs.facts(a) for a in anchors or ()]
    result = path.build(facts, anchor_facts, at, public_root=public, fetched=_fetched(aia))
    ids = facts[0].ids
    return Context(chain=facts, hostname=hostname, at=at, profile=profile, path=result,
                   chrome_names=names.chrome_match(hostname, ids, inputs.icann_suffixes),
                   firefox_names=names.firefox_match(hostname, ids, builtin_root=public and result.trusted),
                   public_store=public)


def evaluate_outcomes(chain: Sequence[bytes], hostname: str, *, anchors: Sequence[bytes] | None, at: datetime,
                      profile: Profile | None = None, inputs: PinnedInputs | None = None,
                      aia: Sequence[Mapping[str, Any]] | None = None) -> tuple[Context, list[Outcome]]:
    """Every check's outcome (pass / fail / not-applicable / not-effective), for tests and evidence."""
    ctx = _context(chain, hostname, anchors, _utc(at), profile or _builtin(), inputs or installed(), aia)
    return ctx, run_all(ctx)


def evaluate(chain: Sequence[bytes], hostname: str, *, anchors: Sequence[bytes] | None, at: datetime,
             profile: Profile | None = None, inputs: PinnedInputs | None = None,
             aia: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """``{"browsers": {"chrome", "firefox"}, "profile", "findings"}`` as in the results schema.

    ``inputs``: the public root store and public-suffix list to judge with (``scanner.evaluate.
    inputs``; default: the installed ones); a re-evaluation passes the ones the scan recorded.
    ``aia``: what the probe fetched from AIA caIssuers URLs (``scanner.probe.aia.AiaFetch.to_json``
    records); None when nothing was fetched, and then Chrome's own fetch is assumed to succeed."""
    profile = profile or _builtin()
    if not chain:
        return _crashed(profile, "no certificate was presented")
    try:
        ctx, outcomes = evaluate_outcomes(chain, hostname, anchors=anchors, at=at, profile=profile, inputs=inputs,
                                          aia=aia)
        return _assemble(ctx, outcomes)
    except Exception as exc:  # noqa: BLE001 - the engine never raises
        return _crashed(profile, f"evaluation failed: {type(exc).__name__}: {exc}")


_PROFILE_CHECKS = frozenset(PROFILE_CHECKS)


def _assemble(ctx: Context, outcomes: list[Outcome]) -> dict[str, Any]:
    failures = [o for o in outcomes if o.status == "fail"]
    failed_ids = {o.check for o in failures}
    public = ctx.public_store
    chrome = browsers.chrome_verdict(failures, name_matched=ctx.chrome_names.matched, public=public)
    firefox = browsers.firefox_verdict(failures, name_matched=ctx.firefox_names.matched, public=public)
    for browser, verdict, result in (("chrome", chrome, ctx.chrome_names), ("firefox", firefox, ctx.firefox_names)):
        for reason in verdict["reasons"]:
            if reason["check"] == "name.mismatch":
                reason["message"] = "; ".join(m.detail for m in result.reasons) or reason["message"]
            reason["check"] = browsers.reason_check(reason["check"], failed_ids, browser)
    if CRASHED in failed_ids:
        for verdict in (chrome, firefox):
            verdict["reasons"].append({"code": "DCCSCAN_CHECK_CRASHED", "check": CRASHED, "certificate_index": None,
                                       "message": "a check crashed; this verdict may be incomplete"})
    return {"browsers": {"chrome": chrome, "firefox": firefox},
            "profile": profile_status(ctx, outcomes), "findings": [finding_record(o) for o in failures]}


def finding_record(outcome: Outcome) -> dict[str, Any]:
    """A failed check as the results schema's ``finding`` (metadata from the registry).

    Public so that ``scanner.csr`` reports request findings in exactly the same shape.
    """
    check = REGISTRY[outcome.check]
    return {"id": check.id, "severity": check.severity, "title": check.title,
            "certificate_index": outcome.certificate_index, "detail": outcome.detail, "source": check.source,
            "citation": check.citation, "advice": check.advice}


def profile_status(ctx: Context, outcomes: list[Outcome]) -> dict[str, Any]:
    """The results schema's ``profile`` block from the profile checks' outcomes.

    Public so that ``scanner.csr`` gives a request the same compliant / noncompliant /
    grandfathered status a certificate would get.
    """
    profile: Profile = ctx.profile
    failed = {o.check for o in outcomes if o.status == "fail"}
    not_effective = {o.check for o in outcomes if o.status == "not-effective"}
    profile_checks = _PROFILE_CHECKS
    breaches = sorted(failed & profile_checks)
    deferred = sorted(not_effective & profile_checks)
    if ctx.leaf.cert is None:
        status = "not-evaluated"
    elif breaches:
        status = "noncompliant"
    elif deferred:
        status = "grandfathered"
    else:
        status = "compliant"
    return {"name": profile.name, "status": status, "effective_date": profile.effective_date.isoformat(),
            "breaches": breaches, "grandfathered": deferred}


def _crashed(profile: Profile, why: str) -> dict[str, Any]:
    reason = {"code": "DCCSCAN_CHECK_CRASHED", "message": why, "check": CRASHED, "certificate_index": None}
    verdict = {"accepted": False, "error": None, "reasons": [reason]}
    return {"browsers": {"chrome": dict(verdict, reasons=[dict(reason)]), "firefox": dict(verdict, reasons=[dict(reason)])},
            "profile": {"name": profile.name, "status": "not-evaluated",
                        "effective_date": profile.effective_date.isoformat(), "breaches": [], "grandfathered": []},
            "findings": [finding_record(Outcome(CRASHED, "fail", None, why))]}


def with_handshake(verdicts: dict[str, Any] | None, tls: dict[str, Any] | None, at: datetime) -> dict[str, Any]:
    """``evaluate``'s result with the handshake half from the endpoint's ``tls`` (client
    simulation): see ``scanner.evaluate.handshake.with_handshake``."""
    from scanner.evaluate import handshake

    return handshake.with_handshake(verdicts, tls, at)

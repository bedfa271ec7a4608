"""Assessment of one captured chain: the verdict engine and the certificate records, for a scan.

This is the "evaluate" step of the flow targets -> probe -> evaluate -> results: it turns the DER
bytes a probe captured into the plain data the results document records (certificate records,
browser verdicts, profile status, findings). ``scanner.results`` only builds, writes and reads
that document and never imports the engine, so a renderer or store that reads results.json
never runs a check. Everything here is a pure function of its arguments (plain bytes in, plain
dicts out) so it can run in a worker process (``scanner.recordpool``).
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, Sequence

from scanner.certinfo import describe
from scanner.results import endpoint_shell, outcome_chain


def evaluate_chain(chain: Sequence[bytes], hostname: str, anchors: Sequence[bytes] | None,
                   at: datetime, profile: Any | None, aia: Sequence[dict[str, Any]] | None = None) -> dict[str, Any] | None:
    """``scanner.evaluate.evaluate``, with a finding instead of an exception should it ever fail."""
    from scanner.evaluate import evaluate

    try:
        result: dict[str, Any] = evaluate(list(chain), hostname, anchors=anchors, at=at, profile=profile, aia=aia)
    except Exception as exc:  # noqa: BLE001 - the engine promises not to raise; one endpoint must not end a scan
        return {"browsers": None, "profile": None, "findings": [{
            "id": "dccscan.internal.evaluation_failed", "severity": "error", "certificate_index": None,
            "title": "The verdict engine failed on this chain",
            "detail": f"{type(exc).__name__}: {exc}", "advice": "report this as a dccscan bug with the chain PEM"}]}
    return result


def _engine_facts(der: bytes) -> Any:
    """The verdict engine's facts for ``der`` (cached by fingerprint, so after ``evaluate`` this
    is a lookup, not a second parse): its parsed certificate, names, key and subjectAltName."""
    from scanner.facts.certificate import facts

    return facts(der)


@functools.lru_cache(maxsize=256)
def _described(der: bytes) -> dict[str, Any]:
    """``describe`` once per certificate: an estate presents the same intermediates thousands
    of times. Callers copy the record before setting its index and never mutate it."""
    known = _engine_facts(der)
    return describe(der, 0, parsed=known.cert, known=known)


def describe_cached(der: bytes, index: int) -> dict[str, Any]:
    """The schema's certificate record (see ``certinfo.describe``), cached by DER."""
    return dict(_described(bytes(der)), index=index)


def chain_part(chain: Sequence[bytes], hostname: str, anchors: Sequence[bytes] | None, at: datetime,
               profile: Any | None, revocation: tuple[Sequence[dict[str, Any]], str] | None = None,
               aia: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
    """``chain``, ``browsers``, ``profile``, ``findings`` and ``revocation`` of an endpoint: the
    certificate records and the verdicts. Plain data in and out, so it can run in a worker process.
    ``revocation``: the sources the probe recorded and the output folder holding ``revocation/``
    (``scanner.evaluate.revocation`` judges them; its findings join the endpoint's). ``aia``: the
    endpoint's AIA fetch records (``scanner.probe.aia``), what Chrome's verdict rests on."""
    verdicts = evaluate_chain(chain, hostname, anchors, at, profile, aia) if chain else None
    part: dict[str, Any] = {
        "chain": [describe_cached(der, index) for index, der in enumerate(chain)],
        "browsers": (verdicts or {}).get("browsers"),
        "profile": (verdicts or {}).get("profile"),
        "findings": list((verdicts or {}).get("findings") or []),
        "revocation": None,
    }
    if revocation is not None and chain:
        from scanner.evaluate.revocation import assess, folder_loader, with_browser_revocation

        judged = assess(chain, revocation[0], folder_loader(revocation[1]), anchors=anchors, at=at)
        part["revocation"] = judged["revocation"]
        part["findings"] += judged["findings"]
        part["browsers"] = with_browser_revocation(part["browsers"], judged["revocation"])
    return part


def endpoint_record(outcome: Any, *, anchors: Sequence[bytes] | None, profile: Any | None,
                    position: int | None = None) -> dict[str, Any]:
    """The schema's whole ``endpoint`` object for a runner ``Outcome``, built in this process
    (``scanner.recordpool`` builds the same record in a worker)."""
    record = endpoint_shell(outcome, position=position)
    record.update(chain_part(outcome_chain(outcome), outcome.target.hostname, anchors, outcome.scanned_at, profile,
                             aia=record.get("aia")))
    return record


def catalogue() -> list[dict[str, Any]]:
    """The checks a scan runs on every captured chain, as ``dccscan checks`` describes them
    (id, title, severity, source, citation, effective date, advice), sorted by id.

    Recorded in results.json (``checks``) so that a renderer lists the checks this scan ran,
    not those of whatever dccscan reads the file later. Request-only checks (``csr.*``) and the
    crash marker never fire on a presented chain, so they are not part of it."""
    from scanner.checks import CRASHED, REQUEST_CHECKS
    from scanner.checks import catalogue as registry_catalogue  # the registry's public listing

    left_out = set(REQUEST_CHECKS) | {CRASHED}
    return [entry for entry in registry_catalogue() if entry["id"] not in left_out]

"""An endpoint record split into what stays the same night after night and what does not.

Why: on a quiet night almost every endpoint presents the same chain, the same findings and the
same browser verdicts as the night before. The history database therefore stores an endpoint's
*state* (the record minus its per-night fields, with its chain as references to certificates)
once, keyed by the SHA-256 of its JSON text (keys sorted), and each night only a small *observation* row: the
scan, the position in the file, the state's id and the per-night fields (``VOLATILE_KEYS``).

One part of a record is not kept at all: the raw first answer of each simulated browser
handshake (``tls.simulation.<browser>.received``, the ServerHello as hex). It holds the server's
random and its ephemeral key share, so it differs on every handshake, and it is about 2.5 KB per
browser: kept per night, a quiet night of 100,000 endpoints would add 500 MB. What the history
compares is drawn from it already (the answer's ``outcome``, the browsers' verdicts, the version
and cipher in ``tls``); the night's results.json and its evidence pack keep the bytes themselves.
The history gives it back as ``null`` (``kept``).

``split`` and ``join`` are inverses up to that: ``join(split(e), certificates) == kept(e)`` for
every endpoint record ``e`` (dict equality), which the store's round-trip tests check.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Callable

VOLATILE_KEYS: tuple[str, ...] = ("scanned_at", "duration_ms")
"""Fields of an endpoint record that change every night even when nothing else does."""


UNKEPT_ANSWER_KEY = "received"
"""The key of a simulated browser's answer (``tls.simulation.<browser>``) the history does not keep."""


def kept(endpoint: dict[str, Any]) -> dict[str, Any]:
    """``endpoint`` as the history keeps it: each simulated answer's ``received`` bytes made
    ``null`` (see the module docstring); the same dict when there are none to drop."""
    tls = endpoint.get("tls")
    simulation = tls.get("simulation") if isinstance(tls, dict) else None
    if not isinstance(simulation, dict) or not any(
            isinstance(answer, dict) and answer.get(UNKEPT_ANSWER_KEY) is not None for answer in simulation.values()):
        return endpoint
    answers = {browser: (dict(answer, **{UNKEPT_ANSWER_KEY: None})
                         if isinstance(answer, dict) and UNKEPT_ANSWER_KEY in answer else answer)
               for browser, answer in simulation.items()}
    return dict(endpoint, tls=dict(tls, simulation=answers))  # type: ignore[arg-type]


def dumps(value: Any) -> str:
    """Compact JSON text, the one encoding of everything the store keeps as JSON."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Split:
    """One endpoint record, split for storage."""

    body: str  # JSON: the record minus VOLATILE_KEYS, ``chain`` as [[index, sha256], ...]
    digest: bytes  # SHA-256 of ``body`` with sorted keys: the content key (key order is not content)
    chain: tuple[tuple[int, int, str], ...]  # (position, index, sha256) of each chain certificate
    volatile: str  # JSON: the VOLATILE_KEYS' values (see ``_volatile``)
    endpoint_id: str
    target_name: str


def split(endpoint: dict[str, Any]) -> Split:
    """Split ``endpoint`` (a results-model endpoint with FULL chain records) for storage
    (``kept(endpoint)``: without the simulated answers' raw bytes)."""
    endpoint = kept(endpoint)
    chain = endpoint.get("chain")
    refs = [[cert.get("index", position), cert["sha256"]] for position, cert in enumerate(chain or [])]
    state = {k: (refs if k == "chain" and chain is not None else v)
             for k, v in endpoint.items() if k not in VOLATILE_KEYS}
    body = dumps(state)
    canonical = json.dumps(state, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return Split(body=body, digest=hashlib.sha256(canonical.encode("utf-8")).digest(),
                 chain=tuple((position, int(index), str(sha)) for position, (index, sha) in enumerate(refs)),
                 volatile=_volatile(endpoint),
                 endpoint_id=str(endpoint["id"]), target_name=str((endpoint.get("target") or {}).get("name", "")))


def _volatile(endpoint: dict[str, Any]) -> str:
    """The per-night fields as a JSON array in ``VOLATILE_KEYS`` order when the record has all of
    them (every scan's record does: the key names would be most of a quiet night's bytes), else
    as a JSON object of those it has."""
    if all(k in endpoint for k in VOLATILE_KEYS):
        return dumps([endpoint[k] for k in VOLATILE_KEYS])
    return dumps({k: endpoint[k] for k in VOLATILE_KEYS if k in endpoint})


def join(body: str, volatile: str, certificate: Callable[[str, int], dict[str, Any]]) -> dict[str, Any]:
    """The endpoint record back from a state's ``body`` and a night's ``volatile`` fields;
    ``certificate(sha256, index)`` gives the full chain record of one certificate."""
    endpoint: dict[str, Any] = json.loads(body)
    if isinstance(endpoint.get("chain"), list):
        endpoint["chain"] = [certificate(sha, index) for index, sha in endpoint["chain"]]
    values = json.loads(volatile)
    endpoint.update(zip(VOLATILE_KEYS, values) if isinstance(values, list) else values)
    return endpoint


def store(conn: sqlite3.Connection, scan_id: int, seq: int, parts: Split) -> None:
    """Insert one night's observation of an endpoint, and its state unless already stored.

    The chain's certificates must already be in ``certificates`` (foreign keys)."""
    row = conn.execute("SELECT id FROM states WHERE hash = ?", (parts.digest,)).fetchone()
    if row is None:
        state_id = conn.execute(
            "INSERT INTO states (hash, endpoint_id, target_name, body) VALUES (?, ?, ?, ?)",
            (parts.digest, parts.endpoint_id, parts.target_name, parts.body)).lastrowid
        conn.executemany(
            "INSERT INTO state_certificates (state_id, position, cert_index, cert_sha256) VALUES (?, ?, ?, ?)",
            [(state_id, position, index, sha) for position, index, sha in parts.chain])
    else:
        state_id = row[0]
    conn.execute("INSERT INTO observations (scan_id, seq, state_id, volatile) VALUES (?, ?, ?, ?)",
                 (scan_id, seq, state_id, parts.volatile))

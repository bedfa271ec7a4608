"""Scan many targets concurrently, streaming one outcome per endpoint as soon as it is done.

A global ``trio.CapacityLimiter`` bounds the handshakes in flight (never knock over a target
estate, never exhaust file descriptors). Outcomes are handed to ``sink`` one at a time and not
kept, so memory stays flat however large the estate. Nothing a target does raises out of here:
every failure becomes an outcome with a classified ``ProbeError``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Sequence

import trio

from scanner.probe import errors
from scanner.probe.resolve import resolve
from scanner.probe.tls import Capture, probe
from scanner.targets import Target, client_identity


@dataclass
class Outcome:
    """One endpoint: a target at one address, with what was captured or why not."""

    target: Target
    address: str | None
    capture: Capture | None
    error: errors.ProbeError | None
    scanned_at: datetime
    duration_ms: float


Sink = Callable[[Outcome], None]
Progress = Callable[[int, int], None]  # (targets done, targets total)


async def probe_address(target: Target, address: str) -> Outcome:
    """One address of one target; a ProbeError or any bug becomes a classified outcome."""
    started = datetime.now(timezone.utc)
    clock = time.monotonic()
    capture: Capture | None = None
    error: errors.ProbeError | None = None
    try:
        capture = await probe(address, target.port, hostname=target.hostname, timeout=target.timeout,
                              identity=client_identity(target))
    except errors.ProbeError as exc:
        error, capture = exc, exc.capture
    except Exception as exc:  # noqa: BLE001 - a per-endpoint problem never ends the scan
        error = errors.ProbeError(f"internal error while scanning: {type(exc).__name__}: {exc}")
    return Outcome(target, address, capture, error, started, (time.monotonic() - clock) * 1000)


async def scan_target(target: Target, limiter: trio.CapacityLimiter, sink: Sink) -> None:
    """Resolve, then probe every address of the target concurrently (within the limiter)."""
    started = datetime.now(timezone.utc)
    try:
        async with limiter:
            addresses = await resolve(target.host, target.port)
    except errors.ProbeError as exc:
        sink(Outcome(target, None, None, exc, started, 0.0))
        return

    async def one(address: str) -> None:
        async with limiter:
            outcome = await probe_address(target, address)
        sink(outcome)

    async with trio.open_nursery() as nursery:
        for address in addresses:
            nursery.start_soon(one, address)


async def scan_targets(targets: Sequence[Target], *, concurrency: int, sink: Sink,
                       progress: Progress | None = None) -> None:
    """Scan every target; ``sink`` gets each endpoint outcome as soon as it is known."""
    limiter = trio.CapacityLimiter(max(1, concurrency))
    done = 0

    async def run(target: Target) -> None:
        nonlocal done
        await scan_target(target, limiter, sink)
        done += 1
        if progress is not None:
            progress(done, len(targets))

    async with trio.open_nursery() as nursery:
        for target in targets:
            nursery.start_soon(run, target)

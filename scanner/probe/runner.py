"""Scan many targets concurrently, streaming one outcome per endpoint as soon as it is done.

A global ``trio.CapacityLimiter`` bounds the handshakes in flight (never knock over a target
estate, never exhaust file descriptors); an optional per-address limit protects one host that
many targets share. Outcomes are handed to ``sink`` one at a time and not
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
Finished = Callable[[Target], None]  # a target whose every address has an outcome


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


class Limits:
    """The global limit and, optionally, one per IP address (many targets often share a load
    balancer: it must not see the whole concurrency at once)."""

    def __init__(self, concurrency: int, per_address: int | None = None) -> None:
        self.total = trio.CapacityLimiter(max(1, concurrency))
        self.per_address = per_address
        self._by_address: dict[str, trio.CapacityLimiter] = {}

    def address(self, address: str) -> trio.CapacityLimiter | None:
        if self.per_address is None:
            return None
        if address not in self._by_address:
            self._by_address[address] = trio.CapacityLimiter(max(1, self.per_address))
        return self._by_address[address]


async def _limited(limits: Limits, target: Target, address: str) -> Outcome:
    """Take the address's slot first, then a global one: waiting for a busy address must not
    hold a global slot that another address could use."""
    per_address = limits.address(address)
    if per_address is None:
        async with limits.total:
            return await probe_address(target, address)
    async with per_address, limits.total:
        return await probe_address(target, address)


async def scan_target(target: Target, limits: Limits, sink: Sink) -> None:
    """Resolve, then probe every address of the target concurrently (within the limits)."""
    limiter = limits.total
    started = datetime.now(timezone.utc)
    try:
        async with limiter:
            with trio.fail_after(target.timeout):
                addresses = await resolve(target.host, target.port)
    except trio.TooSlowError:
        sink(Outcome(target, None, None, errors.DnsError(
            f"resolving {target.host} took longer than {target.timeout:g}s; check the DNS servers "
            "this machine uses, or set 'host' to an address", phase="connect"), started, 0.0))
        return
    except errors.ProbeError as exc:
        sink(Outcome(target, None, None, exc, started, 0.0))
        return

    async def one(address: str) -> None:
        sink(await _limited(limits, target, address))

    async with trio.open_nursery() as nursery:
        for address in addresses:
            nursery.start_soon(one, address)


async def scan_targets(targets: Sequence[Target], *, concurrency: int, sink: Sink,
                       progress: Progress | None = None, per_address: int | None = None,
                       finished: Finished | None = None) -> None:
    """Scan every target; ``sink`` gets each endpoint outcome as soon as it is known, and
    ``finished`` each target once all its addresses are done (what an interrupted run has not
    finished is listed as not reached)."""
    limits = Limits(concurrency, per_address)
    done = 0

    async def run(target: Target) -> None:
        nonlocal done
        await scan_target(target, limits, sink)
        done += 1
        if finished is not None:
            finished(target)
        if progress is not None:
            progress(done, len(targets))

    async with trio.open_nursery() as nursery:
        for target in targets:
            nursery.start_soon(run, target)

"""Scan many targets concurrently, streaming one outcome per endpoint as soon as it is done.

A global ``trio.CapacityLimiter`` bounds the handshakes in flight (never knock over a target
estate, never exhaust file descriptors); a per-address limit (per IP address and port, i.e. per
listening service) protects one load balancer that many target names share. A connect failure
(refused, reset, unreachable) is retried a bounded number of times after a jittered backoff, so a
briefly overloaded listener is not reported as down, and retries from many endpoints do not
arrive in lock-step. Outcomes are handed to ``sink`` one at a time and not kept, so memory stays
flat however large the estate. Nothing a target does raises out of here: every failure becomes
an outcome with a classified ``ProbeError``.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Sequence

import trio

from scanner.address import literal_address
from scanner.probe import aia, errors
from scanner.probe.resolve import resolve
from scanner.probe.simulate import simulate
from scanner.probe.versions import enumerate_versions, from_negotiated
from scanner.probe.tls import Capture, probe
from scanner.targets import Target, client_identity

if TYPE_CHECKING:
    from scanner.probe.revocation import RevocationFetcher


@dataclass
class Outcome:
    """One endpoint: a target at one address, with what was captured or why not."""

    target: Target
    address: str | None
    capture: Capture | None
    error: errors.ProbeError | None
    scanned_at: datetime
    duration_ms: float
    revocation: list[dict[str, Any]] | None = None  # sources recorded by scanner.probe.revocation
    aia: tuple[aia.AiaFetch, ...] = ()  # caIssuers fetched for an issuer the server did not send


Sink = Callable[[Outcome], None]
Progress = Callable[[int, int], None]  # (targets done, targets total)
Finished = Callable[[Target], None]  # a target whose every address has an outcome
RetryHook = Callable[[Target, str, int, errors.ProbeError], None]  # (target, address, attempt, error)

RETRY_DELAY = 0.5  # seconds before the first retry; doubled per retry, then jittered by +-50%


async def probe_address(target: Target, address: str) -> Outcome:
    """One address of one target; a ProbeError or any bug becomes a classified outcome."""
    started = datetime.now(timezone.utc)
    clock = time.monotonic()
    capture: Capture | None = None
    error: errors.ProbeError | None = None
    try:
        capture = await probe(address, target.port, hostname=target.hostname, timeout=target.timeout,
                              identity=client_identity(target), http_check=target.http_check)
    except errors.ProbeError as exc:
        error, capture = exc, exc.capture
    except Exception as exc:  # noqa: BLE001 - a per-endpoint problem never ends the scan
        error = errors.ProbeError(f"internal error while scanning: {type(exc).__name__}: {exc}")
    if capture is not None and capture.version:
        capture.versions = (await enumerate_versions(address, target.port, target.hostname, capture.version,
                                                     target.timeout)
                            if target.tls_versions else from_negotiated(capture.version))
    if target.client_simulation and simulation_useful(error):
        capture = capture if capture is not None else Capture()
        try:
            capture.simulation = await simulate(address, target.port, target.hostname, target.timeout)
        except Exception as exc:  # noqa: BLE001 - a per-endpoint problem never ends the scan
            error = error or errors.ProbeError(f"internal error in the client simulation: {type(exc).__name__}: {exc}")
    return Outcome(target, address, capture, error, started, (time.monotonic() - clock) * 1000)


def simulation_useful(error: errors.ProbeError | None) -> bool:
    """Replay the browsers' hellos when the server answered TLS at all: not after a connect
    failure, a timeout (each replay would wait as long again) or a port that does not speak TLS."""
    if error is None:
        return True
    return error.phase != "connect" and not isinstance(error, (errors.TimeoutError, errors.NotTLSError, errors.DnsError))


class Limits:
    """The global limit and, optionally, one per address and port: many target names often
    resolve to one load balancer, which must not see the whole concurrency at once. The key
    includes the port because each listener is its own service (and one machine serving many
    ports, like a loopback benchmark estate, is not one overloaded listener)."""

    def __init__(self, concurrency: int, per_address: int | None = None) -> None:
        self.total = trio.CapacityLimiter(max(1, concurrency))
        self.per_address = per_address
        self._by_address: dict[tuple[str, int], trio.CapacityLimiter] = {}

    def address(self, address: str, port: int) -> trio.CapacityLimiter | None:
        if self.per_address is None:
            return None
        key = (address, port)
        if key not in self._by_address:
            self._by_address[key] = trio.CapacityLimiter(max(1, self.per_address))
        return self._by_address[key]


async def _limited(limits: Limits, target: Target, address: str) -> Outcome:
    """Take the address's slot first, then a global one: waiting for a busy address must not
    hold a global slot that another address could use."""
    per_address = limits.address(address, target.port)
    if per_address is None:
        async with limits.total:
            return await probe_address(target, address)
    async with per_address, limits.total:
        return await probe_address(target, address)


def retryable(error: errors.ProbeError | None) -> bool:
    """Connect failures only (refused, reset, unreachable). Not DNS (the resolver already
    retries), not timeouts (the whole deadline was spent: a retry would double the cost of every
    filtered address) and nothing after TCP connected (the server answered: that is its verdict)."""
    if error is None or error.phase != "connect":
        return False
    return not isinstance(error, (errors.DnsError, errors.TimeoutError))


def backoff(attempt: int, base: float = RETRY_DELAY) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): exponential, jittered +-50%."""
    return base * (2 ** attempt) * random.uniform(0.5, 1.5)


@dataclass(frozen=True)
class Retry:
    """How often and how patiently to retry a connect failure."""

    retries: int = 0
    delay: float = RETRY_DELAY
    on_retry: RetryHook | None = None


def _no_anchors(target: Target) -> Sequence[bytes] | None:
    return None


@dataclass(frozen=True)
class Fetches:
    """What the probe fetches after each handshake, outside its slots (other servers): the
    issuers a chain lacks (AIA, as Chrome does) and, with ``revocation``, CRLs and OCSP
    responses. ``anchors`` gives a target's trust anchors (an issuer found there is not
    fetched; revocation looks for issuers there too)."""

    aia: aia.AiaFetcher = field(default_factory=aia.AiaFetcher)
    revocation: "RevocationFetcher | None" = None
    anchors: Callable[[Target], Sequence[bytes] | None] = _no_anchors


async def _follow_up(outcome: Outcome, fetches: Fetches, sink: Sink) -> None:
    """Fetch what the outcome's chain points at (``Fetches``), then hand it to ``sink``. The
    outcome reaches ``sink`` whatever happens, a stop (Ctrl-C, --max-duration) during the fetches
    included: what the handshake captured is never lost (what was not fetched is then not
    evaluated: no AIA certificates, revocation unevaluated)."""
    capture = outcome.capture
    try:
        if capture is not None and capture.chain:
            anchors = fetches.anchors(outcome.target)
            outcome.aia = await _aia(fetches.aia, capture.chain, anchors or ())
            if fetches.revocation is not None:
                outcome.revocation = await fetches.revocation.sources(capture.chain, anchors, capture.ocsp_staple)
    except Exception:  # noqa: BLE001 - a revocation bug must not cost the endpoint; its status stays unevaluated
        outcome.revocation = None
    finally:
        sink(outcome)


async def _aia(fetcher: aia.AiaFetcher, chain: Sequence[bytes], anchors: Sequence[bytes]) -> tuple[aia.AiaFetch, ...]:
    try:
        return await fetcher.missing(chain, anchors)
    except Exception:  # noqa: BLE001 - the fetch is an aid to the verdict, never a reason to lose the endpoint
        return ()


async def _with_retries(limits: Limits, target: Target, address: str, retry: Retry) -> Outcome:
    """Probe, retrying connect failures; the wait holds no slot (others use it meanwhile)."""
    attempt = 0
    while True:
        outcome = await _limited(limits, target, address)
        if attempt >= retry.retries or not retryable(outcome.error):
            if attempt and outcome.error is not None:
                outcome.error.message += f" (after {attempt + 1} attempts)"
            return outcome
        assert outcome.error is not None
        if retry.on_retry is not None:
            retry.on_retry(target, address, attempt + 1, outcome.error)
        await trio.sleep(backoff(attempt, retry.delay))
        attempt += 1


async def scan_target(target: Target, limits: Limits, sink: Sink, retry: Retry = Retry(),
                      fetches: Fetches | None = None) -> None:
    """Resolve, then probe every address of the target concurrently (within the limits), then
    fetch what each chain points at (``fetches``; by default AIA only, with no anchors)."""
    follow = fetches if fetches is not None else Fetches()
    addresses = literal_address(target.host)
    if addresses is None:
        addresses = await _resolve(target, limits, sink)
        if addresses is None:
            return
    if len(addresses) == 1:  # the usual case: no nursery needed
        await _follow_up(await _with_retries(limits, target, addresses[0], retry), follow, sink)
        return

    async def one(address: str) -> None:
        await _follow_up(await _with_retries(limits, target, address, retry), follow, sink)

    async with trio.open_nursery() as nursery:
        for address in addresses:
            nursery.start_soon(one, address)


async def _resolve(target: Target, limits: Limits, sink: Sink) -> list[str] | None:
    """The target's addresses from DNS (within a global slot and the target's deadline); on
    failure the error goes to ``sink`` as the target's outcome and None is returned."""
    started = datetime.now(timezone.utc)
    try:
        async with limits.total:
            with trio.fail_after(target.timeout):
                return await resolve(target.host, target.port)
    except trio.TooSlowError:
        sink(Outcome(target, None, None, errors.DnsError(
            f"resolving {target.host} took longer than {target.timeout:g}s; check the DNS servers "
            "this machine uses, or set 'host' to an address", phase="connect"), started, 0.0))
    except errors.ProbeError as exc:
        sink(Outcome(target, None, None, exc, started, 0.0))
    return None


WORKERS_PER_SLOT = 4
"""Worker tasks per global handshake slot. More workers than slots, so that workers waiting for a
busy address (the per-address limit) do not leave global slots idle; still bounded by the
concurrency, never by the number of targets."""


async def scan_targets(targets: Sequence[Target], *, concurrency: int, sink: Sink,
                       progress: Progress | None = None, per_address: int | None = None,
                       finished: Finished | None = None, retry: Retry = Retry(),
                       fetches: Fetches | None = None) -> None:
    """Scan every target; ``sink`` gets each endpoint outcome as soon as it is known, and
    ``finished`` each target once all its addresses are done (what an interrupted run has not
    finished is listed as not reached). ``per_address=None`` means no per-address limit (the
    CLI's default is 1).

    Why workers and a channel: a task per target, all started before the first handshake, costs
    memory in proportion to the estate (several KB per target). Instead a feeder sends the targets,
    in order, into an unbuffered channel that a fixed number of workers (``WORKERS_PER_SLOT`` per
    global slot) pull from, so the tasks in flight are bounded by the concurrency."""
    limits = Limits(concurrency, per_address)
    follow = fetches if fetches is not None else Fetches()  # one per scan: each AIA URL fetched once
    total = len(targets)
    done = 0
    send, receive = trio.open_memory_channel[Target](0)

    async def feed() -> None:
        async with send:
            for target in targets:
                await send.send(target)

    async def work() -> None:
        nonlocal done
        async for target in receive:
            await scan_target(target, limits, sink, retry, follow)
            done += 1
            if finished is not None:
                finished(target)
            if progress is not None:
                progress(done, total)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(feed)
        for _ in range(min(total, max(1, concurrency) * WORKERS_PER_SLOT)):
            nursery.start_soon(work)

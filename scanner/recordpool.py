"""Endpoint records built off the event loop: certificate records and verdicts in worker processes.

The probe loop is one thread; parsing certificates, building paths and running every check costs
about as much CPU per endpoint as the handshake itself. Done inline, it stalls every connection in
flight. Here the loop only builds the cheap part of the record (``endpoint_shell``) and hands the
chain to a pool of worker processes (``scanner.assess.chain_part``: plain bytes in, plain dicts
out, encoded there by ``scanner.results.encode_endpoint``); the finished record is written from
the pool's callback thread under a lock. Chains travel in
batches of up to ``BATCH`` endpoints (a partial batch leaves after ``FLUSH_AFTER`` seconds, so a
slow or interrupted scan still has its finished endpoints on disk): handing one item to a process pool costs the event loop a pickle,
a pipe write and a thread wake-up, comparable to the work itself, so per-item submission made the
loop and the worker spend much of their time on the hand-over. At most ``IN_FLIGHT`` batches per
worker are handed over and not yet written: when the workers fall behind the probe, the next
hand-over waits (and with it the probe), so the chains waiting for a worker are bounded by the
pool, not by the estate (a process pool's own queue has no bound). With one core (or ``workers=0``)
everything runs inline, exactly as before. A worker that dies costs nothing but time: the records
are then built in this process.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Callable, Sequence

from scanner.assess import chain_part
from scanner.lifetime import die_with_parent
from scanner.results import (Encoded, ResultsWriter, encode_endpoint, endpoint_shell, outcome_chain, outcome_tls,
                             write_atomic, written)

BATCH = 64  # endpoints per hand-over to a worker
FLUSH_AFTER = 0.2  # seconds: a partial batch is sent when this old, so records still stream to disk
IN_FLIGHT = 4  # batches per worker handed over and not yet written; a further hand-over waits

Work = tuple[dict[str, Any], tuple[Any, ...], str]  # (endpoint shell, chain_part arguments, chain file path)


def default_workers() -> int:
    """One worker per core beyond the one the probe loop uses (none on a single core)."""
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def build_record(shell: dict[str, Any], args: tuple[Any, ...]) -> Encoded:
    """One endpoint's record: ``chain_part`` (the engine) on the shell, encoded for the writer."""
    return encode_endpoint({**shell, **chain_part(*args)})


def encoded_records(batch: Sequence[Work]) -> list[Encoded]:
    """What a worker runs: ``build_record`` for each item of a batch, with the chain file
    written here (file creation is kernel work the probe process is better without)."""
    out: list[Encoded] = []
    for shell, args, path in batch:
        encoded = build_record(shell, args)
        if encoded.pem:
            write_atomic(path, encoded.pem.encode("ascii"))
            encoded = written(encoded)
        out.append(encoded)
    return out


def _worker_init(parent: int | None = None) -> None:
    """Workers leave Ctrl-C and SIGTERM to the scan, which stops cleanly and then closes the
    pool, and die with it when it is killed outright (``parent``: the scan's pid); the engine is
    imported before the first chain arrives."""
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    import scanner.evaluate  # noqa: F401


def _context() -> multiprocessing.context.BaseContext:
    """spawn: each worker is a fresh interpreter that imports only the engine.

    Why not fork: a forked worker maps every page its parent had, and a scan's parent holds the
    whole parsed targets file by then (136 MB resident at 100,000 targets, measured). The pages
    are shared until written, but Python's reference counts write them, and the process tree's
    memory counts them once per process. A spawned worker starts with the engine's imports
    (about 35 MB) and its bounded certificate cache. Spawning costs the worker's start-up
    (interpreter and engine import, under a second, on the worker's own core while the probe
    starts) once per scan, and a fresh process inherits no lock another thread held."""
    return multiprocessing.get_context("spawn")


class RecordPool:
    """``submit(outcome)`` from the event loop; ``close()`` waits for every record to be written."""

    def __init__(self, anchors: Callable[[Any], Sequence[bytes] | None], profile: Any | None, *,
                 writer: ResultsWriter | None = None, workers: int | None = None) -> None:
        self.writer = writer  # may be set after construction (start the pool before threads)
        self.revocation_folder: str | None = None  # where revocation/ is, when the probe records sources
        self.anchors = anchors
        self.profile = profile
        self._lock = threading.Lock()
        count = default_workers() if workers is None else workers
        self._pool: ProcessPoolExecutor | None = None
        self._batch: list[Work] = []
        self._batch_lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._error: BaseException | None = None  # raised by close(): a callback's own error is only logged
        self._slots = threading.Semaphore(max(1, count) * IN_FLIGHT)  # batches handed over, not yet written
        self._in_flight_lock = threading.Lock()
        self.in_flight = 0  # batches handed over and not yet written
        self.most_in_flight = 0  # the largest in_flight seen (what the bound limits)
        if count > 0 and importlib.util.find_spec("scanner.evaluate") is not None:
            self._pool = ProcessPoolExecutor(count, mp_context=_context(), initializer=_worker_init,
                                             initargs=(os.getpid(),))
            self._pool.submit(int)  # starts the workers now: their start-up overlaps the first handshakes

    def _flush_periodically(self) -> None:
        """Send a partial batch that has waited FLUSH_AFTER seconds (runs on its own thread)."""
        while not self._stop.wait(FLUSH_AFTER):
            self._send()

    def submit(self, outcome: Any) -> None:
        """Queue one outcome; its record reaches the writer when its verdicts are ready."""
        assert self.writer is not None, "RecordPool.writer must be set before submit()"
        shell = endpoint_shell(outcome, position=self.writer.position(outcome.target.name))
        chain = outcome_chain(outcome)
        sources = getattr(outcome, "revocation", None)
        revocation = (sources, self.revocation_folder) if sources is not None and self.revocation_folder else None
        args = (chain, outcome.target.hostname, self.anchors(outcome), outcome.scanned_at, self.profile, revocation,
                shell.get("aia"), outcome_tls(outcome))
        if not chain or self._pool is None:
            self._write([build_record(shell, args)])
            return
        if self._flusher is None:  # started on first use
            self._flusher = threading.Thread(target=self._flush_periodically, name="dccscan-batches", daemon=True)
            self._flusher.start()
        with self._batch_lock:
            self._batch.append((shell, args, self.writer.chain_path(shell["chain_file"])))
            full = len(self._batch) >= BATCH
        if full:
            self._send()

    def _send(self) -> None:
        """Hand the current batch to a worker (or build it here if the pool is gone); waits while
        ``IN_FLIGHT`` batches per worker are unwritten (the callbacks free the slots)."""
        with self._batch_lock:
            batch, self._batch = self._batch, []
        if not batch:
            return
        self._slots.acquire()
        self._count_in_flight(+1)
        try:
            assert self._pool is not None
            future = self._pool.submit(encoded_records, batch)
        except (RuntimeError, AssertionError):  # pool broken or shut down: build it here
            try:
                self._finish_inline(batch)
            finally:
                self._release()
            return
        future.add_done_callback(lambda done: self._guarded(done, batch))

    def _count_in_flight(self, step: int) -> None:
        with self._in_flight_lock:
            self.in_flight += step
            self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def _release(self) -> None:
        self._count_in_flight(-1)
        self._slots.release()

    def _guarded(self, done: Future[list[Encoded]], batch: list[Work]) -> None:
        """``_finish``, keeping its error (a full disk) for close(): concurrent.futures would only
        print a traceback and the scan would go on as if the endpoints were written. Frees the
        batch's slot either way."""
        try:
            self._finish(done, batch)
        except BaseException as exc:  # noqa: BLE001 - re-raised by close()
            self._error = self._error or exc
        finally:
            self._release()

    def _finish(self, done: Future[list[Encoded]], batch: list[Work]) -> None:
        try:
            records = done.result()
        except Exception:  # noqa: BLE001 - a dead worker must not lose the endpoints
            self._finish_inline(batch)
            return
        self._write(records)

    def _finish_inline(self, batch: list[Work]) -> None:
        self._write([build_record(shell, args) for shell, args, _ in batch])

    def _write(self, records: Sequence[Encoded]) -> None:
        assert self.writer is not None, "RecordPool.writer must be set before submit()"
        with self._lock:
            for record in records:
                self.writer.add_encoded(record)

    def close(self) -> None:
        """Wait until every submitted record is written, then stop the workers."""
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join()
        self._send()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._error is not None:
            raise self._error

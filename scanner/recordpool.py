"""Endpoint records built off the event loop: certificate records and verdicts in worker processes.

The probe loop is one thread; parsing certificates, building paths and running every check costs
about as much CPU per endpoint as the handshake itself. Done inline, it stalls every connection in
flight. Here the loop only builds the cheap part of the record (``endpoint_shell``) and hands the
chain to a pool of worker processes (``chain_part``: plain bytes in, plain dicts out); the
finished record is written from the pool's callback thread under a lock. Chains travel in
batches of up to ``BATCH`` endpoints (a partial batch leaves after ``FLUSH_AFTER`` seconds, so a
slow or interrupted scan still has its finished endpoints on disk): handing one item to a process pool costs the event loop a pickle,
a pipe write and a thread wake-up, comparable to the work itself, so per-item submission made the
loop and the worker spend much of their time on the hand-over. With one core (or ``workers=0``)
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

from scanner.results import (EncodedPart, ResultsWriter, chain_part, encode_part, endpoint_shell, outcome_chain,
                             write_atomic)

BATCH = 64  # endpoints per hand-over to a worker
FLUSH_AFTER = 0.2  # seconds: a partial batch is sent when this old, so records still stream to disk

Work = tuple[tuple[Any, ...], str]  # (chain_part arguments, path of the endpoint's chains/<id>.pem)
Job = tuple[dict[str, Any], Work]  # (endpoint shell, what the worker does)


def default_workers() -> int:
    """One worker per core beyond the one the probe loop uses (none on a single core)."""
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def chain_parts(batch: Sequence[Work]) -> list[EncodedPart]:
    """What a worker runs: ``chain_part`` for each item of a batch, JSON-encoded, and the chain
    file written here (file creation is kernel work the probe process is better without)."""
    out: list[EncodedPart] = []
    for args, path in batch:
        text, severities, pem = encode_part(chain_part(*args))
        if pem:
            write_atomic(path, pem.encode("ascii"))
        out.append((text, severities, ""))
    return out


def _worker_init() -> None:
    """Workers leave Ctrl-C and SIGTERM to the scan, which stops cleanly and then closes the
    pool; the engine is imported before the first chain arrives."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    import scanner.evaluate  # noqa: F401


def _context() -> multiprocessing.context.BaseContext:
    """fork (workers inherit the imported engine: cheap) while this process has one thread;
    forkserver otherwise, since forking a process with other threads can inherit held locks."""
    return multiprocessing.get_context("fork" if threading.active_count() == 1 else "forkserver")


class RecordPool:
    """``submit(outcome)`` from the event loop; ``close()`` waits for every record to be written."""

    def __init__(self, anchors: Callable[[Any], Sequence[bytes] | None], profile: Any | None, *,
                 writer: ResultsWriter | None = None, workers: int | None = None) -> None:
        self.writer = writer  # may be set after construction (start the pool before threads)
        self.anchors = anchors
        self.profile = profile
        self._lock = threading.Lock()
        count = default_workers() if workers is None else workers
        self._pool: ProcessPoolExecutor | None = None
        self._batch: list[Job] = []
        self._batch_lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        if count > 0 and importlib.util.find_spec("scanner.evaluate") is not None:
            import scanner.evaluate  # noqa: F401 - imported once here, inherited by forked workers
            self._pool = ProcessPoolExecutor(count, mp_context=_context(), initializer=_worker_init)
            self._pool.submit(int)  # starts the workers now, before the caller starts threads

    def _flush_periodically(self) -> None:
        """Send a partial batch that has waited FLUSH_AFTER seconds (runs on its own thread)."""
        while not self._stop.wait(FLUSH_AFTER):
            self._send()

    def submit(self, outcome: Any) -> None:
        """Queue one outcome; its record reaches the writer when its verdicts are ready."""
        shell = endpoint_shell(outcome)
        chain = outcome_chain(outcome)
        args = (chain, outcome.target.hostname, self.anchors(outcome), outcome.scanned_at, self.profile, shell.get("aia"))
        if not chain or self._pool is None:
            self._write(shell, chain_part(*args))
            return
        if self._flusher is None:  # started on first use: the pool forks before any thread exists
            self._flusher = threading.Thread(target=self._flush_periodically, name="dccscan-batches", daemon=True)
            self._flusher.start()
        assert self.writer is not None, "RecordPool.writer must be set before submit()"
        with self._batch_lock:
            self._batch.append((shell, (args, self.writer.chain_path(shell["id"]))))
            full = len(self._batch) >= BATCH
        if full:
            self._send()

    def _send(self) -> None:
        """Hand the current batch to a worker (or build it here if the pool is gone)."""
        with self._batch_lock:
            batch, self._batch = self._batch, []
        if not batch:
            return
        try:
            assert self._pool is not None
            future = self._pool.submit(chain_parts, [work for _, work in batch])
        except (RuntimeError, AssertionError):  # pool broken or shut down: build it here
            self._finish_inline(batch)
            return
        future.add_done_callback(lambda done: self._finish(done, batch))

    def _finish(self, done: Future[list[EncodedPart]], batch: list[Job]) -> None:
        try:
            parts = done.result()
        except Exception:  # noqa: BLE001 - a dead worker must not lose the endpoints
            self._finish_inline(batch)
            return
        assert self.writer is not None, "RecordPool.writer must be set before submit()"
        with self._lock:
            for (shell, _), part in zip(batch, parts):
                self.writer.add_encoded(shell, part)

    def _finish_inline(self, batch: list[Job]) -> None:
        for shell, (args, _) in batch:
            self._write(shell, chain_part(*args))

    def _write(self, shell: dict[str, Any], part: dict[str, Any]) -> None:
        shell.update(part)
        assert self.writer is not None, "RecordPool.writer must be set before submit()"
        with self._lock:
            self.writer.add(shell)

    def close(self) -> None:
        """Wait until every submitted record is written, then stop the workers."""
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join()
        self._send()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

"""Pool backend: a local pool of worker processes (multiprocessing).

The frozen input reaches each worker once, through the pool initializer;
afterwards only ranges of run indices go out and columns come back.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
from typing import Iterator

from ..engine import BatchResult, BatchSource, FrozenInput, Worker
from .base import Backend

_WORKER: Worker | None = None
_BARRIER = None


def _init(frozen: FrozenInput, stop=None, barrier=None) -> None:
    global _WORKER, _BARRIER
    _BARRIER = barrier
    import signal

    # the master decides when to stop (SLURM and scancel send SIGTERM to every process)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def on_term(signum, frame):  # SIGTERM counts only once the master called terminate()
        if stop is not None and stop.is_set():
            os._exit(1)
    signal.signal(signal.SIGTERM, on_term)
    _WORKER = Worker(frozen)


def _run(batch: range) -> BatchResult:
    return _WORKER.run_batch(batch)


def _extend(segments: list, total: int) -> None:
    """One of ``ncores`` tasks of a new generation; the barrier makes each worker take exactly one."""
    _WORKER.extend(segments, total)
    _BARRIER.wait(timeout=120)


class PoolBackend(Backend):
    """Runs batches on ``ncores`` local processes (default: all cores).

    Uses the ``fork`` start method where available, else ``spawn``.
    """

    name = "pool"

    def __init__(self, ncores: int | None = None):
        super().__init__(ncores or os.cpu_count() or 1)
        self._pool = None

    @property
    def workers(self) -> int:
        return self.ncores

    def start(self, frozen: FrozenInput, source: BatchSource | None = None) -> None:
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        ctx = mp.get_context(method)
        self._stop = ctx.Event()
        self._barrier = ctx.Barrier(self.ncores)
        self._pool = ctx.Pool(self.ncores, initializer=_init, initargs=(frozen, self._stop, self._barrier))
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._inflight = 0
        if source is not None:
            self._fill(source)

    def _fill(self, source: BatchSource) -> None:
        """Keep two batches per worker queued, so that none waits while results travel."""
        while self._inflight < 2 * self.workers:
            batch = source.next()
            if batch is None:
                return
            self._pool.apply_async(_run, (batch,), callback=self._done.put,
                                   error_callback=self._done.put)
            self._inflight += 1

    def extend(self, segments: list, total: int) -> None:
        """Send a new generation's exploration segments to each worker once (between generations)."""
        pending = [self._pool.apply_async(_extend, (segments, total)) for _ in range(self.ncores)]
        for p in pending:
            p.get(timeout=180)

    def run(self, source: BatchSource) -> Iterator[BatchResult]:
        self._fill(source)
        while self._inflight:
            result = self._done.get()
            self._inflight -= 1
            if isinstance(result, BaseException):
                raise result
            self._fill(source)
            yield result

    def terminate(self) -> None:
        """Stop the workers at once, dropping batches that are still running."""
        if self._pool is not None:
            self._stop.set()  # workers ignore SIGTERM until now
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None

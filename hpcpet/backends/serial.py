"""Serial backend: every run in the calling process."""
from __future__ import annotations

from typing import Iterator

from ..engine import BatchResult, BatchSource, FrozenInput, Worker
from .base import Backend


class SerialBackend(Backend):
    """Runs batches one after the other in this process."""

    name = "serial"
    #: the runs go on in this thread while a writer thread writes: compression, h5py's writes and
    #: fsync release the GIL, so they overlap with the runs
    overlap_writes = True

    @property
    def workers(self) -> int:
        return 1

    def start(self, frozen: FrozenInput, source: BatchSource | None = None) -> None:
        self._worker = Worker(frozen)
        if frozen.setup is not None:  # this process is the user's: only explicit limits apply
            self._worker.tags.update(frozen.setup.apply(0, worker_process=False))

    def extend(self, segments: list, total: int) -> None:
        self._worker.extend(segments, total)

    def run(self, source: BatchSource) -> Iterator[BatchResult]:
        for batch in source:
            yield self._worker.run_batch(batch)

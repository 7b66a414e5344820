"""Serial backend: every run in the calling process."""
from __future__ import annotations

from typing import Iterator

from ..engine import BatchResult, BatchSource, FrozenInput, Worker
from .base import Backend


class SerialBackend(Backend):
    """Runs batches one after the other in this process."""

    name = "serial"

    @property
    def workers(self) -> int:
        return 1

    def start(self, frozen: FrozenInput, source: BatchSource | None = None) -> None:
        self._worker = Worker(frozen)

    def extend(self, segments: list, total: int) -> None:
        self._worker.extend(segments, total)

    def run(self, source: BatchSource) -> Iterator[BatchResult]:
        for batch in source:
            yield self._worker.run_batch(batch)

"""The interface every backend implements.

A backend moves batches of run indices to workers and their results back.
It never opens the results file and never interprets results.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Iterator

from ..engine import BatchResult, BatchSource, FrozenInput


class Backend(ABC):
    """Runs batches from a :class:`BatchSource` on some set of workers.

    Parameters
    ----------
    ncores : int, optional
        Number of worker processes (the backend's own default if None).
    """

    #: name used by ``--backend``
    name: str = ""
    #: False in processes that only serve batches (MPI ranks > 0)
    is_master: bool = True

    def __init__(self, ncores: int | None = None):
        self.ncores = ncores

    @property
    @abstractmethod
    def workers(self) -> int:
        """How many batches can run at once."""

    @abstractmethod
    def start(self, frozen: FrozenInput, source: BatchSource | None = None) -> None:
        """Send the frozen input to every worker, once.

        With ``source``, workers may already begin on its first batches (the
        master creates the results file meanwhile); their results come out
        of :meth:`run` like all others.
        """

    @abstractmethod
    def run(self, source: BatchSource) -> Iterator[BatchResult]:
        """Pull batches from ``source`` until it is exhausted; yield results as they finish.

        After :meth:`BatchSource.stop` the backend hands out nothing new but
        still yields the results of batches already running.
        """

    def extend(self, segments: list, total: int) -> None:
        """A new generation: send the new exploration ``segments`` (``total`` in all) to every worker once.

        Backends that cannot do this raise :class:`~hpcpet.errors.HpcpetError`.
        """
        from ..errors import HpcpetError

        raise HpcpetError(f"the {self.name} backend cannot grow a study between generations (next_runs); "
                          "use serial or pool, or 'hpcpet.expand' then 'resume'")

    def serve(self) -> None:
        """In a worker-only process (``is_master`` False): serve batches until told to stop."""

    def close(self) -> None:
        """Release workers. Safe to call more than once."""

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

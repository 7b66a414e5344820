"""The interface every backend implements.

A backend moves batches of run indices to workers and their results back.
It never opens the results file and never interprets results.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Iterator

from ..engine import BatchResult, BatchSource, FrozenInput


class BackendLost(Exception):
    """The backend cannot go on (an MPI rank died or is stuck in C code); stop and keep what is written.

    The environment closes the file, prints the message and how to resume,
    and exits like an interrupted run (code 3).
    """


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
    #: the results file, set by the environment before :meth:`start`; for messages only
    #: (a backend never opens it)
    results_path: str = ""
    #: True when the master's writing can overlap with dispatching or running batches (the
    #: environment then writes in a thread of its own): workers in other processes, or runs in
    #: this thread while the writer's GIL-free work (compression, HDF5 writes, fsync) goes on
    overlap_writes: bool = False

    def __init__(self, ncores: int | None = None):
        from ..placement import WorkerSetup

        self.ncores = ncores
        #: threads and GPUs of the worker processes (the environment passes it on in the frozen input)
        self.setup = WorkerSetup()

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
        still yields the results of batches already running. After
        :meth:`BatchSource.abort` (from any thread) it returns within a fraction
        of a second without waiting for them (the caller then terminates it).
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

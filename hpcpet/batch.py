"""Facts shared by the engine, the backends and storage: run status codes and the batch result.

This module sits below all of them and imports nothing of hpcpet but
:mod:`hpcpet.columns`, so that storage never needs the engine.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .columns import Column

#: status of a run: not yet done (or in flight), done with its results stored, raised
PENDING, DONE, FAILED = 0, 1, 2
#: result name of a run function's return value
RETURN_NAME = "return"


@dataclass
class BatchResult:
    """What a worker sends back for one batch of runs ``start .. stop-1``.

    Attributes
    ----------
    start, stop : int
        The batch's run indices.
    status : numpy.ndarray
        uint8, DONE or FAILED per run (PENDING: not run, e.g. after a stop).
    columns : dict
        Result name -> :class:`~hpcpet.columns.Column` with one row per run.
    errors : dict
        Run index -> error text of the runs that failed.
    comments : dict
        Result name -> comment given with ``add_result``.
    seconds : float
        Wall-clock time of the whole batch.
    info : dict
        Per-run facts, name -> a numpy array with one entry per run, or a
        scalar that holds for every run of the batch (:func:`info_array`
        expands it): ``duration`` (float s), ``start`` (float unix s),
        ``host`` (str), ``worker`` (int), ``attempts`` (int) and, with
        ``--capture``, ``output`` (object array of str, the last 4 kB of the
        run's stdout and stderr). Runs not started have NaN duration and start.
        ``gpus`` (str): the worker's ``CUDA_VISIBLE_DEVICES`` under ``--gpus-per-worker``.
        Facts constant in a batch (host, worker, mostly attempts, the mean
        duration of runs too short to time one by one) are scalars, and the
        start times of such runs a :class:`Steps`, so that they cost nothing
        per run on the way to the writer.
    options : dict
        Result name -> storage options given with ``add_result`` (compression).
    """

    start: int
    stop: int
    status: np.ndarray
    columns: dict[str, Column]
    errors: dict[int, str]
    comments: dict[str, str]
    seconds: float
    info: dict[str, np.ndarray] = field(default_factory=dict)
    #: result name -> storage options given with ``add_result`` (``{"compression": "zstd"}``)
    options: dict[str, dict] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.stop - self.start


class Steps(NamedTuple):
    """Run info whose entry for run k of the batch is ``first + k * step`` (the start times of
    runs too short to be timed one by one), kept as two numbers."""

    first: float
    step: float

    def expand(self, n: int) -> np.ndarray:
        """The ``n`` entries (computed the same way everywhere, so they are the same bits)."""
        a = np.arange(n, dtype=np.float64)
        a *= self.step
        a += self.first
        return a


def info_array(value, n: int) -> np.ndarray:
    """A run-info entry of ``BatchResult.info`` as an array of ``n`` entries (a scalar is repeated)."""
    if isinstance(value, np.ndarray) and value.ndim == 1:
        return value
    if isinstance(value, Steps):
        return value.expand(n)
    return np.full(n, value)

"""Facts shared by the engine, the backends and storage: run status codes and the batch result.

This module sits below all of them and imports nothing of hpcpet but
:mod:`hpcpet.columns`, so that storage never needs the engine.
"""
from __future__ import annotations

from dataclasses import dataclass, field

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
        Per-run facts, name -> numpy array with one entry per run:
        ``duration`` (float64 s), ``start`` (float64 unix s), ``host``
        (str), ``worker`` (int32), ``attempts`` (uint16) and, with
        ``--capture``, ``output`` (object array of str, the last 4 kB of the
        run's stdout and stderr). Runs not started have NaN duration and start.
        An array whose entries are all equal travels between processes as one
        value (see :meth:`__getstate__`).
        ``gpus`` (str): the worker's ``CUDA_VISIBLE_DEVICES`` under ``--gpus-per-worker``.
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

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["info"] = {name: _Same.of(a) for name, a in self.info.items()}
        return state

    def __setstate__(self, state: dict) -> None:
        state["info"] = {name: a.expand() if isinstance(a, _Same) else a
                         for name, a in state.get("info", {}).items()}
        self.__dict__.update(state)


class _Same:
    """A 1-d array whose entries are all equal, pickled as one entry and its length."""

    __slots__ = ("value", "n")

    def __init__(self, value: np.ndarray, n: int):
        self.value, self.n = value, n

    @staticmethod
    def of(a):
        if isinstance(a, np.ndarray) and a.ndim == 1 and len(a) > 1 and a.dtype.kind != "O" \
                and a[0] == a[-1] and (a == a[0]).all():
            return _Same(a[:1].copy(), len(a))
        return a

    def expand(self) -> np.ndarray:
        return np.repeat(self.value, self.n)

    def __getstate__(self):
        return (self.value, self.n)

    def __setstate__(self, state) -> None:
        self.value, self.n = state

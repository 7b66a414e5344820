"""The engine: runs batches of runs in workers and hands their results to the writer.

Data flow::

    master: BatchSource --(range of run indices)--> backend --> Worker.run_batch
    master: Engine.run <--(BatchResult)-- backend
            Engine.run --> Writer.write (the only writer)

A backend only moves batches and results; the :class:`Worker` does the
runs, the writer does the storing.
"""
from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

import numpy as np

from .batch import DONE, FAILED, PENDING, RETURN_NAME, BatchResult
from .columns import Column, ResultTypeError, encode
from .experiment import load_experiment
from .trajectory import RunView, Trajectory



@dataclass
class FrozenInput:
    """Everything a worker needs, sent once per worker.

    When the run function comes from an experiment file, it travels as the
    file's path and is re-imported in the worker, so workers in other
    processes (spawn, MPI, SCOOP) can rebuild it.
    """

    trajectory: Trajectory
    function: Optional[Callable]
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    experiment: Optional[str] = None
    fail_fast: bool = False

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        if self.experiment is not None:
            state["function"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if self.function is None and self.experiment is not None:
            self.function = load_experiment(self.experiment).run


def _explored_lists(columns: dict[str, np.ndarray]) -> list[list]:
    return [c.tolist() if c.ndim == 1 else list(c) for c in columns.values()]


# The per-run loop is the hot path (a million runs a second). It is generated once per
# shape of exploration so that the ``for`` statement itself assigns each run's values into
# ``traj`` (``for k, (traj[n0], traj[n1], attrs[n0]) in ...``, where ``attrs`` is the
# ``__dict__`` that makes ``traj.x`` fast): three times cheaper than
# ``traj.update(zip(names, row))`` per run. Everything else is ordinary code.
_LOOP_SOURCE = """
def run_loop(traj, attrs, fn, args, kwargs, lists, names, start, columns, failed):
    ({names},) = names
    by_raw = traj._by_raw
    for k, ({targets},) in enumerate(zip(*lists)):
        traj.index = start + k
        try:
            ret = fn(traj, *args, **kwargs)
        except Exception as exc:  # a failing run never stops the exploration
            if failed(k, exc):
                return
            continue
        if ret is not None:
            (by_raw.get(RETURN_NAME) or traj._column(RETURN_NAME, "", True)).append(ret)
            traj.added += 1
        if traj.added != len(columns):  # a result missing (or added twice) in this run
            traj.end_run(k)
        traj.added = 0
"""
_LOOPS: dict[tuple[bool, ...], Callable] = {}


def _run_loop(mirrored: tuple[bool, ...]) -> Callable:
    """The run loop for explored parameters of which ``mirrored`` are attributes too (compiled once).

    It takes the explored lists followed by the lists of the mirrored ones again.
    """
    loop = _LOOPS.get(mirrored)
    if loop is None:
        names = ", ".join(f"n{i}" for i in range(len(mirrored)))
        targets = ", ".join([f"traj[n{i}]" for i in range(len(mirrored))] +
                            [f"attrs[n{i}]" for i, m in enumerate(mirrored) if m])
        namespace = {"RETURN_NAME": RETURN_NAME}
        exec(_LOOP_SOURCE.format(names=names, targets=targets), namespace)
        loop = _LOOPS[mirrored] = namespace["run_loop"]
    return loop


class Worker:
    """Runs batches with a frozen input; one per process."""

    def __init__(self, frozen: FrozenInput):
        self.frozen = frozen
        self.view = RunView(frozen.trajectory)
        self.exploration = frozen.trajectory.exploration

    def extend(self, segments: list, total: int) -> None:
        """A new generation: add the exploration ``segments`` the master added (it now has ``total``)."""
        traj = self.frozen.trajectory
        have = len(traj.exploration.segments)
        if have < total:  # in the master's own process (serial) the trajectory grew already
            traj.append_segments(segments[len(segments) - (total - have):])
        self.exploration = traj.exploration

    def run_batch(self, batch: range) -> BatchResult:
        """Run every run of ``batch`` and gather their results into columns."""
        t0 = time.perf_counter()
        start, stop = batch.start, batch.stop
        n = stop - start
        traj, fn = self.view, self.frozen.function
        args, kwargs = self.frozen.args, self.frozen.kwargs
        cols = self.exploration.columns(start, stop)
        names = list(cols)
        traj.start_batch(start)
        columns = traj.columns
        status = np.full(n, DONE, np.uint8)
        errors: dict[int, str] = {}

        def failed(k: int, exc: Exception) -> bool:
            status[k] = FAILED
            errors[start + k] = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            traj.end_run(k, failed=True)
            if self.frozen.fail_fast:
                status[k + 1:] = PENDING
                for col in columns.values():
                    col.extend([None] * (n - k - 1))
                return True
            return False

        mirrored = tuple(RunView.mirrors(name) for name in names)
        lists = _explored_lists(cols)
        lists += [lst for lst, m in zip(lists, mirrored) if m]
        _run_loop(mirrored)(traj, traj.__dict__, fn, args, kwargs, lists, names, start, columns, failed)
        traj.index = None
        if any(len(col) != n for col in columns.values()) and not self.frozen.fail_fast:
            # only possible if one run added a result twice and missed another
            status[:] = FAILED
            errors.update({i: "HpcpetError: a run added one result twice and another not at all; "
                              "add each result at most once per run" for i in range(start, stop)})
            columns = {}
        encoded = {}
        for name, vals in columns.items():
            try:  # a value that cannot be stored is refused in the column (its run fails at the writer)
                encoded[name] = encode(vals)
            except Exception as exc:  # never let a value's error escape the batch
                for k, v in enumerate(vals):
                    if v is not None:
                        status[k] = FAILED
                        errors[start + k] = f"ResultTypeError: result {name!r}: {type(exc).__name__}: {exc}"
        return BatchResult(start, stop, status, encoded, errors, traj.comments,
                           time.perf_counter() - t0, options=traj.options)


def _ranges(todo: np.ndarray) -> list[list[int]]:
    """Contiguous ``[start, stop)`` ranges of a bool mask over all runs or of sorted run indices."""
    if todo.dtype == bool:
        padded = np.zeros(len(todo) + 2, np.int8)
        padded[1:-1] = todo
        edges = np.flatnonzero(np.diff(padded))
        return [[int(a), int(b)] for a, b in zip(edges[::2], edges[1::2])]
    if len(todo) == 0:
        return []
    breaks = np.flatnonzero(np.diff(todo) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(todo)]])
    return [[int(todo[s]), int(todo[e - 1]) + 1] for s, e in zip(starts, ends)]


class BatchSource:
    """Hands out contiguous batches of pending runs, sized to their measured duration.

    Batches start small to measure how long a run takes, then grow so that
    a batch takes about ``target_seconds`` (keeping dispatch overhead small),
    but shrink near the end so that no worker idles while others finish.

    Parameters
    ----------
    todo : numpy.ndarray
        The runs to do: a bool mask over all runs, or sorted run indices.
    workers : int
        Number of workers pulling batches.
    set_size : int
        Bucket size; large batches are cut at bucket boundaries.
    batch_size : int, optional
        A fixed batch size instead of the adaptive one.
    """

    #: largest batch before the duration of a run is known
    FIRST_BATCH = 16

    def __init__(self, todo: np.ndarray, workers: int, set_size: int = 1000,
                 target_seconds: float = 0.05, batch_size: int | None = None,
                 max_batch: int = 100_000):
        self.workers = max(1, workers)
        self.set_size = set_size
        self.target = target_seconds
        self.fixed = batch_size
        self.max_batch = max_batch
        self.per_run: float | None = None
        self.stopped = False
        self._ranges = _ranges(np.asarray(todo))
        #: number of runs to do in all
        self.total = sum(hi - lo for lo, hi in self._ranges)
        self.remaining = self.total
        self._pos = 0  # into _ranges

    def size(self) -> int:
        """How many runs the next batch should hold."""
        if self.fixed:
            return self.fixed
        share = -(-self.remaining // (4 * self.workers))  # leave work for everyone at the end
        if self.per_run is None:  # small batches until a run has been timed, enough for every worker
            return max(1, min(self.FIRST_BATCH, share))
        want = int(self.target / max(self.per_run, 1e-9))
        if self.workers > 1:
            want = min(want, share)
        return max(1, min(want, self.max_batch))

    def next(self) -> range | None:
        """The next batch, or None when all runs are handed out or :meth:`stop` was called."""
        if self.stopped or self._pos >= len(self._ranges):
            return None
        lo, hi = self._ranges[self._pos]
        size = self.size()
        stop = min(hi, lo + size)
        if size >= self.set_size and stop < hi:  # cut big batches at bucket boundaries
            aligned = (stop // self.set_size) * self.set_size
            if aligned > lo:
                stop = aligned
        if stop >= hi:
            self._pos += 1
        else:
            self._ranges[self._pos][0] = stop
        self.remaining -= stop - lo
        return range(lo, stop)

    def __iter__(self):
        return iter(self.next, None)

    def restart(self, todo: np.ndarray) -> None:
        """Hand out the runs of ``todo`` next (a new generation); the measured run time is kept."""
        self._ranges = _ranges(np.asarray(todo))
        self._pos = 0
        more = sum(hi - lo for lo, hi in self._ranges)
        self.total += more
        self.remaining = more

    def observe(self, result: BatchResult) -> None:
        """Learn the per-run duration from a finished batch."""
        per = result.seconds / max(1, len(result))
        self.per_run = per if self.per_run is None else 0.7 * self.per_run + 0.3 * per

    def stop(self) -> None:
        """Hand out no more batches."""
        self.stopped = True

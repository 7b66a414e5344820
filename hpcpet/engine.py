"""The engine: runs batches of runs in workers and hands their results to the writer.

Data flow::

    master: BatchSource --(range of run indices)--> backend --> Worker.run_batch
    master: Engine.run <--(BatchResult)-- backend
            Engine.run --> Writer.write (the only writer)

A backend only moves batches and results; the :class:`Worker` does the
runs, the writer does the storing.

Invariant: :meth:`Worker.run_batch` never raises for anything a run does or
returns (only KeyboardInterrupt passes): an exception, ``sys.exit()``, a
``--run-timeout`` or a value that cannot be encoded fails that run alone,
and every :class:`BatchResult` carries run info (duration, start, host,
worker, attempts; captured output with ``--capture``) for each of its runs.
"""
from __future__ import annotations

import itertools
import os
import signal
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from .batch import DONE, FAILED, PENDING, RETURN_NAME, BatchResult, Steps
from .columns import encode
from .experiment import load_experiment
from .trajectory import RunView, Trajectory



@dataclass
class FrozenInput:
    """Everything a worker needs, sent once per worker.

    When the run function comes from an experiment file, it travels as the
    file's path and is re-imported in the worker, so workers in other
    processes (spawn, MPI, SCOOP) can rebuild it.

    Attributes
    ----------
    run_timeout : float, optional
        Seconds after which a run is interrupted and marked failed.
    capture : bool
        Keep the last :data:`CAPTURE_BYTES` of each run's stdout and stderr.
    """

    trajectory: Trajectory
    function: Optional[Callable]
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    experiment: Optional[str] = None
    fail_fast: bool = False
    run_timeout: Optional[float] = None
    capture: bool = False
    #: threads and GPUs of worker processes (:class:`hpcpet.placement.WorkerSetup`), set by the environment
    setup: Any = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        if self.experiment is not None:
            state["function"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("run_timeout", None)
        self.__dict__.setdefault("capture", False)
        self.__dict__.setdefault("setup", None)
        if self.function is None and self.experiment is not None:
            self.function = load_experiment(self.experiment).run


#: bytes of each run's captured output that are kept (the end of it)
CAPTURE_BYTES = 4096
#: exceptions of a run that fail only that run (KeyboardInterrupt stops the study)
RUN_ERRORS = (Exception, SystemExit)


class RunTimeout(BaseException):
    """Raised inside a run that exceeded ``--run-timeout``.

    A BaseException, so that a run's own ``except Exception`` does not swallow it.
    """


def format_error(exc: BaseException) -> str:
    """Type, message and traceback of ``exc`` as one text (the error stored for a failed run)."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _explored_lists(columns: dict[str, np.ndarray]) -> list[list]:
    return [c.tolist() if c.ndim == 1 else list(c) for c in columns.values()]


# The per-run loop is the hot path (a million runs a second). It is generated once per
# shape of exploration so that the ``for`` statement itself assigns each run's values into
# ``traj`` (``for k, (traj[n0], traj[n1], attrs[n0]) in ...``, where ``attrs`` is the
# ``__dict__`` that makes ``traj.x`` fast): three times cheaper than
# ``traj.update(zip(names, row))`` per run. The timed variant's ``for`` statement also notes
# when each run starts (``marks[k]``, a float64 memoryview, filled from
# ``starmap(clock, ...)``, so no bytecode call per run) and sets ``traj.index``; that costs
# ~0.1 us per run, so runs of a few microseconds use the untimed variant (see
# :data:`TIME_EACH_RUN`). Everything else is ordinary code.
_LOOP_SOURCE = """
def run_loop(traj, attrs, fn, args, kwargs, lists, names, start, columns, failed, marks, clock):
    ({names},) = names
    by_raw = traj._by_raw
    {loop}
        try:
            ret = {call}
        except RUN_ERRORS as exc:  # a failing run never stops the exploration
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
_TIMED_FOR = ("for k, traj.index, marks[k], ({targets},) in zip(count(), count(start), "
              "starmap(clock, repeat(())), zip(*lists)):")
_UNTIMED_FOR = "for k, ({targets},) in enumerate(zip(*lists)):\n        traj.index = start + k"
_LOOPS: dict[tuple, Callable] = {}
#: runs whose batch took at least this many seconds per run are timed one by one; shorter
#: ones get their batch's mean duration (timing each would cost > 5 % for microsecond runs)
TIME_EACH_RUN = 20e-6


def _run_loop(mirrored: tuple[bool, ...], timed: bool, extra: bool) -> Callable:
    """The run loop for explored parameters of which ``mirrored`` are attributes too (compiled once).

    It takes the explored lists followed by the lists of the mirrored ones
    again. The ``timed`` loop notes each run's start in ``marks``. Only an
    ``extra`` loop passes the run function extra arguments (``fn(traj)`` is
    ~0.1 us cheaper than ``fn(traj, *(), **{})``).
    """
    loop = _LOOPS.get((mirrored, timed, extra))
    if loop is None:
        names = ", ".join(f"n{i}" for i in range(len(mirrored)))
        targets = ", ".join([f"traj[n{i}]" for i in range(len(mirrored))] +
                            [f"attrs[n{i}]" for i, m in enumerate(mirrored) if m])
        namespace = {"RETURN_NAME": RETURN_NAME, "RUN_ERRORS": RUN_ERRORS + (RunTimeout,),
                     "count": itertools.count, "starmap": itertools.starmap,
                     "repeat": itertools.repeat}
        head = (_TIMED_FOR if timed else _UNTIMED_FOR).format(targets=targets)
        call = "fn(traj, *args, **kwargs)" if extra else "fn(traj)"
        exec(_LOOP_SOURCE.format(names=names, loop=head, call=call), namespace)
        loop = _LOOPS[mirrored, timed, extra] = namespace["run_loop"]
    return loop


class RunBoard:
    """Where a worker notes its current batch and when each of its runs started.

    One float64 buffer: ``[batch start, batch length, perf_counter and unix
    time at batch start, start mark of run 0, 1, ...]`` (marks are
    ``time.perf_counter()``; 0 = not started). A pool master gives each
    worker a board in shared memory and reads it to tell which run a worker
    was in when it died or got stuck; elsewhere the board is private memory.

    Parameters
    ----------
    buffer : writable buffer, optional
        ``8 * (HEADER + capacity + 1)`` bytes (default: a private bytearray).
    capacity : int
        Most runs per batch the board can follow.
    """

    HEADER = 4

    def __init__(self, buffer=None, capacity: int = 100_000):
        self.capacity = capacity
        if buffer is None:
            buffer = bytearray(8 * (self.HEADER + capacity + 1))
        self.buffer = buffer
        self.array = np.frombuffer(buffer, np.float64, self.HEADER + capacity + 1)
        self.marks = memoryview(buffer).cast("B")[8 * self.HEADER:8 * (self.HEADER + capacity + 1)].cast("d")

    @staticmethod
    def nbytes(capacity: int) -> int:
        """Size of the buffer a board of ``capacity`` runs needs."""
        return 8 * (RunBoard.HEADER + capacity + 1)

    def begin(self, start: int, n: int) -> tuple[memoryview, float, float]:
        """Start following a batch; returns the memoryview for its marks, perf and unix time now."""
        perf, unix = time.perf_counter(), time.time()
        if n > self.capacity:  # not followed: marks in private memory
            self.array[1] = 0
            return memoryview(bytearray(8 * (n + 1))).cast("d"), perf, unix
        self.array[self.HEADER:self.HEADER + n + 1] = 0
        self.array[:self.HEADER] = (start, n, perf, unix)
        return self.marks, perf, unix

    def end(self) -> None:
        """The batch is over (its result is on its way)."""
        self.array[1] = 0

    def current(self) -> tuple[int, float] | None:
        """The run being executed now and its start (unix time), or None between batches."""
        start, n, perf, unix = self.array[:self.HEADER]
        n = int(n)
        if n <= 0:
            return None
        marks = self.array[self.HEADER:self.HEADER + n]
        k = int(np.count_nonzero(marks)) - 1
        if k < 0:
            return None
        return int(start) + k, unix + (float(marks[k]) - perf)

    def batch(self) -> range | None:
        """The batch being followed, or None."""
        start, n = int(self.array[0]), int(self.array[1])
        return range(start, start + n) if n > 0 else None


class _Capture:
    """Redirects file descriptors 1 and 2 into one temporary file during a batch (``--capture``)."""

    def __init__(self) -> None:
        import tempfile

        self.file = tempfile.TemporaryFile(prefix="hpcpet-capture-")
        self.fd = self.file.fileno()
        self.saved: tuple[int, int] | None = None

    def begin(self) -> None:
        _flush_std()
        os.ftruncate(self.fd, 0)
        os.lseek(self.fd, 0, os.SEEK_SET)
        self.saved = (os.dup(1), os.dup(2))
        os.dup2(self.fd, 1)
        os.dup2(self.fd, 2)
        # streams not on descriptors 1 and 2 (pytest, Jupyter) write there for the batch
        self.streams = (sys.stdout, sys.stderr)
        sys.stdout, sys.stderr = (s if _on_fd(s, fd) else open(fd, "w", closefd=False, errors="replace")
                                  for s, fd in zip(self.streams, (1, 2)))

    def offset(self) -> int:
        """Where the output written so far ends (Python's buffers flushed first)."""
        _flush_std()
        return os.lseek(self.fd, 0, os.SEEK_CUR)

    def end(self) -> bytes:
        """Restore descriptors 1 and 2; return everything written during the batch."""
        _flush_std()
        if self.saved is not None:
            for now, before in zip((sys.stdout, sys.stderr), self.streams):
                if now is not before:
                    now.close()
            sys.stdout, sys.stderr = self.streams
            for fd, saved in zip((1, 2), self.saved):
                os.dup2(saved, fd)
                os.close(saved)
            self.saved = None
        size = os.lseek(self.fd, 0, os.SEEK_END)
        return os.pread(self.fd, size, 0) if size else b""


def _on_fd(stream, fd: int) -> bool:
    try:
        return stream.fileno() == fd
    except (AttributeError, OSError, ValueError):
        return False


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass


def _timed(fn: Callable, seconds: float) -> Callable:
    """``fn`` with SIGALRM armed for ``seconds`` while it runs (then every second until it returns)."""
    arm, REAL = signal.setitimer, signal.ITIMER_REAL

    def timed_run(traj, *args, **kwargs):
        arm(REAL, seconds, 1.0)
        try:
            return fn(traj, *args, **kwargs)
        finally:
            arm(REAL, 0)
    own = timed_run.__code__

    def on_alarm(signum, frame):
        # only inside the run: after it returned (still in timed_run) the alarm is ignored
        if frame is not None and frame.f_code is not own:
            raise RunTimeout(f"timeout after {seconds:g} s")
    signal.signal(signal.SIGALRM, on_alarm)
    return timed_run


def _captured(fn: Callable, capture: _Capture, ends: list, start: list) -> Callable:
    """``fn`` noting, after each run, where its output ends in the capture file."""

    def captured_run(traj, *args, **kwargs):
        try:
            return fn(traj, *args, **kwargs)
        finally:
            ends[traj.index - start[0]] = capture.offset()
    return captured_run


class Worker:
    """Runs batches with a frozen input; one per process.

    Parameters
    ----------
    frozen : FrozenInput
        What to run.
    worker_id : int
        This worker's number, recorded in run info (pool: 1..N, MPI: the rank, SCOOP: the pid).
    board : RunBoard, optional
        Where the worker notes its progress (default: private memory).
    """

    def __init__(self, frozen: FrozenInput, worker_id: int = 0, board: RunBoard | None = None):
        self.frozen = frozen
        self.view = RunView(frozen.trajectory)
        self.exploration = frozen.trajectory.exploration
        self.worker_id = worker_id
        self.host = socket.gethostname()
        self.board = board or RunBoard(capacity=0)
        self.capture = _Capture() if frozen.capture else None
        self._ends: list = []
        self._start = [0]
        #: seconds per run in the last batch (decides whether runs are timed one by one)
        self.per_run: float | None = None
        self.always_timed = bool(frozen.run_timeout or frozen.capture)
        fn = frozen.function
        if frozen.run_timeout:
            if threading.current_thread() is threading.main_thread():
                fn = _timed(fn, float(frozen.run_timeout))
            else:  # signals reach only the main thread
                import warnings

                warnings.warn("--run-timeout needs the runs in the main thread; runs in this thread "
                              "are not timed out (use the pool backend)", RuntimeWarning, stacklevel=2)
        if self.capture is not None:
            fn = _captured(fn, self.capture, self._ends, self._start)
        self.function = fn
        #: facts about this worker process recorded for every run in ``BatchResult.info`` (e.g. ``gpus``)
        self.tags: dict[str, str] = {}

    #: generations added through :meth:`extend` (backends that fetch them lazily count here)
    generations_added = 0

    def extend(self, segments: list, total: int) -> None:
        """A new generation: add the exploration ``segments`` the master added (it now has ``total``)."""
        traj = self.frozen.trajectory
        have = len(traj.exploration.segments)
        if have < total:  # in the master's own process (serial) the trajectory grew already
            traj.append_segments(segments[len(segments) - (total - have):])
        self.exploration = traj.exploration

    def run_batch(self, batch: range, careful: bool = False) -> BatchResult:
        """Run every run of ``batch`` and gather their results into columns.

        With ``careful``, each run's start is noted on the board even if runs
        are short (a pool master asks for it after a worker died in the batch).
        Never raises for what a run does or returns (only KeyboardInterrupt
        passes): a value that cannot be stored fails its run, and an error
        outside any run fails the whole batch.
        """
        try:
            return self._run_batch(batch, careful)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a bug or MemoryError outside the runs: this batch fails
            return failed_batch(batch, f"HpcpetError: the batch failed outside its runs:\n{format_error(exc)}",
                                self.worker_id, self.host)

    def _run_batch(self, batch: range, careful: bool) -> BatchResult:
        t0 = time.perf_counter()
        start, stop = batch.start, batch.stop
        n = stop - start
        traj, fn = self.view, self.function
        args, kwargs = self.frozen.args, self.frozen.kwargs
        cols = self.exploration.columns(start, stop)
        names = list(cols)
        traj.start_batch(start)
        columns = traj.columns
        status = np.full(n, DONE, np.uint8)
        errors: dict[int, str] = {}

        def failed(k: int, exc: BaseException) -> bool:
            status[k] = FAILED
            errors[start + k] = format_error(exc)
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
        capture = self.capture
        if capture is not None:
            self._ends[:] = [-1] * n
            self._start[0] = start
            capture.begin()
        marks, perf0, unix0 = self.board.begin(start, n)
        timed = careful or self.always_timed or self.per_run is None or self.per_run >= TIME_EACH_RUN
        try:
            loop = _run_loop(mirrored, timed, bool(args or kwargs))
            loop(traj, traj.__dict__, fn, args, kwargs, lists, names, start, columns, failed, marks, time.perf_counter)
        finally:
            t_end = time.perf_counter()
            self.board.end()
            output = capture.end() if capture is not None else b""
        traj.index = None
        if n:
            self.per_run = (t_end - perf0) / n
        info = self._info(marks if timed else None, n, perf0, unix0, t_end, status)
        if capture is not None:
            info["output"] = _split_output(output, self._ends)
        if any(len(col) != n for col in columns.values()) and not self.frozen.fail_fast:
            # only possible if one run added a result twice and missed another
            status[:] = FAILED
            errors.update({i: "HpcpetError: a run added one result twice and another not at all; "
                              "add each result at most once per run" for i in range(start, stop)})
            columns = {}
        encoded = {}
        for name, vals in columns.items():
            col = _encode_column(name, vals, status, errors, start)
            if col is not None:
                encoded[name] = col
        info.update(self.tags)
        return BatchResult(start, stop, status, encoded, errors, traj.comments,
                           time.perf_counter() - t0, info, options=traj.options)

    def _info(self, marks: memoryview | None, n: int, perf0: float, unix0: float, t_end: float,
              status: np.ndarray) -> dict[str, np.ndarray]:
        """Run info of a batch: when each run started, how long it took, where.

        Without ``marks`` (short runs, not timed one by one) every run gets
        the batch's mean duration.
        """
        if marks is None:
            ran = n if self.frozen.fail_fast is False else int(np.count_nonzero(status != PENDING))
            mean = (t_end - perf0) / max(1, ran)
            duration, begun = mean, Steps(unix0, mean)  # the same for every run: two numbers
            if ran < n:
                begun = begun.expand(n)
                duration = np.full(n, mean)
                duration[ran:] = begun[ran:] = np.nan
        else:
            m = np.frombuffer(marks, np.float64, n + 1).copy() if n else np.zeros(1)
            ran = int(np.count_nonzero(m[:n]))  # runs started (all, unless --fail-fast stopped the batch)
            m[ran] = t_end
            duration = np.full(n, np.nan)
            duration[:ran] = np.diff(m[:ran + 1])
            begun = np.full(n, np.nan)
            begun[:ran] = unix0 + (m[:ran] - perf0)
        return {"duration": duration, "start": begun, "host": self.host, "worker": self.worker_id,
                "attempts": 1}


def _split_output(data: bytes, ends: list) -> np.ndarray:
    """Each run's output (the last CAPTURE_BYTES of it) as an object array of str."""
    out = np.empty(len(ends), object)
    prev = 0
    for k, end in enumerate(ends):
        if end < 0:  # not run
            out[k] = ""
            continue
        out[k] = data[max(prev, end - CAPTURE_BYTES):end].decode("utf-8", "replace")
        prev = end
    return out


def _encode_column(name: str, vals: list, status: np.ndarray, errors: dict[int, str], start: int):
    """Encode one result's values; a value that cannot be encoded fails only its run.

    Returns the column, or None if no value could be kept.
    """
    try:
        return encode(vals)
    except Exception:
        pass
    bad = {}
    for k, v in enumerate(vals):  # find the values that cannot be stored on their own
        if v is None:
            continue
        try:
            encode([v])
        except Exception as exc:
            bad[k] = exc
    for k, exc in bad.items():
        status[k] = FAILED
        errors[start + k] = f"ResultTypeError: result {name!r}: {type(exc).__name__}: {exc}"
    rest = [None if k in bad else v for k, v in enumerate(vals)]
    if any(v is not None for v in rest):
        try:
            return encode(rest)
        except Exception as exc:  # values fine alone but not together (e.g. text and numbers)
            for k, v in enumerate(rest):
                if v is not None:
                    status[k] = FAILED
                    errors[start + k] = f"ResultTypeError: result {name!r}: {type(exc).__name__}: {exc}"
    return None


def failed_batch(batch: range, error: str, worker_id: int = 0, host: str = "",
                 info: dict | None = None) -> BatchResult:
    """A result in which every run of ``batch`` failed with ``error`` (e.g. its worker died)."""
    n = len(batch)
    host = host or socket.gethostname()
    base = {"duration": np.nan, "start": np.nan, "host": host, "worker": worker_id, "attempts": 1}
    base.update(info or {})
    return BatchResult(batch.start, batch.stop, np.full(n, FAILED, np.uint8), {},
                       {i: error for i in batch}, {}, 0.0, base)


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
    but shrink near the end so that no worker idles while others finish
    (never below :data:`MIN_SECONDS` of runs: a smaller batch costs more to
    hand out and store than the wait it saves). A small round of runs (a
    generation of a growing study, see :meth:`restart`: less than
    :data:`SPLIT` x :data:`MIN_SECONDS` of runs per worker) is cut into
    :data:`SPLIT` equal batches per worker instead (none below
    :data:`TAIL_SECONDS` of runs): backends that queue that many batches per
    worker hand the whole round out at once, evenly, so that the workers
    finish it together and none waits for a batch meanwhile.

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
    retries : int
        Times a failed run is handed out again before it counts as failed
        (see :meth:`settle`).
    """

    #: largest batch before the duration of a run is known
    FIRST_BATCH = 16
    #: seconds of runs below which no batch shrinks at the end (a shorter batch costs a
    #: worker more in waiting for the next one than it balances)
    MIN_SECONDS = 0.0025
    #: batches per worker of a small round (the batches the pool and MPI backends queue per worker)
    SPLIT = 2
    #: seconds of runs below which no batch of a small round shrinks (about two dispatches' cost)
    TAIL_SECONDS = 0.0003
    #: most bytes of array results per batch (once measured): a bigger block is fresh memory each
    #: time (mmap, a page fault per 4 kB; stacking 400 x 1 MB rows took 0.09 s in blocks of
    #: 8 MB, 0.30 s in blocks of 50 MB), and the writer's queue holds the blocks meanwhile
    BATCH_BYTES = 8 << 20

    def __init__(self, todo: np.ndarray, workers: int, set_size: int = 1000,
                 target_seconds: float = 0.05, batch_size: int | None = None,
                 max_batch: int = 100_000, retries: int = 0):
        self.workers = max(1, workers)
        self.retries = retries
        #: run index -> attempts made so far, for runs handed out again
        self.attempts: dict[int, int] = {}
        self._again: list[list[int]] = []  # ranges of failed runs to hand out again
        self.set_size = set_size
        self.target = target_seconds
        self.fixed = batch_size
        self.max_batch = max_batch
        self.per_run: float | None = None
        #: bytes of array results per run (None until a batch was observed)
        self.bytes_per_run: float | None = None
        self._seconds = self._runs = self._bytes = 0.0  # fading sums behind per_run and bytes_per_run
        self.stopped = False
        #: the master cannot go on (its writer failed): backends return from run() at once
        self.aborted = False
        self._ranges = _ranges(np.asarray(todo))
        #: number of runs to do in all
        self.total = sum(hi - lo for lo, hi in self._ranges)
        self.remaining = self.total
        self._round = self.total  # runs of the current round (the exploration, or a generation)
        self._pos = 0  # into _ranges

    def size(self) -> int:
        """How many runs the next batch should hold."""
        if self.fixed:
            return self.fixed
        share = -(-self.remaining // (4 * self.workers))  # leave work for everyone at the end
        if self.per_run is None:  # small batches until a run has been timed, enough for every worker
            return max(1, min(self.FIRST_BATCH, share))
        per = max(self.per_run, 1e-9)
        want = int(self.target / per)
        if self.workers > 1:
            if self._round * per <= self.SPLIT * self.workers * self.MIN_SECONDS:  # a small round
                want = max(-(-self._round // (self.SPLIT * self.workers)), int(self.TAIL_SECONDS / per))
            else:
                want = min(want, max(share, int(self.MIN_SECONDS / per)))
        if self.bytes_per_run:
            want = min(want, int(self.BATCH_BYTES / self.bytes_per_run))
        return max(1, min(want, self.max_batch))

    def next(self) -> range | None:
        """The next batch, or None when all runs are handed out or :meth:`stop` was called."""
        if self.stopped:
            return None
        if self._again:  # failed runs with attempts left go first
            lo, hi = self._again.pop(0)
            self.remaining -= hi - lo
            return range(lo, hi)
        if self._pos >= len(self._ranges):
            return None
        lo, hi = self._ranges[self._pos]
        size = self.size()
        stop = min(hi, lo + size)
        if not self.fixed and hi - stop < size // 4 and hi - lo <= self.max_batch:  # no batch of a remnant
            stop = hi
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

    def restart(self, todo: np.ndarray | range) -> None:
        """Hand out the runs of ``todo`` next (a new generation); the measured run time is kept.

        ``todo``: as for the constructor, or a range of run indices.
        """
        if isinstance(todo, range):
            self._ranges = [[todo.start, todo.stop]] if len(todo) else []
        else:
            self._ranges = _ranges(np.asarray(todo))
        self._pos = 0
        more = sum(hi - lo for lo, hi in self._ranges)
        self.total += more
        self.remaining = self._round = more

    def observe(self, result: BatchResult) -> None:
        """Learn the per-run duration and result bytes from a finished batch.

        Batches weigh by their number of runs (the first tiny batch, mostly fixed
        costs, does not keep the next ones small) and older ones fade.
        """
        self._seconds = 0.7 * self._seconds + result.seconds
        self._runs = 0.7 * self._runs + max(1, len(result))
        self._bytes = 0.7 * self._bytes + sum(getattr(c.data, "nbytes", 0) for c in result.columns.values())
        self.per_run = self._seconds / self._runs
        self.bytes_per_run = self._bytes / self._runs

    def settle(self, result: BatchResult) -> BatchResult:
        """Count the attempts of ``result``'s runs and take back failed runs that have retries left.

        Sets ``result.info["attempts"]``. A failed run with attempts left is
        set back to PENDING in ``result`` (its error dropped) and handed out
        again, alone or with its failed neighbours, in a later batch. Returns
        ``result``, changed in place.
        """
        n = len(result)
        attempts = np.ones(n, np.uint16)
        if self.attempts:
            for i in range(result.start, result.stop) if n < len(self.attempts) else list(self.attempts):
                a = self.attempts.get(i)
                if a is not None and result.start <= i < result.stop:
                    attempts[i - result.start] = a + 1
            result.info["attempts"] = attempts
        else:  # no run of this study was retried yet: one value for the batch
            result.info["attempts"] = 1
        if not self.retries or self.stopped:
            return result
        failed = np.flatnonzero(result.status == FAILED)
        again = failed[attempts[failed] <= self.retries]
        if len(again):
            result.status[again] = PENDING
            runs = again + result.start
            for i, a in zip(runs.tolist(), attempts[again].tolist()):
                result.errors.pop(i, None)
                self.attempts[i] = a
            self._again.extend(_ranges(runs))
            self.remaining += len(runs)
        return result

    def stop(self) -> None:
        """Hand out no more batches."""
        self.stopped = True

    def abort(self) -> None:
        """Hand out no more batches, and stop waiting for those running (safe from any thread)."""
        self.stopped = self.aborted = True

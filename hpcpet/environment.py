"""The environment: runs a trajectory's exploration with a backend into one file."""
from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from .backends import Backend, get_backend
from .backends.base import BackendLost
from .engine import DONE, FAILED, BatchSource, FrozenInput
from .errors import HpcpetError
from .experiment import Experiment, git_commit
from .progress import Progress
from .trajectory import Trajectory
from . import write_queue
from .write_queue import WriteQueue

if TYPE_CHECKING:  # h5py is imported only where a file is written, not on MPI worker ranks
    from .storage.writer import Writer


@dataclass
class Summary:
    """What a call to :meth:`Environment.run` did."""

    path: str
    n_runs: int
    done: int
    failed: int
    pending: int
    ran: int
    seconds: float
    interrupted: bool = False

    @property
    def rate(self) -> float:
        """Runs per second in this session."""
        return self.ran / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        s = (f"{self.path}: {self.done}/{self.n_runs} runs done, {self.failed} failed, "
             f"{self.pending} pending ({self.ran} runs in {self.seconds:.2f} s, {self.rate:,.0f} runs/s)")
        return s


#: seconds after the first signal in which another one is the same signal delivered twice
#: (scancel signals every process and mpiexec forwards it again; so does Ctrl-C on a terminal)
SAME_SIGNAL_SECONDS = 1.0
#: default seconds between the first SIGINT/SIGTERM and stopping at once (HPCPET_STOP_GRACE)
STOP_GRACE = 6.0
#: the interpreter's thread switch interval while a writer thread works beside the dispatcher: the
#: dispatcher, woken by a result, waits at most this long for the writer thread to let it run
#: (Python's default 5 ms is longer than a small generation: workers would wait for their batches)
SWITCH_INTERVAL = 5e-4


class _Stop:
    """What the signal handler saw: the first signal's name, and whether a second came."""

    def __init__(self) -> None:
        self.signal = ""
        self.at = 0.0  # monotonic time of the first signal
        self.grace_over = False  # the grace timer fired
        self.said_same = False  # told the user that a quick second signal was taken as the first
        self.hard = False  # second signal while the writer was busy: stop right after it
        self.writing = False


@contextmanager
def _stop_on_signals(source: BatchSource, log, grace: float = STOP_GRACE) -> Iterator[_Stop]:
    """First SIGINT/SIGTERM: hand out no more batches; second (or ``grace`` s later): stop at once.

    A signal within :data:`SAME_SIGNAL_SECONDS` of the first counts as the
    first delivered twice. A second signal that arrives while the writer is
    busy takes effect right after it, so that a checkpoint is never cut in half.
    """
    state = _Stop()
    timer: list[threading.Timer] = []

    def grace_over() -> None:
        state.grace_over = True
        os.kill(os.getpid(), signal.SIGINT)

    def handler(signum, frame):
        if state.signal:
            if not state.grace_over and time.monotonic() - state.at < SAME_SIGNAL_SECONDS:
                if not state.said_same:
                    state.said_same = True
                    log(f"a signal within {SAME_SIGNAL_SECONDS:g} s of the first counts as the same "
                        "one; send it again to stop at once")
                return
            if state.writing:
                state.hard = True
                return
            raise KeyboardInterrupt
        state.signal = signal.Signals(signum).name
        state.at = time.monotonic()
        source.stop()
        log(f"received {state.signal}: finishing running batches and saving "
            f"(at most {grace:g} s); send again to stop at once")
        t = threading.Timer(grace, grace_over)
        t.daemon = True
        t.start()
        timer.append(t)

    old = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread
        pass
    try:
        yield state
    finally:
        for t in timer:
            t.cancel()
        for sig, h in old.items():
            signal.signal(sig, h)


class Environment:
    """Runs every run of a trajectory and stores the results in one HDF5 file.

    Parameters
    ----------
    trajectory : Trajectory
        Parameters and exploration; frozen when :meth:`run` starts.
    filename : str
        The results file to create.
    backend : str or Backend
        ``serial``, ``pool``, ``scoop``, ``mpi`` or ``auto``.
    ncores : int, optional
        Worker processes for ``pool`` and ``scoop``.
    set_size : int
        Runs per ``$set`` bucket (default 1000).
    overwrite : bool
        Replace an existing file instead of refusing.
    progress : str
        ``auto``, ``bar``, ``log`` or ``quiet``.
    fail_fast : bool
        Stop at the first run that raises.
    batch_size : int, optional
        Fixed number of runs per batch instead of the adaptive size.
    experiment : Experiment, optional
        The experiment file the trajectory came from (recorded in the file).
    part : tuple of int, optional
        ``(K, N)``: run only the K-th (1-based) of N contiguous slices of the
        exploration (see :mod:`hpcpet.parts`; merge part files with ``merge``).
    run_timeout : float, optional
        Seconds after which a run is stopped and marked failed ("timeout after S s").
    retries : int
        Times a failed run is run again (in a later batch) before it counts as failed.
    capture : bool
        Keep the last 4 kB of each run's stdout and stderr (file-descriptor level).
    seed : int, optional
        The study's base seed (``0 .. 2**63 - 1``), from which every run's
        ``traj.seed`` derives; random when not given (and the trajectory's own
        ``base_seed`` is unset), except with ``part``: then derived from the
        exploration's fingerprint, so that all parts agree. Recorded in the
        file's metadata as ``seed``.
    compression : str, optional
        Compression of every result column: ``none`` (default), ``gzip[:LEVEL]``, ``lzf``,
        ``zstd[:LEVEL]`` or ``blosc[:CODEC[:LEVEL]]`` (zstd and blosc need ``hdf5plugin``);
        per result, ``add_result(..., compression=...)`` overrides it.
    presets : mapping of str to value, optional
        Parameter defaults to override (see :meth:`Trajectory.preset`); text is
        read as the parameter's type. Recorded in the metadata as ``presets`` (JSON).
    threads_per_run : int, optional
        BLAS/OpenMP threads of each worker process (default 1 unless
        ``OMP_NUM_THREADS`` etc. are set; see :mod:`hpcpet.placement`).
    gpus_per_worker : int, optional
        GPUs each worker sees through ``CUDA_VISIBLE_DEVICES``.
    gpus : str, optional
        The GPUs to share out (``"0,1,2,3"``; default: the launcher's list).
    ranks_per_run : int, optional
        MPI backend: ranks that execute each run together (``traj.comm``).
    """

    def __init__(self, trajectory: Trajectory, filename: str, *, backend: str | Backend = "serial",
                 ncores: int | None = None, set_size: int = 1000, overwrite: bool = False,
                 progress: str = "auto", fail_fast: bool = False, batch_size: int | None = None,
                 experiment: Experiment | None = None, part: tuple[int, int] | None = None,
                 run_timeout: float | None = None, retries: int = 0, capture: bool = False,
                 seed: int | None = None, presets: dict[str, Any] | None = None,
                 compression: str | None = None,
                 threads_per_run: int | None = None, gpus_per_worker: int | None = None,
                 gpus: str | None = None, ranks_per_run: int | None = None):
        if batch_size is not None and batch_size < 1:
            raise HpcpetError(f"batch size must be >= 1, got {batch_size}")
        if run_timeout is not None and not run_timeout > 0:
            raise HpcpetError(f"run timeout must be > 0 seconds, got {run_timeout}")
        if retries < 0:
            raise HpcpetError(f"retries must be >= 0, got {retries}")
        self.run_timeout = run_timeout
        self.retries = int(retries)
        self.capture = capture
        if seed is not None:
            from .seeds import check_base_seed

            trajectory.base_seed = check_base_seed(seed)
        for name, value in (presets or {}).items():
            trajectory.preset(name, value)
        self.trajectory = trajectory
        self.filename = filename
        setup = None
        if (threads_per_run, gpus_per_worker, gpus) != (None, None, None):
            from .backends import resolve_name
            from .placement import WorkerSetup

            setup = WorkerSetup(threads_per_run, gpus_per_worker, gpus)  # checked before MPI starts
            setup.check(backend.name if isinstance(backend, Backend) else resolve_name(backend))
        options = {} if ranks_per_run is None else {"ranks_per_run": ranks_per_run}
        self.backend = backend if isinstance(backend, Backend) else get_backend(backend, ncores, **options)
        if setup is not None:
            self.backend.setup = setup
        self.set_size = set_size
        self.overwrite = overwrite
        self.progress = progress
        self.fail_fast = fail_fast
        self.batch_size = batch_size
        self.experiment = experiment
        #: seconds between the first SIGINT/SIGTERM and stopping at once
        self.stop_grace = float(os.environ.get("HPCPET_STOP_GRACE", STOP_GRACE))
        if compression is not None:
            from .storage.compression import parse

            parse(compression)  # a bad spec is a one-line error before anything starts
        #: compression of result columns in the file (docs/format.md); None: none
        self.compression = compression
        self.part = part
        #: set by run/resume: the study grows while next_runs returns points
        self.next_runs: Callable | None = None
        self.max_generations: int | None = None

    def log(self, text: str) -> None:
        """Print a message for the user (not in quiet mode)."""
        if self.progress != "quiet":
            print(f"[hpcpet] {text}", file=sys.stderr, flush=True)

    def run(self, function: Callable, *args: Any, next_runs: Callable | None = None,
            max_generations: int | None = None, **kwargs: Any) -> Summary | None:
        """Call ``function(traj, *args, **kwargs)`` for every run and store the results.

        With ``next_runs``, the study grows in generations: after each one,
        ``next_runs(study)`` (on the master, ``study`` a read view of everything
        stored so far) returns the next generation's points (a dict of
        equal-length lists, or an exploration), or None to stop; at most
        ``max_generations`` generations run in all. Returns None on MPI worker
        ranks, which only serve batches.
        """
        self.next_runs, self.max_generations = next_runs, _check_generations(max_generations)
        if not self.backend.is_master:
            self.backend.serve()
            return None
        traj = self.trajectory
        traj.freeze()
        if traj.base_seed is None:
            from .seeds import new_base_seed, seed_of_exploration

            # the parts of one exploration must agree without talking: a seed derived from it
            traj.base_seed = new_base_seed() if self.part is None else seed_of_exploration(traj.exploration)
        exp = self.experiment
        meta = {"experiment_path": exp.path if exp else "",
                "experiment_hash": exp.source_hash if exp else "",
                "function": getattr(function, "__qualname__", repr(function)),
                "backend": self.backend.name, **study_metadata(traj)}
        if self.compression not in (None, "none"):
            meta["compression"] = self.compression
        lo, hi = 0, len(traj.exploration)
        if self.part is not None:
            from .parts import part_metadata

            meta.update(part_metadata(*self.part, len(traj.exploration)))
            lo, hi = meta["part_start"], meta["part_stop"]
        from .storage.writer import Writer

        # refuse a bad output before any worker starts; the file itself is created while the
        # workers run their first batches (see execute)
        Writer.check_target(self.filename, overwrite=self.overwrite, set_size=self.set_size)
        commit = git_commit(exp.path) if exp else (lambda: "")  # git runs while the workers start

        def create() -> Writer:
            return Writer.create(self.filename, traj, set_size=self.set_size, overwrite=self.overwrite,
                                 metadata={**meta, "git_commit": commit()},
                                 source=exp.source if exp else None)

        frozen = FrozenInput(traj, function, args, kwargs, experiment=exp.path if exp else None,
                             fail_fast=self.fail_fast)
        todo = np.zeros(len(traj.exploration), bool)
        todo[lo:hi] = True
        return self.execute(create, frozen, todo)

    def resume(self, function: Callable, *args: Any, retry_failed: bool = False,
               next_runs: Callable | None = None, max_generations: int | None = None,
               **kwargs: Any) -> Summary | None:
        """Complete ``filename``, written earlier from this trajectory: run only the runs not done.

        The trajectory's exploration must be the one in the file. Returns
        None on MPI worker ranks. See also :func:`hpcpet.resume`.
        """
        if not self.backend.is_master:
            self.backend.serve()
            return None
        from .storage.snapshot import Snapshot
        from .storage.writer import Writer

        self.next_runs, self.max_generations = next_runs, _check_generations(max_generations)
        traj = self.trajectory
        traj.freeze()
        Writer.check_busy(self.filename)
        snap = Snapshot(self.filename)  # check before taking the file: a refusal changes nothing
        try:
            if snap.format == 2 and len(snap.pieces()) > len(traj.exploration.segments):
                _adopt_generations(self.filename, snap.exploration(), traj)  # generations added since build
            _check_fingerprint(self.filename, snap.attrs if snap.format == 2 else {}, traj)
            if self.max_generations is None and "max_generations" in snap.attrs:
                self.max_generations = int(snap.attrs["max_generations"]) or None
        finally:
            snap.close()
        writer = Writer.reopen(self.filename)
        try:
            todo = writer.todo_mask(retry_failed)
            c = writer.counts()
            self.log(f"resuming {self.filename}: {c['done']} done, {c['failed']} failed, "
                     f"{c['pending']} pending; running {int(todo.sum())}")
            writer.set_attrs(resumed=_now(), resume_count=int(writer.attrs.get("resume_count", 0)) + 1)
            exp = self.experiment
            frozen = FrozenInput(traj, function, args, kwargs, experiment=exp.path if exp else None,
                                 fail_fast=self.fail_fast)
        except BaseException:
            writer.abandon()
            raise
        return self.execute(writer, frozen, todo)

    def _next_generation(self, writer: Writer, frozen: FrozenInput) -> range | None:
        """Ask ``next_runs`` for the next generation; add it to the file and the workers.

        ``next_runs`` sees every run written so far through the writer's own
        view, committed or not: a small generation is committed by the next
        regular checkpoint (with the next generation's pending runs), not here;
        a large one by :meth:`Writer.between_generations`, which :meth:`execute`
        calls once the next generation's first batches are out (under the pool
        and MPI in the writer thread, while the workers run them).
        """
        from .storage.reader import LoadedTrajectory

        traj = frozen.trajectory
        done = traj.exploration.generations
        if self.max_generations is not None and done >= self.max_generations:
            return None
        study = LoadedTrajectory(writer.path, writer.view(traj.exploration))
        try:
            points = self.next_runs(study)
        except HpcpetError as exc:
            raise HpcpetError(f"next_runs after generation {done - 1}: {exc}") from None
        except Exception as exc:
            raise HpcpetError(f"next_runs after generation {done - 1} raised {type(exc).__name__}: {exc}; "
                              f"every finished run is saved: fix it, then "
                              f"'python -m hpcpet resume {writer.path}' goes on") from None
        finally:
            study.close()
        if points is None:
            return None
        before = len(traj.exploration.segments)
        try:
            new = traj.expand(points)
        except HpcpetError as exc:
            raise HpcpetError(f"next_runs for generation {done}: {exc}") from None
        if len(new) == 0:
            return None
        writer.extend(traj.exploration)
        segments = list(traj.exploration.segments[before:])
        self.backend.extend(segments, len(traj.exploration.segments))
        self.log(f"generation {done}: {len(new)} runs")
        return new

    def execute(self, writer: Writer | Callable[[], Writer], frozen: FrozenInput,
                todo: np.ndarray) -> Summary:
        """Run the runs of ``todo`` with the backend, writing every result with ``writer``.

        ``todo`` is a bool mask over all runs, or sorted run indices.
        ``writer`` may also be a function that creates it: it is called once
        the backend has started, so that workers already run their first
        batches while the file is being created. When the backend allows it
        (:attr:`Backend.overlap_writes`) a writer thread creates the file and
        writes, and this thread only dispatches (see :class:`_Sink`).
        """
        t0 = time.perf_counter()
        frozen.setup = self.backend.setup
        make = writer if callable(writer) else None
        set_size = self.set_size if make else writer.set_size
        given = None if make else writer
        if given is not None:  # resuming: the runs see the seed and presets of the first session
            _restore_recorded(frozen.trajectory, given.attrs)
        source = BatchSource(todo, self.backend.workers, set_size, batch_size=self.batch_size,
                             retries=self.retries)
        frozen.run_timeout = frozen.run_timeout or self.run_timeout
        frozen.capture = frozen.capture or self.capture
        if self.retries:  # --fail-fast then stops after a run failed every attempt (settle)
            frozen.fail_fast = False
        progress = Progress(source.total, self.progress)
        interrupted = hard = False
        write_error: BaseException | None = None
        late_error: BaseException | None = None  # the writer thread's, raised once everything is closed
        sink: _Sink | None = None
        switch: float | None = None  # the thread switch interval to restore

        def open_writer() -> Writer:
            w = make() if make is not None else given
            if self.next_runs is not None:  # imported here (the writer thread, under pool and MPI)
                from .storage import reader  # noqa: F401  rather than on the first turnaround
            w.set_attrs(started=_now())
            if self.max_generations:
                w.set_attrs(max_generations=self.max_generations)
            return w

        def written() -> Writer | None:
            """The writer, once it exists (waits for the writer thread to have created it)."""
            return sink.opened() if sink is not None else given

        try:
            # handlers first: a signal while workers start (MPI ranks still importing) stops cleanly
            with _stop_on_signals(source, self.log, self.stop_grace) as stop:
                self.backend.results_path = self.filename
                self.backend.start(frozen, source)
                threaded = self.backend.overlap_writes and write_queue.enabled()
                if threaded:
                    switch = sys.getswitchinterval()
                    sys.setswitchinterval(min(switch, SWITCH_INTERVAL))
                sink = _Sink(open_writer, progress, source, self.fail_fast, threaded)
                while True:
                    for result in self.backend.run(source):
                        stop.writing = not threaded
                        source.settle(result)
                        source.observe(result)
                        _writing(sink.put, result)  # threaded: waits only while the queue is full
                        stop.writing = False
                        if stop.hard:
                            raise KeyboardInterrupt
                    _writing(sink.drain)  # the writer is this thread's again
                    if self.next_runs is None or source.stopped or stop.signal:
                        break
                    new = self._next_generation(sink.writer, frozen)
                    if new is None:
                        break
                    source.restart(new)
                    progress.grow(len(new))
                    # a commit of what the finished generations left in memory waits until the
                    # next generation's first batches are out: off the turnaround
                    sink.defer(functools.partial(sink.writer.between_generations, wait=threaded))
                interrupted = bool(stop.signal)
        except KeyboardInterrupt:
            interrupted = hard = True
            if written() is None:  # before the file existed: nothing to save
                raise
        except _WriteFailed as failed:
            if written() is None:  # creating the file failed (in the writer thread): as if here
                raise failed.args[0] from None
            write_error = failed.args[0]
            hard = True
        except BackendLost as exc:  # e.g. an MPI rank is stuck: keep what is written, end the job
            interrupted = hard = True
            print(f"[hpcpet] error: {exc}. Complete with: python -m hpcpet resume {self.filename}",
                  file=sys.stderr, flush=True)
        finally:
            if switch is not None:
                sys.setswitchinterval(switch)
            try:
                # no file (its creation failed): the batches running are lost anyway, stop at once
                terminate = getattr(self.backend, "terminate", None) if hard or written() is None else None
                (terminate or self.backend.close)()
            finally:
                if sink is not None:  # write what was received (at most the queue's bound)
                    late_error = sink.close(finish=write_error is None)
                    if isinstance(late_error, (OSError, RuntimeError)) and write_error is None:
                        write_error, late_error = late_error, None
                progress.close()
                writer = written()
                closed = sink is not None and sink.finished  # by the writer thread
                if closed and sink.close_error is not None:
                    raise sink.close_error
                if writer is not None and not closed:
                    if write_error is None:
                        writer.close()
                    else:
                        _close_after_write_error(writer)
        if late_error is not None:
            raise late_error
        if write_error is not None:
            from .storage.files import first_line

            raise HpcpetError(
                f"writing {writer.path} failed: {first_line(write_error)}. Runs saved before "
                f"are intact; fix the cause, then: python -m hpcpet resume {writer.path}")
        c = writer.counts()
        summary = Summary(writer.path, writer.n_runs, c["done"], c["failed"], c["pending"], sink.ran if sink else 0,
                          time.perf_counter() - t0, interrupted)
        if interrupted:
            self.log(f"interrupted: {c['done']} runs done and saved, {c['pending']} pending. "
                     f"Complete with: python -m hpcpet resume {writer.path}")
        if self.fail_fast and c["failed"]:
            raise HpcpetError(f"a run failed (--fail-fast); {summary}")
        return summary


class _Sink:
    """Takes the dispatcher's results to the writer: itself, or through a writer thread.

    Parameters
    ----------
    open_writer : callable
        Returns the writer (creating the file); called once, by the thread that writes.
    progress : Progress
        Counts the runs written; printed to only by the dispatching thread (a pool
        worker forked meanwhile must not inherit a stream lock that a writer thread holds).
    source : BatchSource
        Stopped after a failed run with ``fail_fast``; aborted when the writer thread fails
        (the dispatcher stops waiting for results and raises the writer's error).
    fail_fast : bool
        Stop handing out batches once a run failed.
    threaded : bool
        Create the file and write in a :class:`~hpcpet.write_queue.WriteQueue`'s thread,
        so that neither holds up dispatching (memory bound: ``HPCPET_WRITE_QUEUE_MB``).
    """

    def __init__(self, open_writer: Callable[[], Writer], progress: Progress, source: BatchSource,
                 fail_fast: bool, threaded: bool):
        #: the writer, once created
        self.writer: Writer | None = None
        #: runs written (done or failed)
        self.ran = 0
        self._open = open_writer
        self._progress = progress
        self._on_failed = source.stop if fail_fast else None
        self._counts: deque = deque()  # (runs, failed) written and not yet shown
        self._deferred: list[Callable[[], None]] = []  # writer calls waiting for the next put or drain
        #: the writer thread closed the writer (see :meth:`close`), and what that raised
        self.finished = False
        self.close_error: BaseException | None = None
        self.queue = WriteQueue(self._take, write_queue.limit_bytes(), first=self._create,
                                on_error=source.abort) if threaded else None
        if self.queue is None:
            self._create()

    def _create(self) -> None:
        self.writer = self._open()

    def _take(self, result) -> None:
        self.writer.write(result)
        n_failed = int((result.status == FAILED).sum())
        n_done = int((result.status == DONE).sum())
        self._counts.append((n_done + n_failed, n_failed))
        if n_failed and self._on_failed is not None:
            self._on_failed()

    def opened(self) -> Writer | None:
        """The writer, after the writer thread has tried to create it (None if that failed)."""
        if self.queue is not None:
            self.queue.first_done.wait()
        return self.writer

    def defer(self, call: Callable[[], None]) -> None:
        """Call ``call()`` (a use of the writer) before the next result is written, in the thread that writes.

        It waits for the next :meth:`put` or :meth:`drain`, so that the
        dispatcher hands out batches first; :meth:`close` drops it (the close
        commits everything anyway).
        """
        self._deferred.append(call)

    def _run_deferred(self) -> None:
        while self._deferred:
            call = self._deferred.pop(0)
            if self.queue is None:
                call()
            else:
                self.queue.call(call)

    def put(self, result) -> None:
        """Write ``result``, or queue it for the writer thread (waiting while the queue is full)."""
        self._run_deferred()
        if self.queue is None:
            self._take(result)
        else:
            if self._on_failed is not None and (result.status == FAILED).any():
                self._on_failed()  # at once, not when the writer gets to it
            self.queue.put(result)
        self._show()

    def drain(self) -> None:
        """Wait until everything put is written."""
        self._run_deferred()
        if self.queue is not None:
            self.queue.drain()
        self._show()

    def close(self, finish: bool = False) -> BaseException | None:
        """Write what is queued and stop the thread; return its error if it was not raised yet.

        ``finish``: the writer thread also closes the writer (consolidates the
        file) once everything is written, unless writing failed; then
        :attr:`finished` is True and :attr:`close_error` holds what the close
        raised. So one thread makes every write of the file, the close's
        included (the crash tests aim at the k-th write of that thread).
        """
        self._deferred.clear()
        late = self.queue.close(self._finish if finish else None) if self.queue is not None else None
        self._show()
        return late

    def _finish(self) -> None:
        if self.writer is not None:
            self.finished = True
            try:
                self.writer.close()
            except BaseException as exc:  # raised by the dispatching thread, as if it had closed
                self.close_error = exc

    def _show(self) -> None:
        while self._counts:
            n, failed = self._counts.popleft()
            self.ran += n
            self._progress.update(n, failed)


def study_metadata(traj: Trajectory) -> dict[str, Any]:
    """What the file records of the study's set-up: base seed, presets, how the runs were made.

    ``seed`` (int), ``presets`` (JSON object of name -> value as given) and
    ``exploration_segments`` (JSON list, one :meth:`Segment.describe` per segment:
    kind, names, shape, groups, generation, runs, origin).
    """
    import json

    def plain(v: Any) -> Any:
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, np.ndarray):
            return v.tolist()
        return v if isinstance(v, (bool, int, float, str, list, dict, type(None))) else repr(v)

    return {"seed": traj.base_seed,
            "presets": json.dumps({n: plain(v) for n, v in traj.presets.items()}),
            "exploration_segments": json.dumps(traj.exploration.describe(), default=plain)}


def _restore_recorded(traj: Trajectory, attrs: Any) -> None:
    """Give ``traj`` the base seed and presets recorded by :func:`study_metadata`."""
    import json

    seed = attrs.get("seed")
    presets = attrs.get("presets")
    if isinstance(presets, bytes):
        presets = presets.decode()
    traj.restore(int(seed) if seed is not None else None, json.loads(presets) if presets else {})


class _WriteFailed(Exception):
    """The writer could not write (the run loop stops, the file keeps its last checkpoint)."""


def _writing(fn: Callable, *args: Any) -> None:
    """``fn(*args)``, a write or a hand-off to the writer thread; its I/O errors become :class:`_WriteFailed`."""
    try:
        fn(*args)
    except (OSError, RuntimeError) as exc:  # disk full, quota, I/O error
        raise _WriteFailed(exc) from exc


def _check_generations(n: int | None) -> int | None:
    if n is not None and n < 1:
        raise HpcpetError(f"--max-generations must be >= 1, got {n}")
    return n


def _adopt_generations(path: str, stored, traj: Trajectory) -> None:
    """Give ``traj`` (built by the experiment: generation 0) the generations the file added since."""
    from .exploration import Exploration

    k = len(traj.exploration.segments)
    if Exploration.from_segments(stored.segments[:k]).fingerprint() != traj.exploration.fingerprint():
        return  # not the same study: the fingerprint check says so
    traj.append_segments(list(stored.segments[k:]))


def _close_after_write_error(writer: Writer) -> None:
    """Keep what is committed (the segments) for resume; never raise."""
    try:
        writer.abandon()
    except Exception:
        pass


def _check_fingerprint(path: str, attrs: dict, traj: Trajectory) -> None:
    """Refuse when ``traj``'s exploration is not the one the file was written with."""
    if not attrs:
        raise HpcpetError(f"{path} has format 1 (hpcpet 0.1): hpcpet.load reads it, but only format 2 "
                          "files can be resumed; run the study again")
    want = str(attrs.get("exploration_fingerprint", ""))
    got = traj.exploration.fingerprint()
    if got != want:
        raise HpcpetError(
            f"the exploration built now (fingerprint {got}) differs from the one in {path} ({want}); "
            "resume needs exactly the same parameters and explored values")
    if len(traj.exploration) != int(attrs["n_runs"]):
        raise HpcpetError(f"the exploration has {len(traj.exploration)} runs, {path} has {attrs['n_runs']}")


def _now() -> str:
    from .storage.header import now

    return now()

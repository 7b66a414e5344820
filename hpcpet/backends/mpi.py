"""MPI backend: rank 0 hands out batches and writes; the other ranks run them.

Launch every rank with the same command (``mpiexec -n N python -m hpcpet run
exp.py -o out.h5``). Rank 0 is the master: it owns the results file, sends
the frozen input to all ranks once (``bcast``), then answers each finished
batch with the next ``(start, stop)``; every worker keeps two batches in
flight so it never waits for the master. Waiting is done by polling with a
growing sleep (50 us up to a few ms; shorter right after a message, see
:data:`MASTER_HOT`) because MPICH's blocking receive spins and would burn a
core on rank 0.

Messages (all from/to rank 0)::

    master -> worker  HELLO  True (a bcast of the FrozenInput follows) or False (nothing to do)
    master -> worker  WORK   (start, stop)
    worker -> master  RESULT BatchResult, or None as the last message ("bye"); sent with
                             mpi4py's pkl5 (pickle 5: arrays of 256 kB or more travel as
                             their own messages, straight from and into array memory)
    master -> worker  STOP   None: run no more batches, say bye, leave serve()
    any    -> master  ERROR  (rank, host, text, exit code): this rank failed outside a run
    worker -> master  STUCK  (run, seconds): a run is past --run-timeout in code that does not
                             return to Python; a rank cannot be replaced, so the job ends

A rank that dies (``os._exit``, a segfault, SIGKILL) makes ``mpiexec`` end
every rank at once; rank 0 cannot say anything then, so it leaves a
sentinel process (:func:`start_sentinel`) that prints how to resume if
rank 0 ends without passing its exit handlers.

Errors (:func:`report_error`): a rank that fails sends its error to rank 0
and waits; rank 0 prints every distinct error once, naming ranks and hosts,
and ends the job with ``MPI_Abort``. So an error that every rank hits is
one line, an error of one rank names it, and no rank is left waiting.
"""
from __future__ import annotations

import atexit
import os
import signal
import sys
import time
import traceback
from typing import Callable, Iterator

from ..engine import BatchResult, BatchSource, FrozenInput, RunBoard, Worker, failed_batch, format_error
from ..errors import HpcpetError
from ..launch import current as current_launch, mismatch_message
from .base import Backend, BackendLost

TAG_HELLO, TAG_WORK, TAG_RESULT, TAG_STOP, TAG_ERROR, TAG_STUCK = 11, 12, 13, 14, 15, 16
#: seconds past --run-timeout after which a worker rank reports its run as stuck
STUCK_GRACE = 2.0
#: first item of a WORK message that carries a new generation's exploration segments
EXTEND = "extend"
#: master backends created in this process (they release their workers at exit)
_MASTERS: list = []
#: batches kept queued per worker rank
PREFETCH = 2
#: (cap, seconds) of the idle poll (see :class:`Poller`): rank 0 waiting for results polls at least
#: every 0.5 ms for 50 ms after the last one, and every 0.1 ms once every batch is handed out (the
#: last results of a generation: the next one waits for them); an idle worker polls every 0.2 ms
#: for 50 ms (the next generation's batches follow within milliseconds), then up to every 5 ms
MASTER_HOT = (5e-4, 0.05)
MASTER_TAIL = (1e-4, 0.05)
WORKER_HOT = (2e-4, 0.05)
#: seconds :meth:`MPIBackend.start` waits for a first result to size the first batches
FIRST_RESULT_WAIT = 0.1
#: seconds between printing an error and MPI_Abort (mpiexec forwards output asynchronously)
ABORT_DELAY = 0.3
#: seconds :meth:`MPIBackend.terminate` waits for workers before giving up on them
TERMINATE_WAIT = 2.0
#: seconds rank 0, failing, waits for the errors of the other ranks before it ends the job
COLLECT_WAIT = 2.0
#: seconds a failing rank > 0 waits for rank 0 to end the job before it prints its error and aborts
REPORT_WAIT = 5.0


class Poller:
    """Sleeps between polls, from ``first`` seconds doubling up to ``longest``.

    ``hot``: ``(cap, seconds)``: for ``seconds`` after something arrived the
    sleep grows only up to ``cap``: the next message is likely to come soon
    (the next batch, the next generation), and a long sleep would delay it.
    """

    def __init__(self, first: float = 50e-6, longest: float = 2e-3, hot: tuple[float, float] | None = None):
        self.first, self.longest = first, longest
        self.hot = hot
        self.delay = first
        self._since = time.monotonic()

    def reset(self) -> None:
        """Something arrived: poll fast again."""
        self.delay = self.first
        if self.hot is not None:
            self._since = time.monotonic()

    def wait(self) -> None:
        """Sleep once and grow the next delay."""
        time.sleep(self.delay)
        longest = self.longest
        if self.hot is not None and time.monotonic() - self._since < self.hot[1]:
            longest = min(longest, self.hot[0])
        self.delay = min(2 * self.delay, longest)

    def until(self, ready: Callable[[], object], timeout: float | None = None) -> object:
        """Poll ``ready()`` until it returns something truthy; return that (None after ``timeout`` s)."""
        self.reset()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            got = ready()
            if got:
                return got
            if deadline is not None and time.monotonic() >= deadline:
                return None
            self.wait()


def _master_works_default(size: int) -> bool:
    value = os.environ.get("HPCPET_MPI_MASTER_WORKS", "auto").strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    return size <= 2


class MPIBackend(Backend):
    """Runs batches on the ranks of ``MPI.COMM_WORLD``; rank 0 is the master.

    Parameters
    ----------
    ncores : int, optional
        Ignored: the number of ranks comes from ``mpiexec -n``.
    master_works : bool, optional
        Whether rank 0 also runs batches between polls. Default: only with
        a single worker rank (``-n 2``); set ``HPCPET_MPI_MASTER_WORKS=0/1``
        to override. With ``-n 1`` rank 0 always runs everything itself.
    ranks_per_run : int, optional
        Run each run collectively on a group of this many worker ranks
        (``COMM_WORLD.Split``): the group's first rank (its leader) gets the
        batches from rank 0 and passes them on, every rank of the group
        calls the run function with ``traj.comm`` the group's communicator,
        and only the leader's results are stored. Must divide the number of
        worker ranks (``-n`` minus 1); rank 0 then only dispatches and writes.
    """

    name = "mpi"

    def __init__(self, ncores: int | None = None, master_works: bool | None = None,
                 ranks_per_run: int | None = None):
        super().__init__(ncores)
        from mpi4py import MPI

        self.MPI = MPI
        self.comm = MPI.COMM_WORLD
        from mpi4py.util import pkl5

        #: the same communicator for TAG_RESULT messages (every send and receive of that tag uses it)
        self.results = pkl5.Intracomm(self.comm)
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        check_world(MPI)
        self.is_master = self.rank == 0
        if master_works is None:
            master_works = _master_works_default(self.size)
        self.master_works = master_works or self.size == 1
        #: this rank's group communicator with ``ranks_per_run`` (None otherwise, and on rank 0)
        self.group = None
        self.ranks_per_run = ranks_per_run
        if ranks_per_run is not None:
            workers = self.size - 1
            if workers < 1 or ranks_per_run < 1 or workers % ranks_per_run:
                raise HpcpetError(
                    f"--ranks-per-run {ranks_per_run} does not divide the {workers} worker ranks "
                    f"(-n {self.size}: rank 0 only writes); use -n 1+{ranks_per_run}*m")
            self.master_works = False
            color = MPI.UNDEFINED if self.rank == 0 else (self.rank - 1) // ranks_per_run
            group = self.comm.Split(color, self.rank)  # collective: every rank calls it
            self.group = None if group == MPI.COMM_NULL else group
        #: the ranks rank 0 talks to: every worker rank, or each group's first rank
        self.leaders = list(range(1, self.size, ranks_per_run or 1))
        self._started = False  # master: workers got a HELLO for the current start()
        self._used = False  # master: start() was called at least once
        self._abort_at_exit = 0  # master: exit code of an MPI_Abort at exit (workers left running)
        self._failed = False  # master: a worker rank reported an error (it will never say bye)
        self._queued: dict[int, int] = {}  # master: batches handed out and not yet returned, per rank
        self._early: list[BatchResult] = []  # master: results received in start()
        self._worker: Worker | None = None
        self._timeout: float | None = None
        self._sentinel = None  # master: the process that reports an abrupt end (start_sentinel)
        self._extends: list = []  # master: EXTEND messages sent and maybe not yet received
        if self.is_master and self.size > 1:
            atexit.register(self._at_exit)
            _MASTERS.append(self)

    # ------------------------------------------------------------------ master
    @property
    def overlap_writes(self) -> bool:
        """Rank 0 writes while it dispatches, unless it also runs batches (then both need its one core)."""
        return self.size > 1 and not self.master_works

    @property
    def workers(self) -> int:
        return len(self.leaders) + (1 if self.master_works else 0)

    def start(self, frozen: FrozenInput, source: BatchSource | None = None) -> None:
        """Broadcast the frozen input to every rank, once; with ``source``, hand out the first batches."""
        self._worker = Worker(frozen, 0) if self.master_works else None
        self._timeout = frozen.run_timeout
        self._queued.clear()  # left over if an earlier exploration was terminated
        self._early.clear()
        if self.size > 1:
            for r in range(1, self.size):
                self.comm.send(True, dest=r, tag=TAG_HELLO)
            self._started = self._used = True
            if self.results_path and self._sentinel is None:
                self._sentinel = start_sentinel(self.results_path)
            self.comm.bcast(frozen, root=0)
        index = self._node_index(frozen)  # collective when GPUs are placed
        if self._worker is not None:
            self._place(self._worker, frozen, index)
        if self.size > 1 and source is not None:
            self._begin(source)

    def _node_index(self, frozen: FrozenInput) -> int | None:
        """This rank's number among the working ranks of its node (for GPUs; collective), or None."""
        if frozen.setup is None or frozen.setup.gpus_per_worker is None:
            return None
        node = self.comm.Split_type(self.MPI.COMM_TYPE_SHARED, key=self.rank)
        ranks = node.allgather(self.rank)
        node.Free()
        working = [r for r in ranks if r != 0 or self.master_works]
        return working.index(self.rank) if self.rank in working else None

    def _place(self, worker: Worker, frozen: FrozenInput, index: int | None) -> None:
        """Threads, GPUs and ``traj.comm`` of this rank's worker."""
        if frozen.setup is not None:
            worker.tags.update(frozen.setup.apply(index))
        worker.view.comm = self.group if self.group is not None else self.MPI.COMM_SELF

    def _begin(self, source: BatchSource) -> None:
        """Give every worker its first batches, so that they run while the master creates the file.

        A first small batch per worker tells how long a run takes (waiting at
        most :data:`FIRST_RESULT_WAIT` s for it); the other prefetched
        batches are sized from that. Early results are yielded first by :meth:`run`.
        """
        for r in self.leaders:
            self._hand_out(source, r)
        if not self._queued:
            return
        status = self.MPI.Status()
        msg = Poller(longest=1e-3).until(lambda: self.results.improbe(self.MPI.ANY_SOURCE, TAG_RESULT, status),
                                          timeout=FIRST_RESULT_WAIT)
        if msg is not None:
            result = msg.recv()
            self._queued[status.Get_source()] -= 1
            source.observe(result)  # observing it again later does not change the estimate
            self._early.append(result)
        self._top_up_all(source)

    def _hand_out(self, source: BatchSource, rank: int) -> bool:
        batch = source.next()
        if batch is None:
            return False
        self.comm.send((batch.start, batch.stop), dest=rank, tag=TAG_WORK)
        self._queued[rank] = self._queued.get(rank, 0) + 1
        return True

    def _top_up(self, source: BatchSource, rank: int) -> None:
        while self._queued.get(rank, 0) < PREFETCH and self._hand_out(source, rank):
            pass

    def _top_up_all(self, source: BatchSource) -> None:
        """Fill every rank's queue, one batch per rank at a time (so that a small round is shared out evenly)."""
        for depth in range(1, PREFETCH + 1):
            for r in self.leaders:
                if self._queued.get(r, 0) < depth and not self._hand_out(source, r):
                    return

    def extend(self, segments: list, total: int) -> None:
        """A new generation: its exploration segments go to every worker rank once.

        They travel as a WORK message, so a rank always has them before the
        first batch of the generation (MPI keeps the order of one sender's
        messages of one tag, whether sent with send or isend). The send does
        not wait for the rank to take it (a blocking send of a large message
        waits until the rank wakes from its idle poll): rank 0 goes on
        handing out the generation's first batches meanwhile.
        """
        if self._worker is not None:
            self._worker.extend(segments, total)
        self._extends = [r for r in self._extends if not r.Test()]
        for r in self.leaders:
            self._extends.append(self.comm.isend((EXTEND, segments, total), dest=r, tag=TAG_WORK))

    def run(self, source: BatchSource) -> Iterator[BatchResult]:
        if self.size == 1:
            for batch in source:
                yield self._worker.run_batch(batch)
            return
        MPI, results = self.MPI, self.results
        status = MPI.Status()
        poll = Poller(longest=2e-3, hot=MASTER_HOT)
        queued = self._queued
        self._top_up_all(source)
        early, self._early = self._early, []
        yield from early
        own_work = self.master_works
        while any(queued.values()) or own_work:
            if source.aborted:
                return
            if self._timeout:
                yield from self._check_stuck()
            msg = results.improbe(MPI.ANY_SOURCE, TAG_RESULT, status)
            if msg is not None:
                result = msg.recv()
                rank = status.Get_source()
                queued[rank] -= 1
                self._top_up(source, rank)
                poll.hot = MASTER_TAIL if source.remaining <= 0 else MASTER_HOT
                poll.reset()
                yield result
                continue
            if own_work:
                batch = source.next()
                if batch is None:
                    own_work = False
                else:
                    yield self._worker.run_batch(batch)
                continue
            failed = self._worker_error()
            if failed is not None:
                raise RankError(failed)
            poll.wait()

    def _worker_error(self) -> str | None:
        """``rank R on HOST: text`` of a worker rank that reported an error, or None."""
        msg = self.comm.improbe(self.MPI.ANY_SOURCE, TAG_ERROR)
        if msg is None:
            return None
        rank, host, text, code = msg.recv()
        self._failed = True
        self._abort_at_exit = code
        return f"rank {rank} on {host}: {text}"

    def _check_stuck(self) -> Iterator[BatchResult]:
        """A worker rank reported a run stuck past the timeout: fail that run, then end the job."""
        status = self.MPI.Status()
        msg = self.comm.improbe(self.MPI.ANY_SOURCE, TAG_STUCK, status)
        if msg is None:
            return
        run, seconds = msg.recv()
        rank = status.Get_source()
        yield failed_batch(range(run, run + 1), (
            f"RunTimeout: timeout after {seconds:g} s; the run did not return to Python (stuck in C "
            f"code?) and MPI rank {rank} cannot be replaced, so the job ended"), rank)
        raise BackendLost(f"run {run} on MPI rank {rank} is stuck past --run-timeout {seconds:g} s in code "
                          "that does not return to Python; an MPI rank cannot be replaced, so the job ends "
                          "(that run is marked failed, finished runs are saved)")

    def close(self) -> None:
        """Tell every worker to stop and wait until each says bye.

        Batches a worker already has finish first: the one running and, with
        some MPI libraries, the queued ones too (at most :data:`PREFETCH`, each
        about 0.05 s of runs). Their results are dropped; see :meth:`terminate`
        to stop without waiting. After a worker rank failed, this is :meth:`terminate`.
        """
        if self._failed:
            self.terminate()
        elif not self._release(None):  # a worker rank failed meanwhile: end the job at exit
            self._abort_at_exit = self._abort_at_exit or 1

    def terminate(self) -> None:
        """Stop at once: tell workers to stop, wait briefly, and abort the job at exit if some are still busy.

        The abort happens at interpreter exit, after the results file is closed.
        """
        if not self._release(TERMINATE_WAIT):
            self._abort_at_exit = self._abort_at_exit or 130

    def _release(self, timeout: float | None) -> bool:
        """Send STOP to every worker and collect their byes; False if ``timeout`` s passed first."""
        if not (self.is_master and self._started):
            return True
        self._started = False
        comm, MPI = self.comm, self.MPI
        for r in self.leaders:
            comm.send(None, dest=r, tag=TAG_STOP)
        pending = set(self.leaders)
        status = MPI.Status()
        poll = Poller(longest=5e-3)
        deadline = None if timeout is None else time.monotonic() + timeout
        while pending:
            msg = self.results.improbe(MPI.ANY_SOURCE, TAG_RESULT, status)
            if msg is None:
                if deadline is not None and time.monotonic() > deadline:
                    return False
                failed = self._worker_error()
                if failed is not None:  # that rank never says bye: give up on the others too
                    print(f"hpcpet: error: {failed}", file=sys.stderr, flush=True)
                    return False
                poll.wait()
                continue
            poll.reset()
            if msg.recv() is None:  # bye; anything else is a result nobody will write any more
                pending.discard(status.Get_source())
        MPI.Request.waitall(self._extends)  # every rank took them before it said bye
        self._extends = []
        self._queued.clear()
        self._early.clear()
        return True

    def _at_exit(self) -> None:
        """At interpreter exit: release workers that are still waiting for us."""
        if self._sentinel is not None:  # a normal end: the sentinel stays silent
            self._sentinel.ended()
        try:
            if self._abort_at_exit:
                print("[hpcpet] stopping MPI workers that are still running (MPI_Abort)", file=sys.stderr)
                _abort(self.comm, self._abort_at_exit)
            if self._started:
                self.close()
            elif not self._used:
                # never started (e.g. the master failed before running): let workers leave serve()
                for r in range(1, self.size):
                    self.comm.send(False, dest=r, tag=TAG_HELLO)
        except BaseException:  # pragma: no cover - last resort, never hang on exit
            traceback.print_exc()
            _abort(self.comm, 1)

    # ------------------------------------------------------------------ worker
    def serve(self) -> None:
        """On ranks > 0: receive the frozen input, run batches until told to stop."""
        if self.is_master:
            return
        old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):  # the master decides when to stop
            try:
                old[sig] = signal.signal(sig, signal.SIG_IGN)
            except ValueError:
                pass
        try:
            self._serve()
        except BaseException as exc:
            where = current_launch().host
            print(f"hpcpet: error: rank {self.rank} on {where}: {type(exc).__name__}: {exc}; aborting "
                  "the job", file=sys.stderr)
            traceback.print_exc()
            _abort(self.comm, 1)
        finally:
            for sig, h in old.items():
                signal.signal(sig, h)

    def _serve(self) -> None:
        from mpi4py.util import pkl5

        comm, results = self.comm, self.results
        poll = Poller(longest=5e-3, hot=WORKER_HOT)
        hello = poll.until(lambda: comm.improbe(0, TAG_HELLO))
        if not hello.recv():
            return
        frozen = comm.bcast(None, root=0)
        worker = Worker(frozen, self.rank, RunBoard(capacity=100_000))
        self._place(worker, frozen, self._node_index(frozen))
        if frozen.run_timeout and (self.group is None or self.group.Get_rank() == 0):
            _watch_for_stuck_runs(comm, worker.board, float(frozen.run_timeout))
        group = self.group
        if group is not None and group.Get_rank() != 0:
            self._follow(worker)
            return
        if group is not None:
            import numpy as np

            order = np.empty(2, np.int64)  # (start, stop) for the group; (-1, -1): stop
        sends: list = []
        while True:
            msg = poll.until(lambda: comm.improbe(0, TAG_STOP) or comm.improbe(0, TAG_WORK))
            payload = msg.recv()
            if payload is None:  # STOP (a WORK message is never None)
                break
            if payload[0] == EXTEND:  # a new generation: its exploration segments
                _, segments, total = payload
                worker.extend(segments, total)
                if group is not None:
                    order[:] = -2, 0
                    group.Ibcast(order, root=0).Wait()
                    group.bcast((segments, total), root=0)
                continue
            start, stop = payload
            if group is not None:
                order[:] = start, stop
                group.Ibcast(order, root=0).Wait()
            result = worker.run_batch(range(start, stop))
            # isend: the worker goes on with its queued batch instead of spinning until the
            # master posts the receive (a blocking send cost ~15% of worker time here)
            sends = [r for r in sends if not r.test()[0]]
            try:
                sends.append(results.isend(result, dest=0, tag=TAG_RESULT))
            except Exception as exc:  # results that cannot be pickled fail their batch, not the job
                sends.append(results.isend(failed_batch(range(start, stop), "HpcpetError: the batch's results "
                                                     f"cannot be sent to rank 0:\n{format_error(exc)}",
                                                     self.rank, worker.host), dest=0, tag=TAG_RESULT))
        if group is not None:
            order[:] = -1
            group.Ibcast(order, root=0).Wait()
        while comm.iprobe(0, TAG_WORK):  # drop batches handed out after all
            comm.recv(source=0, tag=TAG_WORK)
        pkl5.Request.waitall(sends)
        results.send(None, dest=0, tag=TAG_RESULT)

    def _follow(self, worker: Worker) -> None:
        """A group member other than its leader: run the batches the leader passes on, keep no results."""
        import numpy as np

        order = np.empty(2, np.int64)
        poll = Poller(longest=5e-3)
        while True:
            request = self.group.Ibcast(order, root=0)
            poll.until(request.Test)  # a blocking bcast would spin at 100 % CPU while idle
            if order[0] == -2:  # a new generation
                worker.extend(*self.group.bcast(None, root=0))
                continue
            if order[0] < 0:
                return
            worker.run_batch(range(int(order[0]), int(order[1])))


def _watch_for_stuck_runs(comm, board: RunBoard, timeout: float) -> None:
    """On a worker rank: a thread that tells rank 0 when a run is stuck past ``timeout`` (C code).

    SIGALRM interrupts Python code in place; a run that does not return to
    Python within :data:`STUCK_GRACE` s more is reported once (TAG_STUCK).
    Needs MPI_THREAD_MULTIPLE; without it the rank ends itself, which ends the job.
    """
    import threading

    from mpi4py import MPI

    multiple = MPI.Query_thread() == MPI.THREAD_MULTIPLE

    def watch() -> None:
        reported = None
        while True:
            time.sleep(0.25)
            cur = board.current()
            if cur is None or cur[0] == reported or time.time() - cur[1] < timeout + STUCK_GRACE:
                continue
            reported = cur[0]
            if not multiple:
                print(f"[hpcpet] run {cur[0]} is stuck past --run-timeout {timeout:g} s; ending the job",
                      file=sys.stderr, flush=True)
                os._exit(1)
            comm.send((cur[0], timeout), dest=0, tag=TAG_STUCK)
    threading.Thread(target=watch, name="hpcpet-stuck-runs", daemon=True).start()


class _Sentinel:
    """The process started by :func:`start_sentinel`; :meth:`ended` keeps it silent."""

    def __init__(self, proc) -> None:
        self.proc = proc

    def ended(self) -> None:
        try:
            self.proc.stdin.write(b"ok")
            self.proc.stdin.close()
        except OSError:
            pass


_SENTINEL_CODE = (
    "import sys\n"
    "said = sys.stdin.buffer.read()\n"
    "if said != b'ok':\n"
    "    sys.stderr.write('[hpcpet] the MPI job ended before rank 0 could finish (a rank died or was killed); '\n"
    "                     'runs saved at the last checkpoint are kept. Complete with: '\n"
    "                     'python -m hpcpet resume ' + sys.argv[1] + '\\n')\n")


def start_sentinel(path: str) -> _Sentinel | None:
    """Start a small process that prints how to resume ``path`` if this one ends abruptly.

    When a rank dies, mpiexec kills every rank at once (SIGKILL with
    MPICH), rank 0 included, so rank 0 cannot print anything itself. The
    sentinel runs in its own session, waits for rank 0's pipe to close, and
    speaks only if rank 0 did not say "ok" first (at interpreter exit).
    """
    import shlex
    import subprocess

    try:
        proc = subprocess.Popen([sys.executable, "-c", _SENTINEL_CODE, shlex.quote(path)],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True)
    except OSError:
        return None
    return _Sentinel(proc)


class RankError(HpcpetError):
    """An error that a worker rank reported to the master (its text names the rank and host)."""

    prefixed = True


def check_world(MPI) -> None:
    """Raise :class:`LaunchMismatch` when the launcher started more ranks than ``COMM_WORLD`` has."""
    launch = current_launch()
    size = MPI.COMM_WORLD.Get_size()
    if launch.size is not None and launch.size > 1 and size != launch.size:
        library = MPI.Get_library_version().strip().splitlines()[0].strip()
        raise LaunchMismatch(mismatch_message(launch, size, library))


class LaunchMismatch(HpcpetError):
    """The launcher's rank count differs from MPI's: the ranks cannot talk to each other."""


def _ranges(ranks: list[int]) -> str:
    """``0-3, 5``."""
    parts, start = [], None
    for i, r in enumerate(ranks):
        if start is None:
            start = r
        if i + 1 == len(ranks) or ranks[i + 1] != r + 1:
            parts.append(str(start) if start == r else f"{start}-{r}")
            start = None
    return ", ".join(parts)


def _where(ranks: list[int], hosts: list[str]) -> str:
    """``rank 3 on node17``, ``ranks 0-3 on node1, node2``."""
    hosts = sorted(set(hosts))
    on = ", ".join(hosts[:3]) + (f" and {len(hosts) - 3} more hosts" if len(hosts) > 3 else "")
    return f"{'rank' if len(ranks) == 1 else 'ranks'} {_ranges(sorted(ranks))} on {on}"


def report_error(text: str, code: int, prefixed: bool = False) -> int:
    """Report an error of this rank under a multi-rank launch; return the exit code, or end the job.

    * rank 0 with a master backend: print it (``prefixed``: ``text`` names
      its rank already) and return; the master releases or aborts the
      workers at exit;
    * rank 0 otherwise: gather the other ranks' errors for up to
      :data:`COLLECT_WAIT` s, print each distinct one once with the ranks
      and hosts that hit it, and ``MPI_Abort`` the job;
    * other ranks: send the error to rank 0 and wait for it to end the job;
      after :data:`REPORT_WAIT` s (rank 0 busy or gone) print it and abort;
    * when the launcher and MPI disagree about the number of ranks (see
      :func:`check_world`) the ranks cannot talk: the launcher's rank 0
      prints, every rank exits with ``code``.
    """
    launch = current_launch()
    try:
        from mpi4py import MPI
    except ImportError:  # cannot talk to the others: the launcher's rank 0 speaks for all
        if launch.rank == 0:
            print(f"hpcpet: error: {launch.where()}: {text}", file=sys.stderr, flush=True)
        return code
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    if launch.size is not None and size != launch.size:
        if launch.rank == 0:
            print(f"hpcpet: error: {text}", file=sys.stderr, flush=True)
        return code
    host = launch.host
    if rank == 0 and _MASTERS:
        where = "" if prefixed else f"rank 0 on {host}: "
        print(f"hpcpet: error: {where}{text}", file=sys.stderr, flush=True)
        return code
    if rank != 0:
        request = comm.isend((rank, host, text, code), dest=0, tag=TAG_ERROR)
        deadline = time.monotonic() + REPORT_WAIT
        while time.monotonic() < deadline:  # rank 0 prints it and aborts the job, ending us too
            request.Test()
            time.sleep(0.01)
        print(f"hpcpet: error: rank {rank} on {host}: {text}", file=sys.stderr, flush=True)
        _abort(comm, code)
        return code  # pragma: no cover - MPI_Abort does not return
    errors = {0: (host, text, code)}
    status = MPI.Status()
    deadline = time.monotonic() + COLLECT_WAIT
    poll = Poller(longest=10e-3)
    while len(errors) < size and time.monotonic() < deadline:
        msg = comm.improbe(MPI.ANY_SOURCE, TAG_ERROR, status)
        if msg is None:
            poll.wait()
            continue
        r, h, t, c = msg.recv()
        errors[r] = (h, t, c)
    by_text: dict[str, list[int]] = {}
    for r, (_, t, _) in sorted(errors.items()):
        by_text.setdefault(t, []).append(r)
    for t, ranks in by_text.items():
        where = _where(ranks, [errors[r][0] for r in ranks])
        print(f"hpcpet: error: {where}: {t}", file=sys.stderr)
    _abort(comm, code)
    return code  # pragma: no cover


def _abort(comm, code: int) -> None:
    """MPI_Abort the job, after giving mpiexec time to forward what this rank printed."""
    sys.stderr.flush()
    time.sleep(ABORT_DELAY)
    comm.Abort(code)

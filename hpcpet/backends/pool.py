"""Pool backend: local worker processes, each with its own pipe (multiprocessing).

Invariant: the master knows which batches every worker holds (at most
:data:`PREFETCH`) and, from the worker's :class:`~hpcpet.engine.RunBoard` in
shared memory, which run it is in. So a worker that dies (``os._exit``, a
segfault, SIGKILL) costs only the run it was in, marked failed with "worker
died (signal N)", and a run stuck past ``--run-timeout`` in code that never
returns to Python costs only itself ("timeout after S s"): the worker is
replaced and its other runs go to the new one. Workers never hold the
results file open, and they stop only when the master says so (or is gone).

The frozen input reaches each worker once, when it starts; afterwards only
``(start, stop, careful)`` goes out and a :class:`BatchResult` comes back, its
arrays written raw to the pipe (:mod:`hpcpet.backends.wire`).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import Iterator

from ..engine import BatchResult, BatchSource, FrozenInput, RunBoard, Worker, failed_batch, format_error
from ..errors import HpcpetError
from . import wire
from .base import Backend

#: batches queued per worker, so that none waits while results travel
PREFETCH = 2
#: seconds between looks for runs stuck past --run-timeout
TICK = 0.2
#: seconds past --run-timeout after which a run that did not stop (C code) loses its worker
HARD_KILL_GRACE = 2.0
#: seconds close() waits for a worker to leave before killing it
CLOSE_WAIT = 5.0
#: workers that die in a row before running any run: the pool gives up
MAX_BARREN_DEATHS = 3
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _drop_inherited_hdf5() -> None:
    """In a forked worker: point every inherited descriptor of an HDF5 file at /dev/null.

    The master may hold the results file open when it forks (resume, a
    replacement worker); a worker must neither keep it open nor hold its
    lock (HDF5's flock belongs to the open file, shared with the master),
    and HDF5 in the worker must never write to it.
    """
    import stat

    folder = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"
    try:
        fds = [int(f) for f in os.listdir(folder)]
    except OSError:
        return
    null = None
    for fd in fds:
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            if any(os.pread(fd, 8, off) == HDF5_SIGNATURE for off in (0, 512, 1024, 2048)):
                if null is None:
                    null = os.open(os.devnull, os.O_RDWR)
                os.dup2(null, fd)
        except OSError:
            continue
    if null is not None:
        os.close(null)


def _serve(conn, frozen: FrozenInput, worker_id: int, slot: int, raw, capacity: int, master: int,
           forked: bool) -> None:
    """A worker process: run the batches that arrive on ``conn`` until None or EOF."""
    if forked:
        _drop_inherited_hdf5()
    os.setpgrp()  # its own process group: killing it also ends what its runs started (os.system)
    # the master decides when to stop (SLURM and scancel send SIGTERM to every process)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def on_term(signum, frame):  # ... unless the master is gone
        if os.getppid() != master:
            os._exit(1)
    signal.signal(signal.SIGTERM, on_term)
    worker = Worker(frozen, worker_id, RunBoard(raw, capacity))
    if frozen.setup is not None:  # threads and GPUs; a replacement worker gets its slot's GPUs
        worker.tags.update(frozen.setup.apply(slot))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        if msg[0] == "extend":  # a new generation's exploration segments (between generations)
            worker.extend(msg[1], msg[2])
            continue
        start, stop, careful = msg
        result = worker.run_batch(range(start, stop), careful)
        try:
            wire.send(conn, result)  # arrays go raw, not copied into a pickle (see wire)
        except (EOFError, OSError, BrokenPipeError):
            return
        except Exception as exc:  # a result that cannot be pickled fails its batch, not the study
            wire.send(conn, failed_batch(range(start, stop), "HpcpetError: the batch's results cannot be sent "
                                   f"to the master:\n{format_error(exc)}", worker_id, worker.host))


@dataclass(eq=False)
class _Slot:
    """One worker process as the master sees it."""

    id: int
    process: mp.Process
    conn: object
    board: RunBoard
    held: deque = field(default_factory=deque)  # (range, careful) sent and not yet answered; [0] runs
    killed_for: str | None = None  # why the master killed it, if it did
    stuck: tuple | None = None  # (run, start) the master killed it for


def death_text(exitcode: int | None) -> str:
    """'worker died (signal N)' or 'worker died (exit code N)'."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "?"
        return f"worker died (signal {-exitcode}, {name})"
    return f"worker died (exit code {exitcode})"


def _kill(process: mp.Process) -> None:
    """SIGKILL a worker's process group (the worker and whatever its runs started)."""
    if process.pid is None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class PoolBackend(Backend):
    """Runs batches on ``ncores`` local processes (default: all cores).

    Uses the ``fork`` start method where available, else ``spawn``.
    """

    name = "pool"
    overlap_writes = True

    def __init__(self, ncores: int | None = None):
        super().__init__(ncores or os.cpu_count() or 1)
        self._slots: list[_Slot] = []
        self._again: deque = deque()  # (range, careful) taken back from dead workers
        #: (worker id, text) of every worker the pool lost
        self.deaths: list[tuple[int, str]] = []
        self._lost: list[BatchResult] = []  # failed runs of dead workers, not yet yielded

    @property
    def workers(self) -> int:
        return self.ncores

    def start(self, frozen: FrozenInput, source: BatchSource | None = None) -> None:
        self._method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        self._ctx = mp.get_context(self._method)
        self._frozen = frozen
        self._capacity = max(source.max_batch, source.fixed or 0) if source is not None else 100_000
        self._timeout = frozen.run_timeout
        self._next_id = 1
        self._barren = 0
        self._slots = [self._spawn(i) for i in range(self.ncores)]
        if source is not None:
            self._fill(source)

    def _spawn(self, index: int) -> _Slot:
        """Start the worker of slot ``index`` (0-based)."""
        raw = self._ctx.RawArray("d", RunBoard.nbytes(self._capacity) // 8)
        mine, theirs = self._ctx.Pipe()
        wid, self._next_id = self._next_id, self._next_id + 1
        p = self._ctx.Process(target=_serve, name=f"hpcpet-worker-{wid}", daemon=True,
                              args=(theirs, self._frozen, wid, index, raw, self._capacity, os.getpid(),
                                    self._method == "fork"))
        p.start()
        theirs.close()
        return _Slot(wid, p, mine, RunBoard(raw, self._capacity))

    def _send(self, slot: _Slot, batch: range, careful: bool) -> bool:
        try:
            slot.conn.send((batch.start, batch.stop, careful))
        except OSError:  # it died: its sentinel says so
            self._again.appendleft((batch, careful))
            return False
        slot.held.append((batch, careful))
        return True

    def _fill(self, source: BatchSource) -> None:
        """Keep PREFETCH batches queued at every worker; batches taken back from dead workers first."""
        for slot in self._slots:
            while len(slot.held) < PREFETCH and slot.process.is_alive():
                if self._again and not source.stopped:
                    batch, careful = self._again.popleft()
                else:
                    batch, careful = source.next(), False
                if batch is None or not self._send(slot, batch, careful):
                    break

    def extend(self, segments: list, total: int) -> None:
        """Send a new generation's exploration segments to each worker once (between generations).

        A pipe keeps its order, so every worker has them before its next
        batch; a worker started later forks from the master's grown trajectory.
        """
        for slot in self._slots:
            try:
                slot.conn.send(("extend", segments, total))
            except OSError:  # it died: its replacement starts with the grown trajectory
                pass

    def run(self, source: BatchSource) -> Iterator[BatchResult]:
        self._fill(source)
        while any(s.held for s in self._slots) or self._lost or (self._again and not source.stopped):
            if source.aborted:
                return
            if self._lost:
                yield self._lost.pop(0)
                continue
            conns = {s.conn: s for s in self._slots}
            sentinels = {s.process.sentinel: s for s in self._slots}
            ready = wait([*conns, *sentinels], timeout=TICK)  # TICK: look at timeouts and source.aborted
            for r in ready:
                slot = conns.get(r)
                if slot is None:
                    continue
                try:
                    result = wire.recv(r)
                except (EOFError, OSError):  # it died; its sentinel is ready too
                    continue
                if slot.held:
                    slot.held.popleft()
                self._barren = 0
                self._fill(source)
                yield result
            for r in ready:
                slot = sentinels.get(r)
                if slot is not None and slot in self._slots:
                    yield from self._bury(slot)
            if self._timeout:
                self._kill_stuck()
            self._fill(source)

    def _kill_stuck(self) -> None:
        """Kill the workers whose run is past the timeout and did not stop (stuck outside Python)."""
        now = time.time()
        limit = self._timeout + HARD_KILL_GRACE
        for slot in self._slots:
            cur = slot.board.current()
            if slot.held and cur is not None and now - cur[1] > limit and slot.killed_for is None:
                slot.stuck = cur
                slot.killed_for = (f"RunTimeout: timeout after {self._timeout:g} s; the run did not return "
                                   f"to Python within {HARD_KILL_GRACE:g} s more (stuck in C code?), so its "
                                   "worker process was replaced")
                _kill(slot.process)

    def _bury(self, slot: _Slot) -> Iterator[BatchResult]:
        """A worker ended: collect what it sent, fail its run, hand its other batches to a new worker."""
        while True:  # results it sent before it died
            try:
                if not slot.conn.poll():
                    break
                result = wire.recv(slot.conn)
            except (EOFError, OSError):
                break
            if slot.held:
                slot.held.popleft()
            yield result
        slot.process.join()
        _kill(slot.process)  # what its runs started (os.system's shell) must not outlive it
        why = slot.killed_for or death_text(slot.process.exitcode)
        self.deaths.append((slot.id, why))
        cur, following = slot.stuck or slot.board.current(), slot.board.batch()
        held = list(slot.held)
        slot.held.clear()
        slot.conn.close()
        if held:
            (batch, careful), rest = held[0], held[1:]
            host = socket.gethostname()
            if cur is not None and following == batch:
                i = cur[0]
                text = why if slot.killed_for else f"HpcpetError: {why} in run {i}"
                self._lost.append(failed_batch(range(i, i + 1), text, slot.id, host))
                before, after = range(batch.start, i), range(i + 1, batch.stop)
                rest = [(b, False) for b in (before, after) if len(b)] + rest
                self._barren = 0
            else:
                self._barren += 1  # no run was under way (or runs were not followed one by one)
                if careful or len(batch) > self._capacity:
                    self._lost.append(failed_batch(batch, f"HpcpetError: {why} in one of runs "
                                                   f"{batch.start}..{batch.stop - 1} (which one could "
                                                   "not be told)", slot.id, host))
                else:  # short runs are not followed one by one: run the batch again, noting each run
                    rest = [(batch, True)] + rest
            self._again.extendleft(reversed(rest))
        if self._barren >= MAX_BARREN_DEATHS:
            raise HpcpetError(f"pool workers keep dying before running a run ({why}); "
                              "finished runs are saved")
        index = self._slots.index(slot)
        self._slots[index] = self._spawn(index)

    def terminate(self) -> None:
        """Stop the workers at once (SIGKILL, which also ends stopped ones), dropping running batches."""
        for slot in self._slots:
            _kill(slot.process)
        for slot in self._slots:
            slot.process.join()
            slot.conn.close()
        self._slots = []

    def close(self) -> None:
        for slot in self._slots:
            try:
                slot.conn.send(None)
            except OSError:
                pass
        deadline = time.monotonic() + CLOSE_WAIT
        for slot in self._slots:
            slot.process.join(max(0.0, deadline - time.monotonic()))
            if slot.process.is_alive():  # stopped (SIGSTOP) or stuck: do not wait for it
                _kill(slot.process)
                slot.process.join()
            slot.conn.close()
        self._slots = []

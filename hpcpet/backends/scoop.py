"""SCOOP backend: batches on the workers of a ``python -m scoop`` pool.

Two ways in:

* inside SCOOP (``python -m scoop -n N experiment.py ...``): the origin
  process is the master and the single writer; the other SCOOP processes run
  batches;
* outside SCOOP (``python -m hpcpet run ... --backend scoop --ncores N``):
  the backend re-executes the current command under
  ``python -m scoop -n N+1`` and exits with its exit code (see :meth:`serve`).

The frozen input is shared once with ``scoop.shared.setConst`` under a key
unique to the exploration; each worker unpickles it once and keeps one
:class:`~hpcpet.engine.Worker` for the newest key. Afterwards a future
carries only ``(key, start, stop)``. At most ``2 * workers`` futures are in
flight and each finished future is deleted from SCOOP's bookkeeping, so
memory stays flat however many batches run.

SCOOP loses a future when the worker running it dies. Batches whose worker
died (seen with psutil among the local SCOOP processes), that time out, or
whose future raised are submitted again; if two copies finish, the first
result wins and the other is dropped. Each local worker notes its current
batch and the start of each run on a :class:`~hpcpet.engine.RunBoard` in a
file of a directory shared with the origin (:func:`board_dir`), so the run
a worker died in is marked failed ("worker died ...") and only the other
runs of its batch are submitted again; a run stuck past ``--run-timeout``
outside Python gets its worker killed the same way. SCOOP starts no new
workers: the remaining ones take over (none left: the study stops, saved).
The origin cannot see a worker's exit status; a fatal signal is named
when Python's faulthandler (enabled in each worker) reported it.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Iterator

from ..engine import BatchResult, BatchSource, FrozenInput, RunBoard, Worker, failed_batch
from ..errors import HpcpetError
from .base import Backend

#: prefix of the shared-constant keys holding frozen inputs
KEY_PREFIX = "hpcpet-frozen-"
#: launcher script run by ``python -m scoop`` for ``python -m hpcpet ...``
ENTRY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scoop_main.py")

# worker side: the newest frozen input's key and its Worker
_CACHE: dict[str, Worker] = {}
#: runs a worker's board follows (longer batches: which run died cannot be told)
BOARD_CAPACITY = 100_000
#: seconds past --run-timeout after which a run that did not stop (C code) loses its worker
HARD_KILL_GRACE = 2.0
_FAULT_FILES: list = []  # worker side: keeps faulthandler's file open


def board_dir(key: str) -> str:
    """The directory where the local workers of exploration ``key`` keep their run boards."""
    import tempfile

    return os.path.join(tempfile.gettempdir(), key)


def _worker_board(key: str) -> RunBoard | None:
    """This worker's board, a file of :func:`board_dir` mapped in memory (None on another host)."""
    import faulthandler
    import mmap

    folder = board_dir(key)
    if not os.path.isdir(folder):
        return None
    path = os.path.join(folder, str(os.getpid()))
    size = RunBoard.nbytes(BOARD_CAPACITY)
    with open(path, "w+b") as fh:
        fh.truncate(size)
        buf = mmap.mmap(fh.fileno(), size)
    fault = open(path + ".fault", "w")
    faulthandler.enable(file=fault)
    _FAULT_FILES[:] = [fault]
    return RunBoard(buf, BOARD_CAPACITY)


def _read_board(key: str, pid: int) -> tuple:
    """What a worker's board says: its batch (or None), its current run (or None), any fatal signal."""
    path = os.path.join(board_dir(key), str(pid))
    try:
        with open(path, "rb") as fh:
            board = RunBoard(bytearray(fh.read()), BOARD_CAPACITY)
    except (OSError, ValueError):
        return None, None, ""
    fault = ""
    try:
        with open(path + ".fault") as fh:
            first = fh.readline().strip()
        if first.startswith("Fatal Python error:"):
            fault = first.split(":", 1)[1].strip()
    except OSError:
        pass
    return board.batch(), board.current(), fault


_SIGNAL_OF = {"Segmentation fault": 11, "Floating point exception": 8, "Aborted": 6, "Bus error": 7,
              "Illegal instruction": 4}


def inside_scoop() -> bool:
    """True in a process started by ``python -m scoop``."""
    mod = sys.modules.get("scoop")
    return bool(mod is not None and getattr(mod, "IS_RUNNING", False))


def _forget_frozen(keep: str | None) -> None:
    """Drop this process's copies of shared frozen inputs other than ``keep``."""
    from scoop import shared

    for consts in (shared.elements or {}).values():
        for name in [n for n in consts if isinstance(n, str) and n.startswith(KEY_PREFIX)
                     and not (keep and n.startswith(keep))]:
            del consts[name]


def _extension_key(key: str, k: int) -> str:
    """Shared-constant key of the ``k``-th generation added to frozen input ``key`` (k = 1, 2, ...)."""
    return f"{key}-ext{k}"


def _run_batch(key: str, start: int, stop: int, generations: int = 0,
               careful: bool = False) -> BatchResult:
    """Run one batch on a SCOOP worker (the frozen input is unpickled once per key).

    ``generations``: how many generations were added since the frozen input;
    a worker fetches each one's exploration segments once.
    """
    worker = _CACHE.get(key)
    if worker is None:
        from scoop import shared

        frozen = shared.getConst(key, timeout=120)
        if frozen is None:
            raise LookupError(f"frozen input {key} did not reach worker pid {os.getpid()}")
        _CACHE.clear()
        _forget_frozen(key)
        worker = _CACHE[key] = Worker(frozen, os.getpid(), _worker_board(key))
        if frozen.setup is not None:  # threads (GPUs are not placed on SCOOP workers)
            frozen.setup.apply(None)
    while worker.generations_added < generations:
        from scoop import shared

        k = worker.generations_added + 1
        segments, total = shared.getConst(_extension_key(key, k), timeout=120)
        worker.extend(segments, total)
        worker.generations_added = k
    return worker.run_batch(range(start, stop), careful)


def _worker_pids() -> set[int] | None:
    """Pids of the other SCOOP processes on this host, or None if not knowable."""
    try:
        import psutil

        me = psutil.Process()
        launcher = me.parent()
        if launcher is None or "scoop" not in " ".join(launcher.cmdline()):
            return None
        pids = set()
        for p in launcher.children(recursive=True):
            try:
                if p.pid != me.pid and p.is_running() and p.status() != psutil.STATUS_ZOMBIE \
                        and "scoop.bootstrap" in " ".join(p.cmdline()):
                    pids.add(p.pid)
            except psutil.Error:
                continue
        return pids
    except Exception:  # psutil missing or /proc unreadable: rely on timeouts
        return None


@dataclass
class _Flight:
    """One batch in flight: its range and the futures computing it."""

    batch: range
    futures: list = field(default_factory=list)
    submitted: float = 0.0
    tries: int = 0
    careful: bool = False  # note each run's start (its worker died and runs were not followed)


class ScoopBackend(Backend):
    """Runs batches on SCOOP workers; see the module docstring.

    Parameters
    ----------
    ncores : int, optional
        Worker processes when hpcpet launches SCOOP itself (default: all
        cores). Inside SCOOP the pool size comes from ``python -m scoop -n``.
    timeout : float, optional
        Seconds after which a batch with no result is submitted again
        (default: ``HPCPET_SCOOP_TIMEOUT`` or 300, raised to 20 times the
        batch's expected duration).
    max_tries : int
        Submissions of one batch before giving up.
    """

    name = "scoop"
    #: milliseconds to wait for a message per poll
    poll_ms = 200
    #: seconds between looks for dead workers
    check_every = 0.5

    def __init__(self, ncores: int | None = None, timeout: float | None = None, max_tries: int = 4):
        super().__init__(ncores)
        self.inside = inside_scoop()
        self.is_master = self.inside
        self.timeout = float(timeout if timeout is not None else os.environ.get("HPCPET_SCOOP_TIMEOUT", 300))
        self.max_tries = max_tries
        self.key: str | None = None
        self.local: Worker | None = None
        self.resubmitted = 0
        self._stale: set = set()
        self._timeout: float | None = None
        self._killed: dict[int, tuple] = {}  # pid -> (its stuck run, why) when the origin killed it

    @property
    def workers(self) -> int:
        if self.inside:
            import scoop

            return max(1, int(getattr(scoop, "SIZE", 1) or 1) - 1)
        return self.ncores or os.cpu_count() or 1

    def start(self, frozen: FrozenInput, source: BatchSource | None = None) -> None:
        import scoop

        if int(getattr(scoop, "SIZE", 1) or 1) < 2:  # only the origin: run here
            self.local = Worker(frozen)
            return
        from scoop import shared

        self.key = KEY_PREFIX + uuid.uuid4().hex
        os.makedirs(board_dir(self.key), exist_ok=True)
        self._timeout = frozen.run_timeout
        self.generations = 0
        shared.setConst(**{self.key: frozen})

    def extend(self, segments: list, total: int) -> None:
        """A new generation: its exploration segments are shared once, fetched once per worker."""
        if self.local is not None:
            self.local.extend(segments, total)
            return
        from scoop import shared

        self.generations += 1
        shared.setConst(**{_extension_key(self.key, self.generations): (segments, total)})

    def _log(self, text: str) -> None:
        print(f"[hpcpet] scoop: {text}", file=sys.stderr, flush=True)

    def run(self, source: BatchSource) -> Iterator[BatchResult]:
        if self.local is not None:
            for batch in source:
                yield self.local.run_batch(batch)
            return
        from scoop import _control, futures

        queue = _control.execQueue
        flights: dict[tuple[int, int], _Flight] = {}
        owner: dict = {}  # future -> flight key
        retry: list[tuple[range, bool]] = []  # (batch, careful) taken back from dead workers
        lost: list[BatchResult] = []  # failed runs of dead workers
        known = _worker_pids()
        last_check = time.monotonic()

        def submit(flight: _Flight) -> None:
            if flight.tries >= self.max_tries:
                raise HpcpetError(f"SCOOP lost batch {flight.batch.start}..{flight.batch.stop - 1} "
                                  f"{flight.tries} times; finished runs are saved")
            f = futures.submit(_run_batch, self.key, flight.batch.start, flight.batch.stop, self.generations,
                               flight.careful)
            flight.futures.append(f)
            flight.tries += 1
            flight.submitted = time.monotonic()
            owner[f] = (flight.batch.start, flight.batch.stop)

        def resubmit(flight: _Flight, why: str) -> None:
            self.resubmitted += 1
            self._log(f"{why}: submitting runs {flight.batch.start}..{flight.batch.stop - 1} again")
            submit(flight)

        while True:
            while len(flights) < 2 * self.workers:
                batch, careful = retry.pop() if retry and not source.stopped else (source.next(), False)
                if batch is None:
                    break
                flight = flights[(batch.start, batch.stop)] = _Flight(batch, careful=careful)
                submit(flight)
            while lost:
                yield lost.pop()
            if not flights:
                return
            queue.flush()
            queue.socket._poll(self.poll_ms)
            queue.updateQueue()
            results = []
            for f in [f for f in owner if f._ended()]:
                k = owner.pop(f)
                exc, value = f.exceptionValue, f.resultValue
                f._delete()  # else SCOOP keeps every finished future
                flight = flights.get(k)
                if flight is None:  # a duplicate of a batch already written
                    continue
                flight.futures.remove(f)
                if exc is not None:
                    if not flight.futures:
                        resubmit(flight, f"a batch raised {type(exc).__name__}: {exc}")
                    continue
                del flights[k]
                for other in flight.futures:  # copies still running: drop them when they end
                    self._stale.add(other)
                results.append(value)
            yield from results
            now = time.monotonic()
            if now - last_check >= self.check_every:
                last_check = now
                # the workers seen alive by this check are the ones the next check expects
                known = self._check(flights, known, source, resubmit, retry, lost)
            self._stale = {f for f in self._stale if f in owner}

    def _check(self, flights: dict, known: set[int] | None, source: BatchSource, resubmit,
               retry: list, lost: list) -> set[int] | None:
        """Submit again the batches whose worker died or that took far too long.

        Returns the worker pids seen alive (None if they cannot be known).
        """
        now = time.monotonic()
        alive = None
        if known is not None:
            alive = _worker_pids()
            if alive is not None and known - alive:
                for pid in sorted(known - alive):
                    self._bury(pid, flights, retry, lost)
                if not alive:
                    raise HpcpetError("every SCOOP worker died; finished runs are saved")
                gone = ", ".join(map(str, sorted(known - alive)))
                for flight in list(flights.values()):
                    resubmit(flight, f"worker pid {gone} died")
                return alive
            if alive is not None and self._timeout:
                self._kill_stuck(alive)
        per_run = source.per_run
        for flight in list(flights.values()):
            limit = self.timeout
            if per_run is not None:
                limit = max(limit, 20 * per_run * len(flight.batch))
            if now - flight.submitted > limit:
                resubmit(flight, f"no result after {limit:.0f} s")
        return alive

    def _bury(self, pid: int, flights: dict, retry: list, lost: list) -> None:
        """Worker ``pid`` died: fail the run it was in and hand the rest of its batch out again."""
        batch, cur, fault = _read_board(self.key, pid)
        why = self._killed.pop(pid, "")
        if why:  # the origin killed it for a stuck run: that run, whatever the board shows now
            cur, why = why
        if not why:
            sig = _SIGNAL_OF.get(fault)
            why = (f"worker died (signal {sig}, {fault})" if sig else
                   f"worker died (pid {pid}; the SCOOP origin cannot see its exit status)")
        flight = flights.get((batch.start, batch.stop)) if batch is not None else None
        if flight is None:  # it was between batches, or its batch's result arrived
            return
        del flights[(batch.start, batch.stop)]
        self._stale.update(flight.futures)
        if cur is not None:
            i = cur[0]
            text = why if why.startswith("RunTimeout") else f"HpcpetError: {why} in run {i}"
            lost.append(failed_batch(range(i, i + 1), text, pid))
            retry.extend((b, False) for b in (range(batch.start, i), range(i + 1, batch.stop)) if len(b))
            self._log(f"{why.split(';')[0].split(' (pid')[0]} in run {i}; submitting the other runs of its "
                      "batch again")
        elif flight.careful or len(batch) > BOARD_CAPACITY:
            lost.append(failed_batch(batch, f"HpcpetError: {why} in one of runs {batch.start}.."
                                            f"{batch.stop - 1} (which one could not be told)", pid))
        else:  # short runs are not followed one by one: run the batch again, noting each run
            retry.append((batch, True))
            self._log(f"{why.split(' (pid')[0]} during runs {batch.start}..{batch.stop - 1}: submitting "
                      "them again, noting each run")

    def _kill_stuck(self, alive: set) -> None:
        """Kill the local workers whose run is past the timeout and did not stop (stuck outside Python)."""
        now = time.time()
        for pid in alive:
            _, cur, _ = _read_board(self.key, pid)
            if cur is not None and now - cur[1] > self._timeout + HARD_KILL_GRACE and pid not in self._killed:
                self._killed[pid] = (cur, f"RunTimeout: timeout after {self._timeout:g} s; the run did not "
                                          f"return to Python within {HARD_KILL_GRACE:g} s more (stuck in C "
                                          "code?), so its SCOOP worker was killed")
                _kill_tree(pid)

    def serve(self) -> None:
        """Outside SCOOP: run this command again under ``python -m scoop`` and exit with its code."""
        if self.inside:
            return
        raise SystemExit(launch(self.workers))

    def terminate(self) -> None:
        """Stop at once: kill the local workers still in a batch (stuck, or stopped with SIGSTOP), then close.

        Their batches are dropped (they stay pending in the file); a stopped
        worker would otherwise never end and keep the job's output open.
        """
        if self.key is not None:
            for pid in _worker_pids() or ():
                batch, _, _ = _read_board(self.key, pid)
                if batch is not None:
                    _kill_tree(pid)
        self.close()

    def close(self) -> None:
        if self.key is not None:
            for f in list(self._stale):
                f._delete()
            self._stale.clear()
            _forget_frozen(None)
            import shutil

            shutil.rmtree(board_dir(self.key), ignore_errors=True)
            self.key = None
        self.local = None


def _kill_tree(pid: int) -> None:
    """SIGKILL a local process and what it started (os.system's shell)."""
    try:
        import psutil

        proc = psutil.Process(pid)
        for p in [proc, *proc.children(recursive=True)]:  # the worker first: it must not go on
            try:
                p.kill()
            except psutil.Error:
                pass
    except Exception:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def scoop_command(workers: int, argv: list[str] | None = None) -> tuple[list[str], bool]:
    """The ``python -m scoop`` command that re-runs ``argv`` (default: this process's command).

    Returns the command and whether it reports its exit code through
    ``HPCPET_SCOOP_STATUS`` (true for hpcpet commands and experiment files).
    """
    argv = list(sys.argv if argv is None else argv)
    script = argv[0] if argv else ""
    main = sys.modules.get("__main__")
    if not script.endswith(".py") or os.path.basename(script) == "__main__.py":
        args, cli = [ENTRY, *argv[1:]], True  # python -m hpcpet VERB ...
    elif hasattr(main, "build") and hasattr(main, "run"):
        args, cli = [ENTRY, "run", script, *argv[1:]], True  # python experiment.py ...
    else:
        args, cli = argv, False  # a script of the user's
    return [sys.executable, "-m", "scoop", "--quiet", "-n", str(workers + 1), *args], cli


def report_status(code: int) -> None:
    """Inside SCOOP: tell the process that launched SCOOP (if any) this command's exit code."""
    path = os.environ.get("HPCPET_SCOOP_STATUS")
    if path:
        with open(path, "w") as fh:
            fh.write(str(code))


def launch(workers: int, argv: list[str] | None = None) -> int:
    """Run ``argv`` under SCOOP with ``workers`` workers plus the origin; return its exit code."""
    import tempfile

    cmd, reports = scoop_command(workers, argv)
    fd, status = tempfile.mkstemp(prefix="hpcpet-scoop-", suffix=".status")
    os.close(fd)
    try:
        code = _wait(subprocess.Popen(cmd, env=dict(os.environ, HPCPET_SCOOP_STATUS=status)))
        with open(status) as fh:
            text = fh.read().strip()
    finally:
        os.unlink(status)
    if text:
        return int(text)
    if reports:
        return code or 1  # the origin died before it could say how it ended
    return code


def _wait(proc: subprocess.Popen) -> int:
    """Wait for ``proc``, passing SIGTERM on; the terminal sends SIGINT to it directly."""
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)

    def forward(signum, frame):
        proc.send_signal(signum)

    old_term = signal.signal(signal.SIGTERM, forward)
    try:
        return proc.wait()
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)

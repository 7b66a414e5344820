"""Crash-consistency harness: SIGKILL the writer at its K-th file-modifying system call.

Invariant: every verdict is drawn from public behaviour only -- the CLI
(``run``, ``info``, ``status``, ``resume``), the reader (``hpcpet.load``:
``completed``, ``get_from_runs``, ``run``), tests/filecompare.py and the run
log of tests/experiments/crash.py -- never from the on-disk layout, so the
same harness judges any storage format.

How a trial works (see docs in tests/test_crash.py and
../shared/reference/crash-injection.md):

1. An uninterrupted job runs under ``strace -f -y`` tracing :data:`MODIFYING`;
   the writer's calls that touch a file (a regular file's descriptor, or a
   path: rename, unlink, mkdir, ...) form its *write sequence*, positions
   1..T. Writes to pipes, sockets, terminals and /dev/shm are not positions;
   neither is creating a file (a kill at its first write leaves it empty).
2. Position K is the n-th call of one syscall S by the writer, so
   ``-e inject=S:signal=KILL:when=n`` kills the writer on entering it: the
   files are left exactly as after write K-1. Every trial is traced too,
   so the position the kill really hit is known (MPI jobs are not fully
   deterministic).
3. After the kill: ``info`` must exit 0 without a traceback, the reader
   must open the file and every run marked done must hold the reference's
   values; then ``resume`` (or ``run`` again when no results file exists
   yet) must complete, the file must equal the reference, and the run log
   says which runs were executed again.

Under MPI only rank 0 (the writer) runs inside strace, via mpiexec's MPMD
form ``mpiexec -n 1 strace ... python ... : -n 2 python ...``: strace's
``when=`` counters are per traced process, so tracing the workers too would
kill a worker at its own n-th ``write``. The job is in its own session;
processes of it that survive the end of mpiexec are counted and killed by
process group.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

import hpcpet

HERE = os.path.dirname(os.path.abspath(__file__))
EXPERIMENT = os.path.join(HERE, "experiments", "crash.py")
MPIEXEC = os.path.join(os.path.dirname(sys.executable), "mpiexec")

#: syscalls that can change a file or a folder; the trace shows which the writer uses
MODIFYING = ("write", "pwrite64", "pwritev", "pwritev2", "fsync", "fdatasync", "sync_file_range",
             "ftruncate", "truncate", "fallocate", "rename", "renameat", "renameat2",
             "unlink", "unlinkat", "mkdir", "mkdirat", "rmdir", "link", "linkat")
#: of those, the ones whose first argument is a file descriptor
FD_CALLS = {"write", "pwrite64", "pwritev", "pwritev2", "fsync", "fdatasync", "sync_file_range",
            "ftruncate", "fallocate"}
#: files of a trial folder that belong to the harness, not to the storage
OWN_FILES = {"crash.py", "run.log", "resume.log", "again.log", "trace.txt", "trace2.txt",
             "stdout.txt", "stderr.txt"}

_CALL = re.compile(r"^(\d+)\s+(\w+)\((.*)$")
_FD = re.compile(r"^-?\d+<([^>]*)>")
_NOT_FILES = ("/dev/", "/proc/", "/sys/")  # terminals, shared memory (MPI), kernel files
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def strace_available() -> bool:
    """True if strace exists and may trace a child here (ptrace is allowed)."""
    if shutil.which("strace") is None:
        return False
    proc = subprocess.run(["strace", "-f", "-o", "/dev/null", "true"], capture_output=True)
    return proc.returncode == 0


def mpi_available() -> bool:
    """True if the MPI backend and the venv's mpiexec are there."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return os.path.exists(MPIEXEC)


# --------------------------------------------------------------------- traces
@dataclass
class Call:
    """One file-modifying call of the writer: syscall, its n-th occurrence, what it touched."""
    name: str
    nth: int
    target: str


@dataclass
class Trace:
    """The writer's write sequence (positions are 1-based indices into ``calls``)."""
    calls: list[Call]
    killed: bool
    writers: int  # processes/threads with file-modifying calls (the writer only, normally)
    #: of each syscall, the most calls any other task made (files, pipes and sockets alike):
    #: strace counts per task, so a kill aimed at the writer's n-th call of a syscall lands in
    #: another task instead when that task reaches its own n-th first (MPI's main thread writes
    #: to sockets and pipes ~90 times)
    others: Counter = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.calls)

    def at(self, position: int) -> Call:
        return self.calls[position - 1]

    def aimable(self, position: int) -> bool:
        """Whether a kill aimed at ``position`` can only land in the writer (with room for variation)."""
        c = self.at(position)
        other = self.others[c.name]
        return other == 0 or c.nth > other + max(8, other // 4)

    def nearest_aimable(self, position: int) -> int:
        """``position``, or the nearest later (else earlier) one that :meth:`aimable` allows."""
        for p in [*range(position, len(self) + 1), *range(position - 1, 0, -1)]:
            if self.aimable(p):
                return p
        return position

    def used(self) -> Counter:
        """How often the writer made each syscall on a file."""
        return Counter(c.name for c in self.calls)


def _is_file(name: str, args: str) -> tuple[bool, str]:
    if name in FD_CALLS:
        m = _FD.match(args)
        if not m:
            return False, ""
        path = m.group(1)
        ok = path.startswith("/") and not path.startswith(_NOT_FILES)
        return ok, path
    paths = _QUOTED.findall(args)  # rename(a, b), renameat(AT_FDCWD, a, AT_FDCWD, b): "a -> b"
    if paths and all(p.startswith(_NOT_FILES) for p in paths):  # MPI's shared memory segments
        return False, ""
    return True, " -> ".join(paths) if paths else args[:80]


def parse_trace(path: str) -> Trace:
    """Read an ``strace -f -y`` output file; the writer is the task with most file calls."""
    per_task: dict[int, list[Call]] = {}
    seen: dict[int, Counter] = {}
    killed: set[int] = set()
    with open(path, errors="replace") as fh:
        for line in fh:
            if "+++ killed by SIGKILL" in line:
                killed.add(int(line.split()[0]))
                continue
            m = _CALL.match(line)
            if not m or m.group(2) not in MODIFYING:
                continue
            tid, name, args = int(m.group(1)), m.group(2), m.group(3)
            n = seen.setdefault(tid, Counter())
            n[name] += 1
            ok, target = _is_file(name, args)
            if ok and os.path.basename(target) not in OWN_FILES:  # the runs' own log is not the writer's
                per_task.setdefault(tid, []).append(Call(name, n[name], target))
    if not per_task:
        return Trace([], bool(killed), 0)
    writer = max(per_task, key=lambda t: len(per_task[t]))
    others = Counter()
    for tid, counts in seen.items():
        if tid != writer:
            others |= counts  # the most of each syscall in any one task
    return Trace(per_task[writer], writer in killed, len(per_task), others)


def strace_prefix(trace_file: str, kill: Call | None = None) -> list[str]:
    """strace options tracing the file-modifying calls, killing at ``kill`` if given."""
    argv = ["strace", "-f", "-y", "-o", trace_file, "-e", "trace=" + ",".join(MODIFYING)]
    if kill is not None:
        argv += ["-e", f"inject={kill.name}:signal=KILL:when={kill.nth}"]
    return argv


# --------------------------------------------------------------------- jobs
@dataclass(frozen=True)
class Job:
    """How the crash experiment is run: backend, size, batching."""
    backend: str = "serial"  # "serial" or "mpi"
    n_runs: int = 3000
    set_size: int = 100
    batch_size: int = 70
    np: int = 3  # MPI ranks
    # 0.2 ms, not the 1 ms: checkpoints follow batches, not time (env()), so the
    # write sequence does not depend on it (measured: the same 1114 calls in the same order)
    run_seconds: float = 2e-4
    timeout: float = 180.0

    @property
    def in_flight(self) -> int:
        """Most runs a kill may find executed but not committed: two batches per process.

        Serial: the batch being written and the one being run, and the batches
        waiting for the writer thread (hpcpet.write_queue.MAX_BATCHES). MPI: a
        batch being computed and one queued on each rank (rank 0: the batch
        being written and the one being handed to the writer thread), and the
        batches waiting for rank 0's writer thread.
        """
        from hpcpet.write_queue import MAX_BATCHES

        return self.batch_size * (2 * (1 if self.backend == "serial" else self.np) + MAX_BATCHES)

    def env(self, log: str) -> dict:
        # a checkpoint after every batch: the write sequence is the same in every serial run
        return dict(os.environ, CRASH_N=str(self.n_runs), CRASH_RUN_SECONDS=str(self.run_seconds),
                    CRASH_LOG=log, HPCPET_CHECKPOINT_SECONDS="0")

    def hpcpet_args(self, verb: str, folder: str) -> list[str]:
        out = os.path.join(folder, "out.h5")
        if verb == "run":
            args = ["run", os.path.join(folder, "crash.py"), "-o", out, "--set-size", str(self.set_size)]
        else:
            args = ["resume", out]
        return [sys.executable, "-m", "hpcpet", *args, "--batch-size", str(self.batch_size),
                "--backend", self.backend, "--quiet"]

    def argv(self, verb: str, folder: str, prefix: list[str] = ()) -> list[str]:
        """The command line; ``prefix`` (strace) wraps the writer only."""
        args = self.hpcpet_args(verb, folder)
        if self.backend == "mpi":
            return [MPIEXEC, "-n", "1", *prefix, *args, ":", "-n", str(self.np - 1), *args]
        return [*prefix, *args]


@dataclass
class Ended:
    """How a launched job ended."""
    rc: int | None
    seconds: float
    timed_out: bool
    stragglers: int
    stderr: str


def _session(sid: int) -> list[int]:
    """Live (non-zombie) processes of session ``sid``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            if os.getsid(pid) != sid:
                continue
            with open(f"/proc/{pid}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X"):
            found.append(pid)
    return found


def launch(argv: list[str], env: dict, folder: str, timeout: float) -> Ended:
    """Run ``argv`` in its own session; kill what is left of it at the end."""
    t0 = time.monotonic()
    with open(os.path.join(folder, "stdout.txt"), "w") as out, \
            open(os.path.join(folder, "stderr.txt"), "w+") as err:
        p = subprocess.Popen(argv, cwd=folder, env=env, stdout=out, stderr=err, start_new_session=True)
        timed_out = False
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        seconds = time.monotonic() - t0
        # the job is over when its first process is: whatever is left is a straggler
        deadline = time.monotonic() + (0 if timed_out else 5)
        left = _session(p.pid)
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = _session(p.pid)
        if left or timed_out:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            for pid in _session(p.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            p.wait()
        err.seek(0)
        return Ended(p.returncode, seconds, timed_out, len(left), err.read())


def cli(args: list, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m hpcpet ARGS``, output captured."""
    return subprocess.run([sys.executable, "-m", "hpcpet", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=env)


def read_log(path: str) -> list[int]:
    """Run indices a log holds, in order (a run executed twice appears twice)."""
    try:
        with open(path) as fh:
            return [int(x) for x in fh.read().split()]
    except FileNotFoundError:
        return []


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""


# --------------------------------------------------------------------- references
class Folders:
    """New trial folders under ``root``, all with names of one length.

    The results file records the experiment's path, so folders of different
    lengths would give files of different layouts, and write sequences that
    differ from the reference's.
    """

    def __init__(self, root: str):
        self.root = str(root)
        self._numbers = itertools.count()
        self._lock = threading.Lock()

    def new(self) -> str:
        with self._lock:
            n = next(self._numbers)
        return os.path.join(self.root, f"{n:06d}")


@dataclass
class Reference:
    """An uninterrupted job: its results file and the writer's write sequence."""
    job: Job
    path: str
    trace: Trace
    header_end: int  # last position of the header (see header_positions)


def prepare(folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    # a copy outside any git repository: no git child processes inside the traced job
    shutil.copy(EXPERIMENT, os.path.join(folder, "crash.py"))


def reference(job: Job, folder: str) -> Reference:
    """Run ``job`` once under strace without a kill; learn its write sequence."""
    prepare(folder)
    tr = os.path.join(folder, "trace.txt")
    ended = launch(job.argv("run", folder, strace_prefix(tr)), job.env(os.path.join(folder, "run.log")),
                   folder, job.timeout)
    if ended.rc != 0:
        raise RuntimeError(f"reference run failed (exit {ended.rc}): {_last_line(ended.stderr)}")
    trace = parse_trace(tr)
    out = os.path.join(folder, "out.h5")
    return Reference(job, out, trace, find_header_end(trace, out))


def find_header_end(trace: Trace, out: str) -> int:
    """Position of the first call after which the results file exists (rename to it, or its fsync)."""
    name = os.path.basename(out)
    for pos, call in enumerate(trace.calls, 1):
        touched = os.path.basename(call.target.split(" -> ")[-1])
        if touched == name and (call.name.startswith("rename") or call.name in ("fsync", "fdatasync")):
            return pos
    return min(12, len(trace))


# --------------------------------------------------------------------- trials
@dataclass
class Trial:
    """What one kill did, and everything the checks need (JSON-able)."""
    backend: str
    phase: str            # header, spread, close, resume
    target: int           # planned position in the reference write sequence
    syscall: str = ""
    nth: int = 0
    position: int = 0     # position the kill really hit (0: no kill)
    killed: bool = False
    killed_in: str = ""   # the file the killed call touched
    retried_at: int = 0   # MPI: aimed again at this position of a run that made fewer writes
    all_executed: bool = False  # every run had been executed when the kill came (the close)
    seconds: float = 0.0
    timed_out: bool = False
    stragglers: int = 0
    state: str = ""       # absent, unreadable, readable
    info_rc: int | None = None
    traceback: bool = False
    load_error: str = ""
    done_at_kill: int = 0
    claim: int = 0        # runs committed as far as the file or `status` says
    values_ok: bool = True
    value_error: str = ""
    recovery: str = ""    # resume, or run (no results file yet)
    recovery_rc: int | None = None
    recovery_error: str = ""
    same: bool = False
    compare_error: str = ""
    leftovers: list = field(default_factory=list)
    executed_before: int = 0
    uncommitted: int = 0  # runs executed before the kill and not marked done right after it
    in_flight: int = 0    # the most that may be (Job.in_flight)
    resumed: int = 0      # runs the recovery executed
    rerun_committed: int = 0  # of those, runs marked done right after the kill
    rerun_total: int = 0      # runs executed more than once over the whole trial
    recovery_twice: int = 0   # runs the recovery itself executed twice
    lost: int = 0             # committed runs whose results were not kept

    def problems(self) -> list[str]:
        """Every check this trial fails (empty: the trial passes)."""
        p = []
        if not self.killed:
            p.append("the kill did not happen")
        elif self.position == 0:
            p.append("the kill landed in another task than the writer (aimed at a call it makes too)")
        if self.timed_out or self.stragglers:
            p.append(f"the killed job did not end by itself ({self.stragglers} processes left)")
        if self.state == "unreadable":
            p.append(f"unreadable after the kill: {self.load_error}")
        if self.state == "absent" and self.phase not in ("header",):
            p.append("the results file is gone")
        if self.traceback:
            p.append("a traceback was printed")
        if self.state != "absent" and self.info_rc != 0:
            p.append(f"info exit {self.info_rc}")
        if not self.values_ok:
            p.append(f"runs marked done differ from the reference: {self.value_error}")
        if self.recovery_rc != 0:
            p.append(f"{self.recovery} exit {self.recovery_rc}: {self.recovery_error}")
        elif not self.same:
            p.append(f"final file differs from the reference: {self.compare_error}")
        if self.leftovers:
            p.append(f"files left over: {self.leftovers}")
        if self.rerun_committed:
            p.append(f"{self.rerun_committed} runs done at the kill were executed again")
        if self.recovery_twice:
            p.append(f"{self.recovery} executed {self.recovery_twice} runs twice")
        if self.lost:
            p.append(f"{self.lost} committed runs lost")
        if self.state == "readable" and self.uncommitted > self.in_flight:
            p.append(f"{self.uncommitted} runs executed before the kill were not done after it "
                     f"(more than the {self.in_flight} that can be in flight)")
        return p


def _traceback(proc) -> bool:
    return "Traceback" in (proc.stdout or "") or "Traceback" in (proc.stderr or "")


def _compare_done(path: str, ref: str) -> tuple[int, str]:
    """Runs marked done in ``path``, and what differs from ``ref`` among them ('' if nothing)."""
    from filecompare import _same

    with hpcpet.load(path) as a, hpcpet.load(ref) as b:
        if len(a) != len(b):
            return 0, f"{len(a)} runs, reference {len(b)}"
        done = np.flatnonzero(np.asarray(a.completed))
        if not np.array_equal(np.asarray(a.status)[done], np.asarray(b.status)[done]):
            return len(done), "status of done runs"
        if not len(done):
            return 0, ""
        for name in b.results:
            if name not in a.results:
                return len(done), f"result {name} missing"
            va, vb = a.get_from_runs(name), b.get_from_runs(name)
            if isinstance(vb, list):
                bad = [int(i) for i in done if not _same(va[i], vb[i])]
            else:
                va, vb = np.asarray(va), np.asarray(vb)
                bad = [int(i) for i in done if not _same(va[i], vb[i])]
            if bad:
                return len(done), f"{name} at runs {bad[:5]} ({len(bad)} runs)"
        for i in (int(done[0]), int(done[-1])):  # one run read whole, as a user would
            ra, rb = a.run(i), b.run(i)
            for name in b.results:
                if not _same(ra[name], rb[name]):
                    return len(done), f"run({i})[{name!r}]"
        return len(done), ""


def _claim(out: str, env: dict) -> int:
    """Runs done according to ``status`` (which reads what the last checkpoint recorded)."""
    try:
        proc = cli(["status", out], env=env, timeout=60)
    except subprocess.TimeoutExpired:
        return 0
    m = re.search(r"completed:\s+(\d+)", proc.stdout)
    return int(m.group(1)) if m else 0


def examine(trial: Trial, folder: str, ref: Reference, env: dict) -> set[int]:
    """Checks right after a kill; returns the runs marked done (empty if none or unreadable)."""
    out = os.path.join(folder, "out.h5")
    if not os.path.exists(out):
        trial.state = "absent"
        trial.claim = _claim(out, env) if os.path.exists(out + ".status.json") else 0
        return set()
    info = cli(["info", out], env=env)
    trial.info_rc = info.returncode
    trial.traceback = _traceback(info)
    trial.claim = _claim(out, env)
    try:
        done_n, diff = _compare_done(out, ref.path)
        with hpcpet.load(out) as a:
            done = set(np.flatnonzero(np.asarray(a.completed)).tolist())
    except Exception as exc:  # noqa: BLE001 - any failure to read is what is counted
        trial.state = "unreadable"
        trial.load_error = f"{type(exc).__name__}: {_last_line(str(exc))}"
        trial.values_ok = True
        return set()
    trial.state = "readable" if info.returncode == 0 else "unreadable"
    if info.returncode != 0:
        trial.load_error = _last_line(info.stderr)
    trial.done_at_kill = done_n
    trial.claim = max(trial.claim, done_n)
    trial.values_ok = not diff
    trial.value_error = diff
    return done


def recover(trial: Trial, folder: str, ref: Reference, job: Job, log: str) -> None:
    """``resume`` (``run`` again if no results file exists), then compare with the reference."""
    from filecompare import assert_same_content

    out = os.path.join(folder, "out.h5")
    trial.recovery = "resume" if os.path.exists(out) else "run"
    ended = launch(job.argv(trial.recovery, folder), job.env(log), folder, job.timeout)
    trial.recovery_rc = ended.rc
    trial.recovery_error = _last_line(ended.stderr) if ended.rc else ""
    trial.traceback |= "Traceback" in ended.stderr
    if ended.rc != 0:
        return
    try:
        assert_same_content(out, ref.path)
        trial.same = True
    except Exception as exc:  # noqa: BLE001
        trial.compare_error = f"{type(exc).__name__}: {_last_line(str(exc))}"
    trial.leftovers = sorted(set(os.listdir(folder)) - OWN_FILES - {"out.h5"})


def count(trial: Trial, job: Job, before: list[int], done: set[int], again: list[int]) -> None:
    """Re-execution counts from the run log before the kill and the recovery's log."""
    trial.executed_before = len(set(before))
    trial.uncommitted = len(set(before) - done)
    trial.in_flight = job.in_flight
    trial.resumed = len(again)
    twice = Counter(again)
    trial.recovery_twice = sum(1 for c in twice.values() if c > 1)
    trial.rerun_committed = len(done & set(again))
    total = Counter(before) + twice
    trial.rerun_total = sum(1 for c in total.values() if c > 1)
    if trial.recovery_rc != 0:
        trial.lost = trial.claim
    else:  # runs executed before the kill and not needed again were kept
        kept = len(set(before) - set(again))
        trial.lost = max(0, trial.claim - kept)


def _kill(job: Job, verb: str, folder: str, ref_trace: Trace, position: int, trial: Trial,
          log: str, trace_name: str) -> Trace:
    call = ref_trace.at(position)
    trial.syscall, trial.nth = call.name, call.nth
    tr = os.path.join(folder, trace_name)
    ended = launch(job.argv(verb, folder, strace_prefix(tr, call)), job.env(log), folder, job.timeout)
    got = parse_trace(tr)
    trial.seconds = round(ended.seconds, 2)
    trial.timed_out, trial.stragglers = ended.timed_out, ended.stragglers
    trial.killed = got.killed and ended.rc != 0
    trial.position = len(got) if trial.killed else 0
    trial.killed_in = os.path.basename(got.calls[-1].target) if trial.killed and got.calls else ""
    trial.traceback |= "Traceback" in ended.stderr
    return got


def kill_run(ref: Reference, folder: str, position: int, phase: str) -> Trial:
    """Kill ``run`` at ``position`` of the reference's write sequence, check, recover, count."""
    job = ref.job
    trial = Trial(job.backend, phase, position)
    prepare(folder)
    log = os.path.join(folder, "run.log")
    got = _kill(job, "run", folder, ref.trace, position, trial, log, "trace.txt")
    if not trial.killed and job.backend == "mpi" and len(got) and not trial.timed_out:
        # this run made fewer writes than the reference (MPI: results arrived in another
        # order): aim again, as far from the end of this run's own sequence
        k = got.nearest_aimable(max(1, len(got) - (len(ref.trace) - position)))
        shutil.rmtree(folder)
        prepare(folder)
        trial = Trial(job.backend, phase, position, retried_at=k)
        _kill(job, "run", folder, got, k, trial, log, "trace.txt")
    return _judge(trial, folder, ref, read_log(log), log, "resume.log")


@dataclass
class Interrupted:
    """A results file left by a kill of ``run``, kept as the starting point of resume trials."""
    folder: str
    trace: Trace  # the write sequence of an uninterrupted resume of it


def interrupted(ref: Reference, folder: str, probe: str, position: int, tries: int = 20) -> Interrupted:
    """A results file left by a kill of ``run`` in ``folder``, and the trace of its ``resume``.

    The kill comes at ``position``, or at the next position after which an
    file that reads right (some runs done, with the reference's values) and
    that an uninterrupted ``resume`` of a copy (in ``probe``) completes.
    """
    job = ref.job
    why = ""
    for k in range(position, min(position + tries, len(ref.trace) + 1)):
        for f in (folder, probe):
            shutil.rmtree(f, ignore_errors=True)
        prepare(folder)
        trial = Trial(job.backend, "setup", k)
        _kill(job, "run", folder, ref.trace, k, trial, os.path.join(folder, "run.log"), "trace.txt")
        if not trial.killed or not os.path.exists(os.path.join(folder, "out.h5")):
            why = f"the kill at {k} left no results file"
            continue
        try:  # a clean start: what a kill of resume does must not be blamed on the first kill
            done, diff = _compare_done(os.path.join(folder, "out.h5"), ref.path)
        except Exception as exc:  # noqa: BLE001
            done, diff = 0, f"{type(exc).__name__}: {_last_line(str(exc))}"
        if diff or not done:
            why = f"the kill at {k} left a file that reads wrong ({diff or 'no run done'})"
            continue
        shutil.copytree(folder, probe)
        tr = os.path.join(probe, "trace2.txt")
        ended = launch(job.argv("resume", probe, strace_prefix(tr)),
                       job.env(os.path.join(probe, "resume.log")), probe, job.timeout)
        if ended.rc == 0:
            return Interrupted(folder, parse_trace(tr))
        why = f"resume after the kill at {k} failed: {_last_line(ended.stderr)}"
    raise RuntimeError(f"no kill at {position}..{position + tries - 1} left a file resume completes ({why})")


def kill_resume(ref: Reference, start: Interrupted, folder: str, position: int, phase: str = "resume") -> Trial:
    """Kill ``resume`` of a copy of ``start`` at ``position`` of its write sequence; check, resume again."""
    job = ref.job
    trial = Trial(job.backend, phase, position)
    shutil.copytree(start.folder, folder)
    for name in ("stdout.txt", "stderr.txt", "trace.txt"):
        os.unlink(os.path.join(folder, name))
    # the file records the experiment path of the original folder; it is the same file
    before = read_log(os.path.join(folder, "run.log"))
    log = os.path.join(folder, "resume.log")
    _kill(job, "resume", folder, start.trace, position, trial, log, "trace2.txt")
    return _judge(trial, folder, ref, before + read_log(log), log, "again.log")


def _judge(trial: Trial, folder: str, ref: Reference, before: list[int], log: str, again: str) -> Trial:
    """After a kill: examine the file, complete it (its run log: ``again``), count what ran twice.

    ``before``: the runs executed up to the kill (their run logs), ``log``: the killed job's.
    """
    job = ref.job
    trial.all_executed = len(set(before)) == job.n_runs
    done = examine(trial, folder, ref, job.env(log))
    again_log = os.path.join(folder, again)
    recover(trial, folder, ref, job, again_log)
    count(trial, job, before, done, read_log(again_log))
    return trial


# --------------------------------------------------------------------- plans and tables
def spread(lo: int, hi: int, n: int) -> list[int]:
    """``n`` distinct positions evenly spread over ``lo..hi`` (inclusive)."""
    if hi < lo:
        return []
    return sorted(set(np.linspace(lo, hi, min(n, hi - lo + 1)).round().astype(int).tolist()))


def header_positions(ref: Reference, n: int = 8) -> list[int]:
    """Positions while the results file is created: the first ones, and around the header's end."""
    h = ref.header_end
    pos = set(spread(1, h, n - 2)) | {h, h + 1}
    return sorted(p for p in pos if 1 <= p <= len(ref.trace))


def close_positions(ref: Reference, n: int = 30) -> list[int]:
    """Every one of the last ``n`` positions (the final close)."""
    t = len(ref.trace)
    return list(range(max(1, t - n + 1), t + 1))


def close_start(ref: Reference) -> int:
    """The first position after the last segment was published: the close's consolidation, publish
    of the results file and removal of the segments (MPI: where its close positions spread)."""
    last = max((k for k, c in enumerate(ref.trace.calls, 1)
                if c.name.startswith("rename") and "/seg-" in c.target and ".tmp" in c.target), default=0)
    return min(last + 1, len(ref.trace))


def consolidation_positions(ref: Reference, n: int = 12, last: int = 30) -> list[int]:
    """Positions spread over the close before its ``last`` writes, and the two at the rename that
    publishes the results file (and the fsync before it): the consolidation and the publish."""
    t = len(ref.trace)
    name = os.path.basename(ref.path)
    publish = [k for k, c in enumerate(ref.trace.calls, 1) if c.name.startswith("rename") and k >= close_start(ref)
               and os.path.basename(c.target.split(" -> ")[-1]) == name]
    return sorted(set(spread(close_start(ref), t - last, n)) | {p for k in publish[-1:] for p in (k - 1, k)})


#: the jobs of the suite: serial batches straddle buckets (partly written buckets); under MPI
#: one bucket per batch keeps the write sequence nearly the same from run to run
SERIAL_JOB = Job(backend="serial", batch_size=70)
MPI_JOB = Job(backend="mpi", batch_size=100)

#: the suite's plan (tests/test_crash.py, benchmarks/crash_report.py): phase -> number of positions
PLAN = {"serial": {"header": 8, "spread": 40, "close": 30, "consolidation": 12, "resume": 8},
        "mpi": {"spread": 10, "close": 10}}


def positions(ref: Reference, phase: str, n: int | None = None) -> list[int]:
    """The positions of ``phase`` (header, spread, close) for ``ref``'s backend, as in :data:`PLAN`.

    MPI write sequences vary by a few calls between runs (results arrive in
    another order), so its close is aimed at positions spread from the last
    segment's publish to the 5th write from the end, and :func:`kill_run`
    aims again at a run that made fewer writes; each trial records where the
    kill landed. Every position is one a kill can only reach in the writer
    (:meth:`Trace.nearest_aimable`).
    """
    n = PLAN[ref.job.backend][phase] if n is None else n
    t = len(ref.trace)
    if phase == "header":
        chosen = header_positions(ref, n)
    elif phase == "close":
        chosen = close_positions(ref, n) if ref.job.backend == "serial" else spread(close_start(ref), t - 4, n)
    elif phase == "consolidation":  # serial: the close before its last 30 writes (the segments' removal)
        chosen = consolidation_positions(ref, n)
    else:
        chosen = spread(ref.header_end + 2, t - 30 if ref.job.backend == "serial" else t - 15, n)
    return sorted({ref.trace.nearest_aimable(p) for p in chosen})


def resume_positions(start: "Interrupted", n: int = 8) -> list[int]:
    """Positions in the write sequence of ``resume``: half spread over it, half its last writes."""
    t = len(start.trace)
    last = n // 2
    return spread(1, t - last - 1, n - last) + list(range(t - last + 1, t + 1))


def run_trials(fn, items: list, workers: int = 2) -> list[Trial]:
    """``fn(item)`` for every item on a small thread pool (each trial is mostly subprocesses)."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


def summary(trials: list[Trial]) -> dict:
    """The numbers the closing note of issue 11 needs."""
    pos = sorted(t.position for t in trials if t.killed)
    return {
        "trials": len(trials),
        "killed": sum(t.killed for t in trials),
        "positions": f"{pos[0]}..{pos[-1]}" if pos else "-",
        "in close": sum(t.all_executed for t in trials),
        "unreadable": sum(t.state == "unreadable" for t in trials),
        "absent": sum(t.state == "absent" for t in trials),
        "info fails": sum(t.state != "absent" and t.info_rc != 0 for t in trials),
        "tracebacks": sum(t.traceback for t in trials),
        "wrong values": sum(not t.values_ok for t in trials),
        "recovery fails": sum(t.recovery_rc != 0 for t in trials),
        "not equal": sum(t.recovery_rc == 0 and not t.same for t in trials),
        "leftovers": sum(bool(t.leftovers) for t in trials),
        "runs lost": sum(t.lost for t in trials),
        "done re-run": sum(t.rerun_committed for t in trials),
        "runs re-run": sum(t.rerun_total for t in trials),
        "max in flight": max((t.uncommitted for t in trials if t.state == "readable"), default=0),
        "failed trials": sum(bool(t.problems()) for t in trials),
    }


def table(groups: dict[str, list[Trial]]) -> str:
    """A plain-text table: one row per group of trials, one column per number of :func:`summary`."""
    rows = {name: summary(ts) for name, ts in groups.items() if ts}
    if not rows:
        return "(no trials)"
    cols = list(next(iter(rows.values())))
    width = max(len(n) for n in rows) + 2
    head = " " * width + "  ".join(c.rjust(max(len(c), 5)) for c in cols)
    lines = [head]
    for name, s in rows.items():
        lines.append(name.ljust(width) + "  ".join(str(s[c]).rjust(max(len(c), 5)) for c in cols))
    return "\n".join(lines)


def details(trials: list[Trial]) -> str:
    """One line per failed trial: where it was killed and what went wrong."""
    out = []
    for t in trials:
        p = t.problems()
        if p:
            out.append(f"{t.backend} {t.phase} K={t.target} ({t.syscall} #{t.nth}, hit {t.position}, "
                       f"in {t.killed_in or '-'}): " + "; ".join(p))
    return "\n".join(out)


def save(path: str, groups: dict[str, list[Trial]]) -> None:
    """Write the trials as JSON (for benchmarks/crash_report.py --from)."""
    with open(path, "w") as fh:
        json.dump({k: [dataclasses.asdict(t) for t in v] for k, v in groups.items()}, fh, indent=1)


def load_saved(path: str) -> dict[str, list[Trial]]:
    with open(path) as fh:
        return {k: [Trial(**t) for t in v] for k, v in json.load(fh).items()}

"""Fault suite: kill -9 and SIGTERM at random moments, then resume; failing runs.

Every trial compares against an uninterrupted run of tests/experiments/faults.py
(runs of ~0.3 ms, every result kind, 1 % of runs raise): after the kill the
file must open and every run marked done must hold exactly the reference
results; after ``resume`` the file must equal the reference.
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

import hpcpet
from hpcpet.storage.status import sidecar_path
from conftest import bin_path, experiment, hpcpet_cli
from filecompare import _same, assert_same_content

EXP = experiment("faults.py")
N = 2000
SET = 100
ENV = {"FAULTS_N": str(N), "HPCPET_CHECKPOINT_SECONDS": "0.05"}  # many checkpoints per job
MPIEXEC = bin_path("mpiexec")


def _mpi_works() -> bool:
    try:
        import mpi4py  # noqa: F401
        from hpcpet.backends import mpi  # noqa: F401
    except ImportError:
        return False
    return os.path.exists(MPIEXEC)


@pytest.fixture(scope="module")
def faults_ref(tmp_path_factory):
    out = tmp_path_factory.mktemp("faults") / "ref.h5"
    hpcpet_cli("run", EXP, "-o", out, "--set-size", SET, "--backend", "serial", "--quiet", env=ENV)
    with hpcpet.load(str(out)) as ref:
        assert int(ref.failed.sum()) == N // 100 and int(ref.completed.sum()) == N - N // 100
    return str(out)


def run_cmd(backend: str, out) -> list:
    args = [sys.executable, "-m", "hpcpet", "run", EXP, "-o", str(out), "--set-size", str(SET), "--quiet"]
    if backend == "mpi":
        return [MPIEXEC, "-n", "3", *args, "--backend", "mpi"]
    return [*args, "--backend", backend, "--ncores", "2"]


def launch(cmd, env=None):
    return subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, **ENV, **(env or {})))


def kill_group(proc, sig=signal.SIGKILL) -> None:
    """Send ``sig`` to every process of the job and wait until all have ended.

    The job runs in its own session; MPI ranks may sit in other process
    groups, so the whole process tree is signalled too.
    """
    import psutil

    try:
        tree = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        tree = [proc.pid]
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    for pid in tree:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    proc.communicate(timeout=30)
    gone, alive = psutil.wait_procs([psutil.Process(p) for p in tree if psutil.pid_exists(p)], timeout=10)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], "processes of the killed job survive"


def wait_for_file(proc, out, limit: float = 60) -> None:
    """Wait until the job has created its results file."""
    deadline = time.monotonic() + limit
    while not out.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)


def wait_for_checkpoint(proc, out, limit: float = 60) -> None:
    """Wait until a checkpoint saved some runs (the side file hpcpet status reads says so)."""
    deadline = time.monotonic() + limit
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with open(sidecar_path(str(out))) as fh:
                if json.load(fh)["done"] > 0:
                    return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.01)


def check_done_intact(path: str, ref: str) -> int:
    """The file opens; every run marked done or failed matches the reference. Returns runs done."""
    with hpcpet.load(path) as a, hpcpet.load(ref) as b:
        st, rst = a.status, b.status
        handled = st != 0
        assert np.array_equal(st[handled], rst[handled]), "a finished run has the wrong status"
        done = np.flatnonzero(st == 1)
        for name in b.results:
            vb = b.get_from_runs(name)
            if name not in a.results:
                # no run of the file stored this result yet: the reference has none at done runs
                if isinstance(vb, list):
                    assert all(vb[i] is None for i in done), name
                else:
                    assert np.isnan(vb[done]).all() if vb.dtype.kind == "f" else not len(done), name
                continue
            va = a.get_from_runs(name)
            if isinstance(vb, list):
                for i in done:
                    assert _same(va[i], vb[i]), (name, i, va[i], vb[i])
            else:
                assert _same(np.asarray(va)[done], np.asarray(vb)[done]), name
        errs = a.errors
        assert set(errs) == set(np.flatnonzero(st == 2).tolist())
        return len(done)


def kill_trials(backend: str, ref: str, tmp_path, trials: int, seed: int) -> dict:
    """kill -9 the whole job at random moments, check, resume, compare. Returns counts."""
    rng = random.Random(seed)
    counts = {"trials": 0, "mid_run": 0, "runs_done_at_kill": 0, "runs_lost": 0}
    attempt = 0
    while counts["mid_run"] < trials and attempt < 4 * trials:
        attempt += 1
        out = tmp_path / f"{backend}_kill{attempt}.h5"
        # runs of ~1 ms: the job lasts ~1-2 s; kill it at a random moment after its first
        # checkpoint (a kill before it leaves nothing done, which proves little)
        delay = rng.uniform(0.0, 0.7)
        p = launch(run_cmd(backend, out), env={"FAULTS_RUN_SECONDS": "1e-3"})
        wait_for_checkpoint(p, out)
        time.sleep(delay)
        finished = p.poll() is not None
        kill_group(p)
        counts["trials"] += 1
        if not out.exists():
            assert not finished
            continue  # killed before the file existed: nothing was done
        done = check_done_intact(str(out), ref)  # committed runs are intact after any kill
        if done == 0 or done == N - N // 100 or finished:
            continue  # before the first checkpoint, or after the last
        counts["mid_run"] += 1
        counts["runs_done_at_kill"] += done
        resume_backend = ["--backend", "pool", "--ncores", "2"] if attempt % 2 else ["--backend", "serial"]
        proc = hpcpet_cli("resume", out, "--quiet", *resume_backend, env=ENV)
        assert_same_content(str(out), ref)
        with hpcpet.load(str(out)) as a, hpcpet.load(ref) as b:
            counts["runs_lost"] += int((b.completed & ~a.completed).sum())
    assert counts["mid_run"] >= trials, counts
    assert counts["runs_done_at_kill"] > 0
    return counts


def test_kill9_pool_then_resume(faults_ref, tmp_path):
    counts = kill_trials("pool", faults_ref, tmp_path, trials=6, seed=20261125)
    print("kill -9 pool:", counts)
    assert counts["runs_lost"] == 0


@pytest.mark.skipif(not _mpi_works(), reason="mpi4py or the MPI backend is not available")
def test_kill9_mpi_then_resume(faults_ref, tmp_path):
    counts = kill_trials("mpi", faults_ref, tmp_path, trials=10, seed=7)
    print("kill -9 mpiexec -n 3:", counts)
    assert counts["runs_lost"] == 0


@pytest.mark.parametrize("backend", ["pool", "serial",
                                     pytest.param("mpi", marks=pytest.mark.skipif(
                                         not _mpi_works(), reason="MPI backend not available"))])
def test_sigterm_saves_and_resume_completes(faults_ref, tmp_path, backend):
    """SIGTERM to every process of the job (as SLURM does): exit != 0 soon, saved, resumable."""
    out = tmp_path / "term.h5"
    p = launch(run_cmd(backend, out), env={"FAULTS_RUN_SECONDS": "2e-3"})  # >= 2 s of runs
    wait_for_checkpoint(p, out)
    assert p.poll() is None, "the job ended before the signal; make it longer"
    os.killpg(p.pid, signal.SIGTERM)
    t = time.monotonic()
    _, err = p.communicate(timeout=30)
    assert time.monotonic() - t < 10, "took more than 10 s to stop after SIGTERM"
    assert p.returncode == 3, (p.returncode, err)
    with hpcpet.load(str(out)) as a:
        assert a.meta.get("ended")  # the file was closed properly
        done = int(a.completed.sum())
    assert 0 < done < N - N // 100
    assert check_done_intact(str(out), faults_ref) == done
    hpcpet_cli("resume", out, "--quiet", "--backend", "serial", env=ENV)
    assert_same_content(str(out), faults_ref)


def test_sigterm_message_says_how_to_resume(tmp_path):
    out = tmp_path / "msg.h5"
    p = launch([sys.executable, "-m", "hpcpet", "run", EXP, "-o", str(out), "--backend", "serial",
                "--progress", "log"])
    wait_for_file(p, out)
    time.sleep(0.3)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 3
    assert "received SIGTERM" in err
    assert f"python -m hpcpet resume {out}" in err
    assert "Traceback" not in err


def hang_experiment(tmp_path):
    exp = tmp_path / "hang.py"
    exp.write_text(
        "import time\nimport hpcpet\n"
        "def build(traj):\n    traj.add_parameter('x', 0)\n    traj.explore({'x': list(range(50))})\n"
        "def run(traj):\n    if traj['x'] == 20:\n        time.sleep(3600)\n    return traj['x']\n")
    return exp


def test_stuck_run_stops_after_grace(tmp_path):
    """One SIGTERM and a run that never ends: hpcpet stops by itself after HPCPET_STOP_GRACE."""
    out = tmp_path / "hang.h5"
    p = launch([sys.executable, "-m", "hpcpet", "run", str(hang_experiment(tmp_path)), "-o", str(out),
                "--backend", "pool", "--ncores", "2", "--batch-size", "1", "--quiet"],
               env={"HPCPET_STOP_GRACE": "1"})
    wait_for_file(p, out)
    time.sleep(1.5)
    os.killpg(p.pid, signal.SIGTERM)
    t = time.monotonic()
    _, err = p.communicate(timeout=30)
    assert time.monotonic() - t < 10
    assert p.returncode != 0 and "Traceback" not in err
    kill_group(p)  # nothing may be left behind
    with hpcpet.load(str(out)) as a:
        assert a.completed[:20].all() and not a.completed[20]


def test_second_signal_stops_at_once(tmp_path):
    """A run that never ends: the first SIGINT waits for it, the second stops at once."""
    exp = hang_experiment(tmp_path)
    out = tmp_path / "hang.h5"
    p = launch([sys.executable, "-m", "hpcpet", "run", str(exp), "-o", str(out), "--backend", "serial",
                "--batch-size", "1", "--progress", "log"])
    time.sleep(2.0)
    p.send_signal(signal.SIGINT)
    time.sleep(1.5)  # a signal within 1 s of the first is the same signal delivered twice
    assert p.poll() is None  # still waiting for the hanging run
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=10)
    assert p.returncode != 0
    assert "Traceback" not in err
    with hpcpet.load(str(out)) as a:
        assert a.completed[:20].all() and not a.completed[20:].any()


@pytest.mark.skipif(not _mpi_works(), reason="mpi4py or the MPI backend is not available")
def test_second_sigterm_stops_an_mpi_job_at_once(tmp_path):
    """SIGTERM twice to mpiexec (as the jobscript's trap forwards it); a worker is stuck in a run."""
    out = tmp_path / "hang.h5"
    p = launch([MPIEXEC, "-n", "3", sys.executable, "-m", "hpcpet", "run", str(hang_experiment(tmp_path)),
                "-o", str(out), "--backend", "mpi", "--batch-size", "1", "--progress", "log"])
    wait_for_file(p, out)
    time.sleep(1.5)
    p.send_signal(signal.SIGTERM)  # mpiexec forwards it to every rank
    time.sleep(2.0)
    assert p.poll() is None  # the master waits (HPCPET_STOP_GRACE, 6 s) for the stuck run
    t = time.monotonic()
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    assert time.monotonic() - t < 10, err
    assert p.returncode != 0 and "Traceback" not in err, err
    assert "received SIGTERM" in err and "resume" in err, err
    kill_group(p)  # nothing may be left behind
    with hpcpet.load(str(out)) as a:
        assert a.completed[:20].all() and not a.completed[20]


def test_failing_runs_then_retry_failed(faults_ref, tmp_path):
    """1 % of runs raise: the exploration goes on; resume --retry-failed re-runs only them."""
    out = tmp_path / "fail.h5"
    hpcpet_cli("run", EXP, "-o", out, "--set-size", SET, "--backend", "pool", "--ncores", "2", "--quiet",
               env=ENV)
    assert_same_content(str(out), faults_ref)
    with hpcpet.load(str(out)) as a:
        failed = np.flatnonzero(a.failed)
        assert len(failed) == N // 100
        err = a.errors[int(failed[0])]
        assert "RuntimeError: deliberate failure" in err and "Traceback" in err
        assert a.run(int(failed[0])).status == "failed"
    info = hpcpet_cli("info", out).stdout
    assert f"{N // 100} failed" in info
    log = tmp_path / "ran.txt"
    hpcpet_cli("resume", out, "--retry-failed", "--quiet", env={**ENV, "FAULTS_NO_FAIL": "1", "FAULTS_LOG": log})
    assert sorted(int(s) for s in log.read_text().split()) == failed.tolist()  # exactly those, once
    with hpcpet.load(str(out)) as a:
        assert a.completed.all() and a.errors == {}
        assert a.get_from_runs("z")[failed].tolist() == [a.run(int(i))["z"] for i in failed]


def test_fail_fast_stops_then_resume(faults_ref, tmp_path):
    out = tmp_path / "ff.h5"
    proc = hpcpet_cli("run", EXP, "-o", out, "--set-size", SET, "--backend", "serial", "--fail-fast",
                      "--quiet", env=ENV, check=False)
    assert proc.returncode != 0
    assert "--fail-fast" in proc.stderr and "Traceback" not in proc.stderr
    with hpcpet.load(str(out)) as a:
        assert int(a.failed.sum()) == 1
        assert int(a.completed.sum()) < 200  # it stopped near the first failing run (index 3)
    hpcpet_cli("resume", out, "--quiet", "--backend", "serial", env=ENV)
    assert_same_content(str(out), faults_ref)

"""Threads and GPUs of worker processes (hpcpet.placement) on every backend, checked with threadpoolctl."""
import os
import subprocess
import sys

import numpy as np
import pytest

import hpcpet
from conftest import bin_path, experiment, hpcpet_cli
from hpcpet.placement import THREAD_VARS, WorkerSetup, assign_gpus, gpu_list, wanted_threads
from hpcpet.batch import info_array

PROBE = experiment("placement_probe.py")
MPIEXEC = bin_path("mpiexec")
needs_mpi = pytest.mark.skipif(not os.path.exists(MPIEXEC), reason="no mpiexec next to python")
#: the environment of a user who set no thread variables
CLEAN = {v: None for v in (*THREAD_VARS, "HPCPET_THREADS", "CUDA_VISIBLE_DEVICES", "SLURM_STEP_GPUS",
                           "SLURM_JOB_GPUS")}


def run_probe(tmp_path, *options, env=None, prefix=()):
    out = tmp_path / "probe.h5"
    e = {k: v for k, v in os.environ.items() if k not in CLEAN}
    e.update(env or {})
    proc = subprocess.run([*prefix, sys.executable, "-m", "hpcpet", "run", PROBE, "-o", str(out), "--quiet",
                           "--overwrite", *map(str, options)], capture_output=True, text=True, timeout=180, env=e)
    assert proc.returncode == 0, proc.stderr
    with hpcpet.load(out) as t:
        assert t.completed.all()
        return {name: np.asarray(t.get_from_runs(name)) for name in
                ("blas_threads", "env_threads", "gpus", "pid", "rank")}


def default_blas_threads() -> int:
    """What OpenBLAS starts with in a plain process here (the number of cores)."""
    code = "from threadpoolctl import threadpool_info; import numpy; " \
           "print(min(p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas'))"
    e = {k: v for k, v in os.environ.items() if k not in CLEAN}
    return int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e).stdout)


def test_wanted_threads_policy():
    assert wanted_threads(None, {}) == 1
    assert wanted_threads(3, {"OMP_NUM_THREADS": "8"}) == 3
    assert wanted_threads(None, {"MKL_NUM_THREADS": "8"}) is None  # the user's choice stands
    assert wanted_threads(None, {"OMP_NUM_THREADS": "2", "HPCPET_THREADS": "2"}) == 2  # set by hpcpet


def test_gpu_assignment_is_round_robin():
    assert [assign_gpus(["0", "1", "2"], 1, i) for i in range(4)] == ["0", "1", "2", "0"]
    assert [assign_gpus(["0", "1", "2", "3"], 2, i) for i in range(3)] == ["0,1", "2,3", "0,1"]
    assert gpu_list(None, {"SLURM_STEP_GPUS": "4,5"}) == ["4", "5"]
    assert gpu_list(None, {"CUDA_VISIBLE_DEVICES": "1", "SLURM_STEP_GPUS": "4,5"}) == ["1"]
    assert gpu_list("7, 8", {"CUDA_VISIBLE_DEVICES": "1"}) == ["7", "8"]


@pytest.mark.skipif(default_blas_threads() < 2, reason="one core: 1 thread is also the default")
def test_pool_workers_use_one_blas_thread_by_default(tmp_path):
    got = run_probe(tmp_path, "--backend", "pool", "--ncores", "2")
    assert set(got["blas_threads"].tolist()) == {1}


def test_threads_per_run_sets_them(tmp_path):
    got = run_probe(tmp_path, "--backend", "pool", "--ncores", "2", "--threads-per-run", "3")
    assert set(got["blas_threads"].tolist()) == {3}
    assert set(got["env_threads"].tolist()) == {"3"}


@pytest.mark.skipif(default_blas_threads() < 2, reason="one core: 1 thread is also the default")
def test_threads_set_by_the_user_are_left_alone(tmp_path):
    got = run_probe(tmp_path, "--backend", "pool", "--ncores", "2", env={"OPENBLAS_NUM_THREADS": "2"})
    assert set(got["blas_threads"].tolist()) == {2}


def test_serial_is_limited_only_when_asked(tmp_path):
    assert set(run_probe(tmp_path, "--backend", "serial")["blas_threads"].tolist()) == {default_blas_threads()}
    limited = run_probe(tmp_path, "--backend", "serial", "--threads-per-run", "1")
    assert set(limited["blas_threads"].tolist()) == {1}


@needs_mpi
@pytest.mark.parametrize("options,threads", [((), 1), (("--threads-per-run", "2"), 2)])
def test_mpi_ranks_get_their_thread_limit_before_numpy(tmp_path, options, threads):
    got = run_probe(tmp_path, *options, prefix=(MPIEXEC, "-n", "3"))
    assert set(got["blas_threads"].tolist()) == {threads}
    # set in the environment before numpy was imported (no threadpoolctl needed on the ranks)
    assert set(got["env_threads"].tolist()) == {str(threads)}


@pytest.mark.scoop
def test_scoop_workers_use_one_blas_thread(tmp_path):
    pytest.importorskip("scoop")
    if default_blas_threads() < 2:
        pytest.skip("one core")
    got = run_probe(tmp_path, "--backend", "scoop", "--ncores", "2")
    assert set(got["blas_threads"].tolist()) == {1}


def test_pool_workers_get_their_own_gpus(tmp_path):
    got = run_probe(tmp_path, "--backend", "pool", "--ncores", "2", "--gpus", "0,1,2,3",
                    "--gpus-per-worker", "2", "--batch-size", "1")
    by_pid = {}
    for pid, gpus in zip(got["pid"].tolist(), got["gpus"].tolist()):
        by_pid.setdefault(pid, set()).add(gpus)
    assert all(len(v) == 1 for v in by_pid.values()), by_pid  # one assignment per worker
    values = [v.pop() for v in by_pid.values()]
    assert set(values) <= {"0,1", "2,3"} and len(set(values)) == len(values), values


@needs_mpi
def test_mpi_ranks_get_gpus_from_the_launcher_round_robin(tmp_path):
    got = run_probe(tmp_path, "--gpus-per-worker", "1", "--batch-size", "1", prefix=(MPIEXEC, "-n", "4"),
                    env={"CUDA_VISIBLE_DEVICES": "5,6", "PROBE_RUNS": "200"})
    seen = dict(zip(got["rank"].tolist(), got["gpus"].tolist()))
    expected = {1: "5", 2: "6", 3: "5"}  # workers 0, 1, 2 of the node: ranks 1, 2, 3
    assert seen == {r: expected[r] for r in seen} and len(seen) >= 2, seen


def test_gpu_assignment_is_recorded_in_batch_info():
    from hpcpet.backends.pool import PoolBackend
    from hpcpet.engine import BatchSource, FrozenInput
    from hpcpet.experiment import load_experiment

    exp = load_experiment(PROBE)
    traj = hpcpet.Trajectory("probe")
    exp.build(traj)
    traj.freeze()
    backend = PoolBackend(2)
    frozen = FrozenInput(traj, exp.run, experiment=exp.path)
    frozen.setup = WorkerSetup(gpus_per_worker=1, gpus="3,4")
    source = BatchSource(np.ones(len(traj.exploration), bool), 2, batch_size=5)
    backend.start(frozen, source)
    try:
        results = list(backend.run(source))
    finally:
        backend.close()
    for r in results:
        info = info_array(r.info["gpus"], len(r))
        assert info.dtype.kind == "U" and len(info) == len(r)
        assert len(set(info.tolist())) == 1 and set(info.tolist()) <= {"3", "4"}


@pytest.mark.parametrize("options,words", [
    (("--gpus-per-worker", "1"), "needs GPUs"),
    (("--gpus-per-worker", "3", "--gpus", "0,1"), "only 2 GPUs"),
    (("--gpus", "0,1"), "--gpus needs --gpus-per-worker"),
    (("--gpus-per-worker", "0", "--gpus", "0"), "--gpus-per-worker must be >= 1"),
    (("--threads-per-run", "0"), "--threads-per-run must be >= 1"),
    (("--backend", "scoop", "--gpus-per-worker", "1", "--gpus", "0"), "not scoop"),
])
def test_bad_placement_options_are_one_line_errors(tmp_path, options, words):
    e = {k: v for k, v in os.environ.items() if k not in CLEAN}
    proc = subprocess.run([sys.executable, "-m", "hpcpet", "run", PROBE, "-o", str(tmp_path / "o.h5"), *options],
                          capture_output=True, text=True, timeout=60, env=e)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    [line] = [ln for ln in proc.stderr.splitlines() if ln.startswith("hpcpet: error:")]
    assert words in line
    assert not (tmp_path / "o.h5").exists()

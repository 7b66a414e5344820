"""Under a multi-rank launch: wrong backends, the singleton trap and errors end the job at once, said once."""
import os
import socket
import subprocess
import sys
import time

import pytest

from conftest import bin_path, experiment, hpcpet_cli

pytest.importorskip("mpi4py")
MPIEXEC = bin_path("mpiexec")
pytestmark = pytest.mark.skipif(not os.path.exists(MPIEXEC), reason="no mpiexec next to python")
HOST = socket.gethostname()


def mpi(n):
    return (MPIEXEC, "-n", str(n))


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("hpcpet: error:")]


@pytest.mark.parametrize("backend", ["serial", "pool", "scoop"])
def test_other_backends_under_mpiexec_end_at_once_without_touching_the_file(tmp_path, backend):
    out = tmp_path / "x.h5"
    t0 = time.monotonic()
    proc = hpcpet_cli("run", experiment("product.py"), "-o", out, "--backend", backend, prefix=mpi(3),
                      check=False, timeout=30)
    assert time.monotonic() - t0 < 10, proc.stderr
    assert proc.returncode == 2, proc.stderr
    [line] = error_lines(proc.stderr)
    assert f"--backend {backend} under mpiexec" in line and "ranks 0-2 on" in line
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_existing_output_is_left_untouched_by_a_wrong_backend(tmp_path):
    out = tmp_path / "x.h5"
    out.write_bytes(b"precious")
    proc = hpcpet_cli("run", experiment("product.py"), "-o", out, "--backend", "serial", "--overwrite",
                      prefix=mpi(3), check=False, timeout=30)
    assert proc.returncode == 2 and out.read_bytes() == b"precious"


# the singleton trap: the launcher says 3 ranks, but mpi4py's MPI (MPICH here) starts a 1-rank job
# in each process. Open MPI's mpirun and srun --mpi=pmix environments are emulated; each rank
# is started on its own, as the launcher would.
@pytest.mark.parametrize("env", [
    {"OMPI_COMM_WORLD_SIZE": "3", "OMPI_COMM_WORLD_RANK": "{rank}"},
    {"MV2_COMM_WORLD_SIZE": "3", "MV2_COMM_WORLD_RANK": "{rank}"},
])
def test_singleton_trap_is_one_line_from_rank_0(tmp_path, env):
    out = tmp_path / "x.h5"
    procs = []
    for rank in range(3):
        e = {k: v.format(rank=rank) for k, v in env.items()}
        procs.append(subprocess.Popen([sys.executable, "-m", "hpcpet", "run", experiment("product.py"),
                                       "-o", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, env=dict(os.environ, **e)))
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [2, 2, 2], results
    lines = [error_lines(err) for _, err in results]
    assert lines[1] == lines[2] == []  # ranks 1, 2 stay silent
    [line] = lines[0]
    assert "started 3 ranks but MPI sees 1" in line and "MPICH" in line, line
    assert not out.exists()


BAD_ON_RANK_2 = '''
import os
import numpy as np
import hpcpet

if os.environ.get("PMI_RANK") == "2":
    raise RuntimeError("cannot import on this host")

def build(traj):
    traj.add_parameter("x", 0)
    traj.explore(hpcpet.cartesian_product({"x": np.arange(100)}))

def run(traj):
    traj.add_result("z.$", traj.x)
'''


@pytest.mark.parametrize("ranks", [3, 4])
def test_an_error_of_one_rank_names_the_rank_and_host_once(tmp_path, ranks):
    exp = tmp_path / "bad.py"
    exp.write_text(BAD_ON_RANK_2)
    t0 = time.monotonic()
    proc = hpcpet_cli("run", exp, "-o", tmp_path / "out.h5", prefix=mpi(ranks), check=False, timeout=60)
    assert time.monotonic() - t0 < 30
    assert proc.returncode == 2, proc.stderr
    [line] = error_lines(proc.stderr)
    assert line.startswith(f"hpcpet: error: rank 2 on {HOST}: ") and "cannot import on this host" in line


def test_an_error_of_every_rank_names_all_ranks(tmp_path):
    proc = hpcpet_cli("run", tmp_path / "missing.py", "-o", tmp_path / "out.h5", prefix=mpi(4),
                      check=False, timeout=60)
    assert proc.returncode == 2
    [line] = error_lines(proc.stderr)
    assert line.startswith(f"hpcpet: error: ranks 0-3 on {HOST}: experiment file not found")


def test_usage_errors_are_printed_once(tmp_path):
    proc = hpcpet_cli("run", "--no-such-option", prefix=mpi(3), check=False, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("usage:") == 1, proc.stderr


def test_other_verbs_refuse_to_run_on_every_rank(tmp_path, reference):
    proc = hpcpet_cli("info", reference, prefix=mpi(3), check=False, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    [line] = error_lines(proc.stderr)
    assert "'info' does not run under mpiexec" in line


@pytest.mark.parametrize("options,words", [(("--gpus-per-worker", "1"), "needs GPUs"),
                                           (("--threads-per-run", "0"), "--threads-per-run must be >= 1")])
def test_bad_worker_options_under_mpiexec_are_said_once(tmp_path, options, words):
    env = {"CUDA_VISIBLE_DEVICES": "", "SLURM_STEP_GPUS": "", "SLURM_JOB_GPUS": ""}
    proc = hpcpet_cli("run", experiment("product.py"), "-o", tmp_path / "x.h5", *options, prefix=mpi(3),
                      env=env, check=False, timeout=60)
    assert proc.returncode == 2, proc.stderr
    [line] = error_lines(proc.stderr)
    assert words in line and "ranks 0-2 on" in line

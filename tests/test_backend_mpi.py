"""The MPI backend under real ``mpiexec -n N`` (MPICH from the venv), for several N."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import hpcpet
from backend_contract import BackendContract
from conftest import bin_path, experiment, hpcpet_cli
from filecompare import assert_same_content

pytest.importorskip("mpi4py")
MPIEXEC = bin_path("mpiexec")
pytestmark = pytest.mark.skipif(not os.path.exists(MPIEXEC), reason="no mpiexec next to python")


def mpi_prefix(n: int) -> tuple:
    return (MPIEXEC, "-n", str(n))


class MPIContract(BackendContract):
    backend = "mpi"
    ranks = 2

    def execute(self, exp, out, *extra):
        return hpcpet_cli("run", exp, "-o", out, "--backend", "mpi", "--quiet", *extra,
                          prefix=mpi_prefix(self.ranks), timeout=120)


class TestMPI2(MPIContract):
    ranks = 2


class TestMPI3(MPIContract):
    ranks = 3


class TestMPI4(MPIContract):
    ranks = 4


def test_single_rank_runs_everything_itself(reference, tmp_path):
    out = str(tmp_path / "out.h5")
    hpcpet_cli("run", experiment("kinds.py"), "-o", out, "--backend", "mpi", "--quiet",
               prefix=mpi_prefix(1), timeout=120)
    assert_same_content(reference, out)
    with hpcpet.load(out) as t:
        assert t.meta["backend"] == "mpi"


@pytest.mark.parametrize("ranks,expected", [(3, "mpi"), (1, "serial")])
def test_auto_picks_mpi_under_multi_rank_mpiexec(tmp_path, ranks, expected):
    out = str(tmp_path / "out.h5")
    hpcpet_cli("run", experiment("product.py"), "-o", out, "--quiet", prefix=mpi_prefix(ranks), timeout=120)
    with hpcpet.load(out) as t:
        assert t.meta["backend"] == expected
        assert t.completed.all()


def run_api(tmp_path, ranks: int, n_x: int, pause: float, env=None) -> tuple[dict, str]:
    out = str(tmp_path / "api.h5")
    proc = subprocess.run([*mpi_prefix(ranks), sys.executable, experiment("mpi_api.py"), out, str(n_x),
                           str(pause)], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, **(env or {})))
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, proc.stdout  # only rank 0 gets a summary
    return json.loads(lines[0]), out


@pytest.mark.parametrize("ranks", [1, 3])
def test_python_api_under_mpiexec(tmp_path, ranks):
    info, out = run_api(tmp_path, ranks, 40, 0.0)
    assert info == {**info, "done": 78, "failed": 2, "ran": 80}
    with hpcpet.load(out) as t:
        assert t.meta["backend"] == "mpi"
        assert t.failed.sum() == 2 and all("x is seven" in e for e in t.errors.values())
        x, y = t.explored["x"], t.explored["y"]
        ok = t.completed
        assert np.array_equal(t.get_from_runs("out.z")[ok], (x * y)[ok])
        ranks_used = set(t.get_from_runs("out.rank")[ok].astype(int).tolist())
    if ranks == 1:
        assert ranks_used == {0}
    else:  # with two worker ranks the master only dispatches and writes
        assert ranks_used == {1, 2}


def test_master_does_not_spin_while_workers_sleep(tmp_path):
    # runs sleep 20 ms; a master that busy-waits would use ~100% of a core for the whole run
    info, _ = run_api(tmp_path, 3, 60, 0.02)
    assert info["done"] == 118
    assert info["cpu"] < 0.9 * info["wall"], info


def test_master_error_before_start_releases_workers(tmp_path):
    out = tmp_path / "out.h5"
    out.write_bytes(b"")  # exists: rank 0 refuses before any batch is handed out
    t0 = time.monotonic()
    proc = hpcpet_cli("run", experiment("product.py"), "-o", out, "--backend", "mpi", "--quiet",
                      prefix=mpi_prefix(3), check=False, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "exists" in proc.stderr and "Traceback" not in proc.stderr
    assert time.monotonic() - t0 < 60


def test_file_that_cannot_be_created_after_workers_started_ends_the_job(tmp_path):
    # the workers get the frozen input and first batches before rank 0 creates the file
    out = tmp_path / "out.h5"
    proc = subprocess.run([*mpi_prefix(3), sys.executable, experiment("create_fails.py"), str(out), "mpi"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "cannot write the file (simulated)" in proc.stderr
    assert not out.exists()
    # runs of 60 s: the job must not wait for the batches the workers already have
    proc = subprocess.run([*mpi_prefix(3), sys.executable, experiment("create_fails.py"), str(out), "mpi",
                           "60"], capture_output=True, text=True, timeout=50)
    assert proc.returncode != 0 and "cannot write the file (simulated)" in proc.stderr


def test_fail_fast_stops_all_ranks(tmp_path):
    out = str(tmp_path / "out.h5")
    proc = hpcpet_cli("run", experiment("kinds.py"), "-o", out, "--backend", "mpi", "--quiet",
                      "--fail-fast", "--batch-size", "1", prefix=mpi_prefix(3), check=False, timeout=120)
    assert proc.returncode == 2 and "fail-fast" in proc.stderr
    with hpcpet.load(out) as t:
        assert t.failed.sum() == 1
        assert (np.asarray(t.status) == 0).sum() > 0  # the runs after the failure were never handed out


SLEEPY = '''
import time
import numpy as np
import hpcpet

def build(traj):
    traj.add_parameter("x", 0)
    traj.explore(hpcpet.cartesian_product({"x": np.arange(2000)}))

def run(traj):
    time.sleep(0.01)
    traj.add_result("z.$", traj.x)
'''


def test_ctrl_c_to_mpiexec_saves_finished_runs(tmp_path):
    exp = tmp_path / "sleepy.py"
    exp.write_text(SLEEPY)
    out = str(tmp_path / "out.h5")
    proc = subprocess.Popen([*mpi_prefix(3), sys.executable, "-m", "hpcpet", "run", str(exp), "-o", out,
                             "--backend", "mpi", "--progress", "log"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # wait until runs are being written, then interrupt (mpiexec forwards SIGINT to every rank)
    lines = []
    try:
        for line in proc.stderr:  # ends at the latest when the job ends (about 10 s)
            lines.append(line)
            if "runs (" in line:
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3, "".join(lines) + err
    assert "resume" in err
    with hpcpet.load(out) as t:
        done = int(t.completed.sum())
        assert 0 < done < 2000 and t.failed.sum() == 0
        assert np.array_equal(t.get_from_runs("z")[t.completed], t.explored["x"][t.completed])


BAD_ON_WORKERS = '''
import os
import numpy as np
import hpcpet

if os.environ.get("PMI_RANK", "0") != "0":
    raise RuntimeError("cannot import on a worker")

def build(traj):
    traj.add_parameter("x", 0)
    traj.explore(hpcpet.cartesian_product({"x": np.arange(100)}))

def run(traj):
    traj.add_result("z.$", traj.x)
'''


def test_worker_rank_error_ends_the_job_instead_of_hanging(tmp_path):
    exp = tmp_path / "bad.py"
    exp.write_text(BAD_ON_WORKERS)
    proc = hpcpet_cli("run", exp, "-o", tmp_path / "out.h5", "--backend", "mpi", "--quiet",
                      prefix=mpi_prefix(3), check=False, timeout=60)
    assert proc.returncode != 0
    assert "cannot import on a worker" in proc.stderr


SLOW_TAIL = '''
import time
import numpy as np
import hpcpet

def build(traj):
    traj.add_parameter("x", 0)
    traj.explore(hpcpet.cartesian_product({"x": np.arange(100)}))

def run(traj):
    time.sleep(0.2 if traj.x < 4 else 60)
    traj.add_result("z.$", traj.x)
'''


def test_hard_stop_does_not_wait_for_long_runs(tmp_path):
    # after the first SIGINT the master waits HPCPET_STOP_GRACE s, then stops at once: workers
    # stuck in 60 s runs are aborted after the file is closed
    exp = tmp_path / "slow.py"
    exp.write_text(SLOW_TAIL)
    out = str(tmp_path / "out.h5")
    proc = subprocess.Popen([*mpi_prefix(3), sys.executable, "-m", "hpcpet", "run", str(exp), "-o", out,
                             "--backend", "mpi", "--batch-size", "1", "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, HPCPET_STOP_GRACE="0.3"))
    try:
        time.sleep(3)  # the four short runs are done well before the long ones
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=40)  # the 60 s runs must not be waited for
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert "MPI_Abort" in err
    with hpcpet.load(out) as t:
        assert not t.completed[4:].any() and t.failed.sum() == 0


@pytest.mark.parametrize("problem", ["syntax", "option"])
def test_an_error_of_every_rank_is_reported_once(tmp_path, problem):
    exp = tmp_path / "exp.py"
    exp.write_text("def build(traj) oops\n" if problem == "syntax" else SLEEPY)
    extra = ("--batch-size", "0") if problem == "option" else ()
    proc = hpcpet_cli("run", exp, "-o", tmp_path / "out.h5", *extra, prefix=mpi_prefix(4), check=False,
                      timeout=60)
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("hpcpet: error:")]
    assert len(errors) == 1, proc.stderr
    assert ("SyntaxError" if problem == "syntax" else "--batch-size") in errors[0]

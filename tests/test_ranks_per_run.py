"""--ranks-per-run K: each run executed collectively by a group of K ranks (traj.comm), real mpiexec."""
import os

import numpy as np
import pytest

import hpcpet
from conftest import bin_path, experiment, hpcpet_cli

pytest.importorskip("mpi4py")
MPIEXEC = bin_path("mpiexec")
pytestmark = pytest.mark.skipif(not os.path.exists(MPIEXEC), reason="no mpiexec next to python")
EXP = experiment("group_allreduce.py")


def test_each_run_is_an_allreduce_over_its_group(tmp_path):
    out = tmp_path / "g.h5"
    hpcpet_cli("run", EXP, "-o", out, "--ranks-per-run", "2", "--batch-size", "3", "--quiet",
               prefix=(MPIEXEC, "-n", "5"), timeout=120)
    with hpcpet.load(out) as t:
        assert t.completed.all() and t.meta["backend"] == "mpi"
        x = t.explored["x"]
        # group ranks 0 and 1 each add x + their rank: 2x + 1, stored once (by the leader)
        assert np.array_equal(t.get_from_runs("total"), 2 * x + 1)
        assert set(t.get_from_runs("size").tolist()) == {2}
        groups = set(np.asarray(t.get_from_runs("members")).tolist())
    assert groups <= {"1,2", "3,4"} and groups, groups  # workers 1..4 in groups of two


def test_without_the_option_traj_comm_is_a_one_rank_communicator(tmp_path):
    out = tmp_path / "g.h5"
    hpcpet_cli("run", EXP, "-o", out, "--quiet", prefix=(MPIEXEC, "-n", "3"), timeout=120)
    with hpcpet.load(out) as t:
        assert np.array_equal(t.get_from_runs("total"), t.explored["x"])
        assert set(t.get_from_runs("size").tolist()) == {1}


@pytest.mark.parametrize("ranks,k", [(4, 2), (5, 3), (1, 1)])
def test_k_that_does_not_divide_the_workers_is_one_line_error(tmp_path, ranks, k):
    out = tmp_path / "g.h5"
    proc = hpcpet_cli("run", EXP, "-o", out, "--backend", "mpi", "--ranks-per-run", k,
                      prefix=(MPIEXEC, "-n", str(ranks)),
                      check=False, timeout=60)
    assert proc.returncode == 2, proc.stderr
    [line] = [ln for ln in proc.stderr.splitlines() if ln.startswith("hpcpet: error:")]
    assert f"--ranks-per-run {k} does not divide the {ranks - 1} worker ranks" in line
    assert not out.exists()


def test_ranks_per_run_without_mpi_is_one_line_error(tmp_path):
    proc = hpcpet_cli("run", EXP, "-o", tmp_path / "g.h5", "--ranks-per-run", "2", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    [line] = [ln for ln in proc.stderr.splitlines() if ln.startswith("hpcpet: error:")]
    assert "--ranks-per-run needs the mpi backend" in line

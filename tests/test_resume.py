"""resume: exactly the missing runs, with the recorded experiment, from the CLI and from Python."""
import os
import shutil
import sys

import h5py
import numpy as np
import pytest

import hpcpet
from conftest import bin_path, experiment, hpcpet_cli
from filecompare import assert_same_content

FAULTS = experiment("faults.py")
N = 400
ENV = {"FAULTS_N": str(N)}


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """faults.py with 400 runs, uninterrupted."""
    out = tmp_path_factory.mktemp("resume") / "full.h5"
    hpcpet_cli("run", FAULTS, "-o", out, "--set-size", 50, "--backend", "serial", "--quiet", env=ENV)
    return str(out)


def forget(path, runs) -> None:
    """Mark ``runs`` pending again, as if they had not finished before a crash."""
    with h5py.File(path, "r+") as h5:
        st = h5["runs/status"][()]
        st[runs] = 0
        h5["runs/status"][()] = st


def copy_with_lost_runs(full, tmp_path, runs, name="partial.h5"):
    out = tmp_path / name
    shutil.copy(full, out)
    forget(out, runs)
    return out


LOST = np.r_[0:7, 49:51, 120:180, 333, 399]  # partial buckets, a whole bucket, single runs, the last


@pytest.mark.parametrize("backend", ["serial", "pool", "scoop"])
def test_resume_runs_exactly_the_missing_runs(full, tmp_path, backend):
    out = copy_with_lost_runs(full, tmp_path, LOST)
    log = tmp_path / "ran.txt"
    proc = hpcpet_cli("resume", out, "--backend", backend, "--ncores", 2,
                      env={**ENV, "FAULTS_LOG": log})
    ran = sorted(int(s) for s in log.read_text().split())
    assert ran == LOST.tolist()  # no gaps, no duplicates
    assert f"running {len(LOST)}" in proc.stderr
    assert_same_content(str(out), full)
    with hpcpet.load(str(out)) as a:
        assert a.meta["resume_count"] == 1


@pytest.mark.skipif(not os.path.exists(bin_path("mpiexec")), reason="no mpiexec")
def test_resume_under_mpiexec(full, tmp_path):
    out = copy_with_lost_runs(full, tmp_path, LOST)
    log = tmp_path / "ran.txt"
    hpcpet_cli("resume", out, "--quiet", prefix=(bin_path("mpiexec"), "-n", "3"),
               env={**ENV, "FAULTS_LOG": log}, timeout=120)
    assert sorted(int(s) for s in log.read_text().split()) == LOST.tolist()
    assert_same_content(str(out), full)


def test_resume_of_a_complete_file_runs_nothing(full, tmp_path):
    out = tmp_path / "done.h5"
    shutil.copy(full, out)
    log = tmp_path / "ran.txt"
    hpcpet_cli("resume", out, "--quiet", env={**ENV, "FAULTS_LOG": log})
    assert not log.exists()
    assert_same_content(str(out), full)


def test_changed_experiment_is_refused_unless_forced(full, tmp_path):
    exp = tmp_path / "exp.py"
    shutil.copy(FAULTS, exp)
    out = tmp_path / "o.h5"
    hpcpet_cli("run", exp, "-o", out, "--set-size", 50, "--quiet", env=ENV)
    forget(out, LOST)
    exp.write_text(exp.read_text() + "\n# an edit\n")
    proc = hpcpet_cli("resume", out, "--quiet", env=ENV, check=False)
    assert proc.returncode == 2
    assert "changed since" in proc.stderr and "--force" in proc.stderr
    assert "Traceback" not in proc.stderr
    hpcpet_cli("resume", out, "--quiet", "--force", env=ENV)
    assert_same_content(str(out), full)


def test_changed_exploration_is_refused_even_with_force(full, tmp_path):
    out = copy_with_lost_runs(full, tmp_path, LOST)
    before = open(out, "rb").read()
    proc = hpcpet_cli("resume", out, "--force", env={"FAULTS_N": "800"}, check=False)
    assert proc.returncode == 2
    assert "exploration" in proc.stderr and "differs" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert open(out, "rb").read() == before


def test_moved_experiment(full, tmp_path):
    exp = tmp_path / "exp.py"
    shutil.copy(FAULTS, exp)
    out = tmp_path / "o.h5"
    hpcpet_cli("run", exp, "-o", out, "--set-size", 50, "--quiet", env=ENV)
    forget(out, LOST)
    moved = tmp_path / "moved.py"
    exp.rename(moved)
    proc = hpcpet_cli("resume", out, env=ENV, check=False)
    assert proc.returncode == 2 and "--experiment" in proc.stderr and "not found" in proc.stderr
    hpcpet_cli("resume", out, "--experiment", moved, "--quiet", env=ENV)
    assert_same_content(str(out), full)


def _api_traj():
    traj = hpcpet.Trajectory(name="api")
    traj.add_parameter("a", 1.0)
    traj.add_parameter("name", "x")
    traj.explore(hpcpet.cartesian_product({"a": [1.0, 2.0, 3.0], "name": ["p", "q"]}))
    return traj


def api_run(traj):
    traj.add_result("out", traj["a"] * 2 if traj["name"] == "p" else -traj["a"])


def test_api_file_resume(tmp_path):
    ref = tmp_path / "ref.h5"
    hpcpet.Environment(_api_traj(), str(ref), progress="quiet").run(api_run)
    out = tmp_path / "o.h5"
    shutil.copy(ref, out)
    forget(out, [1, 4, 5])
    # the CLI cannot know the function: it says so
    proc = hpcpet_cli("resume", out, check=False)
    assert proc.returncode == 2 and "written from Python" in proc.stderr and "hpcpet.resume" in proc.stderr
    # hpcpet.resume rebuilds the trajectory from the file
    summary = hpcpet.resume(str(out), api_run, backend="serial", progress="quiet")
    assert summary.ran == 3 and summary.done == 6
    assert_same_content(str(out), str(ref))
    # Environment.resume with the user's own trajectory
    forget(out, [0, 2])
    summary = hpcpet.Environment(_api_traj(), str(out), progress="quiet").resume(api_run)
    assert summary.ran == 2
    assert_same_content(str(out), str(ref))


def test_environment_resume_refuses_other_exploration(tmp_path):
    out = tmp_path / "o.h5"
    hpcpet.Environment(_api_traj(), str(out), progress="quiet").run(api_run)
    other = hpcpet.Trajectory()
    other.add_parameter("a", 1.0)
    other.explore({"a": [1.0, 5.0]})
    with pytest.raises(hpcpet.HpcpetError, match="differs"):
        hpcpet.Environment(other, str(out), progress="quiet").resume(api_run)

"""The jobscripts on a real SLURM cluster (.ci/slurm-up.sh); skipped when there is none."""
import os
import shutil
import subprocess
import sys
import time

import pytest

import hpcpet

from conftest import experiment, hpcpet_cli
from filecompare import assert_same_content


@pytest.fixture
def jobs(tmp_path):
    """The job scripts as a pip user gets them: written by ``python -m hpcpet jobscript``."""
    folder = tmp_path / "jobs"
    folder.mkdir()
    for name, file in (("run-mpi", "run-mpi.sbatch"), ("submit-array", "submit-array.sh")):
        hpcpet_cli("jobscript", name, "-o", folder / file)
    return str(folder)


def _cluster_problem() -> str | None:
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return "sbatch/sinfo not installed (bring a cluster up with .ci/slurm-up.sh)"
    try:
        proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"sinfo failed: {exc}"
    if proc.returncode != 0:
        return f"no SLURM cluster up (sinfo: {proc.stderr.strip()[:200]}); run .ci/slurm-up.sh"
    if not any(s in proc.stdout for s in ("idle", "mixed", "alloc", "completing")):
        return f"no usable SLURM node (sinfo: {proc.stdout.strip()!r})"
    return None


_problem = _cluster_problem()
#: CI sets HPCPET_REQUIRE_SLURM=1: there a missing cluster is a failure, not a skip
_required = os.environ.get("HPCPET_REQUIRE_SLURM") == "1"
pytestmark = pytest.mark.skipif(_problem is not None and not _required, reason=_problem or "")


@pytest.fixture(autouse=True)
def _cluster_is_up():
    if _problem is not None:
        pytest.fail(f"HPCPET_REQUIRE_SLURM=1 but {_problem}")


def job_env(**extra) -> dict:
    """The environment jobs inherit: this venv, run by `python`."""
    venv = os.path.dirname(os.path.dirname(sys.executable))
    env = dict(os.environ, HPCPET_VENV=venv, PATH=os.path.dirname(sys.executable) + ":" + os.environ["PATH"])
    env.update(extra)
    return env


def sbatch(*args, cwd, env=None, timeout=180) -> subprocess.CompletedProcess:
    return subprocess.run(["sbatch", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=env or job_env(), timeout=timeout)


def wait_gone(job_ids, timeout=180) -> None:
    """Wait until the jobs have left the queue (finished jobs vanish after MinJobAge)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        out = subprocess.run(["squeue", "-h", "-o", "%i", "-j", ",".join(job_ids)],
                             capture_output=True, text=True).stdout.split()
        if not out:
            return
        time.sleep(0.5)
    raise AssertionError(f"jobs {job_ids} still queued after {timeout} s")


def test_array_and_merge_equals_a_serial_run(tmp_path, reference, jobs):
    out = tmp_path / "all.h5"
    # set size 4: part boundaries fall inside buckets and buckets are copied whole
    proc = subprocess.run([os.path.join(jobs, "submit-array.sh"), experiment("kinds.py"), out, "3"],
                          capture_output=True, text=True, cwd=tmp_path,
                          env=job_env(HPCPET_ARGS="--set-size 4"), timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split() for line in proc.stdout.splitlines())
    assert set(lines) == {"array", "merge"}
    wait_gone([lines["array"], lines["merge"]])
    log = tmp_path / f"all.merge-{lines['merge']}.out"
    assert out.exists(), log.read_text() if log.exists() else "no merge log"
    assert_same_content(reference, str(out))
    with hpcpet.load(out) as t:
        assert t.set_size == 4 and "part" not in t.meta
        assert len(eval(t.meta["merged_from"])) == 3
    assert not (tmp_path / "all.parts").exists()  # parts removed after the merge


def test_run_mpi_with_two_tasks_gives_a_complete_file(tmp_path, reference, jobs):
    out = tmp_path / "mpi.h5"
    proc = sbatch("--wait", "--ntasks=2", "--output=job.out", os.path.join(jobs, "run-mpi.sbatch"),
                  experiment("kinds.py"), out, cwd=tmp_path)
    log = (tmp_path / "job.out").read_text()
    assert proc.returncode == 0, proc.stderr + log
    assert_same_content(reference, str(out))
    with hpcpet.load(out) as t:
        assert t.meta["backend"] == "mpi"


SLOW = '''
import time
import hpcpet

def build(traj):
    traj.add_parameter("x", 0.0)
    traj.explore(hpcpet.cartesian_product({"x": [float(i) for i in range(4000)]}))

def run(traj):
    time.sleep(0.002)
    traj.add_result("$set.$.y", 2 * traj["x"])
'''


def test_run_mpi_stops_on_sigterm_and_resumes_when_resubmitted(tmp_path, jobs):
    """SIGTERM to the batch shell (what --signal=B:TERM@60 sends before the time limit)."""
    exp = tmp_path / "slow.py"
    exp.write_text(SLOW)
    out = tmp_path / "slow.h5"
    script = os.path.join(jobs, "run-mpi.sbatch")
    proc = sbatch("--parsable", "--ntasks=2", "--output=first.out", script, exp, out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    job = proc.stdout.strip().split(";")[0]
    first = tmp_path / "first.out"
    t0 = time.monotonic()
    while "runs (" not in (first.read_text() if first.exists() else ""):  # progress: runs are going
        assert time.monotonic() - t0 < 120, "job did not start"
        time.sleep(0.2)
    subprocess.run(["scancel", "--batch", "--signal=TERM", job], check=True)
    wait_gone([job])
    log = first.read_text()
    assert "SIGTERM" in log and "submit the same sbatch command again" in log, log
    with hpcpet.load(out) as t:
        done = int(t.completed.sum())
    assert 0 < done < 4000, log
    proc = sbatch("--wait", "--ntasks=2", "--output=second.out", script, exp, out, cwd=tmp_path)
    log2 = (tmp_path / "second.out").read_text()
    assert proc.returncode == 0, log2
    assert "exists: resuming it" in log2
    with hpcpet.load(out) as t:
        assert t.completed.all()
        y = t.get_from_runs("y")
        assert (y == 2 * t.explored["x"]).all()


def test_srun_directly_gives_the_serial_file(tmp_path, reference):
    """srun --mpi=pmi2 -n 3 under the real SLURM, no mpiexec: auto picks mpi from srun's variables."""
    out = tmp_path / "srun.h5"
    proc = subprocess.run(["srun", "--mpi=pmi2", "-n", "3", sys.executable, "-m", "hpcpet", "run",
                           experiment("kinds.py"), "-o", str(out), "--quiet"],
                          capture_output=True, text=True, env=job_env(), timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert_same_content(reference, str(out))
    with hpcpet.load(out) as t:
        assert t.meta["backend"] == "mpi"


def test_srun_without_an_mpi_plugin_is_one_line_error(tmp_path):
    """Plain srun (MpiDefault=none): 3 singleton MPI jobs; said once, nothing run, nothing written."""
    out = tmp_path / "srun.h5"
    proc = subprocess.run(["srun", "--mpi=none", "-n", "3", sys.executable, "-m", "hpcpet", "run",
                           experiment("kinds.py"), "-o", str(out)],
                          capture_output=True, text=True, env=job_env(), timeout=180)
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("hpcpet: error:")]
    assert len(errors) == 1 and "srun started 3 tasks without an MPI plugin" in errors[0], proc.stderr
    assert not out.exists()

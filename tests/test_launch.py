"""hpcpet.launch: every launcher's environment gives the right rank, size and name.

Environments are the variables each launcher really sets (captured from hydra, srun --mpi=pmi2,
srun --mpi=pmix and plain srun on the CI cluster, Open MPI 4.1 mpirun and MVAPICH's manual);
where a real launcher is at hand it is run too.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

from hpcpet.launch import Launch, detect, mismatch_message
from conftest import bin_path

HYDRA = {"PMI_RANK": "2", "PMI_SIZE": "4", "PMI_FD": "9", "MPI_LOCALNRANKS": "4", "MPI_LOCALRANKID": "2",
         "PMI_HOSTNAME": "vm"}
# hydra's proxies inside a SLURM allocation are srun steps: PMI_* must win over the step's 1 task
HYDRA_IN_SLURM = {**HYDRA, "SLURM_STEP_ID": "0", "SLURM_STEP_NUM_TASKS": "1", "SLURM_PROCID": "0",
                  "SLURM_NTASKS": "4", "SLURM_JOB_ID": "7"}
SRUN_PMI2 = {"PMI_FD": "11", "PMI_JOBID": "1.0", "PMI_RANK": "1", "PMI_SIZE": "2", "SLURM_STEP_ID": "0",
             "SLURM_STEPID": "0", "SLURM_STEP_NUM_TASKS": "2", "SLURM_PROCID": "1", "SLURM_NTASKS": "2"}
SRUN_PMIX = {"PMIX_RANK": "1", "PMIX_NAMESPACE": "slurm.pmix.2.0",
             "PMIX_SERVER_URI4": "pmix-server.1;tcp4://127.0.0.1:1",
             "SLURM_STEP_ID": "0", "SLURM_STEP_NUM_TASKS": "4", "SLURM_PROCID": "1", "SLURM_NTASKS": "4"}
OPEN_MPI = {"OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_LOCAL_RANK": "3",
            "PMIX_RANK": "3", "PMIX_NAMESPACE": "prterun-vm-1@1"}
# Open MPI's mpirun inside a SLURM allocation: its own variables, not the step's
OPEN_MPI_IN_SLURM = {**OPEN_MPI, "SLURM_STEP_ID": "0", "SLURM_STEP_NUM_TASKS": "1", "SLURM_NTASKS": "4"}
MVAPICH = {"MV2_COMM_WORLD_SIZE": "8", "MV2_COMM_WORLD_RANK": "5"}
PMIX_ONLY = {"PMIX_RANK": "2", "PMIX_NAMESPACE": "prterun-x@1"}
SRUN_NONE = {"SLURM_STEP_ID": "0", "SLURM_STEPID": "0", "SLURM_STEP_NUM_TASKS": "3", "SLURM_PROCID": "2",
             "SLURM_NTASKS": "3"}
SBATCH_SHELL = {"SLURM_NTASKS": "3", "SLURM_NPROCS": "3", "SLURM_PROCID": "0", "SLURM_JOB_ID": "5"}


@pytest.mark.parametrize("env,rank,size,launcher,mpi", [
    (HYDRA, 2, 4, "mpiexec (hydra: MPICH, Intel MPI)", True),
    (HYDRA_IN_SLURM, 2, 4, "mpiexec (hydra: MPICH, Intel MPI)", True),
    (SRUN_PMI2, 1, 2, "srun --mpi=pmi2", True),
    (SRUN_PMIX, 1, 4, "srun --mpi=pmix", True),
    (OPEN_MPI, 3, 4, "Open MPI mpirun", True),
    (OPEN_MPI_IN_SLURM, 3, 4, "Open MPI mpirun", True),
    (MVAPICH, 5, 8, "MVAPICH mpirun_rsh", True),
    (PMIX_ONLY, 2, None, "a PMIx launcher", True),
    (SRUN_NONE, 2, 3, "srun without an MPI plugin", False),
    (SBATCH_SHELL, 0, 1, None, False),
    ({}, 0, 1, None, False),
])
def test_each_launcher_is_recognised(env, rank, size, launcher, mpi):
    got = detect(env, host="node17")
    assert got == Launch(rank, size, launcher, mpi, "node17")
    assert got.multi == (launcher is not None and (size is None or size > 1))
    if launcher:
        assert got.where() == f"rank {rank} on node17"


def test_single_rank_launches_are_not_multi():
    assert not detect({"PMI_RANK": "0", "PMI_SIZE": "1"}).multi
    assert not detect({**SRUN_PMIX, "SLURM_STEP_NUM_TASKS": "1", "PMIX_RANK": "0"}).multi
    assert not detect({"OMPI_COMM_WORLD_SIZE": "1", "OMPI_COMM_WORLD_RANK": "0"}).multi


def test_garbage_values_do_not_crash():
    assert detect({"PMI_SIZE": "x", "PMI_RANK": ""}).launcher is None


def test_mismatch_messages_say_what_to_do():
    text = mismatch_message(detect(OPEN_MPI), 1, "MPICH Version: 5.0.2")
    assert "Open MPI mpirun started 4 ranks but MPI sees 1" in text and "MPICH" in text
    assert "singleton" in text.lower()
    text = mismatch_message(detect(SRUN_NONE), 1, "MPICH")
    assert "--mpi=pmi2" in text and "--mpi=pmix" in text


# one write per line: the launcher merges the ranks' output, and print() writes "\n" separately when unbuffered
PRINT = ("import json, os; from hpcpet.launch import detect; l = detect(); "
         "os.write(1, (json.dumps([l.rank, l.size, l.launcher]) + '\\n').encode())")


def _ranks(stdout: str) -> list:
    return sorted(json.loads(line) for line in stdout.splitlines() if line.startswith("["))


@pytest.mark.skipif(not os.path.exists(bin_path("mpiexec")), reason="no mpiexec next to python")
def test_real_hydra():
    proc = subprocess.run([bin_path("mpiexec"), "-n", "3", sys.executable, "-c", PRINT],
                          capture_output=True, text=True, timeout=60)
    assert _ranks(proc.stdout) == [[r, 3, "mpiexec (hydra: MPICH, Intel MPI)"] for r in range(3)], proc.stderr


def _srun_problem():
    if shutil.which("srun") is None:
        return "no srun (bring a cluster up with .ci/slurm-up.sh)"
    proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=10)
    return None if proc.returncode == 0 and proc.stdout.strip() else "no SLURM cluster up"


@pytest.mark.skipif(_srun_problem() is not None and os.environ.get("HPCPET_REQUIRE_SLURM") != "1",
                    reason=str(_srun_problem()))
@pytest.mark.parametrize("plugin,launcher", [("pmi2", "srun --mpi=pmi2"), ("pmix", "srun --mpi=pmix"),
                                             ("none", "srun without an MPI plugin")])
def test_real_srun(plugin, launcher):
    # no MPI is initialised: the environment alone must say rank r of 2
    proc = subprocess.run(["srun", f"--mpi={plugin}", "-n", "2", sys.executable, "-c", PRINT],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert _ranks(proc.stdout) == [[0, 2, launcher], [1, 2, launcher]], proc.stderr

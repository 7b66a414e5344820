"""Which launcher started this process, and as which rank of how many.

The one place that reads launcher environment variables. It never
initialises MPI (reading the environment is free, ``MPI_Init`` is not), so
``auto`` can pick a backend and errors can name their rank before or
without MPI. Recognised, first match wins:

==============================  ========================================  ==============================
launcher                        rank / size from                          notes
==============================  ========================================  ==============================
MPICH / Intel MPI hydra         ``PMI_RANK`` / ``PMI_SIZE``               also MVAPICH's hydra
``srun --mpi=pmi2``             ``PMI_RANK`` / ``PMI_SIZE``               with ``PMI_JOBID``, ``SLURM_STEP_ID``
Open MPI ``mpirun``/``prterun`` ``OMPI_COMM_WORLD_RANK`` / ``_SIZE``      sets ``PMIX_RANK`` but no ``PMIX_SIZE``
MVAPICH ``mpirun_rsh``          ``MV2_COMM_WORLD_RANK`` / ``_SIZE``
``srun --mpi=pmix``             ``PMIX_RANK`` / ``SLURM_STEP_NUM_TASKS``  no ``PMIX_SIZE`` is ever set
other PMIx launchers            ``PMIX_RANK`` / unknown                   size from MPI itself
``srun`` without an MPI plugin  ``SLURM_PROCID`` / ``SLURM_STEP_NUM_TASKS`` every task a 1-rank MPI job
none                            0 / 1
==============================  ========================================  ==============================

A SLURM batch script itself (no ``srun`` step) has ``SLURM_NTASKS`` but
no ``SLURM_STEP_ID``: it is one process, not a launch.
"""
from __future__ import annotations

import os
from typing import Mapping, NamedTuple, Optional

#: variables that mean "started by srun" (present in every task of a job step, not in the batch shell)
_STEP_VARS = ("SLURM_STEP_ID", "SLURM_STEPID")


class Launch(NamedTuple):
    """How this process was started (a named tuple: no dataclasses or inspect on every rank's start-up).

    Attributes
    ----------
    rank : int
        This process's rank according to the launcher (0 without one).
    size : int or None
        Number of ranks the launcher started (1 without a launcher; None
        when the launcher does not say, e.g. a PMIx launcher outside SLURM).
    launcher : str or None
        Human name of the launcher (``"srun --mpi=pmix"``), None without one.
    mpi : bool
        Whether the launcher wires the ranks into one MPI job (False for
        ``srun`` without an MPI plugin: every task is a 1-rank job).
    host : str
        This host's name.
    """

    rank: int = 0
    size: Optional[int] = 1
    launcher: Optional[str] = None
    mpi: bool = False
    host: str = ""

    @property
    def multi(self) -> bool:
        """True when more than one rank was (or may have been) started."""
        return self.launcher is not None and (self.size is None or self.size > 1)

    def where(self) -> str:
        """``rank 3 on node17``."""
        return f"rank {self.rank} on {self.host}"


def _int(env: Mapping[str, str], name: str) -> Optional[int]:
    value = env.get(name, "").strip()
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _in_srun_step(env: Mapping[str, str]) -> bool:
    return any(env.get(v) for v in _STEP_VARS) and _int(env, "SLURM_STEP_NUM_TASKS") is not None


def detect(environ: Mapping[str, str] | None = None, host: str | None = None) -> Launch:
    """Tell which launcher started this process, from ``environ`` (default ``os.environ``)."""
    env = os.environ if environ is None else environ
    host = host if host is not None else os.uname().nodename
    slurm_step = _in_srun_step(env)
    size, rank = _int(env, "PMI_SIZE"), _int(env, "PMI_RANK")
    if size is not None:
        name = "srun --mpi=pmi2" if slurm_step and env.get("PMI_JOBID") else "mpiexec (hydra: MPICH, Intel MPI)"
        return Launch(rank or 0, size, name, True, host)
    size = _int(env, "OMPI_COMM_WORLD_SIZE")
    if size is not None:
        return Launch(_int(env, "OMPI_COMM_WORLD_RANK") or 0, size, "Open MPI mpirun", True, host)
    size = _int(env, "MV2_COMM_WORLD_SIZE")
    if size is not None:
        return Launch(_int(env, "MV2_COMM_WORLD_RANK") or 0, size, "MVAPICH mpirun_rsh", True, host)
    rank = _int(env, "PMIX_RANK")
    if rank is not None:
        if slurm_step:
            return Launch(rank, _int(env, "SLURM_STEP_NUM_TASKS"), "srun --mpi=pmix", True, host)
        return Launch(rank, None, "a PMIx launcher", True, host)
    if slurm_step:
        return Launch(_int(env, "SLURM_PROCID") or 0, _int(env, "SLURM_STEP_NUM_TASKS"),
                      "srun without an MPI plugin", False, host)
    return Launch(0, 1, None, False, host)


_CURRENT: Launch | None = None


def current() -> Launch:
    """:func:`detect` for this process (computed once)."""
    global _CURRENT
    if _CURRENT is None:
        _CURRENT = detect()
    return _CURRENT


def mismatch_message(launch: Launch, mpi_size: int, library: str) -> str:
    """The error for a launcher that started ``launch.size`` ranks where MPI sees ``mpi_size``."""
    if not launch.mpi:
        return (f"srun started {launch.size} tasks without an MPI plugin, so each is a separate "
                "1-rank MPI job; use 'srun --mpi=pmi2' (MPICH, Intel MPI, the mpich wheel) or "
                "'srun --mpi=pmix' (Open MPI), see 'srun --mpi=list'")
    return (f"{launch.launcher} started {launch.size} ranks but MPI sees {mpi_size}: mpi4py was built "
            f"for another MPI than this launcher's (mpi4py uses: {library}); start the job with the "
            "mpiexec of that MPI, or rebuild mpi4py for the site MPI (docs/mpi.md, 'The singleton trap')")

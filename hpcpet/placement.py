"""How a worker process uses its node: BLAS/OpenMP threads and GPUs.

Invariants kept here:

* Threads. A worker process (pool, SCOOP, MPI rank) runs every threadpool
  library (OpenBLAS, MKL, OpenMP, ...) with ``threads`` threads, where
  ``threads`` is ``--threads-per-run`` if given, else 1, unless the user set
  one of :data:`THREAD_VARS` (then nothing is changed). The limit goes into
  those environment variables when numpy is not imported yet (the cheap
  way, also inherited by child processes), and through threadpoolctl for
  libraries that are already loaded. The serial backend (runs in the
  user's own process) is limited only by an explicit ``--threads-per-run``.
* GPUs. With ``--gpus-per-worker G``, worker ``i`` of a node sees devices
  ``i*G .. i*G+G-1`` (round-robin, modulo the number of devices) of the
  node's list through ``CUDA_VISIBLE_DEVICES``; the list is ``--gpus`` or
  what the launcher gave (``CUDA_VISIBLE_DEVICES``, ``SLURM_STEP_GPUS``,
  ``SLURM_JOB_GPUS``). The assignment is recorded per run as ``gpus``.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Mapping, Optional

from .errors import HpcpetError

#: environment variables that set the thread count of threadpool libraries
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
#: set (with the thread count) by hpcpet when it set THREAD_VARS, so that children know it was not the user
MARK = "HPCPET_THREADS"
#: where the launcher lists a node's GPUs, first found wins
GPU_VARS = ("CUDA_VISIBLE_DEVICES", "SLURM_STEP_GPUS", "SLURM_JOB_GPUS")

_limits = None  # threadpoolctl's limiter, kept alive for the process's life
_env_before_numpy: Optional[int] = None  # thread count put into the environment before numpy was imported


def wanted_threads(explicit: int | None, environ: Mapping[str, str] | None = None) -> int | None:
    """Threads a worker should use: ``explicit``, else 1, else None when the user set THREAD_VARS."""
    env = os.environ if environ is None else environ
    if explicit is not None:
        return explicit
    if env.get(MARK, "").isdigit():
        return int(env[MARK])
    if any(var in env for var in THREAD_VARS):
        return None
    return 1


def set_thread_env(explicit: int | None) -> int | None:
    """Put the worker thread count into the environment (before numpy is imported); return it."""
    global _env_before_numpy
    n = wanted_threads(explicit)
    if n is None:
        return None
    for var in THREAD_VARS:
        os.environ[var] = str(n)
    os.environ[MARK] = str(n)
    if "numpy" not in sys.modules:
        _env_before_numpy = n
    return n


def limit_threads(explicit: int | None, worker_process: bool = True) -> int | None:
    """In a worker process: apply the thread limit (see the module docstring); return it or None."""
    global _limits
    if not worker_process and explicit is None:
        return None
    n = set_thread_env(explicit)
    if n is None or n == _env_before_numpy:
        return n  # nothing to do, or the libraries started with n threads already
    from threadpoolctl import threadpool_limits

    _limits = threadpool_limits(limits=n)
    return n


def check_threads(threads: int | None) -> None:
    """One-line error for ``--threads-per-run`` below 1."""
    if threads is not None and threads < 1:
        raise HpcpetError(f"--threads-per-run must be >= 1, got {threads}")


def gpu_list(gpus: str | None = None, environ: Mapping[str, str] | None = None) -> list[str]:
    """The node's GPU ids: ``gpus`` (``"0,1,2"``) or the launcher's list (see :data:`GPU_VARS`)."""
    env = os.environ if environ is None else environ
    text = gpus
    if text is None:
        text = next((env[v] for v in GPU_VARS if env.get(v, "").strip()), "")
    return [g.strip() for g in text.split(",") if g.strip()]


def assign_gpus(devices: list[str], per_worker: int, index: int) -> str:
    """``CUDA_VISIBLE_DEVICES`` of worker ``index``: ``per_worker`` devices, round-robin."""
    return ",".join(devices[(index * per_worker + j) % len(devices)] for j in range(per_worker))


@dataclass
class WorkerSetup:
    """What every worker process applies before its first run.

    Attributes
    ----------
    threads : int, optional
        ``--threads-per-run`` (None: 1 in worker processes, see the module docstring).
    gpus_per_worker : int, optional
        Devices per worker (None: GPUs are left alone).
    gpus : str, optional
        ``--gpus`` (None: the launcher's list on each node).
    """

    threads: Optional[int] = None
    gpus_per_worker: Optional[int] = None
    gpus: Optional[str] = None

    def check(self, backend: str) -> None:
        """One-line errors for bad values, checked on the master before any worker starts."""
        check_threads(self.threads)
        if self.gpus_per_worker is None:
            if self.gpus is not None:
                raise HpcpetError("--gpus needs --gpus-per-worker")
            return
        if self.gpus_per_worker < 1:
            raise HpcpetError(f"--gpus-per-worker must be >= 1, got {self.gpus_per_worker}")
        if backend == "scoop":
            raise HpcpetError("--gpus-per-worker works with the serial, pool and mpi backends, not scoop")
        devices = gpu_list(self.gpus)
        if not devices:
            raise HpcpetError("--gpus-per-worker needs GPUs: none listed in " + ", ".join(GPU_VARS) +
                              "; name them with --gpus 0,1,...")
        if self.gpus_per_worker > len(devices):
            raise HpcpetError(f"--gpus-per-worker {self.gpus_per_worker} but only {len(devices)} GPUs "
                              f"({','.join(devices)})")

    def apply(self, index: int | None, worker_process: bool = True) -> dict[str, str]:
        """Apply threads and, for worker ``index`` of this node, GPUs; return the facts to record per run."""
        limit_threads(self.threads, worker_process)
        if self.gpus_per_worker is None or index is None:
            return {}
        visible = assign_gpus(gpu_list(self.gpus), self.gpus_per_worker, index)
        os.environ["CUDA_VISIBLE_DEVICES"] = visible
        return {"gpus": visible}

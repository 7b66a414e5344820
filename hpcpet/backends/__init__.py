"""Backends: how batches reach workers. Look one up by name with :func:`get_backend`."""
from __future__ import annotations

import importlib

from ..errors import HpcpetError
from .base import Backend

#: backend name -> "module:class"; imported on demand so that mpi4py or
#: scoop are only needed by the backends that use them
BACKENDS = {
    "serial": "hpcpet.backends.serial:SerialBackend",
    "pool": "hpcpet.backends.pool:PoolBackend",
    "scoop": "hpcpet.backends.scoop:ScoopBackend",
    "mpi": "hpcpet.backends.mpi:MPIBackend",
}


def under_mpi() -> bool:
    """True when this process was started by mpiexec/srun with more than one rank."""
    import os

    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"):
        if int(os.environ.get(var, "1") or 1) > 1:
            return True
    return False


def resolve_name(name: str) -> str:
    """Map ``auto`` to ``mpi`` under a multi-rank mpiexec, ``scoop`` under SCOOP, else ``serial``."""
    if name == "auto":
        if under_mpi():
            return "mpi"
        return "scoop" if under_scoop() else "serial"
    return name


def under_scoop() -> bool:
    """True in a process started by ``python -m scoop``."""
    import sys

    return bool(getattr(sys.modules.get("scoop"), "IS_RUNNING", False))


def get_backend(name: str, ncores: int | None = None) -> Backend:
    """Create the backend called ``name`` (serial, pool, scoop, mpi or auto)."""
    name = resolve_name(name)
    if name not in BACKENDS:
        raise HpcpetError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)} or auto")
    module, cls = BACKENDS[name].split(":")
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise HpcpetError(f"backend {name!r} needs a package that is missing: {exc}") from exc
    return getattr(mod, cls)(ncores)

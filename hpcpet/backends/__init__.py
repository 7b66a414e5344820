"""Backends: how batches reach workers. Look one up by name with :func:`get_backend`.

Importing this package is cheap (no numpy, no mpi4py): the command line
reads :data:`BACKENDS` on every MPI rank before anything else. Under a
multi-rank launch only the ``mpi`` backend is allowed, so that no two
processes ever run the same exploration into the same file.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ..errors import HpcpetError
from ..launch import current as current_launch

if TYPE_CHECKING:
    from .base import Backend

#: backend name -> "module:class"; imported on demand so that mpi4py or
#: scoop are only needed by the backends that use them
BACKENDS = {
    "serial": "hpcpet.backends.serial:SerialBackend",
    "pool": "hpcpet.backends.pool:PoolBackend",
    "scoop": "hpcpet.backends.scoop:ScoopBackend",
    "mpi": "hpcpet.backends.mpi:MPIBackend",
}


def __getattr__(name: str):
    if name == "Backend":
        from .base import Backend

        return Backend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def under_mpi() -> bool:
    """True when a launcher (mpiexec, mpirun, srun) started this process with more than one rank."""
    return current_launch().multi


def resolve_name(name: str) -> str:
    """Map ``auto`` to ``mpi`` under a multi-rank launch, ``scoop`` under SCOOP, else ``serial``."""
    if name == "auto":
        if under_mpi():
            return "mpi"
        return "scoop" if under_scoop() else "serial"
    return name


def under_scoop() -> bool:
    """True in a process started by ``python -m scoop``."""
    import sys

    return bool(getattr(sys.modules.get("scoop"), "IS_RUNNING", False))


def check_launch(name: str) -> None:
    """Refuse backend ``name`` (already resolved) when a launcher started several ranks and it is not ``mpi``."""
    launch = current_launch()
    if name != "mpi" and launch.multi:
        n = launch.size if launch.size is not None else "several"
        raise HpcpetError(
            f"--backend {name} under {launch.launcher} with {n} ranks: every rank would run the whole "
            "exploration into the same file; use --backend mpi (or auto), or start a single process "
            "without the launcher")


def get_backend(name: str, ncores: int | None = None, **options) -> "Backend":
    """Create the backend called ``name`` (serial, pool, scoop, mpi or auto).

    ``options`` go to the backend's constructor (e.g. ``ranks_per_run`` for ``mpi``).
    """
    name = resolve_name(name)
    if name not in BACKENDS:
        raise HpcpetError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)} or auto")
    check_launch(name)
    if options.get("ranks_per_run") is not None and name != "mpi":
        raise HpcpetError(f"--ranks-per-run needs the mpi backend (got {name}): start the job with "
                          "mpiexec -n N, mpirun or srun --mpi=...")
    options = {k: v for k, v in options.items() if v is not None}
    module, cls = BACKENDS[name].split(":")
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise HpcpetError(f"backend {name!r} needs a package that is missing: {exc}") from exc
    return getattr(mod, cls)(ncores, **options)

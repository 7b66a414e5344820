"""hpcpet: huge parameter explorations of simulations into one HDF5 file.

>>> import hpcpet
>>> traj = hpcpet.Trajectory()
>>> traj.add_parameter("x", 1.0)
>>> traj.explore(hpcpet.cartesian_product({"x": [1.0, 2.0]}))

Importing the package is cheap: every name below is imported on first use,
so that a process that only runs batches (an MPI rank, a pool worker)
imports what it needs and never h5py, and so that ``python -m hpcpet`` can
set thread limits before numpy is imported.
"""
from ._version import __version__

#: public name -> module that defines it, imported on first use ("" : the name is the module itself)
_LAZY = {
    "main": "cli", "Environment": "environment", "Summary": "environment", "HpcpetError": "errors",
    "Exploration": "exploration", "Segment": "exploration", "cartesian_product": "exploration",
    "zip_exploration": "exploration", "Trajectory": "trajectory", "sample": "",
    "load": "storage.reader", "LoadedTrajectory": "storage.reader", "resume": "resuming", "expand": "growing",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name] or name}", __name__)
        value = module if not _LAZY[name] else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hpcpet' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])


__all__ = [
    "Environment", "Exploration", "HpcpetError", "LoadedTrajectory", "Segment", "Summary", "Trajectory",
    "__version__", "cartesian_product", "expand", "load", "main", "resume", "sample", "zip_exploration",
]

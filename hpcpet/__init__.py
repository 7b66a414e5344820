"""hpcpet: huge parameter explorations of simulations into one HDF5 file.

>>> import hpcpet
>>> traj = hpcpet.Trajectory()
>>> traj.add_parameter("x", 1.0)
>>> traj.explore(hpcpet.cartesian_product({"x": [1.0, 2.0]}))
"""
from ._version import __version__
from .cli import main
from .environment import Environment, Summary
from .errors import HpcpetError
from .exploration import Exploration, Segment, cartesian_product, zip_exploration
from .trajectory import Trajectory
from . import sample  # samplers (scipy is imported when one is called)

#: imported on first use, so that processes that only run batches never import h5py
_LAZY = {"load": "storage.reader", "LoadedTrajectory": "storage.reader", "resume": "resuming", "expand": "growing"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'hpcpet' has no attribute {name!r}")

__all__ = [
    "Environment", "Exploration", "HpcpetError", "LoadedTrajectory", "Segment", "Summary", "Trajectory",
    "__version__", "cartesian_product", "load", "main", "resume", "sample", "zip_exploration",
]

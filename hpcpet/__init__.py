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
from .exploration import Exploration, cartesian_product, zip_exploration
from .loading import LoadedTrajectory, load
from .resume import resume
from .trajectory import Trajectory

__all__ = [
    "Environment", "Exploration", "HpcpetError", "LoadedTrajectory", "Summary", "Trajectory",
    "__version__", "cartesian_product", "load", "main", "resume", "zip_exploration",
]

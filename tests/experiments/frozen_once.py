"""Records, per run, how often this process has received (unpickled) a frozen input.

Counting starts when this file is imported: before the frozen input arrives where every
process runs the command (MPI, ``python -m scoop``), while it arrives otherwise. Either way
``received`` must stay at most 1 in every run of every worker, however many batches it ran.
"""
import numpy as np

import hpcpet
from hpcpet import engine

_received = {"count": 0}
_first_setstate = engine.FrozenInput.__setstate__


def _counting_setstate(self, state):
    _received["count"] += 1
    _first_setstate(self, state)


engine.FrozenInput.__setstate__ = _counting_setstate


def build(traj):
    traj.add_parameter("x", 0)
    traj.explore(hpcpet.cartesian_product({"x": np.arange(3000)}))


def run(traj):
    traj.add_result("received.$", _received["count"])


if __name__ == "__main__":
    hpcpet.main()

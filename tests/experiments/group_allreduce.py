"""--ranks-per-run: every run is one collective allreduce over its group of ranks."""
import numpy as np
from mpi4py import MPI

import hpcpet


def build(traj):
    traj.add_parameter("x", 0)
    traj.explore(hpcpet.cartesian_product({"x": np.arange(40)}))


def run(traj):
    comm = traj.comm
    # every rank of the group contributes (x + its group rank); the leader stores the sum
    traj.add_result("total", comm.allreduce(traj.x + comm.Get_rank()))
    traj.add_result("size", comm.Get_size())
    traj.add_result("members", ",".join(map(str, sorted(comm.allgather(MPI.COMM_WORLD.Get_rank())))))

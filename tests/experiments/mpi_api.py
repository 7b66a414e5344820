"""The Python API under mpiexec: every rank runs this script; rank 0 prints a JSON summary.

Usage: mpiexec -n N python mpi_api.py OUT.h5 N_X SLEEP_SECONDS
"""
import json
import resource
import sys
import time

import numpy as np

import hpcpet


def simulate(traj, pause):
    if pause:
        time.sleep(pause)
    if traj.x == 7:
        raise RuntimeError("x is seven")
    traj.add_result("out.$set.$.z", traj.x * traj.y)
    traj.add_result("out.$set.$.rank", _rank())


def _rank():
    from mpi4py import MPI

    return MPI.COMM_WORLD.Get_rank()


if __name__ == "__main__":
    out, n_x, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    traj = hpcpet.Trajectory("api")
    traj.add_parameter("x", 0)
    traj.add_parameter("y", 0.0)
    traj.explore(hpcpet.cartesian_product({"x": np.arange(n_x), "y": [0.5, 1.5]}))
    wall, cpu = time.perf_counter(), time.process_time()
    env = hpcpet.Environment(traj, out, backend="mpi", progress="quiet", set_size=10)
    summary = env.run(simulate, pause)
    if summary is not None:
        print(json.dumps({"done": summary.done, "failed": summary.failed, "ran": summary.ran,
                          "wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                          "workers": env.backend.workers}))

"""The results file cannot be created after the workers started (an HDF5 error at creation).

Usage: [mpiexec -n N] python create_fails.py OUT.h5 BACKEND [RUN_SECONDS]
Rank 0 makes ``Writer.create`` fail; the job must end with a one-line error at once, neither
hanging nor waiting for the runs the workers already have (RUN_SECONDS each, default 0).
"""
import sys
import time

import numpy as np

import hpcpet
from hpcpet.errors import HpcpetError
from hpcpet.storage.writer import Writer


def simulate(traj, seconds):
    time.sleep(seconds)
    traj.add_result("z.$", traj.x * 2)


def refuse(*args, **kwargs):
    raise HpcpetError("cannot write the file (simulated)")


if __name__ == "__main__":
    out, backend = sys.argv[1], sys.argv[2]
    Writer.create = refuse
    traj = hpcpet.Trajectory("create_fails")
    traj.add_parameter("x", 0)
    traj.explore(hpcpet.cartesian_product({"x": np.arange(10_000)}))
    env = hpcpet.Environment(traj, out, backend=backend, ncores=2, progress="quiet")
    try:
        env.run(simulate, float(sys.argv[3]) if len(sys.argv) > 3 else 0.0)
    except HpcpetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)

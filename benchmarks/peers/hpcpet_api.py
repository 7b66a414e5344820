"""hpcpet through the Python API, timing only Environment.run (no interpreter start-up).

usage: hpcpet_api.py N BACKEND FILE -> prints {"n", "seconds", "bytes"}
"""
import json
import os
import sys
import time

import numpy as np

import hpcpet


def run(traj):
    traj.add_result("some_group.$set.$.z", traj["x"] * traj["y"])


def seed_trajectory(n: int) -> hpcpet.Trajectory:
    """The seed's exploration: x, y a cartesian product of ``n`` runs."""
    side = min(n, 1000)
    traj = hpcpet.Trajectory("bench")
    traj.add_parameter("x", 1.0)
    traj.add_parameter("y", 1.0)
    traj.explore(hpcpet.cartesian_product({"x": np.arange(n // side, dtype=float),
                                           "y": np.arange(side, dtype=float)}))
    return traj


def main():
    n, backend, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    traj = seed_trajectory(n)
    t0 = time.perf_counter()
    hpcpet.Environment(traj, path, backend=backend, ncores=2, overwrite=True, progress="quiet").run(run)
    print(json.dumps({"n": n, "seconds": time.perf_counter() - t0, "bytes": os.path.getsize(path)}))


if __name__ == "__main__":
    main()

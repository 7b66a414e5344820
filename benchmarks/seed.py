"""The seed example as an experiment file: z = x * y stored per run, N = $HPCPET_BENCH_N runs."""
import os

import numpy as np

import hpcpet

N = int(os.environ.get("HPCPET_BENCH_N", "1000000"))


def build(traj):
    traj.add_parameter("x", 1.0)
    traj.add_parameter("y", 1.0)
    side = min(N, 1000)
    traj.explore(hpcpet.cartesian_product({"x": np.arange(N // side, dtype=float),
                                           "y": np.arange(side, dtype=float)}))


def run(traj):
    traj.add_result("some_group.$set.$.z", traj["x"] * traj["y"])


if __name__ == "__main__":
    hpcpet.main()

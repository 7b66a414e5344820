"""A huge, trivial exploration for benchmarks/bench_huge.py: z = x * y.

The number of runs is ``HPCPET_HUGE_N`` (default 10**7), a 1000-wide grid.
"""
import os

import numpy as np

import hpcpet


def build(traj):
    n = int(os.environ.get("HPCPET_HUGE_N", 10**7))
    traj.add_parameter("x", 0.0)
    traj.add_parameter("y", 0.0)
    traj.explore(hpcpet.cartesian_product({"x": np.arange(float(n // 1000)), "y": np.arange(1000.0)}))


def run(traj):
    traj.add_result("$set.$.z", traj["x"] * traj["y"])


if __name__ == "__main__":
    hpcpet.main()

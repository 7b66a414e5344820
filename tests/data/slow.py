"""A slow experiment for status tests: HPCPET_SLOW_N runs of HPCPET_SLOW_SECONDS each;
run 0 first sleeps HPCPET_SLOW_FIRST seconds (no checkpoint happens before it ends)."""
import os
import time

import numpy as np

import hpcpet

N = int(os.environ.get("HPCPET_SLOW_N", "200"))


def build(traj):
    traj.add_parameter("x", 0.0)
    traj.add_parameter("y", 0.0)
    traj.explore(hpcpet.cartesian_product({"x": np.arange(N // 10, dtype=float), "y": np.arange(10.0)}))


def run(traj):
    if traj.index == 0:
        time.sleep(float(os.environ.get("HPCPET_SLOW_FIRST", "0")))
    time.sleep(float(os.environ.get("HPCPET_SLOW_SECONDS", "0.02")))
    traj.add_result("z", traj.x * traj.y)


if __name__ == "__main__":
    hpcpet.main()

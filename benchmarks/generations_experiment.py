"""The seed's z = x * y in generations: HPCPET_GENERATIONS generations of HPCPET_PER_GEN runs.

Each run stores z and the wall-clock times it started and ended, so the benchmark can measure
the generation turnaround (last run of generation k ends -> first run of generation k+1 starts).
HPCPET_GENERATIONS=1 with HPCPET_PER_GEN=N is the same work as one exploration of N runs.
"""
import os
import time

import numpy as np

import hpcpet

GENERATIONS = int(os.environ.get("HPCPET_GENERATIONS", "50"))
PER_GEN = int(os.environ.get("HPCPET_PER_GEN", "2000"))


def _points(g):
    rng = np.random.default_rng(g)
    return {"x": rng.uniform(0, 1, PER_GEN).tolist(), "y": rng.uniform(0, 1, PER_GEN).tolist()}


def build(traj):
    traj.add_parameter("x", 0.0)
    traj.add_parameter("y", 0.0)
    traj.explore(_points(0))


def run(traj):
    t0 = time.time()
    traj.add_result("z", traj.x * traj.y)
    traj.add_result("t0", t0)
    traj.add_result("t1", time.time())


def next_runs(study):
    if study.generations >= GENERATIONS:
        return None
    return _points(study.generations)


if __name__ == "__main__":
    hpcpet.main()

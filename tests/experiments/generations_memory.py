"""200 generations of 50 runs (HPCPET_GENERATIONS, HPCPET_PER_GEN): every run stores its worker's
pid and RSS; next_runs (on the master) appends the master's RSS to HPCPET_MASTER_RSS."""
import os

import numpy as np
import psutil

import hpcpet

GENERATIONS = int(os.environ.get("HPCPET_GENERATIONS", "200"))
PER_GEN = int(os.environ.get("HPCPET_PER_GEN", "50"))


def build(traj):
    traj.add_parameter("x", 0.0)
    traj.explore({"x": np.arange(PER_GEN, dtype=float).tolist()})


def run(traj):
    me = psutil.Process()
    traj.add_result("pid", me.pid)
    traj.add_result("rss", me.memory_info().rss)
    traj.add_result("payload", np.full(200, traj.x))


def next_runs(study):
    with open(os.environ["HPCPET_MASTER_RSS"], "a") as fh:
        fh.write(f"{psutil.Process().memory_info().rss}\n")
    if study.generations >= GENERATIONS:
        return None
    return {"x": (np.arange(PER_GEN) + study.generations * 1000.0).tolist()}


if __name__ == "__main__":
    hpcpet.main()

"""pypet 0.7 running the seed example; run with the pypet venv's python.

usage: pypet_seed.py MODE N FILE    MODE: set (per-run `some_group.$set.$.z`) | collect (return value,
stored once in post-processing). Prints one JSON line: {"mode", "n", "seconds"}.
"""
import json
import logging
import sys
import time

import numpy as np
from pypet import Environment, cartesian_product


def run_set(traj):
    traj.f_add_result("some_group.$set.$.z", traj.x * traj.y, comment="product")


def run_collect(traj):
    return traj.x * traj.y


def post(traj, results):
    traj.f_add_result("summary.z", np.array([r[1] for r in sorted(results)]), comment="collected")


def main():
    mode, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    logging.disable(logging.CRITICAL)
    t0 = time.perf_counter()
    env = Environment(trajectory="bench", filename=path, overwrite_file=True, log_config=None,
                      log_stdout=False, report_progress=False, multiproc=False)
    traj = env.trajectory
    traj.f_add_parameter("x", 1.0)
    traj.f_add_parameter("y", 1.0)
    side = int(round(n ** 0.5))
    traj.f_explore(cartesian_product({"x": np.arange(n // side, dtype=float).tolist(),
                                      "y": np.arange(side, dtype=float).tolist()}))
    if mode == "collect":
        env.add_postprocessing(post)
        env.run(run_collect)
    else:
        env.run(run_set)
    env.disable_logging()
    print(json.dumps({"mode": mode, "n": n, "seconds": time.perf_counter() - t0}))


if __name__ == "__main__":
    main()

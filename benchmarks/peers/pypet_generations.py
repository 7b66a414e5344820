"""pypet 0.7 running generations the way its DEAP example does: f_expand, then run again.

usage: pypet_generations.py GENERATIONS PER_GEN FILE   (in benchmarks/.venv-pypet)
"""
import sys

import numpy as np
from pypet import Environment


def run(traj):
    traj.f_add_result("$set.$.z", traj.x * traj.y)


def main():
    gens, per, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    env = Environment(trajectory="gen", filename=path, multiproc=False, log_config=None,
                      overwrite_file=True, automatic_storing=True, git_repository=None)
    traj = env.trajectory
    traj.f_add_parameter("x", 0.0)
    traj.f_add_parameter("y", 0.0)
    for g in range(gens):
        rng = np.random.default_rng(g)
        points = {"x": rng.uniform(0, 1, per).tolist(), "y": rng.uniform(0, 1, per).tolist()}
        if g == 0:
            traj.f_explore(points)
        else:
            traj.f_expand(points)
        env.run(run)
    env.disable_logging()


if __name__ == "__main__":
    main()

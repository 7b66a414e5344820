"""Write tests/data/pypet_small.hdf5 with the real pypet 0.7 (run in benchmarks/.venv-pypet).

20 runs over 2 explored parameters (x: 5 values, y: 4 values, cartesian), a per-run scalar
result under ``$set``, a per-run text result and a per-run array result; run 7 adds no z.

    benchmarks/.venv-pypet/bin/python tests/data/make_pypet_fixture.py
"""
import os
import sys

import numpy as np
from pypet import Environment, cartesian_product

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "pypet_small.hdf5")


def run(traj):
    x, y = traj.par.x, traj.par.y
    if traj.v_idx != 7:
        traj.f_add_result("$set.$.z", x * y, comment="product")
    traj.f_add_result("$set.$.msg", f"x={x} y={y}")
    traj.f_add_result("$set.$.trace", np.array([x, y, x + y]))
    return x + y


def main():
    if os.path.exists(OUT):
        os.remove(OUT)
    env = Environment(trajectory="small", filename=OUT, comment="pypet fixture for hpcpet",
                      multiproc=False, log_config=None, add_time=False, overwrite_file=True,
                      automatic_storing=True, git_repository=None)
    traj = env.trajectory
    traj.f_add_parameter("x", 1.0, comment="first factor")
    traj.f_add_parameter("y", 1, comment="second factor")
    traj.f_add_parameter("name", "fixture")
    traj.f_explore(cartesian_product({"x": [0.5, 1.0, 1.5, 2.0, 2.5], "y": [1, 2, 3, 4]}))
    env.run(run)
    env.disable_logging()
    print(OUT, os.path.getsize(OUT), file=sys.stderr)


if __name__ == "__main__":
    main()

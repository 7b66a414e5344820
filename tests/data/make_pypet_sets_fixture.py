"""Write tests/data/pypet_sets.hdf5 with the real pypet 0.7 (run in benchmarks/.venv-pypet).

30 runs over 2 parameters explored ZIPPED (``traj.f_explore`` with a plain dict of
equal-length lists, not ``cartesian_product``), a per-run scalar result under ``$set.$``
and a per-run variable-length 1-D array result (run ``i`` stores ``np.arange(i % 5 + 1) * x``);
run 13 adds no z.

pypet groups runs in ``run_set_SSSSS`` groups of 1000 (``make_set_name`` in
pypet/trajectory.py, ``GROUPSIZE = 1000``).  To get several set groups in a small file,
``make_set_name`` is patched here to a group size of 8, so the 30 runs land in
``run_set_00000`` .. ``run_set_00003``; this stands in for the 1000-run groups of big files.

    benchmarks/.venv-pypet/bin/python tests/data/make_pypet_sets_fixture.py
"""
import os
import sys

import numpy as np
import pypet.trajectory
from pypet import Environment, pypetconstants

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "pypet_sets.hdf5")
N_RUNS = 30
GROUPSIZE = 8


def make_set_name(idx):
    """pypet's ``make_set_name`` with ``GROUPSIZE = 8`` instead of 1000."""
    set_idx = idx // GROUPSIZE
    if set_idx >= 0:
        return pypetconstants.FORMATTED_SET_NAME % set_idx
    return pypetconstants.SET_NAME_DUMMY


# Trajectory.__init__ looks the function up in pypet.trajectory's globals; nothing else
# in pypet imports it.
pypet.trajectory.make_set_name = make_set_name


def run(traj):
    x, y = traj.par.x, traj.par.y
    if traj.v_idx != 13:
        traj.f_add_result("$set.$.z", x * y, comment="product")
    traj.f_add_result("$set.$.ragged", np.arange(traj.v_idx % 5 + 1) * x, comment="length idx % 5 + 1")
    return x * y


def main():
    if os.path.exists(OUT):
        os.remove(OUT)
    env = Environment(trajectory="sets", filename=OUT, comment="pypet run_set fixture for hpcpet",
                      multiproc=False, log_config=None, add_time=False, overwrite_file=True,
                      automatic_storing=True, git_repository=None)
    traj = env.trajectory
    traj.f_add_parameter("x", 1.0, comment="scale")
    traj.f_add_parameter("y", 1, comment="factor")
    traj.f_add_parameter("name", "sets")
    traj.f_explore({"x": [0.25 * (i + 1) for i in range(N_RUNS)],
                    "y": [(3 * i) % 7 for i in range(N_RUNS)]})
    env.run(run)
    env.disable_logging()
    print(OUT, os.path.getsize(OUT), file=sys.stderr)


if __name__ == "__main__":
    main()

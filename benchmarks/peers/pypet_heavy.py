"""pypet 0.7 storing one float64 array per run (`$set.$.v`), as heavy_experiment.py does.

usage: pypet_heavy.py N KB FILE    (in benchmarks/.venv-pypet). The whole command is timed by
bench_heavy.py; the file is fsynced before the script ends, as hpcpet's and the floor's are.
"""
import logging
import os
import sys

import numpy as np
from pypet import Environment


def main():
    n, kb, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    base = np.random.default_rng(0).random(kb * 128)

    def run(traj):
        traj.f_add_result("$set.$.v", base + traj.i)

    logging.disable(logging.CRITICAL)
    env = Environment(trajectory="heavy", filename=path, overwrite_file=True, log_config=None,
                      log_stdout=False, report_progress=False, multiproc=False, git_repository=None)
    traj = env.trajectory
    traj.f_add_parameter("i", 0)
    traj.f_explore({"i": list(range(n))})
    env.run(run)
    env.disable_logging()
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)


if __name__ == "__main__":
    main()

"""Awkward values under any backend: run 1 adds a list of arrays of different shapes (must fail
only that run); every run adds text and bytes with NUL characters."""
import numpy as np

import hpcpet

VALUES = [np.ones(2), [np.ones(2), np.ones(3)], np.ones(2), np.zeros(2)]


def build(traj):
    traj.add_parameter("i", 0)
    traj.explore({"i": list(range(len(VALUES)))})


def run(traj):
    traj.add_result("v", VALUES[traj.i])
    traj.add_result("t", f"t{traj.i}\x00")
    traj.add_result("b", b"\x00z" * traj.i)


if __name__ == "__main__":
    hpcpet.main()

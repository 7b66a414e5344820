"""Heavy per-run arrays, large enough to travel out of band (pickle-5 buffers) on every backend.

Each run stores a fixed-shape float64 array of 320 kB (above the pool's and MPI's thresholds
for raw buffers), a Fortran-ordered int32 matrix, a ragged array of 70-140 kB, a small array
that stays inside the pickle, and a text. Run 5 fails; values depend only on the run index.
"""
import numpy as np

import hpcpet

N = 48


def build(traj):
    traj.add_parameter("i", 0)
    traj.explore({"i": list(range(N))})


def run(traj):
    i = traj.i
    if i == 5:
        raise ValueError("deliberate failure")
    traj.add_result("trace", np.sin(np.arange(40_000) * 1e-3 * (i + 1)))
    traj.add_result("matrix", np.asfortranarray(np.arange(200 * 100, dtype=np.int32).reshape(200, 100) + i))
    traj.add_result("spikes", np.linspace(0.0, 1.0, 9_000 + 200 * i))
    traj.add_result("small", np.full(3, float(i)))
    traj.add_result("label", f"run {i}")


if __name__ == "__main__":
    hpcpet.main()

"""Logistic map x -> r x (1 - x): the attractor for each r, a ragged result.

The number of points on the attractor changes with r (1, 2, 4, ... then chaos),
so ``attractor`` has a different length in every run; ``n_points`` and the
Lyapunov exponent are scalars:

    python -m hpcpet run examples/logistic.py -o logistic.h5
    python -m hpcpet plot logistic.h5 lyapunov -o lyapunov.png
"""
import numpy as np

import hpcpet

TRANSIENT, KEEP = 500, 256


def build(traj):
    traj.add_parameter("r", 3.0, comment="growth rate")
    traj.add_parameter("x0", 0.2, comment="initial value")
    traj.explore(hpcpet.cartesian_product({"r": np.linspace(2.8, 4.0, 241)}))


def run(traj):
    r, x = traj.r, traj.x0
    for _ in range(TRANSIENT):
        x = r * x * (1 - x)
    xs = np.empty(KEEP)
    lyap = 0.0
    for k in range(KEEP):
        x = r * x * (1 - x)
        xs[k] = x
        lyap += np.log(max(abs(r * (1 - 2 * x)), 1e-300))
    attractor = np.unique(np.round(xs, 6))
    traj.add_result("attractor", attractor, comment="distinct values visited after the transient")
    traj.add_result("n_points", len(attractor))
    traj.add_result("lyapunov", lyap / KEEP, comment="Lyapunov exponent estimate")


if __name__ == "__main__":
    hpcpet.main()

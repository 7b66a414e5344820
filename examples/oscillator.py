"""Damped, driven oscillator: sweep damping x drive frequency, keep the whole trace.

    x'' + 2 zeta w0 x' + w0^2 x = cos(w t)

Each run stores its trajectory x(t) on a fixed time grid (a fixed-shape array
result) and the steady-state amplitude (a scalar), so the results load as a grid:

    python -m hpcpet run examples/oscillator.py -o osc.h5
    python -m hpcpet plot osc.h5 amplitude -o resonance.png
    python -c "import hpcpet; print(hpcpet.load('osc.h5').to_xarray('trace'))"
"""
import numpy as np

import hpcpet

STEPS, DT = 4000, 0.01  # integrate 40 time units
KEEP = 200  # samples of x(t) stored per run


def build(traj):
    traj.add_parameter("w0", 1.0, comment="natural angular frequency")
    traj.add_parameter("zeta", 0.1, comment="damping ratio")
    traj.add_parameter("drive.w", 1.0, comment="drive angular frequency")
    traj.explore(hpcpet.cartesian_product({
        "zeta": [0.05, 0.1, 0.2, 0.4],
        "drive.w": np.linspace(0.2, 2.0, 25),
    }))


def run(traj):
    w0, zeta, w = traj.w0, traj.zeta, traj.drive.w
    x, v = 0.0, 0.0
    xs = np.empty(STEPS)
    for k in range(STEPS):  # semi-implicit Euler
        t = k * DT
        v += DT * (np.cos(w * t) - 2 * zeta * w0 * v - w0 ** 2 * x)
        x += DT * v
        xs[k] = x
    traj.add_result("trace", xs[:: STEPS // KEEP], comment=f"x(t) every {DT * STEPS / KEEP:g} time units")
    traj.add_result("amplitude", float(np.abs(xs[STEPS // 2:]).max()), comment="max |x| over the second half")


if __name__ == "__main__":
    hpcpet.main()

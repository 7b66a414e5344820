"""The seed example: z = x * tau over a 2-D grid.

Run it with ``python -m hpcpet run examples/product.py -o product.h5``
or ``mpiexec -n 3 python -m hpcpet run examples/product.py -o product.h5``.
"""
import numpy as np

import hpcpet


def build(traj):
    traj.add_parameter("x", 1.0, comment="first factor")
    traj.add_parameter("neuron.tau", 10.0, comment="membrane time constant (ms)")
    traj.explore(hpcpet.cartesian_product({"x": np.linspace(0.0, 10.0, 101),
                                           "neuron.tau": [5.0, 10.0, 20.0, 40.0]}))


def run(traj):
    z = traj["x"] * traj.neuron.tau
    traj.add_result("some_group.$set.$.z", z, comment="product")


if __name__ == "__main__":
    hpcpet.main()

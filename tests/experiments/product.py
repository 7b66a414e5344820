"""The seed example: z = x * tau, many runs."""
import numpy as np

import hpcpet


def build(traj):
    traj.add_parameter("x", 1.0)
    traj.add_parameter("neuron.tau", 10.0)
    traj.explore(hpcpet.cartesian_product({"x": np.arange(50.0), "neuron.tau": np.arange(100.0)}))


def run(traj):
    traj.add_result("some_group.$set.$.z", traj["x"] * traj["neuron.tau"])


if __name__ == "__main__":
    hpcpet.main()

"""Every kind of result: scalar, fixed array, variable-length array, text, return value,
a result only some runs add, and runs that raise."""
import numpy as np

import hpcpet


def build(traj):
    traj.add_parameter("x", 1.0, comment="first factor")
    traj.add_parameter("neuron.tau", 10.0)
    traj.add_parameter("label", "abc")
    traj.explore(hpcpet.cartesian_product({"x": [1.0, 2.0, 3.0, 4.0, 5.0],
                                           "neuron.tau": [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0]}))


def run(traj):
    x, tau = traj["x"], traj.neuron.tau
    if x == 3.0 and tau == 20.0:
        raise ValueError("deliberate failure")
    traj.add_result("some_group.$set.$.z", x * tau, comment="product")
    traj.add_result("arrays.$set.$.fixed", np.array([x, tau, x + tau]))
    traj.add_result("arrays.$set.$.ragged", np.arange(int(x)) * tau)
    traj.add_result("text.$set.$.msg", f"x={x} tau={tau}")
    traj.add_result("ints.$.n", int(x) * 2)
    if tau > 100:
        traj.add_result("sometimes.$.big", tau)
    return x + tau


if __name__ == "__main__":
    hpcpet.main()

"""A run that kills its own SCOOP worker once (when HPCPET_TEST_MARKER does not exist yet),
or, with HPCPET_TEST_SLEEP set, sleeps that many seconds once: lost and late batches."""
import os
import time

import numpy as np

import hpcpet


def build(traj):
    traj.add_parameter("x", 1.0)
    traj.add_parameter("neuron.tau", 10.0)
    traj.explore(hpcpet.cartesian_product({"x": np.arange(20.0), "neuron.tau": np.arange(100.0)}))


def _first_time() -> bool:
    """True once per marker file, in a SCOOP worker (never in the origin)."""
    import scoop

    marker = os.environ["HPCPET_TEST_MARKER"]
    if scoop.IS_ORIGIN:
        return False
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def run(traj):
    if traj.x == 7.0 and traj.neuron.tau == 50.0 and _first_time():
        if os.environ.get("HPCPET_TEST_SLEEP"):
            time.sleep(float(os.environ["HPCPET_TEST_SLEEP"]))
        else:
            os._exit(1)
    traj.add_result("some_group.$set.$.z", traj.x * traj.neuron.tau)


if __name__ == "__main__":
    hpcpet.main()

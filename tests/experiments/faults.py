"""For the fault suite: runs of ~0.3 ms with every result kind; about 1 % of runs raise.

``FAULTS_N`` sets the number of runs (default 4000); ``FAULTS_NO_FAIL=1``
makes the failing runs succeed (for ``resume --retry-failed``);
``FAULTS_LOG=path`` appends each run's index to a file (to count re-runs);
``FAULTS_RUN_SECONDS`` sets how long a run computes (default 3e-4; results do not depend on it).
"""
import os
import time

import numpy as np

import hpcpet

N = int(os.environ.get("FAULTS_N", "4000"))
RUN_SECONDS = float(os.environ.get("FAULTS_RUN_SECONDS", "3e-4"))


def build(traj):
    traj.add_parameter("i", 0, comment="run counter")
    traj.add_parameter("phase", 0.0)
    traj.explore(hpcpet.cartesian_product({"i": np.arange(N // 4), "phase": [0.0, 0.25, 0.5, 0.75]}))


def run(traj):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < RUN_SECONDS:  # ~0.3 ms of "simulation"
        pass
    i, phase = traj["i"], traj["phase"]
    log = os.environ.get("FAULTS_LOG")
    if log:
        with open(log, "a") as fh:
            fh.write(f"{traj.index}\n")
    if (7 * i + int(phase * 4)) % 100 == 3 and not os.environ.get("FAULTS_NO_FAIL"):
        raise RuntimeError(f"deliberate failure at i={i}")
    traj.add_result("z", i * phase, comment="product")
    traj.add_result("trace.$set.$.v", np.arange(i % 5) * phase)
    traj.add_result("text.$.msg", f"i={i} phase={phase}")
    traj.add_result("n", int(i) * 3)
    if i % 10 == 0:
        traj.add_result("sometimes.$.s", float(i))


if __name__ == "__main__":
    hpcpet.main()

"""Per-run seeds and presets: every run stores what traj.seed gives it (tests/test_seeds.py, test_presets.py)."""
import os

import numpy as np


def build(traj):
    traj.add_parameter("x", 0.0)
    traj.add_parameter("dt", 0.1)
    traj.add_parameter("n", 3)
    traj.add_parameter("flag", False)
    traj.add_parameter("label", "a")
    traj.add_parameter("neuron", {"tau": 10.0, "syn": {"w": 1}})
    traj.explore({"x": np.arange(40.0)})


def run(traj):
    if os.environ.get("SEEDED_FAIL_FROM") and traj.x >= float(os.environ["SEEDED_FAIL_FROM"]):
        raise RuntimeError("failing on purpose")
    traj.add_result("seed_lo", traj.seed & 0xFFFFFFFF)  # fits every integer column
    traj.add_result("seed_hi", traj.seed >> 32)
    traj.add_result("draw", np.random.default_rng(traj.seed).random())
    traj.add_result("generation", traj.generation)
    traj.add_result("dt", traj.dt)
    traj.add_result("n", traj.n)
    traj.add_result("flag", traj.flag)
    traj.add_result("label", traj.label)
    traj.add_result("tau", traj.neuron.tau)
    traj.add_result("w", traj["neuron.syn.w"])

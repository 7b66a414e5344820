"""Heavy results: HPCPET_HEAVY_N runs, each storing one float64 array of HPCPET_HEAVY_KB kB.

HPCPET_HEAVY_TRACE=1 stores a membrane voltage that relaxes to rest instead (long constant
stretches: what compression is for); otherwise the array is cheap to make and incompressible.
HPCPET_HEAVY_WORK_MS=t makes each run compute (spin) for t ms first, as a simulation would.
"""
import os
import time

import numpy as np

import hpcpet

N = int(os.environ.get("HPCPET_HEAVY_N", "4000"))
KB = int(os.environ.get("HPCPET_HEAVY_KB", "100"))
TRACE = os.environ.get("HPCPET_HEAVY_TRACE") == "1"
WORK = float(os.environ.get("HPCPET_HEAVY_WORK_MS", "0")) / 1000
_BASE = np.random.default_rng(0).random(KB * 128)


def build(traj):
    traj.add_parameter("i", 0)
    traj.explore({"i": list(range(N))})


def trace(i: int, kb: int = KB) -> np.ndarray:
    """Run ``i``'s membrane voltage: relaxes to rest (-65 mV) within its first 2,000 samples."""
    v = np.full(kb * 128, -65.0)
    k = min(len(v), 2000)
    v[:k] = -65.0 + 30.0 * np.exp(-np.arange(k) / (20.0 + i % 50))
    return v


def run(traj):
    if WORK:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < WORK:
            pass
    traj.add_result("v", trace(traj.i) if TRACE else _BASE + traj.i)


if __name__ == "__main__":
    hpcpet.main()

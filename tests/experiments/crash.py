"""For the crash-consistency suite (tests/test_crash.py): runs of ~1 ms, five result kinds.

Per run: a scalar, a fixed array of 3 values, a ragged array whose length
varies with the run, a string, a trace of 520 floats (4 kB: written in
place into a stage file, hpcpet/storage/stage.py) and a zstd-compressed trace
of 4096 floats (32 kB: compressed by the checkpoint into a grid whose chunks
of 32 runs the close copies as they are, hpcpet/storage/grid.py; segments
this heavy are not compacted); values
depend only on the run's parameters, so every execution of a run stores the
same values.

``CRASH_N`` sets the number of runs (default 3000); ``CRASH_RUN_SECONDS``
how long a run computes (default 1e-3; results do not depend on it);
``CRASH_LOG=path`` makes each run append its index to that file as one line,
with one ``writev`` on an ``O_APPEND`` descriptor: lines of concurrent
processes never interleave, a killed process leaves only whole lines, and
the suite, which injects faults into ``write``/``pwrite64``, never hits it.
"""
import os
import time

import numpy as np

import hpcpet

N = int(os.environ.get("CRASH_N", "3000"))
RUN_SECONDS = float(os.environ.get("CRASH_RUN_SECONDS", "1e-3"))
_log_fd: int | None = None


def build(traj):
    traj.add_parameter("i", 0, comment="run counter")
    traj.add_parameter("gain", 1.0)
    traj.explore(hpcpet.cartesian_product({"i": np.arange(N // 3), "gain": [0.5, 1.0, 2.0]}))


def _log(index: int) -> None:
    global _log_fd
    path = os.environ.get("CRASH_LOG")
    if not path:
        return
    if _log_fd is None:
        _log_fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.writev(_log_fd, [f"{index}\n".encode()])


def run(traj):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < RUN_SECONDS:  # ~1 ms of "simulation"
        pass
    i, gain = int(traj["i"]), float(traj["gain"])
    _log(traj.index)
    traj.add_result("z", i * gain, comment="scalar")
    traj.add_result("arrays.$set.$.fixed", np.array([i, gain, i + gain]))
    traj.add_result("arrays.$set.$.ragged", np.arange(i % 7) * gain)
    traj.add_result("text.$set.$.msg", f"i={i} gain={gain}")
    traj.add_result("trace", np.arange(520) * gain + i)
    packed = np.full(4096, -65.0)
    packed[:64] = np.arange(64) * gain + i
    traj.add_result("packed", packed, compression="zstd")


if __name__ == "__main__":
    hpcpet.main()

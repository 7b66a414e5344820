"""Run under ``python -m scoop``: OUTDIR [EXPLORATIONS]. Several explorations in one origin
process, 24 batches each, every run returning 16 kB and the RSS of its worker and of the origin."""
import sys

import numpy as np
import psutil

import hpcpet

BATCH, BATCHES = 100, 24


def origin_rss() -> int:
    launcher = psutil.Process().parent()
    for p in launcher.children(recursive=True):
        if "--origin" in p.cmdline():
            return p.memory_info().rss
    return -1


def run(traj):
    me = psutil.Process()
    traj.add_result("$.payload", np.full(2000, traj.x))
    traj.add_result("$.pid", me.pid)
    traj.add_result("$.rss", me.memory_info().rss)
    if traj.index % BATCH == BATCH - 1:  # once per batch: the origin's size
        traj.add_result("$.origin_rss", origin_rss())


if __name__ == "__main__":
    outdir, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2
    for k in range(n):
        traj = hpcpet.Trajectory("memory")
        traj.add_parameter("x", 0.0)
        traj.explore(hpcpet.zip_exploration({"x": np.arange(float(BATCH * BATCHES))}))
        env = hpcpet.Environment(traj, f"{outdir}/memory{k}.h5", backend="auto", batch_size=BATCH,
                                 progress="quiet")
        env.run(run)
        with open(f"{outdir}/origin_rss.txt", "a") as fh:  # after each exploration
            fh.write(f"{psutil.Process().memory_info().rss}\n")

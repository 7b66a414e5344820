"""The 10^6-run serial benchmark (z = x * y) with run info as shipped, without it, or with --capture.

usage: runinfo_api.py N MODE FILE   (MODE: info | none | capture) -> prints {"seconds", "cpu", "bytes"}

``none`` takes run info out at both ends (the worker records none, the writer
receives none), so the difference to ``info`` is everything run info costs.
"""
import json
import os
import sys
import time

from hpcpet_api import run, seed_trajectory

import hpcpet
from hpcpet import engine
from hpcpet.storage import writer


def without_run_info():
    engine.Worker._info = lambda self, *a, **k: {}
    write = writer.Writer.write

    def write_bare(self, result):
        result.info = {}
        return write(self, result)
    writer.Writer.write = write_bare


def main():
    n, mode, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    if mode == "none":
        without_run_info()
    traj = seed_trajectory(n)
    t0, c0 = time.perf_counter(), time.process_time()
    hpcpet.Environment(traj, path, backend="serial", overwrite=True, progress="quiet",
                       capture=mode == "capture").run(run)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    with hpcpet.load(path) as t:
        assert t.completed.all() and (mode == "none") == (not t.run_info)
    print(json.dumps({"seconds": seconds, "cpu": cpu, "bytes": os.path.getsize(path)}))


if __name__ == "__main__":
    main()

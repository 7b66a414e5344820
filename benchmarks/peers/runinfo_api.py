"""The 10^6-run serial benchmark (z = x * y) with run info as shipped, without it, or with --capture.

usage: runinfo_api.py N MODE FILE   (MODE: info | none | capture)
    -> prints {"seconds", "cpu", "bytes", "writer", "recording"}

``none`` takes run info out at both ends (the worker records none, the writer
receives none), so the difference to ``info`` is everything run info costs.
``writer``: CPU seconds spent in ``Writer.write`` and ``Writer.close`` (the
checkpoints and the consolidation); ``recording``: CPU seconds the worker spent
making run info (``Worker._info``). The run loop is the same code in every mode,
so these two are where run info can cost anything on this path.
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


SPENT = {"writer": 0.0, "recording": 0.0}


def timed(cls, name: str, key: str) -> None:
    """Add the CPU time spent in ``cls.name`` to ``SPENT[key]`` (outermost calls only)."""
    fn, depth = getattr(cls, name), [0]

    def wrapper(*a, **k):
        depth[0] += 1
        t = time.thread_time()
        try:
            return fn(*a, **k)
        finally:
            depth[0] -= 1
            if not depth[0]:
                SPENT[key] += time.thread_time() - t
    setattr(cls, name, wrapper)


def main():
    n, mode, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    if mode == "none":
        without_run_info()
    timed(writer.Writer, "write", "writer")
    timed(writer.Writer, "close", "writer")
    timed(engine.Worker, "_info", "recording")
    traj = seed_trajectory(n)
    t0, c0 = time.perf_counter(), time.process_time()
    hpcpet.Environment(traj, path, backend="serial", overwrite=True, progress="quiet",
                       capture=mode == "capture").run(run)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    with hpcpet.load(path) as t:
        assert t.completed.all() and (mode == "none") == (not t.run_info)
    print(json.dumps({"seconds": seconds, "cpu": cpu, "bytes": os.path.getsize(path), **SPENT}))


if __name__ == "__main__":
    main()

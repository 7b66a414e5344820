"""Time hpcpet.load + one result column in a fresh process. usage: load_column.py FILE NAME"""
import json
import sys
import time

t0 = time.perf_counter()
import hpcpet  # noqa: E402

t1 = time.perf_counter()
with hpcpet.load(sys.argv[1]) as traj:
    col = traj.get_from_runs(sys.argv[2])
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load_column": t2 - t1, "n": len(col)}))

"""Drive a backend directly and report the run info of the batches it returns (JSON on stdout).

usage: [mpiexec -n N | python -m scoop -n N] python run_info.py BACKEND NCORES [capture]

Runs 30 runs of 20 ms that print from Python and from C; prints one JSON
line on the master: per run its duration, start, host, worker, attempts
and (with ``capture``) output.
"""
import json
import os
import sys
import time

import numpy as np

import hpcpet
from hpcpet.backends import get_backend
from hpcpet.batch import info_array
from hpcpet.engine import BatchSource, FrozenInput


def run(traj):
    print(f"python says {traj.x}")
    os.write(1, b"C says %d\n" % traj.x)
    time.sleep(0.02)
    return traj.x


def main():
    backend = get_backend(sys.argv[1], int(sys.argv[2]))
    capture = "capture" in sys.argv[3:]
    if not backend.is_master:
        backend.serve()
        return
    traj = hpcpet.Trajectory()
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(30))})
    traj.freeze()
    source = BatchSource(np.ones(30, bool), backend.workers, batch_size=3)
    t0 = time.time()
    info = {}
    with backend:
        backend.start(FrozenInput(traj, run, capture=capture), source)
        for result in backend.run(source):
            source.settle(result)
            arrays = {name: info_array(a, len(result)) for name, a in result.info.items()}
            for k, i in enumerate(range(result.start, result.stop)):
                info[i] = {name: (a[k].decode() if isinstance(a[k], bytes) else
                                  a[k].item() if hasattr(a[k], "item") else a[k])
                           for name, a in arrays.items()}
    print(json.dumps({"t0": t0, "t1": time.time(), "info": info}))


if __name__ == "__main__":
    main()

"""The floor: a bare Python loop calling f(x, y) and appending a column per 1000-run bucket with h5py.

usage: bare_h5py.py N FILE -> prints {"n", "seconds"}
"""
import json
import sys
import time

import h5py
import numpy as np


def f(x, y):
    return x * y


def main():
    n, path = int(sys.argv[1]), sys.argv[2]
    side = min(n, 1000)
    t0 = time.perf_counter()
    xs = np.repeat(np.arange(n // side, dtype=float), side).tolist()
    ys = np.tile(np.arange(side, dtype=float), n // side).tolist()
    with h5py.File(path, "w") as h5:
        for lo in range(0, n, 1000):
            col = [f(x, y) for x, y in zip(xs[lo:lo + 1000], ys[lo:lo + 1000])]
            h5.create_dataset(f"results/run_set_{lo // 1000:05d}/z", data=np.array(col))
    print(json.dumps({"n": n, "seconds": time.perf_counter() - t0}))


if __name__ == "__main__":
    main()

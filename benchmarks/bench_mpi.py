"""Benchmark of the MPI backend (plain script; prints markdown tables).

    .venv/bin/python benchmarks/bench_mpi.py [--quick] [--reps N]

1. The seed example (z = x * y stored per run as ``some_group.$set.$.z``,
   x, y a cartesian product) under ``mpiexec -n 3 python -m hpcpet run``,
   side by side with ``MPIPoolExecutor().map(f, xs, ys, chunksize=1000)``
   under ``mpiexec -n 3 python -m mpi4py.futures`` (nothing stored).
   Whole-command wall time, runs/s, ratio; for hpcpet also rank 0's CPU time
   with the master polling only vs also running batches.
2. Dispatch efficiency: runs that sleep 10 ms at ``mpiexec -n 16`` (15 workers):
   ideal time n_runs * 0.01 / 15 divided by the measured time of the runs
   (the environment's own timing, from start/broadcast to the last write).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import common  # noqa: F401  (compiles hpcpet to bytecode, as an installed package has it)

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(sys.executable)
MPIEXEC = os.path.join(BIN, "mpiexec")

SEED = '''"""Seed example: z = x * y for x, y in a {n} x {n} cartesian product."""
import numpy as np
import hpcpet


def build(traj):
    traj.add_parameter("x", 1.0)
    traj.add_parameter("y", 1.0)
    traj.explore(hpcpet.cartesian_product({{"x": np.arange({n}.0), "y": np.arange({n}.0)}}))


def run(traj):
    traj.add_result("some_group.$set.$.z", traj.x * traj.y)
'''

SLEEP = '''"""Runs that sleep 10 ms."""
import time
import numpy as np
import hpcpet


def build(traj):
    traj.add_parameter("i", 0)
    traj.explore(hpcpet.cartesian_product({{"i": np.arange({n})}}))


def run(traj):
    time.sleep(0.01)
'''

FUTURES = '''"""mpi4py.futures baseline: map z = x * y over a {n} x {n} cartesian product, nothing stored."""
import sys


def f(x, y):
    return x * y


if __name__ == "__main__":
    import numpy as np
    from mpi4py.futures import MPIPoolExecutor

    axis = np.arange({n}.0)
    xs = np.repeat(axis, {n}).tolist()
    ys = np.tile(axis, {n}).tolist()
    with MPIPoolExecutor() as ex:
        count = sum(1 for _ in ex.map(f, xs, ys, chunksize=1000))
    assert count == {n} * {n}, count
'''

# runs the hpcpet CLI and reports rank 0's CPU and wall time of the whole CLI call as JSON on stderr
# (it parses with the ``run`` verb's own parser, so it does not depend on the other verbs)
DRIVER = '''import argparse, json, resource, sys, time
t0 = time.perf_counter()
from hpcpet.commands import run
parser = argparse.ArgumentParser()
run.add_parser(parser.add_subparsers())
args = parser.parse_args(sys.argv[1:])
rc = args.func(args)
from mpi4py import MPI
if MPI.COMM_WORLD.Get_rank() == 0:
    r = resource.getrusage(resource.RUSAGE_SELF)
    print("RANK0 " + json.dumps({"cpu": r.ru_utime + r.ru_stime, "wall": time.perf_counter() - t0}),
          file=sys.stderr, flush=True)
sys.exit(rc)
'''


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, **(env or {})))
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return wall, proc.stderr


def hpcpet_run(tmp: str, exp: str, ranks: int, master_works: str = "auto") -> dict:
    out = os.path.join(tmp, "out.h5")
    driver = os.path.join(tmp, "driver.py")
    wall, err = timed([MPIEXEC, "-n", str(ranks), sys.executable, driver, "run", exp, "-o", out,
                       "--overwrite", "--backend", "mpi", "--progress", "log"],
                      env={"HPCPET_MPI_MASTER_WORKS": master_works})
    m = re.search(r"\((\d+) runs in ([\d.]+) s", err)
    rank0 = json.loads(re.search(r"RANK0 (\{.*\})", err).group(1))
    return {"wall": wall, "runs": int(m.group(1)), "run_seconds": float(m.group(2)),
            "cpu0": rank0["cpu"], "wall0": rank0["wall"]}


def futures_run(script: str, ranks: int) -> dict:
    wall, _ = timed([MPIEXEC, "-n", str(ranks), sys.executable, "-m", "mpi4py.futures", script])
    return {"wall": wall}


def fmt_rate(n: float, t: float) -> str:
    return f"{n / t:,.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (about 30 s)")
    ap.add_argument("--reps", type=int, default=None, help="repetitions of part 1 (default 5, quick 2)")
    args = ap.parse_args()
    side = 300 if args.quick else 1000
    sleep_runs = 3000 if args.quick else 22500
    reps = args.reps or (2 if args.quick else 5)
    n = side * side

    with tempfile.TemporaryDirectory(prefix="bench_mpi_") as tmp:
        seed = os.path.join(tmp, "seed.py")
        futures = os.path.join(tmp, "futures_map.py")
        sleepy = os.path.join(tmp, "sleepy.py")
        with open(seed, "w") as fh:
            fh.write(SEED.format(n=side))
        with open(futures, "w") as fh:
            fh.write(FUTURES.format(n=side))
        with open(sleepy, "w") as fh:
            fh.write(SLEEP.format(n=sleep_runs))
        with open(os.path.join(tmp, "driver.py"), "w") as fh:
            fh.write(DRIVER)

        # ---------------------------------------------------------------- part 1
        variants = {"hpcpet -n 3 (master polls, 2 workers)": lambda: hpcpet_run(tmp, seed, 3, "0"),
                    "hpcpet -n 3 (master also runs batches)": lambda: hpcpet_run(tmp, seed, 3, "1"),
                    "mpi4py.futures -n 3 (chunksize 1000)": lambda: futures_run(futures, 3)}
        got: dict[str, list[dict]] = {k: [] for k in variants}
        for _ in range(reps):  # interleaved so that machine noise hits every variant alike
            for name, fn in variants.items():
                got[name].append(fn())
        fut = statistics.median(r["wall"] for r in got["mpi4py.futures -n 3 (chunksize 1000)"])
        print(f"\n### Seed example, {n:,} runs (z = x * y), {reps} repetitions, {os.cpu_count()} cores\n")
        print("| command | wall min / median (s) | runs/s (median, whole command) | "
              "speed vs mpi4py.futures (median) | hpcpet run time (s) | rank-0 CPU / wall |")
        print("|---|---|---|---|---|---|")
        for name, rows in got.items():
            walls = [r["wall"] for r in rows]
            med = statistics.median(walls)
            extra = "| - | - |"
            if "run_seconds" in rows[0]:
                rs = statistics.median(r["run_seconds"] for r in rows)
                cpu = statistics.median(r["cpu0"] / r["wall0"] for r in rows)
                extra = f"| {rs:.2f} | {cpu:.0%} |"
            print(f"| {name} | {min(walls):.2f} / {med:.2f} | {fmt_rate(n, med)} | {fut / med:.2f}x {extra}")

        # ---------------------------------------------------------------- part 2
        print(f"\n### Dispatch efficiency: {sleep_runs:,} runs of sleep(10 ms), mpiexec -n 16 (15 workers)\n")
        print("| master | ideal (s) | run time (s) | efficiency | whole command (s) | rank-0 CPU / wall |")
        print("|---|---|---|---|---|---|")
        ideal = sleep_runs * 0.01 / 15
        r = hpcpet_run(tmp, sleepy, 16, "0")
        print(f"| polls | {ideal:.2f} | {r['run_seconds']:.2f} | {ideal / r['run_seconds']:.1%} | "
              f"{r['wall']:.2f} | {r['cpu0'] / r['wall0']:.0%} |")


if __name__ == "__main__":
    main()

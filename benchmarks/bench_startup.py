"""Start-up at scale: ``mpiexec -n 64`` on this machine's cores (plain script; prints a markdown table).

    .venv/bin/python benchmarks/bench_startup.py [--quick] [--ranks N] [--reps N]

Side by side, in the same run (interleaved), the same workload: 20 runs per worker of a
function that sleeps 5 ms and records when it ran, the resident memory of its process
(VmRSS) and its pid:

* ``hpcpet``: ``mpiexec -n N python -m hpcpet run exp.py -o out.h5`` (an experiment file
  that imports numpy, as simulations do);
* ``mpi4py.futures``: ``mpiexec -n N python -m mpi4py.futures script.py`` mapping the same
  function with ``MPIPoolExecutor().map`` (chunksize 5), its script importing numpy too;
* ``mpi4py.futures, no numpy``: the same script without ``import numpy``: what numpy
  itself costs every worker.

Columns: time from launch (just before ``mpiexec`` starts) to the first run anywhere, to the
first run on the last worker to get one, whole command; median VmRSS of the workers at their
runs. Ratio: time to first run against mpi4py.futures (same script). hpcpet's modules are
byte-compiled first, as ``pip install`` does.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import common  # noqa: F401  (compiles hpcpet to bytecode, as an installed package has it)

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(sys.executable)
MPIEXEC = os.path.join(BIN, "mpiexec")

COMMON = '''
import os
import time


def rss_mb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024


def probe(i):
    t = time.time()
    time.sleep(0.005)
    return t, rss_mb(), os.getpid()
'''

EXPERIMENT = '''"""hpcpet side: {n} runs of probe()."""
import numpy as np
import hpcpet
''' + COMMON + '''

def build(traj):
    traj.add_parameter("i", 0)
    traj.explore(hpcpet.cartesian_product({{"i": np.arange({n})}}))


def run(traj):
    t, rss, pid = probe(traj.i)
    traj.add_result("t", t)
    traj.add_result("rss", rss)
    traj.add_result("pid", pid)
'''

FUTURES = '''"""mpi4py.futures side: {n} calls of probe()."""
import json
{numpy}''' + COMMON + '''

if __name__ == "__main__":
    from mpi4py.futures import MPIPoolExecutor

    with MPIPoolExecutor() as ex:
        got = list(ex.map(probe, range({n}), chunksize=5))
    print(json.dumps(got))
'''


def summarise(launch: float, end: float, rows: list) -> dict:
    first_by_pid: dict[int, float] = {}
    rss_by_pid: dict[int, float] = {}
    for t, rss, pid in rows:
        first_by_pid[pid] = min(t, first_by_pid.get(pid, t))
        rss_by_pid[pid] = max(rss, rss_by_pid.get(pid, rss))
    return {"first": min(first_by_pid.values()) - launch, "last_first": max(first_by_pid.values()) - launch,
            "wall": end - launch, "rss": statistics.median(rss_by_pid.values()), "workers": len(first_by_pid)}


def run_hpcpet(tmp: str, exp: str, ranks: int) -> dict:
    out = os.path.join(tmp, "out.h5")
    launch = time.time()
    proc = subprocess.run([MPIEXEC, "-n", str(ranks), sys.executable, "-m", "hpcpet", "run", exp, "-o", out,
                           "--overwrite", "--quiet"], capture_output=True, text=True)
    end = time.time()
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    import hpcpet

    with hpcpet.load(out) as t:
        rows = list(zip(t.get_from_runs("t").tolist(), t.get_from_runs("rss").tolist(),
                        t.get_from_runs("pid").astype(int).tolist()))
    return summarise(launch, end, rows)


def run_futures(script: str, ranks: int) -> dict:
    launch = time.time()
    proc = subprocess.run([MPIEXEC, "-n", str(ranks), sys.executable, "-m", "mpi4py.futures", script],
                          capture_output=True, text=True)
    end = time.time()
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    return summarise(launch, end, json.loads(proc.stdout.strip().splitlines()[-1]))


def compile_hpcpet() -> None:
    """Byte-compile hpcpet as ``pip install`` does (an editable install under PYTHONDONTWRITEBYTECODE=1
    would otherwise compile every module in every rank at every start)."""
    import compileall

    import hpcpet

    compileall.compile_dir(os.path.dirname(hpcpet.__file__), quiet=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="16 ranks, one repetition")
    ap.add_argument("--ranks", type=int, default=None, help="mpiexec -n (default 64)")
    ap.add_argument("--reps", type=int, default=None, help="repetitions, interleaved (default 3)")
    args = ap.parse_args()
    ranks = args.ranks or (16 if args.quick else 64)
    reps = args.reps or (1 if args.quick else 3)
    n = 20 * ranks
    compile_hpcpet()
    with tempfile.TemporaryDirectory(prefix="bench_startup_") as tmp:
        exp = os.path.join(tmp, "exp.py")
        fut = os.path.join(tmp, "fut.py")
        bare = os.path.join(tmp, "bare.py")
        with open(exp, "w") as fh:
            fh.write(EXPERIMENT.format(n=n))
        with open(fut, "w") as fh:
            fh.write(FUTURES.format(n=n, numpy="import numpy as np  # like any simulation script\n"))
        with open(bare, "w") as fh:
            fh.write(FUTURES.format(n=n, numpy=""))
        variants = {"hpcpet": lambda: run_hpcpet(tmp, exp, ranks),
                    "mpi4py.futures": lambda: run_futures(fut, ranks),
                    "mpi4py.futures, no numpy": lambda: run_futures(bare, ranks)}
        got: dict[str, list[dict]] = {k: [] for k in variants}
        for _ in range(reps):
            for name, fn in variants.items():
                got[name].append(fn())
    med = {name: {k: statistics.median(r[k] for r in rows) for k in rows[0]} for name, rows in got.items()}
    print(f"\n### Start-up, mpiexec -n {ranks} on {os.cpu_count()} cores, {n} runs of 5 ms, "
          f"median of {reps} (interleaved)\n")
    print("| command | launch to first run (s) | to first run on every worker (s) | whole command (s) | "
          "RSS per worker (MB) | first run vs mpi4py.futures |")
    print("|---|---|---|---|---|---|")
    base = med["mpi4py.futures"]["first"]
    for name, m in med.items():
        print(f"| {name} | {m['first']:.2f} | {m['last_first']:.2f} | {m['wall']:.2f} | {m['rss']:.1f} | "
              f"{m['first'] / base:.2f}x |")
    reps_text = ["{}: {}".format(name, ", ".join("%.2f" % r["first"] for r in rows)) for name, rows in got.items()]
    print("\nper repetition (first run s): " + "; ".join(reps_text))


if __name__ == "__main__":
    main()

"""Huge explorations: 10^7 runs in one file, and merging 8 parts of 10^6 runs.

usage: python benchmarks/bench_huge.py [--quick]      (--quick: 10^6 runs, 8 parts of 10^5)

Every step runs as its own ``python -m hpcpet`` process (benchmarks/huge_experiment.py,
z = x * y); peak RSS is that process's ``ru_maxrss`` from ``os.wait4`` (for ``mpiexec``
the largest rank, the writer). ``load + column`` is ``hpcpet.load(path).get_from_runs("z")``
in a fresh process, after ``import hpcpet`` (about 0.15 s, not counted). Prints markdown tables. Targets: 10^7 runs < 30 s, writer RSS < 300 MB,
load + column < 0.5 s.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from common import BIN, HERE, PY, table

QUICK = "--quick" in sys.argv
EXP = os.path.join(HERE, "huge_experiment.py")
LOAD = """
import json, sys, time
import hpcpet
t0 = time.perf_counter()
t = hpcpet.load(sys.argv[1])
z = t.get_from_runs("z")
t1 = time.perf_counter()
assert len(z) == len(t) and t.completed.all()
print(json.dumps({"load_column": t1 - t0}))
"""


def measured(cmd, env=None):
    """Run ``cmd``; return (seconds, peak RSS in MB)."""
    e = dict(os.environ, **(env or {}))
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    dt = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-2000:]}")
    return dt, usage.ru_maxrss / 1024


def load_column(path):
    """Best of 3 fresh-process load + one column times (the machine is noisy)."""
    times = []
    for _ in range(3):
        out = subprocess.run([PY, "-c", LOAD, path], capture_output=True, text=True, check=True).stdout
        times.append(json.loads(out.strip().splitlines()[-1])["load_column"])
    return min(times), sorted(times)[1]


def main():
    tmp = tempfile.mkdtemp(prefix="hpcpet-huge-")
    n = 10**6 if QUICK else 10**7
    env = {"HPCPET_HUGE_N": str(n)}
    rows = []
    launchers = [("serial", [], "serial")]
    if os.path.exists(os.path.join(os.path.dirname(HERE), "hpcpet", "backends", "mpi.py")):
        launchers.append(("mpiexec -n 3", [os.path.join(BIN, "mpiexec"), "-n", "3"], "mpi"))
    for label, prefix, backend in launchers:
        for set_size in (1000, 10000):
            path = os.path.join(tmp, f"{backend}-{set_size}.h5")
            cmd = [*prefix, PY, "-m", "hpcpet", "run", EXP, "-o", path, "--backend", backend, "--quiet",
                   "--set-size", str(set_size)]
            try:
                dt, rss = measured(cmd, env)
            except RuntimeError as exc:
                print(f"<!-- {label} failed: {str(exc).splitlines()[0]} -->")
                continue
            best, median = load_column(path)
            rows.append([label, f"{n:,}", set_size, f"{dt:.1f}", f"{n / dt:,.0f}", f"{rss:.0f}",
                         f"{os.path.getsize(path) / 2**20:.0f}", f"{best:.2f} / {median:.2f}"])
            os.remove(path)
    table(f"{n:,} runs in one file (z = x * y)",
          ["launch", "runs", "set size", "wall s", "runs/s", "peak RSS MB", "file MB",
           "load + column s (best / median of 3)"], rows)

    n_parts, per = 8, (10**5 if QUICK else 10**6)
    total = n_parts * per
    env = {"HPCPET_HUGE_N": str(total)}
    parts = []
    part_s = []
    for k in range(1, n_parts + 1):
        p = os.path.join(tmp, f"part-{k}.h5")
        dt, _ = measured([PY, "-m", "hpcpet", "run", EXP, "-o", p, "--part", f"{k}/{n_parts}",
                          "--backend", "serial", "--quiet"], env)
        parts.append(p)
        part_s.append(dt)
    out = os.path.join(tmp, "merged.h5")
    dt, rss = measured([PY, "-m", "hpcpet", "merge", *parts, "-o", out, "--quiet"])
    best, median = load_column(out)
    table(f"merge of {n_parts} parts of {per:,} runs",
          ["parts", "runs", "run one part s (mean)", "merge s", "merge peak RSS MB", "merged file MB",
           "load + column s (best / median)"],
          [[n_parts, f"{total:,}", f"{sum(part_s) / n_parts:.1f}", f"{dt:.1f}", f"{rss:.0f}",
            f"{os.path.getsize(out) / 2**20:.0f}", f"{best:.2f} / {median:.2f}"]])
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

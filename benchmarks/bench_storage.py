"""Storage v2 against format 1, side by side in one run: no regression allowed.

usage: python benchmarks/bench_storage.py [--quick] [--old REV]

The old layout is the last release before storage v2 (git revision REV, default
6cad558: format 1, in-place buckets), unpacked from this repository's history into a
temporary folder and imported instead of the working tree (PYTHONPATH). Both write
the same experiments in the same session:
- 10^6 scalar runs (`some_group.$set.$.z`) through the API, serial: stored runs/s,
  bytes/run, load + one column (fresh process);
- 10^6 runs as a whole command under `mpiexec -n 3`;
- 10^7 runs, whole command, serial: wall time, writer peak RSS, load + one column.
Targets (issue 11): >= 500,000 stored runs/s serial, load + one column of 10^6 runs < 0.3 s.
"""
import json
import os
import subprocess
import sys
import tempfile

from bench_huge import measured
from common import BIN, HERE, PY, last_json, rate, table, timed

QUICK = "--quick" in sys.argv
OLD = sys.argv[sys.argv.index("--old") + 1] if "--old" in sys.argv else "6cad558"
ROOT = os.path.dirname(HERE)


def unpack_old(tmp: str) -> str:
    """The old hpcpet, unpacked from git history; returns its folder."""
    dest = os.path.join(tmp, "old")
    os.makedirs(dest)
    archive = subprocess.run(["git", "-C", ROOT, "archive", OLD, "hpcpet"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", dest], input=archive.stdout, check=True)
    return dest


LOAD = """
import json, sys, time
import hpcpet
t0 = time.perf_counter()
t = hpcpet.load(sys.argv[1])
z = t.get_from_runs(sys.argv[2])
t1 = time.perf_counter()
assert len(z) == len(t) and t.completed.all()
print(json.dumps({"load_column": t1 - t0}))
"""


def load_best(path: str, env: dict, name: str = "some_group.z") -> float:
    """Best of 3 fresh-process ``load`` + one column times."""
    times = []
    for _ in range(3):
        out = subprocess.run([PY, "-c", LOAD, path, name], capture_output=True, text=True, check=True,
                             env=dict(os.environ, **env)).stdout
        times.append(json.loads(out.strip().splitlines()[-1])["load_column"])
    return min(times)


def main():
    tmp = tempfile.mkdtemp(prefix="hpcpet-storage-")
    old = unpack_old(tmp)
    versions = [("format 1 (" + OLD + ")", {"PYTHONPATH": old}), ("format 2 (this tree)", {"PYTHONPATH": ROOT})]
    n = 100_000 if QUICK else 1_000_000
    rows = []
    for rep in range(2):  # interleaved repetitions: old, new, old, new
        for label, env in versions:
            path = os.path.join(tmp, f"api-{rep}-{label[:8].replace(' ', '')}.h5")
            _, out = timed([PY, os.path.join(HERE, "peers", "hpcpet_api.py"), str(n), "serial", path], env=env)
            r = last_json(out)
            rows.append([label, f"{n:,}", f"{r['seconds']:.3f}", rate(n, r["seconds"]),
                         f"{r['bytes'] / n:.1f}", f"{load_best(path, env, 'some_group.z'):.3f}"])
    table("10^6 scalar runs, serial, Environment.run (load = fresh process, load + column, best of 3)",
          ["layout", "runs", "seconds", "stored runs/s", "bytes/run", "load+column s"], rows)

    rows = []
    mpiexec = os.path.join(BIN, "mpiexec")
    for rep in range(2):
        for label, env in versions:
            path = os.path.join(tmp, f"mpi-{rep}.h5")
            dt, _ = timed([mpiexec, "-n", "3", PY, "-m", "hpcpet", "run", os.path.join(HERE, "seed.py"), "-o", path,
                           "--quiet", "--overwrite"], env={**env, "HPCPET_BENCH_N": str(n)})
            rows.append([label, f"{n:,}", f"{dt:.2f}", rate(n, dt)])
    table("10^6 runs, whole command under `mpiexec -n 3`", ["layout", "runs", "wall s", "runs/s"], rows)

    big = 10**6 if QUICK else 10**7
    rows = []
    for label, env in versions:
        path = os.path.join(tmp, f"huge-{label[:8].replace(' ', '')}.h5")
        cmd = [PY, "-m", "hpcpet", "run", os.path.join(HERE, "seed.py"), "-o", path, "--quiet", "--overwrite",
               "--backend", "serial"]
        dt, rss = measured(cmd, {**env, "HPCPET_BENCH_N": str(big)})
        rows.append([label, f"{big:,}", f"{dt:.1f}", rate(big, dt), f"{rss:.0f}",
                     f"{os.path.getsize(path) / 2**20:.0f}", f"{load_best(path, env):.3f}"])
    table("10^7 runs, whole command, serial", ["layout", "runs", "wall s", "runs/s", "writer peak RSS MB",
                                               "file MB", "load+column s"], rows)
    print(f"\n(files in {tmp})")


if __name__ == "__main__":
    main()

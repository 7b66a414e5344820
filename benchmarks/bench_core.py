"""Core benchmark: hpcpet serial and pool vs pypet 0.7 on the seed example (z = x * y per run).

usage: python benchmarks/bench_core.py [--quick]
Prints markdown tables. Everything is measured in this run, side by side.
"""
import os
import sys
import tempfile

from common import BIN, HERE, PY, last_json, pypet_python, rate, table, timed

QUICK = "--quick" in sys.argv


def main():
    tmp = tempfile.mkdtemp(prefix="hpcpet-bench-")
    sizes = [10_000, 100_000] if QUICK else [10_000, 100_000, 1_000_000]
    rows = []
    for n in sizes:
        for backend in ("serial", "pool"):
            path = os.path.join(tmp, f"{backend}-{n}.h5")
            _, out = timed([PY, os.path.join(HERE, "peers", "hpcpet_api.py"), str(n), backend, path])
            r = last_json(out)
            _, lo = timed([PY, os.path.join(HERE, "peers", "load_column.py"), path, "some_group.z"])
            load = last_json(lo)
            rows.append([f"hpcpet {backend}" + (" (2 procs)" if backend == "pool" else ""), f"{n:,}",
                         f"{r['seconds']:.3f}", rate(n, r["seconds"]), f"{r['bytes'] / n:.1f}",
                         f"{load['load_column']:.3f}"])
    n = sizes[-1]
    path = os.path.join(tmp, "bare.h5")
    _, out = timed([PY, os.path.join(HERE, "peers", "bare_h5py.py"), str(n), path])
    r = last_json(out)
    rows.append(["bare loop + h5py columns (floor)", f"{n:,}", f"{r['seconds']:.3f}",
                 rate(n, r["seconds"]), f"{os.path.getsize(path) / n:.1f}", "-"])
    pp = pypet_python()
    if pp:
        for mode, pn in (("set", 300 if QUICK else 1000), ("collect", 10_000 if QUICK else 100_000)):
            path = os.path.join(tmp, f"pypet-{mode}.hdf5")
            _, out = timed([pp, os.path.join(HERE, "peers", "pypet_seed.py"), mode, str(pn), path],
                           cwd=tmp)
            r = last_json(out)
            label = "pypet 0.7 per-run `$set`" if mode == "set" else "pypet 0.7 collect (return + postproc)"
            rows.append([label, f"{pn:,}", f"{r['seconds']:.3f}", rate(pn, r["seconds"]),
                         f"{os.path.getsize(path) / pn:.1f}", "-"])
    else:
        rows.append(["pypet 0.7", "-", "could not install", "-", "-", "-"])
    table("Seed example stored per run (Environment.run time; load = fresh process, load + column)",
          ["what", "runs", "seconds", "runs/s", "bytes/run", "load+column s"], rows)

    n = sizes[-1]
    path = os.path.join(tmp, "cli.h5")
    dt, _ = timed([PY, "-m", "hpcpet", "run", os.path.join(HERE, "seed.py"), "-o", path, "--quiet",
                   "--backend", "serial"], env={"HPCPET_BENCH_N": str(n)})
    dt2, _ = timed([PY, "-m", "hpcpet", "run", os.path.join(HERE, "seed.py"), "-o", path, "--quiet",
                    "--overwrite", "--backend", "pool", "--ncores", "2"], env={"HPCPET_BENCH_N": str(n)})
    table("Whole command `python -m hpcpet run seed.py` (interpreter start-up included)",
          ["backend", "runs", "wall s", "runs/s"],
          [["serial", f"{n:,}", f"{dt:.2f}", rate(n, dt)], ["pool 2", f"{n:,}", f"{dt2:.2f}", rate(n, dt2)]])
    print(f"\n(files in {tmp})")


if __name__ == "__main__":
    main()

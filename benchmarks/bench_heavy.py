"""Heavy per-run arrays (issue 15): hpcpet's backends against the h5py floor and the disk.

usage: python benchmarks/bench_heavy.py [--quick]

Side by side in one run, whole commands on these 2 cores:
- `dd` of the same number of bytes with fsync (the disk);
- the floor: one process makes the same arrays and writes them with h5py, one dataset per
  bucket of 1000 runs, then fsyncs (timed in the process, and as a whole command: whole-command
  rows are compared with the whole-command floor, the writer alone with the in-process one);
- hpcpet serial, pool (2) and `mpiexec -n 3`, for 4,000 x 100 kB and 400 x 1 MB;
- `--compression zstd` on a relaxing voltage trace (file size and throughput), serial, pool and
  `mpiexec -n 3` (the uncompressed trace, serial, for the file size it is compared with);
- the writer's own ceiling: pre-made batches fed to the Writer, no workers.
Targets: every backend >= 0.7x the floor's throughput; zstd file <= 0.3x at >= 0.5x the floor.
"""
import os
import subprocess
import sys
import tempfile
import time

from common import BIN, HERE, PY, table, timed

QUICK = "--quick" in sys.argv
EXP = os.path.join(HERE, "heavy_experiment.py")

FLOOR = """
import os, sys, time, h5py, numpy as np
n, kb, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
base = np.random.default_rng(0).random(kb * 128)
t0 = time.perf_counter()
with h5py.File(path, "w") as f:
    for b in range(0, n, 1000):
        block = np.empty((min(1000, n - b), kb * 128))
        for k in range(len(block)):
            block[k] = base + b + k
        f.create_dataset(f"bucket{b // 1000}", data=block)
fd = os.open(path, os.O_RDONLY); os.fsync(fd); os.close(fd)
print(time.perf_counter() - t0)
"""

CEILING = """
import sys, time, numpy as np
import hpcpet
from hpcpet.batch import DONE, BatchResult
from hpcpet.columns import Column
from hpcpet.storage.writer import Writer
n, kb, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
traj = hpcpet.Trajectory(); traj.add_parameter("i", 0); traj.explore({"i": list(range(n))}); traj.freeze()
base = np.random.default_rng(0).random(kb * 128)
batch = 50 if kb <= 100 else 5
batches = [BatchResult(s, min(n, s + batch), np.full(min(n, s + batch) - s, DONE, np.uint8),
                       {"v": Column("fixed", base + np.arange(s, min(n, s + batch))[:, None])}, {}, {}, 0.0)
           for s in range(0, n, batch)]
t0 = time.perf_counter()
w = Writer.create(path, traj, overwrite=True)
for b in batches:
    w.write(b)
w.close()
print(time.perf_counter() - t0)
"""


def dd(path, mb):
    t0 = time.perf_counter()
    subprocess.run(["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={mb}", "conv=fsync"],
                   capture_output=True, check=True)
    return time.perf_counter() - t0


def main():
    tmp = tempfile.mkdtemp(prefix="hpcpet-heavy-")
    cases = [(400, 100), (40, 1000)] if QUICK else [(4000, 100), (400, 1000)]
    mpiexec = [os.path.join(BIN, "mpiexec"), "-n", "3"]
    for n, kb in cases:
        mb = n * kb / 1000
        rows = []
        t = dd(os.path.join(tmp, "dd.bin"), int(mb))
        rows.append(["dd with fsync (the disk)", f"{t:.2f}", f"{mb / t:,.0f}", "-", "-"])
        whole, out = timed([PY, "-c", FLOOR, str(n), str(kb), os.path.join(tmp, "floor.h5")])
        floor = float(out.strip().splitlines()[-1])
        rows.append(["floor: h5py, one dataset per bucket, fsync (in process)", f"{floor:.2f}",
                     f"{mb / floor:,.0f}", "1.00", "-"])
        rows.append(["floor as a whole command (python, numpy, h5py start-up included)", f"{whole:.2f}",
                     f"{mb / whole:,.0f}", "1.00 (whole-command rows)", "-"])
        out = subprocess.run([PY, "-c", CEILING, str(n), str(kb), os.path.join(tmp, "ceiling.h5")],
                             capture_output=True, text=True, check=True).stdout
        ceil = float(out.strip().splitlines()[-1])
        rows.append(["hpcpet Writer alone (pre-made batches, in process)", f"{ceil:.2f}", f"{mb / ceil:,.0f}",
                     f"{floor / ceil:.2f}", "-"])
        floor = whole  # whole commands are compared with the whole-command floor
        env = {"HPCPET_HEAVY_N": str(n), "HPCPET_HEAVY_KB": str(kb)}
        for label, prefix, extra in (("hpcpet serial", (), ("--backend", "serial")),
                                     ("hpcpet pool 2", (), ("--backend", "pool", "--ncores", "2")),
                                     ("hpcpet mpiexec -n 3", mpiexec, ())):
            path = os.path.join(tmp, "h.h5")
            dt, _ = timed([*prefix, PY, "-m", "hpcpet", "run", EXP, "-o", path, "--quiet", "--overwrite", *extra],
                          env=env)
            rows.append([label + " (whole command)", f"{dt:.2f}", f"{mb / dt:,.0f}", f"{floor / dt:.2f}",
                         f"{os.path.getsize(path) / 2**20:.0f}"])
        for spec, label, prefix, extra in (("none", "serial", (), ("--backend", "serial")),
                                           ("zstd", "serial", (), ("--backend", "serial")),
                                           ("zstd", "pool 2", (), ("--backend", "pool", "--ncores", "2")),
                                           ("zstd", "mpiexec -n 3", mpiexec, ())):
            path = os.path.join(tmp, f"trace-{spec}.h5")
            dt, _ = timed([*prefix, PY, "-m", "hpcpet", "run", EXP, "-o", path, "--quiet", "--overwrite", *extra,
                           "--compression", spec], env={**env, "HPCPET_HEAVY_TRACE": "1"})
            target = " (target >= 0.5, file <= 0.3x)" if spec == "zstd" else ""
            rows.append([f"hpcpet {label}, voltage trace, --compression {spec}{target}",
                         f"{dt:.2f}", f"{mb / dt:,.0f}", f"{floor / dt:.2f}", f"{os.path.getsize(path) / 2**20:.1f}"])
        table(f"{n:,} runs x {kb} kB float64 arrays ({mb:,.0f} MB)",
              ["what", "seconds", "MB/s", "x floor throughput (target >= 0.7)", "file MB"], rows)
    print(f"\n(files in {tmp})")


if __name__ == "__main__":
    main()

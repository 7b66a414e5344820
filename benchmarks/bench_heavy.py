"""Heavy per-run arrays (issue 15): hpcpet's backends against the h5py floor and the disk.

usage: python benchmarks/bench_heavy.py [--quick] [--reps N]

Side by side in one run, whole commands on these 2 cores, each repeated N times (default 3,
interleaved, so that the machine's noise hits every command alike; medians reported; every
command writes a file that does not exist yet, as the floor does: deleting the previous 400 MB
output inside the timing cost hpcpet ~0.15 s the floor never paid):
- `dd` of the same number of bytes with fsync (the disk);
- the floor: one process makes the same arrays and writes them with h5py, one dataset per
  bucket of 1000 runs, then fsyncs (timed in the process, and as a whole command: whole-command
  rows are compared with the whole-command floor, the writer alone with the in-process one);
- hpcpet serial, pool (2) and `mpiexec -n 3`, for 4,000 x 100 kB and 400 x 1 MB;
- `--compression zstd` on a relaxing voltage trace (file size and throughput), serial, pool and
  `mpiexec -n 3` (the uncompressed trace, serial, for the file size it is compared with);
- the writer's own ceiling: pre-made batches fed to the Writer, no workers (random arrays, and
  the voltage trace under zstd);
- the same arrays from runs that first compute for 1 ms each (a spin loop, as a simulation
  would), serial, pool and `mpiexec -n 3`: whether the parallel backends gain from their
  workers while rank 0 stores 400 MB (with free runs there is nothing to gain, only the data
  to move between processes and, under MPI, three ranks to start on two cores);
- pypet 0.7 storing the same array per run (`$set.$.v`, its default zlib compression, one
  process) at a tenth of the runs (a size it finishes), once.
Targets: every backend >= 0.7x the floor's throughput; zstd file <= 0.3x at >= 0.5x the floor.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import BIN, HERE, PY, pypet_python, table, timed

QUICK = "--quick" in sys.argv
REPS = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else (1 if QUICK else 3)
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
n, kb, path, spec, here = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
sys.path.insert(0, here)
from heavy_experiment import trace
traj = hpcpet.Trajectory(); traj.add_parameter("i", 0); traj.explore({"i": list(range(n))}); traj.freeze()
base = np.random.default_rng(0).random(kb * 128)


def rows(s, e):
    if spec == "none":
        return base + np.arange(s, e)[:, None]
    return np.stack([trace(i, kb) for i in range(s, e)])  # the runs' voltage trace


batch = 50 if kb <= 100 else 5
batches = [BatchResult(s, min(n, s + batch), np.full(min(n, s + batch) - s, DONE, np.uint8),
                       {"v": Column("fixed", rows(s, min(n, s + batch)))}, {}, {}, 0.0)
           for s in range(0, n, batch)]
t0 = time.perf_counter()
w = Writer.create(path, traj, overwrite=True, metadata={"compression": spec})
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


def fresh(path):
    """Remove ``path`` (and a leftover segment folder) so the next command writes a new file."""
    for p in (path, path + ".segments"):
        if os.path.isdir(p):
            subprocess.run(["rm", "-rf", p], check=True)
        elif os.path.exists(p):
            os.unlink(p)
    subprocess.run(["sync"], check=True)  # the previous command's dirty pages are not this one's


def commands(n, kb, tmp):
    """(label, function returning seconds, output path or None, kind) of every timed command."""
    mpiexec = [os.path.join(BIN, "mpiexec"), "-n", "3"]
    env = {"HPCPET_HEAVY_N": str(n), "HPCPET_HEAVY_KB": str(kb)}
    out = []

    def script(code, path, *extra):
        return lambda: float(subprocess.run([PY, "-c", code, str(n), str(kb), path, *extra], capture_output=True,
                                            text=True, check=True).stdout.strip().splitlines()[-1])

    def hpcpet(prefix, extra, path, trace, work=0):
        e = {**env, "HPCPET_HEAVY_TRACE": "1"} if trace else dict(env)
        if work:
            e["HPCPET_HEAVY_WORK_MS"] = str(work)
        return lambda: timed([*prefix, PY, "-m", "hpcpet", "run", EXP, "-o", path, "--quiet", *extra], env=e)[0]

    p = os.path.join(tmp, "dd.bin")
    out.append(("dd with fsync (the disk)", lambda: dd(p, int(n * kb / 1000)), p, "disk"))
    p = os.path.join(tmp, "floor.h5")
    floor_times = {}

    def floor():
        whole, stdout = timed([PY, "-c", FLOOR, str(n), str(kb), p])
        floor_times.setdefault("in", []).append(float(stdout.strip().splitlines()[-1]))
        return whole
    out.append(("floor as a whole command (python, numpy, h5py start-up included)", floor, p, "floor"))
    p = os.path.join(tmp, "ceiling.h5")
    out.append(("hpcpet Writer alone (pre-made batches, in process)", script(CEILING, p, "none", HERE), p, "ceiling"))
    p = os.path.join(tmp, "ceiling-zstd.h5")
    out.append(("hpcpet Writer alone, voltage trace, --compression zstd", script(CEILING, p, "zstd", HERE), p,
                "ceiling"))
    for label, prefix, extra in (("serial", (), ("--backend", "serial")),
                                 ("pool 2", (), ("--backend", "pool", "--ncores", "2")),
                                 ("mpiexec -n 3", mpiexec, ())):
        p = os.path.join(tmp, f"h-{label[:4]}.h5")
        out.append((f"hpcpet {label} (whole command)", hpcpet(prefix, extra, p, False), p, "hpcpet"))
    for spec, label, prefix, extra in (("none", "serial", (), ("--backend", "serial")),
                                       ("zstd", "serial", (), ("--backend", "serial")),
                                       ("zstd", "pool 2", (), ("--backend", "pool", "--ncores", "2")),
                                       ("zstd", "mpiexec -n 3", mpiexec, ())):
        p = os.path.join(tmp, f"trace-{spec}-{label[:4]}.h5")
        target = " (target >= 0.5, file <= 0.3x)" if spec == "zstd" else ""
        out.append((f"hpcpet {label}, voltage trace, --compression {spec}{target}",
                    hpcpet(prefix, (*extra, "--compression", spec), p, True), p, "hpcpet"))
    work = 1  # ms per run
    for label, prefix, extra in (("serial", (), ("--backend", "serial")),
                                 ("pool 2", (), ("--backend", "pool", "--ncores", "2")),
                                 ("mpiexec -n 3", mpiexec, ())):
        p = os.path.join(tmp, f"work-{label[:4]}.h5")
        out.append((f"hpcpet {label}, runs computing {work} ms each first (serial: >= {n * work / 1000:.1f} s)",
                    hpcpet(prefix, extra, p, False, work), p, "work"))
    return out, floor_times


def main():
    tmp = tempfile.mkdtemp(prefix="hpcpet-heavy-")
    cases = [(400, 100), (40, 1000)] if QUICK else [(4000, 100), (400, 1000)]
    pp = pypet_python()
    for n, kb in cases:
        mb = n * kb / 1000
        cmds, floor_in = commands(n, kb, tmp)
        times = {label: [] for label, *_ in cmds}
        for _ in range(REPS):  # interleaved: every command once per repetition
            for label, fn, path, _kind in cmds:
                fresh(path)
                times[label].append(fn())
        med = {label: statistics.median(t) for label, t in times.items()}
        floor_whole = med[cmds[1][0]]
        floor = statistics.median(floor_in["in"])
        rows = []
        serial_work = None
        for label, _fn, path, kind in cmds:
            t = med[label]
            spread = f"{min(times[label]):.2f}-{max(times[label]):.2f}"
            if kind == "disk":
                ratio = "-"
            elif kind == "floor":
                rows.append(["floor: h5py, one dataset per bucket, fsync (in process)", f"{floor:.2f}",
                             f"{min(floor_in['in']):.2f}-{max(floor_in['in']):.2f}", f"{mb / floor:,.0f}",
                             "1.00", "-"])
                ratio = "1.00 (whole-command rows)"
            elif kind == "ceiling":
                ratio = f"{floor / t:.2f} (of the in-process floor)"
            elif kind == "work":  # the serial row comes first
                serial_work = t if label.startswith("hpcpet serial") else serial_work
                ratio = f"{serial_work / t:.2f}x serial's speed"
            else:
                ratio = f"{floor_whole / t:.2f}"
            size = f"{os.path.getsize(path) / 2**20:.1f}" if kind in ("hpcpet", "ceiling", "work") else "-"
            rows.append([label, f"{t:.2f}", spread, f"{mb / t:,.0f}", ratio, size])
        if pp:
            pn = max(1, n // 10)
            path = os.path.join(tmp, "pypet.hdf5")
            fresh(path)
            dt, _ = timed([pp, os.path.join(HERE, "peers", "pypet_heavy.py"), str(pn), str(kb), path], cwd=tmp)
            pmb = pn * kb / 1000
            rows.append([f"pypet 0.7, `$set.$.v`, default zlib, {pn:,} runs ({pmb:,.0f} MB), once", f"{dt:.2f}",
                         "-", f"{pmb / dt:,.1f}", f"{floor_whole * pmb / mb / dt:.3f}",
                         f"{os.path.getsize(path) / 2**20:.1f}"])
        else:
            rows.append(["pypet 0.7", "could not install", "-", "-", "-", "-"])
        table(f"{n:,} runs x {kb} kB float64 arrays ({mb:,.0f} MB), median of {REPS}",
              ["what", "seconds (median)", "min-max", "MB/s", "x floor throughput (target >= 0.7)", "file MB"],
              rows)
    print(f"\n(files in {tmp})")


if __name__ == "__main__":
    main()

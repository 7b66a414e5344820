"""Growing studies (issue 12): generations against one exploration, turnaround, pypet's f_expand.

usage: python benchmarks/bench_generations.py [--quick] [--reps N]

Side by side in one run:
- 50 generations x 2,000 runs of z = x * y under `mpiexec -n 3` (and the pool) against one
  exploration of the same 100,000 runs: whole-command time ratio (target <= 1.3) and the
  generation turnaround, from the end of the last run of generation k to the start of the
  first run of generation k+1 (median; target < 20 ms); with --reps N (default 5, quick 1) the
  two commands alternate N times and the ratio is that of the median times;
- pypet 0.7's structure (f_expand per generation, its DEAP example's loop) at a size it
  finishes, against hpcpet doing the same generations.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np

from common import BIN, HERE, PY, pypet_python, table, timed

QUICK = "--quick" in sys.argv
REPS = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else (1 if QUICK else 5)
EXP = os.path.join(HERE, "generations_experiment.py")

TURNAROUND = """
import json, sys
import numpy as np
import hpcpet
t = hpcpet.load(sys.argv[1])
g, t0, t1 = t.generation, t.get_from_runs("t0"), t.get_from_runs("t1")
gaps = [t0[g == k + 1].min() - t1[g == k].max() for k in range(t.generations - 1)]
print(json.dumps({"runs": len(t), "generations": t.generations,
                  "median_ms": 1e3 * float(np.median(gaps)) if gaps else 0.0,
                  "max_ms": 1e3 * float(np.max(gaps)) if gaps else 0.0}))
"""


def hpcpet_run(prefix, out, generations, per_gen, extra=()):
    dt, _ = timed([*prefix, PY, "-m", "hpcpet", "run", EXP, "-o", out, "--quiet", "--overwrite", *extra],
                  env={"HPCPET_GENERATIONS": str(generations), "HPCPET_PER_GEN": str(per_gen)})
    info = json.loads(subprocess.run([PY, "-c", TURNAROUND, out], capture_output=True, text=True,
                                     check=True).stdout.strip().splitlines()[-1])
    return dt, info


def main():
    tmp = tempfile.mkdtemp(prefix="hpcpet-gen-")
    gens, per = (10, 1000) if QUICK else (50, 2000)
    mpiexec = [os.path.join(BIN, "mpiexec"), "-n", "3"]
    rows = []
    for label, prefix, extra in (("mpiexec -n 3", mpiexec, ()), ("pool 2", (), ("--backend", "pool", "--ncores", "2")),
                                 ("serial", (), ("--backend", "serial"))):
        ones, manys, infos = [], [], []
        for _ in range(REPS):  # alternated, so that machine noise hits both alike
            ones.append(hpcpet_run(prefix, os.path.join(tmp, "one.h5"), 1, gens * per, extra)[0])
            many, info = hpcpet_run(prefix, os.path.join(tmp, "many.h5"), gens, per, extra)
            manys.append(many)
            infos.append(info)
        one, many = statistics.median(ones), statistics.median(manys)
        each = [m / o for m, o in zip(manys, ones)]
        rows.append([label, f"{gens} x {per:,}", f"{one:.2f}", f"{many:.2f}", f"{many / one:.2f}",
                     f"{min(each):.2f}-{max(each):.2f}",
                     f"{statistics.median(i['median_ms'] for i in infos):.1f}", f"{max(i['max_ms'] for i in infos):.1f}"])
    table(f"{gens} generations x {per:,} runs against one exploration of {gens * per:,} runs "
          f"(whole command, median of {REPS})",
          ["backend", "generations", "one exploration s", "generations s", "ratio (target <= 1.3)",
           "ratio of each repetition", "turnaround median ms (target < 20)", "turnaround max ms"], rows)

    pg, pn = (5, 20) if QUICK else (10, 50)
    rows = []
    pp = pypet_python()
    if pp:
        dt, out = timed([pp, os.path.join(HERE, "peers", "pypet_generations.py"), str(pg), str(pn),
                         os.path.join(tmp, "pypet.hdf5")], cwd=tmp)
        rows.append(["pypet 0.7, f_expand per generation", f"{pg} x {pn}", f"{dt:.2f}"])
    else:
        rows.append(["pypet 0.7", f"{pg} x {pn}", "could not install"])
    dt, _ = hpcpet_run((), os.path.join(tmp, "small.h5"), pg, pn, ("--backend", "serial"))
    rows.append(["hpcpet serial, next_runs", f"{pg} x {pn}", f"{dt:.2f}"])
    table("The same generations loop in pypet 0.7 and hpcpet (whole command, one process)",
          ["what", "generations x runs", "wall s"], rows)
    print(f"\n(files in {tmp})")


if __name__ == "__main__":
    main()

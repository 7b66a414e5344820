"""What run info and --capture cost (issue 16): the 10^6-run serial benchmark with and without.

usage: python benchmarks/bench_runinfo.py [--quick] [--reps N]

Side by side in one run, interleaved repetitions, median: `Environment.run` of z = x * y
over 10^6 runs, serial, (a) with run info taken out at both ends, (b) as shipped (run info
recorded and stored), (c) with `--capture`. Target: run info costs < 5 % of (a).

Whole-run times on a shared 2-core VM vary by more than 5 % between identical runs, so the
second table also shows where run info can cost anything: the CPU time inside the writer
(checkpoints, consolidation) and the time the worker spends making run info, measured in
the same runs (the run loop is identical in every variant).
"""
import os
import statistics
import subprocess
import sys
import tempfile

from common import HERE, PY, last_json, table

QUICK = "--quick" in sys.argv
REPS = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else (3 if QUICK else 5)
PEER = os.path.join(HERE, "peers", "runinfo_api.py")
MODES = (("none", "without run info"), ("info", "with run info (as shipped)"), ("capture", "run info + --capture"))


def main():
    n = 200_000 if QUICK else 1_000_000
    tmp = tempfile.mkdtemp(prefix="hpcpet-info-")
    times = {m: [] for m, _ in MODES}
    cpu = {m: [] for m, _ in MODES}
    spent = {m: [] for m, _ in MODES}
    size = {}
    for _ in range(REPS):
        for mode, _ in MODES:
            path = os.path.join(tmp, f"{mode}.h5")
            out = subprocess.run([PY, PEER, str(n), mode, path], capture_output=True, text=True, check=True).stdout
            res = last_json(out)
            times[mode].append(res["seconds"])
            cpu[mode].append(res["cpu"])
            spent[mode].append(res["writer"] + res["recording"])
            size[mode] = res["bytes"]
    base = statistics.median(times["none"])
    base_cpu = statistics.median(cpu["none"])
    rows = []
    for mode, label in MODES:
        med, med_cpu = statistics.median(times[mode]), statistics.median(cpu[mode])
        rows.append([label, f"{n:,}", f"{med:.3f}", f"{min(times[mode]):.3f}-{max(times[mode]):.3f}",
                     f"{100 * (med / base - 1):+.1f} %", f"{100 * (min(times[mode]) / min(times['none']) - 1):+.1f} %",
                     f"{med_cpu:.3f}", f"{100 * (med_cpu / base_cpu - 1):+.1f} %", f"{size[mode] / n:.1f}"])
    table(f"run info and --capture on {n:,} serial runs (Environment.run, median of {REPS} interleaved)",
          ["variant", "runs", "wall s", "wall range", "wall cost vs none (target < 5 % for run info)",
           "cost of the fastest vs the fastest none", "CPU s", "CPU cost vs none", "bytes/run"], rows)
    base_spent = statistics.median(spent["none"])
    rows = []
    for mode, label in MODES:
        med = statistics.median(spent[mode])
        extra = med - base_spent
        rows.append([label, f"{med:.3f}", f"{min(spent[mode]):.3f}-{max(spent[mode]):.3f}", f"{extra:+.3f}",
                     f"{100 * extra / base:+.1f} %"])
    table("where run info can cost: CPU s in the writer (write, checkpoints, close) + making run info "
          f"in the worker (median of {REPS})",
          ["variant", "writer + recording s", "range", "cost vs none s",
           "as % of the run without (target < 5 %)"], rows)


if __name__ == "__main__":
    main()

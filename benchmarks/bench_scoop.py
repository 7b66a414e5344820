"""Benchmark of the SCOOP backend (plain script; prints markdown tables).

    .venv/bin/python benchmarks/bench_scoop.py [--quick] [--reps N]

The seed example (z = x * y stored per run as ``some_group.$set.$.z``) side by
side, each the whole command's wall time (SCOOP startup included):

* hpcpet under ``python -m scoop -n 2`` (origin writes, 1 worker runs) and
  ``python -m hpcpet run ... --backend scoop --ncores 2`` (``-n 3``);
  the "runs/s in env" column is the environment's own timing (batches and writing);
* pypet 0.7 with ``use_scoop=True`` under ``python -m scoop -n 2``, collect mode
  (return x*y, stored once in post-processing; per-run storing under SCOOP
  runs at ~60 runs/s, see /work/shared/reference/pypet-baseline.md);
* a bare ``scoop.futures.map`` of the same function, nothing stored, capped
  at 20,000 items (it runs at ~1-3 k items/s).
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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import pypet_python, table  # noqa: E402

PY = sys.executable
SEED = os.path.join(HERE, "seed.py")
MAP_CAP = 20_000

PYPET_SCOOP = '''
import json, logging, sys, time
import numpy as np
from pypet import Environment, cartesian_product

def run_collect(traj):
    return traj.x * traj.y

def post(traj, results):
    traj.f_add_result("summary.z", np.array([r[1] for r in sorted(results)]), comment="collected")

if __name__ == "__main__":
    n, path = int(sys.argv[1]), sys.argv[2]
    logging.disable(logging.CRITICAL)
    t0 = time.perf_counter()
    env = Environment(trajectory="bench", filename=path, overwrite_file=True, log_config=None,
                      log_stdout=False, report_progress=False, multiproc=True, use_scoop=True,
                      wrap_mode="LOCAL", freeze_input=True)
    traj = env.trajectory
    traj.f_add_parameter("x", 1.0)
    traj.f_add_parameter("y", 1.0)
    side = min(n, 1000)
    traj.f_explore(cartesian_product({"x": np.arange(n // side, dtype=float).tolist(),
                                      "y": np.arange(side, dtype=float).tolist()}))
    env.add_postprocessing(post)
    env.run(run_collect)
    env.disable_logging()
    print(json.dumps({"n": n, "seconds": time.perf_counter() - t0}), flush=True)
'''

BARE_MAP = '''
import json, sys, time
from scoop import futures

def f(x, y):
    return x * y

if __name__ == "__main__":
    n = int(sys.argv[1])
    side = min(n, 1000)
    xs = [float(i // side) for i in range(n)]
    ys = [float(i % side) for i in range(n)]
    t0 = time.perf_counter()
    out = list(futures.map(f, xs, ys))
    assert len(out) == n
    print(json.dumps({"n": n, "seconds": time.perf_counter() - t0}), flush=True)
'''


def run(cmd, env=None, timeout=3600):
    """Run ``cmd``; return (wall seconds, stdout, stderr)."""
    e = dict(os.environ, **(env or {}))
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=timeout)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return dt, p.stdout, p.stderr


def env_rate(stderr: str) -> float | None:
    m = re.search(r"\(\d+ runs in ([\d.]+) s, ([\d,]+) runs/s\)", stderr)
    return float(m.group(2).replace(",", "")) if m else None


def stored_runs(path: str) -> int:
    import hpcpet

    with hpcpet.load(path) as t:
        return int(t.completed.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10^4 runs instead of 10^5 (and 10^6)")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    sizes = [10_000] if args.quick else [100_000, 1_000_000]
    reps = 1 if args.quick else args.reps
    tmp = tempfile.mkdtemp(prefix="bench_scoop_")
    pypet_py = pypet_python()
    peer = os.path.join(tmp, "pypet_scoop.py")
    bare = os.path.join(tmp, "bare_map.py")
    with open(peer, "w") as fh:
        fh.write(PYPET_SCOOP)
    with open(bare, "w") as fh:
        fh.write(BARE_MAP)

    rows = []
    for n in sizes:
        env = {"HPCPET_BENCH_N": str(n)}
        out = os.path.join(tmp, "hpcpet.h5")
        cases = [
            ("hpcpet, `python -m scoop -n 2 seed.py`",
             [PY, "-m", "scoop", "--quiet", "-n", "2", SEED, "-o", out, "--overwrite", "--progress", "log"]),
            ("hpcpet, `python -m hpcpet run --backend scoop --ncores 2` (-n 3)",
             [PY, "-m", "hpcpet", "run", SEED, "-o", out, "--overwrite", "--backend", "scoop",
              "--ncores", "2", "--progress", "log"]),
        ]
        for what, cmd in cases:
            walls, inner = [], []
            for _ in range(reps):
                dt, _, err = run(cmd, env)
                assert stored_runs(out) == n, f"{what}: file incomplete"
                walls.append(dt)
                inner.append(env_rate(err) or 0.0)
            wall = statistics.median(walls)
            rows.append([what, f"{n:,}", f"{n:,}", f"{wall:.2f} ({min(walls):.2f}-{max(walls):.2f})",
                         f"{n / wall:,.0f}", f"{statistics.median(inner):,.0f}"])
        if pypet_py and n <= 100_000:
            walls = []
            for _ in range(reps):
                dt, _, _ = run([pypet_py, "-m", "scoop", "--quiet", "-n", "2", peer, str(n),
                                os.path.join(tmp, "pypet.h5")])
                walls.append(dt)
            wall = statistics.median(walls)
            rows.append(["pypet 0.7 `use_scoop=True` -n 2, collect (return + postproc)", f"{n:,}",
                         "1 array", f"{wall:.2f} ({min(walls):.2f}-{max(walls):.2f})",
                         f"{n / wall:,.0f}", "-"])
        elif not pypet_py:
            rows.append(["pypet 0.7 on SCOOP", f"{n:,}", "-", "not available (benchmarks/pypet_env.sh failed)",
                         "-", "-"])
    m = min(MAP_CAP, sizes[0])
    dt, stdout, _ = run([PY, "-m", "scoop", "--quiet", "-n", "2", bare, str(m)])
    inner = json.loads([l for l in stdout.splitlines() if l.startswith("{")][-1])["seconds"]
    rows.append([f"bare `scoop.futures.map(f, xs, ys)` -n 2 (capped at {MAP_CAP:,} items)", f"{m:,}",
                 "0 (nothing stored)", f"{dt:.2f}", f"{m / dt:,.0f}", f"{m / inner:,.0f} (map only)"])
    table(f"Seed example on SCOOP, 2 cores (median of {reps}; whole command incl. SCOOP startup)",
          ["what", "runs", "stored", "wall s (min-max)", "runs/s (wall)", "runs/s in env"], rows)


if __name__ == "__main__":
    main()

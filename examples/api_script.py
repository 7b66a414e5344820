"""Using hpcpet from a plain Python script: Trajectory, Environment, load, pandas.

    python examples/api_script.py -o api.h5 [--backend pool --ncores 2]

Explores a zipped list of (mu, sigma) pairs, draws samples in each run and
summarises them; then loads the file and prints one row per run.
"""
import argparse

import numpy as np

import hpcpet


def run(traj, n_samples):
    rng = np.random.default_rng(traj.seed)
    x = rng.normal(traj.mu, traj.sigma, n_samples)
    if traj.sigma <= 0:
        raise ValueError("sigma must be positive")  # recorded as a failed run, the rest go on
    traj.add_result("stats.mean", x.mean())
    traj.add_result("stats.std", x.std(ddof=1))
    traj.add_result("stats.quartiles", np.percentile(x, [25, 50, 75]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--backend", default="serial")
    ap.add_argument("--ncores", type=int, default=None)
    ap.add_argument("--samples", type=int, default=2000)
    args = ap.parse_args(argv)

    traj = hpcpet.Trajectory("gaussians", comment="sample statistics of normal distributions")
    traj.add_parameter("mu", 0.0)
    traj.add_parameter("sigma", 1.0)
    traj.add_parameter("seed", 0)
    traj.explore({"mu": [0.0, 1.0, 2.0, 5.0, -3.0, 0.5],
                  "sigma": [1.0, 0.5, 2.0, 0.1, 1.0, 0.0],
                  "seed": [1, 2, 3, 4, 5, 6]})
    env = hpcpet.Environment(traj, args.output, backend=args.backend, ncores=args.ncores,
                             overwrite=True, progress="quiet")
    summary = env.run(run, args.samples)
    if summary is None:  # an MPI worker rank
        return
    print(summary)
    with hpcpet.load(args.output) as loaded:
        print(loaded.to_pandas().to_string())


if __name__ == "__main__":
    main()

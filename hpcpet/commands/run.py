"""``run``: run an experiment file into a results file."""
from __future__ import annotations

import argparse

from ..backends import BACKENDS


def add_run_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``run`` and ``resume``: how to execute."""
    p.add_argument("--backend", default="auto", choices=[*BACKENDS, "auto"],
                   help="where runs execute; auto = mpi under a multi-rank mpiexec, scoop under SCOOP, else serial")
    p.add_argument("--ncores", type=int, default=None, help="worker processes for pool and scoop")
    p.add_argument("--batch-size", type=int, default=None,
                   help="runs per batch (default: adaptive to run duration)")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first run that raises")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--progress", choices=["auto", "bar", "log", "quiet"], default="auto",
                   help="bar on a terminal, a line every few percent in logs (default auto)")
    p.add_argument("--max-generations", type=int, default=None, metavar="G",
                   help="with next_runs in the experiment: run at most G generations in all")


def check_run_options(args) -> None:
    """One-line errors for ``--ncores`` or ``--batch-size`` below 1."""
    from ..errors import HpcpetError

    for option in ("ncores", "batch_size", "max_generations"):
        value = getattr(args, option)
        if value is not None and value < 1:
            raise HpcpetError(f"--{option.replace('_', '-')} must be >= 1, got {value}")


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="run an experiment file",
                       description="Run every run of EXPERIMENT's exploration into OUT.")
    p.add_argument("experiment", help="Python file with build(traj) and run(traj)")
    p.add_argument("-o", "--output", required=True, help="results file (HDF5) to create")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--set-size", type=int, default=1000, help="runs per $set bucket (default 1000)")
    p.add_argument("--part", metavar="K/N", default=None,
                   help="run only the K-th (1-based) of N contiguous slices into OUT; "
                        "combine the parts with 'merge'")
    p.add_argument("-p", "--preset", metavar="NAME=VALUE", action="append", default=[],
                   help="override a parameter's default before build explores, e.g. -p neuron.tau=20 "
                        "(read as the parameter's type; repeatable)")
    p.add_argument("--compression", default=None, metavar="SPEC",
                   help="compress result columns: none (default), gzip[:0-9], lzf, zstd[:1-22], "
                        "blosc[:CODEC[:0-9]] (zstd/blosc need hdf5plugin)")
    p.add_argument("--seed", type=int, default=None,
                   help="the study's base seed for traj.seed in runs (default: random, recorded)")
    add_run_options(p)
    p.set_defaults(func=main)


def parse_presets(items: list[str]) -> dict[str, str]:
    """``["a=1", "n.tau=20"]`` -> ``{"a": "1", "n.tau": "20"}``, or a one-line error."""
    from ..errors import HpcpetError

    presets: dict[str, str] = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not name.strip():
            raise HpcpetError(f"-p takes NAME=VALUE, got {item!r}")
        presets[name.strip()] = value
    return presets


def progress_mode(args) -> str:
    """The progress mode from ``--quiet`` and ``--progress``."""
    return "quiet" if args.quiet else args.progress


def main(args) -> int:
    from ..environment import Environment
    from ..experiment import load_experiment
    from ..trajectory import Trajectory
    from ..backends import get_backend
    from ..errors import HpcpetError

    exp = load_experiment(args.experiment)
    check_run_options(args)
    part = None
    if args.part is not None:
        from ..parts import parse_part

        part = parse_part(args.part)
    backend = get_backend(args.backend, args.ncores)
    import os

    presets = parse_presets(args.preset)
    traj = Trajectory(name=os.path.splitext(os.path.basename(exp.path))[0], presets=presets)
    if backend.is_master:
        exp.build(traj)
        traj.freeze()  # a preset of an undeclared parameter is an error before any file exists
    env = Environment(traj, args.output, backend=backend, set_size=args.set_size,
                      overwrite=args.overwrite, progress=progress_mode(args),
                      fail_fast=args.fail_fast, batch_size=args.batch_size, experiment=exp, part=part,
                      seed=args.seed, compression=args.compression)
    summary = env.run(exp.run, next_runs=exp.next_runs, max_generations=args.max_generations)
    if summary is not None:
        env.log(str(summary))
        return 3 if summary.interrupted else 0
    return 0

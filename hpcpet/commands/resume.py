"""``resume``: complete an interrupted results file, running exactly the missing runs."""
from __future__ import annotations

from .run import (add_run_control_options, add_run_options, check_run_control_options, check_run_options,
                  make_backend, prepare_workers, progress_mode)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "resume", help="complete an interrupted results file",
        description="Run the runs of FILE that are not done yet, with the experiment file recorded "
                    "in FILE. Exit code 0, or 3 if interrupted again (as 'run').")
    p.add_argument("file", help="results file written by 'run' (possibly interrupted)")
    p.add_argument("--retry-failed", action="store_true", help="also re-run the runs that raised")
    p.add_argument("--force", action="store_true",
                   help="resume even if the experiment file changed (the exploration must not)")
    p.add_argument("--experiment", default=None, metavar="PATH",
                   help="the experiment file, if it moved since FILE was written")
    add_run_options(p)
    add_run_control_options(p)
    p.set_defaults(func=main)


def main(args) -> int:
    check_run_options(args)
    check_run_control_options(args)
    prepare_workers(args)  # before anything imports numpy
    from ..resuming import resume

    backend = make_backend(args)
    summary = resume(args.file, backend=backend, retry_failed=args.retry_failed, force=args.force,
                     experiment=args.experiment, progress=progress_mode(args),
                     fail_fast=args.fail_fast, batch_size=args.batch_size,
                     max_generations=args.max_generations, run_timeout=args.run_timeout,
                     retries=args.retries, capture=args.capture)
    if summary is None:  # an MPI worker rank
        return 0
    if not args.quiet:
        import sys

        print(f"[hpcpet] {summary}", file=sys.stderr, flush=True)
    return 3 if summary.interrupted else 0

"""The ``python -m hpcpet`` command line: one module per verb in ``hpcpet.commands``."""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from ._version import __version__
from .errors import HpcpetError

#: verbs, each a module in hpcpet.commands with ``add_parser(subparsers)``
VERBS = ["run", "resume", "info", "merge", "plot", "status", "import-pypet"]


def build_parser(verbs: Sequence[str] = VERBS) -> argparse.ArgumentParser:
    """The argument parser with ``verbs`` (default: every verb)."""
    parser = argparse.ArgumentParser(
        prog="python -m hpcpet",
        description="Run huge parameter explorations into one HDF5 file.")
    parser.add_argument("--version", action="version", version=f"hpcpet {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb in verbs:
        importlib.import_module(f"hpcpet.commands.{verb.replace('-', '_')}").add_parser(sub)
    return parser


def run_cli(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the verb; return the exit code.

    Errors in the user's input print one line (``hpcpet: error: ...``) and
    give exit code 2, without a traceback.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    # only the named verb's module is imported (every MPI rank parses the command line)
    parser = build_parser([argv[0]] if argv and argv[0] in VERBS else VERBS)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except HpcpetError as exc:
        _let_rank_0_report_first()
        print(f"hpcpet: error: {exc}", file=sys.stderr)
        _end_mpi_job_after_error(2)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception:
        _end_mpi_job_after_error(1, traceback=True)
        raise
    except KeyboardInterrupt:
        print("hpcpet: interrupted", file=sys.stderr)
        return 130


#: seconds an MPI worker rank waits before reporting an error (see _let_rank_0_report_first)
WORKER_ERROR_DELAY = 2.0


def _let_rank_0_report_first() -> None:
    """On an MPI worker rank, wait a little before reporting an error.

    Most errors (a bad option, an experiment file that does not import) happen on
    every rank alike: rank 0 then reports it once and ends the job before the
    other ranks print the same line N-1 times. An error of this rank alone is
    still reported, a moment later.
    """
    from .backends import under_mpi

    if under_mpi():
        from .backends.mpi import _rank_from_env

        if _rank_from_env() != 0:
            import time

            from mpi4py import MPI  # noqa: F401  (initialised like rank 0, so that its abort ends us)

            time.sleep(WORKER_ERROR_DELAY)


def _end_mpi_job_after_error(code: int, traceback: bool = False) -> None:
    """Under a multi-rank mpiexec, an error on one rank must not leave the others waiting."""
    from .backends import under_mpi

    if under_mpi():
        if traceback:
            import traceback as tb

            tb.print_exc()
        from .backends.mpi import abort_if_worker_failed

        abort_if_worker_failed(code)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point. In an experiment file, ``hpcpet.main()`` runs that file.

    ``python experiment.py -o out.h5 [run options]`` is the same as
    ``python -m hpcpet run experiment.py -o out.h5 [run options]``.
    """
    if argv is None:
        argv = sys.argv[1:]
        main_mod = sys.modules.get("__main__")
        main_file = getattr(main_mod, "__file__", None)
        if main_file and not main_file.endswith(("__main__.py",)) and hasattr(main_mod, "run") \
                and hasattr(main_mod, "build"):
            argv = ["run", main_file, *argv]
    code = run_cli(argv)
    from .backends import under_scoop

    if under_scoop():  # SCOOP drops the exit code and prints a traceback for SystemExit
        from .backends.scoop import report_status

        report_status(code)
        return
    sys.exit(code)

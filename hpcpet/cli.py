"""The ``python -m hpcpet`` command line: one module per verb in ``hpcpet.commands``.

Invariant: an error the user can fix is one line ``hpcpet: error: ...`` and
exit code 2, never a traceback. Under a multi-rank launch (mpiexec, mpirun,
srun) every error names its rank and host, an error that every rank hits
is printed once, and no rank is left waiting: the job ends (see
:func:`hpcpet.backends.mpi.report_error`).
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from ._version import __version__
from .errors import HpcpetError

#: verbs, each a module in hpcpet.commands with ``add_parser(subparsers)``
VERBS = ["run", "resume", "info", "merge", "plot", "status", "import-pypet", "jobscript"]
#: verbs that may run under a multi-rank launch (the others would do the same work on every rank)
MPI_VERBS = ("run", "resume")


def program_name(argv0: str | None = None) -> str:
    """How the user started hpcpet: ``hpcpet`` (the console script) or ``python -m hpcpet``."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    base = os.path.basename(argv0 or "")
    if base in ("hpcpet", "hpcpet.exe"):
        return "hpcpet"
    return "python -m hpcpet"


def build_parser(verbs: Sequence[str] = VERBS, prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with ``verbs`` (default: every verb)."""
    parser = argparse.ArgumentParser(
        prog=prog or program_name(),
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
    from .launch import current

    argv = sys.argv[1:] if argv is None else list(argv)
    launch = current()
    # only the named verb's module is imported (every MPI rank parses the command line)
    parser = build_parser([argv[0]] if argv and argv[0] in VERBS else VERBS)
    if launch.multi and launch.rank != 0:
        args = _parse_silently(parser, argv)  # rank 0 prints usage errors and --help, once
        if isinstance(args, int):
            return args
    else:
        args = parser.parse_args(argv)
    if launch.multi and args.verb not in MPI_VERBS:
        if launch.rank == 0:  # the same on every rank: said once, no MPI needed
            print(f"hpcpet: error: '{args.verb}' does not run under {launch.launcher} with "
                  f"{launch.size or 'several'} ranks; start it as a single process", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except HpcpetError as exc:
        return _report(str(exc), 2, prefixed=getattr(exc, "prefixed", False))
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception:
        if not launch.multi:
            raise
        import traceback

        return _report(traceback.format_exc().rstrip(), 1)
    except KeyboardInterrupt:
        print("hpcpet: interrupted", file=sys.stderr)
        return 130


def _parse_silently(parser: argparse.ArgumentParser, argv: list[str]):
    """``parse_args`` with its output (usage errors, --help) swallowed; an int is the exit code."""
    import contextlib
    import io

    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try:
            return parser.parse_args(argv)
        except SystemExit as exc:
            return int(exc.code or 0)


def _report(text: str, code: int, prefixed: bool = False) -> int:
    """Print an error (under a multi-rank launch: with rank and host, once, ending the job)."""
    from .launch import current

    if current().multi:
        from .backends.mpi import report_error

        return report_error(text, code, prefixed=prefixed)
    print(f"hpcpet: error: {text}", file=sys.stderr)
    return code


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

"""``jobscript``: write one of the SLURM job script templates shipped in the package.

The templates live in ``hpcpet/jobscripts/`` (package data, so pip users
have them); the files written are byte-for-byte those templates, made
executable. ``submit-array`` calls ``run-part.sbatch`` and
``merge.sbatch`` from its own folder, so writing it writes those two next to it.
"""
from __future__ import annotations

import argparse
import os
import sys

#: template name -> file in hpcpet/jobscripts
TEMPLATES = {
    "run-mpi": "run-mpi.sbatch",
    "run-part": "run-part.sbatch",
    "merge": "merge.sbatch",
    "submit-array": "submit-array.sh",
}
#: templates that need others next to them
NEEDS = {"submit-array": ("run-part", "merge")}


def template_text(name: str) -> str:
    """The text of template ``name`` (see :data:`TEMPLATES`)."""
    from importlib.resources import files

    return files("hpcpet").joinpath("jobscripts", TEMPLATES[name]).read_text(encoding="utf-8")


def write(name: str, output: str | None = None, overwrite: bool = False) -> list[str]:
    """Write template ``name`` to ``output`` (default: its file name here), and what it needs next to it.

    Returns the paths written. Refuses to replace a file unless ``overwrite``.
    """
    from ..errors import HpcpetError

    output = output or TEMPLATES[name]
    folder = os.path.dirname(os.path.abspath(output))
    targets = [(name, output)] + [(n, os.path.join(folder, TEMPLATES[n])) for n in NEEDS.get(name, ())]
    if not os.path.isdir(folder):
        raise HpcpetError(f"folder does not exist: {folder}")
    if not overwrite:
        for _, path in targets:
            if os.path.exists(path):
                raise HpcpetError(f"{path} exists; use --overwrite to replace it")
    for n, path in targets:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(template_text(n))
        os.chmod(path, 0o755)
    return [path for _, path in targets]


def add_parser(sub) -> None:
    p = sub.add_parser(
        "jobscript", help="write a SLURM job script template",
        description="Write a tested SLURM job script (docs/slurm.md): run-mpi (one MPI job), "
                    "run-part (one array task), merge (merge the parts), submit-array (array + merge; "
                    "also writes run-part.sbatch and merge.sbatch next to it).",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=list(TEMPLATES), help="which template")
    p.add_argument("-o", "--output", default=None,
                   help="file to write (default: the template's own name in this folder; - for stdout)")
    p.add_argument("--overwrite", action="store_true", help="replace existing files")
    p.set_defaults(func=main)


def main(args) -> int:
    if args.output == "-":
        sys.stdout.write(template_text(args.name))
        return 0
    for path in write(args.name, args.output, args.overwrite):
        print(f"wrote {path}")
    return 0

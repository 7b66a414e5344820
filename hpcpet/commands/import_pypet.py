"""``import-pypet``: convert a pypet 0.7 trajectory file into an hpcpet results file."""
from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("import-pypet", help="convert a pypet trajectory (HDF5) to an hpcpet file",
                       description="Read parameters, explored values and per-run results of a "
                                   "pypet 0.7 trajectory and write them as an hpcpet results file.")
    p.add_argument("file", help="pypet HDF5 file")
    p.add_argument("-o", "--output", required=True, help="hpcpet results file to create")
    p.add_argument("--trajectory", default=None,
                   help="trajectory name in FILE (default: the only / the last one)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--set-size", type=int, default=1000, help="runs per $set bucket (default 1000)")
    p.set_defaults(func=main)


def main(args) -> int:
    from ..storage.pypet_import import import_pypet

    report = import_pypet(args.file, args.output, trajectory=args.trajectory,
                          overwrite=args.overwrite, set_size=args.set_size)
    print(report)
    return 0

"""``import-pypet``: convert a pypet 0.7 trajectory file into an hpcpet results file.

Exit 0 only when everything was converted, or with ``--skip-unsupported``
(then every item left out is listed on stderr); else exit 2 naming what
cannot be converted, without writing anything.
"""
from __future__ import annotations

import sys


def add_parser(sub) -> None:
    p = sub.add_parser("import-pypet", help="convert a pypet trajectory (HDF5) to an hpcpet file",
                       description="Read parameters, explored values and results of a pypet 0.7 "
                                   "trajectory (with PyTables) and write them as an hpcpet results "
                                   "file, under the names a native hpcpet run gives.")
    p.add_argument("file", help="pypet HDF5 file")
    p.add_argument("-o", "--output", required=True, help="hpcpet results file to create")
    p.add_argument("--trajectory", default=None,
                   help="trajectory name in FILE (needed when FILE holds several)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--set-size", type=int, default=1000, help="runs per $set bucket (default 1000)")
    p.add_argument("--skip-unsupported", action="store_true",
                   help="import what can be converted and list the rest on stderr "
                        "(default: exit 2 naming it, writing nothing)")
    p.set_defaults(func=main)


def main(args) -> int:
    from ..storage.pypet_import import import_pypet

    report = import_pypet(args.file, args.output, trajectory=args.trajectory,
                          overwrite=args.overwrite, set_size=args.set_size,
                          skip_unsupported=args.skip_unsupported)
    print(report)
    for item in report.unsupported:
        print(f"hpcpet: skipped (not convertible): {item}", file=sys.stderr)
    return 0

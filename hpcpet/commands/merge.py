"""``merge``: combine part files (``run --part K/N``) into one results file."""
from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("merge", help="merge part files into one results file",
                       description="Merge the part files of one exploration (run --part K/N) into OUT, "
                                   "which then equals an unsplit run.")
    p.add_argument("parts", nargs="+", help="part files (any order)")
    p.add_argument("-o", "--output", required=True, help="merged results file to create")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--allow-missing", action="store_true",
                   help="write OUT even if some runs are in no part or unfinished (they stay pending)")
    p.add_argument("--drop-duplicates", action="store_true",
                   help="studies of different explorations: leave out runs whose explored values repeat an earlier run")
    p.add_argument("--quiet", action="store_true", help="no summary line")
    p.set_defaults(func=main)


def main(args) -> int:
    import sys
    import time

    from ..storage.merge import merge

    t0 = time.perf_counter()
    summary = merge(args.parts, args.output, overwrite=args.overwrite, allow_missing=args.allow_missing,
                    drop_duplicates=args.drop_duplicates)
    if not args.quiet:
        print(f"[hpcpet] merged {len(args.parts)} files in {time.perf_counter() - t0:.2f} s: {summary}",
              file=sys.stderr)
    return 0

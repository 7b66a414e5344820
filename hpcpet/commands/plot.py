"""``plot``: draw one result over the exploration into an image file."""
from __future__ import annotations

import os


def add_parser(sub) -> None:
    p = sub.add_parser("plot", help="plot a result over the explored parameters",
                       description="A line over a 1-D sweep, a heat map over 2-D, one heat map "
                                   "per value of the 3rd dimension beyond.")
    p.add_argument("file", help="results file")
    p.add_argument("result", help="result name, e.g. some_group.z")
    p.add_argument("-o", "--output", default=None, help="image file (default RESULT.png)")
    p.add_argument("--sel", action="append", default=[], metavar="NAME=VALUE",
                   help="fix a dimension at the nearest value (repeatable)")
    p.add_argument("--title", default=None, help="plot title")
    p.set_defaults(func=main)


def main(args) -> int:
    from ..storage.reader import load
    from ..plotting import parse_selection, plot_result

    output = args.output or args.result.replace("$", "").replace(".", "_") + ".png"
    with load(args.file) as traj:
        info = plot_result(traj, args.result, output, parse_selection(args.sel), args.title)
    print(f"{os.path.abspath(output)}: {info['kind']} over {', '.join(info['dims'])}")
    return 0

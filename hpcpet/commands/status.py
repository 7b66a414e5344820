"""``status``: runs done, failed and remaining, rate and ETA, also while a run is writing."""
from __future__ import annotations

import json
import time


def add_parser(sub) -> None:
    p = sub.add_parser("status", help="progress of a results file, also while it is being written",
                       description="Show completed, failed and remaining runs, rate and ETA of "
                                   "FILE. Safe to use while a run writes FILE.")
    p.add_argument("file", help="results file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--watch", type=float, default=None, metavar="SECONDS",
                   help="repeat every SECONDS until the run ends (Ctrl-C to stop)")
    p.set_defaults(func=main)


def main(args) -> int:
    from ..storage.status import format_status, read_status

    while True:
        st = read_status(args.file)
        print(json.dumps(st.as_dict()) if args.json else format_status(st), flush=True)
        if args.watch is None or st.state != "running":
            return 0
        time.sleep(args.watch)
        if not args.json:
            print()

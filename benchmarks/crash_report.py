"""The crash-consistency table for the closing note of issue 11.

Runs the plan of tests/test_crash.py (tests/crashkit.py: SIGKILL of the writer at
its K-th file-modifying system call, serial and ``mpiexec -n 3``, then info, load,
resume and a comparison with an uninterrupted run) and prints one row per group of
trials: trials, kill positions, unreadable files (goal 0), runs lost (goal 0),
runs re-run, and a line per failed trial.

usage: python benchmarks/crash_report.py [--quick] [--serial-only] [--json OUT] [--from SAVED.json]

``--from`` prints the table of trials saved earlier (by ``--json`` here, or by
``HPCPET_CRASH_JSON=path pytest tests/test_crash.py``) without running anything.
Takes about 6 minutes on 2 cores.
"""
import argparse
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import crashkit as ck  # noqa: E402

GLOSSARY = """\
killed: trials whose kill happened; positions: where, in the writer's sequence of file-modifying
calls (1..T); in close: kills after every run had executed; unreadable: info or hpcpet.load failed
right after the kill; absent: no results file yet (kills while it is created); recovery fails:
resume (or run, when absent) did not exit 0; not equal: the final file differs from an uninterrupted
run's; leftovers: trials that left files behind; runs lost: committed runs (done in the file or
counted by status) whose results were not kept; done re-run: runs marked done right after the kill
that the recovery executed again; runs re-run: runs executed more than once in all (the batches in
flight at the kill, plus any lost runs)."""


#: --quick: a few trials of each kind, to try the harness (about a minute)
QUICK = {"serial": {"header": 3, "spread": 5, "close": 5, "resume": 2}, "mpi": {"spread": 2, "close": 2}}


def run_all(root: str, serial_only: bool, quick: bool = False) -> dict:
    plan = QUICK if quick else ck.PLAN
    folders = ck.Folders(root)
    groups = {}
    ref = ck.reference(ck.SERIAL_JOB, folders.new())
    print(f"serial: the writer makes {len(ref.trace)} file-modifying calls {dict(ref.trace.used())}; "
          f"the results file exists after call {ref.header_end}", flush=True)
    for phase in ("header", "spread", "close"):
        groups[f"serial {phase}"] = ck.run_trials(
            lambda k, phase=phase: ck.kill_run(ref, folders.new(), k, phase),
            ck.positions(ref, phase, plan["serial"][phase]))
        ts = groups[f"serial {phase}"]
        print(f"serial {phase}: {len(ts)} trials, {sum(bool(t.problems()) for t in ts)} failed", flush=True)
    start = ck.interrupted(ref, folders.new(), folders.new(), len(ref.trace) // 2)
    groups["serial resume"] = ck.run_trials(lambda k: ck.kill_resume(ref, start, folders.new(), k),
                                            ck.resume_positions(start, plan["serial"]["resume"]))
    if not serial_only and ck.mpi_available():
        mref = ck.reference(ck.MPI_JOB, folders.new())
        print(f"mpi -n 3: rank 0 makes {len(mref.trace)} file-modifying calls {dict(mref.trace.used())}",
              flush=True)
        for phase in ("spread", "close"):
            groups[f"mpi -n 3 {phase}"] = ck.run_trials(
                lambda k, phase=phase: ck.kill_run(mref, folders.new(), k, phase),
                ck.positions(mref, phase, plan["mpi"][phase]), 1)
    return groups


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--serial-only", action="store_true", help="skip the mpiexec -n 3 trials")
    ap.add_argument("--quick", action="store_true", help="a few trials of each kind (about a minute)")
    ap.add_argument("--json", metavar="OUT", help="also save the trials as JSON")
    ap.add_argument("--from", dest="saved", metavar="SAVED", help="print saved trials, run nothing")
    args = ap.parse_args()
    if args.saved:
        groups = ck.load_saved(args.saved)
    else:
        if not ck.strace_available():
            print("error: strace is missing or may not trace here", file=sys.stderr)
            return 2
        with tempfile.TemporaryDirectory(prefix="crash-report-") as root:
            groups = run_all(root, args.serial_only, args.quick)
    all_trials = [t for ts in groups.values() for t in ts]
    groups["all"] = all_trials
    print("\n" + ck.table(groups))
    print("\n" + GLOSSARY)
    bad = ck.details(all_trials)
    if bad:
        print("\nfailed trials:\n" + bad)
    if args.json:
        del groups["all"]
        ck.save(args.json, groups)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

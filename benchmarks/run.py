"""Run every benchmark (benchmarks/bench_*.py) and print their tables.

usage: python benchmarks/run.py [--quick] [name ...]   e.g.  run.py core mpi
"""
import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    flags = [a for a in sys.argv[1:] if a.startswith("-")]
    scripts = sorted(glob.glob(os.path.join(HERE, "bench_*.py")))
    if args:
        scripts = [s for s in scripts if os.path.basename(s)[6:-3] in args]
    failed = 0
    for script in scripts:
        print(f"\n## {os.path.basename(script)}", flush=True)
        rc = subprocess.call([sys.executable, script, *flags], cwd=HERE)
        failed += rc != 0
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

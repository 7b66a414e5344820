"""Helpers shared by the benchmark scripts: timing subprocesses and printing tables."""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable
BIN = os.path.dirname(PY)


def precompile():
    """Compile hpcpet's modules and the benchmarks' scripts to bytecode, as ``pip install`` does.

    An editable install has no bytecode until Python writes it on first import, and
    PYTHONDONTWRITEBYTECODE (set on some machines, this one included) stops that: every timed
    command would then compile ~50 modules again (~0.1 s per process), which the peers, imported
    from site-packages, never pay.
    """
    import hpcpet

    for path in (os.path.dirname(hpcpet.__file__), HERE):
        subprocess.run([PY, "-m", "compileall", "-q", path], check=True, stdout=subprocess.DEVNULL)


precompile()


def timed(cmd, env=None, timeout=1800, cwd=None):
    """Run ``cmd``; return (seconds, stdout). Raises on a non-zero exit."""
    e = dict(os.environ, **(env or {}))
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return dt, p.stdout


def last_json(stdout):
    """The last JSON line a script printed."""
    return json.loads([l for l in stdout.splitlines() if l.startswith("{")][-1])


def table(title, header, rows):
    """Print a markdown table."""
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")
    sys.stdout.flush()


def rate(n, s):
    return f"{n / s:,.0f}" if s > 0 else "-"


def pypet_python():
    """The pypet venv's python (created by pypet_env.sh), or None if it cannot be made."""
    try:
        out = subprocess.run(["bash", os.path.join(HERE, "pypet_env.sh")], capture_output=True,
                             text=True, timeout=900)
        path = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
        return path if out.returncode == 0 and os.path.exists(path) else None
    except Exception:
        return None

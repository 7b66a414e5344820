"""Runs that misbehave on purpose: worker deaths, hangs, unstorable values, output.

Environment: HOSTILE_MODE (what run HOSTILE_AT does, see ``misbehave``),
HOSTILE_N runs (default 40) of HOSTILE_SLEEP seconds each (default 0),
HOSTILE_MARKER: misbehave only once (the first process to create this file),
HOSTILE_PIDFILE: where mode ``wait`` writes its pid before it sleeps.
Every run that finishes stores ``z = 2 x`` and ``pid``.
"""
import os
import sys
import time

import numpy as np

import hpcpet

N = int(os.environ.get("HOSTILE_N", "40"))


def build(traj):
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(N))})


def _once() -> bool:
    marker = os.environ.get("HOSTILE_MARKER")
    if not marker:
        return True
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def misbehave(traj, mode: str) -> None:
    if mode == "exit":
        os._exit(3)
    elif mode == "segv":
        import ctypes

        ctypes.string_at(0)
    elif mode == "sysexit":
        sys.exit(5)
    elif mode == "sleep":
        time.sleep(60)
    elif mode == "csleep":  # C code that SIGALRM does not interrupt (system() waits on)
        os.system("sleep 60")
    elif mode == "ragged":
        traj.add_result("a", [np.ones(2), np.ones(3)])
    elif mode == "wait":
        with open(os.environ["HOSTILE_PIDFILE"] + ".tmp", "w") as fh:
            fh.write(str(os.getpid()))
        os.replace(os.environ["HOSTILE_PIDFILE"] + ".tmp", os.environ["HOSTILE_PIDFILE"])
        time.sleep(60)
    elif mode == "fail":
        raise RuntimeError("failed on its first attempt")


def run(traj):
    x = traj.x
    if os.environ.get("HOSTILE_PRINT"):
        print(f"python says {x}", flush=False)
        os.write(2, b"C says %d\n" % x)
    pause = float(os.environ.get("HOSTILE_SLEEP", "0"))
    if pause:
        time.sleep(pause)
    if x == int(os.environ.get("HOSTILE_AT", "-1")) and _once():
        misbehave(traj, os.environ.get("HOSTILE_MODE", ""))
    if os.environ.get("HOSTILE_MODE") == "ragged" and x != int(os.environ.get("HOSTILE_AT", "-1")):
        traj.add_result("a", np.ones(2))
    traj.add_result("z", 2 * x)
    traj.add_result("pid", os.getpid())


if __name__ == "__main__":
    hpcpet.main()

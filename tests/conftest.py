import os
import subprocess
import sys

import numpy as np
import pytest

import hpcpet

HERE = os.path.dirname(os.path.abspath(__file__))
EXPERIMENTS = os.path.join(HERE, "experiments")
ROOT = os.path.dirname(HERE)


def experiment(name: str) -> str:
    """Path of a test experiment file in tests/experiments."""
    return os.path.join(EXPERIMENTS, name)


def bin_path(tool: str) -> str:
    """A tool next to the running Python (mpiexec from the mpich wheel lives there)."""
    return os.path.join(os.path.dirname(sys.executable), tool)


def hpcpet_cli(*args, timeout=300, check=True, env=None, prefix=()):
    """Run ``python -m hpcpet ARGS`` in a subprocess; return the CompletedProcess."""
    e = dict(os.environ, **(env or {}))
    proc = subprocess.run([*prefix, sys.executable, "-m", "hpcpet", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=e)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def assert_only_failed(path, failed: dict) -> np.ndarray:
    """A study of tests/experiments/hostile.py: the runs in ``failed`` (index -> text in its
    error) failed, every other run is done and right. Returns the pids of the workers that did them."""
    with hpcpet.load(str(path)) as t:
        assert sorted(np.flatnonzero(t.failed).tolist()) == sorted(failed), t.errors
        assert t.completed.sum() == len(t) - len(failed)
        for i, text in failed.items():
            assert text in t.errors[i], t.errors[i]
        ok = t.completed
        assert np.array_equal(t.get_from_runs("z")[ok], 2 * t.explored["x"][ok])
        return np.unique(t.get_from_runs("pid")[ok])


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """tests/experiments/kinds.py run with the serial backend: the file others must equal."""
    out = tmp_path_factory.mktemp("ref") / "serial.h5"
    hpcpet_cli("run", experiment("kinds.py"), "-o", out, "--backend", "serial", "--quiet")
    return str(out)

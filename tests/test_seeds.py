"""Per-run seeds (hpcpet/seeds.py, traj.seed): one function of base seed and run index, on every backend."""
import subprocess
import sys

import numpy as np
import pytest

import hpcpet
from hpcpet.engine import FrozenInput, Worker
from hpcpet.errors import HpcpetError
from hpcpet.seeds import check_base_seed, new_base_seed, run_seed

from conftest import bin_path, experiment, hpcpet_cli

SEEDED = experiment("seeded.py")


def _seeds(path):
    """(base seed recorded in the file, every run's seed, the status of every run)."""
    with hpcpet.load(str(path)) as t:
        base = int(t.h5.attrs["seed"])
        lo = np.asarray(t.get_from_runs("seed_lo"), np.uint64)
        hi = np.asarray(t.get_from_runs("seed_hi"), np.uint64)
        return base, (hi << np.uint64(32)) | lo, np.asarray(t.status)


def _expected(base, n):
    return np.array([run_seed(base, i) for i in range(n)], np.uint64)


def test_run_seed_is_seedsequence_spawn_key():
    assert run_seed(5, 3) == int(np.random.SeedSequence(5, spawn_key=(3,)).generate_state(1, np.uint64)[0])
    seeds = {run_seed(5, i) for i in range(10_000)}
    assert len(seeds) == 10_000  # 64-bit seeds: no collision among 10^4 runs
    assert run_seed(5, 0) != run_seed(6, 0)


@pytest.mark.parametrize("bad", [-1, 2 ** 63, 1.5, "3", True, None])
def test_bad_base_seed(bad):
    with pytest.raises(HpcpetError, match="seed"):
        check_base_seed(bad)


def test_new_base_seed_in_range_and_varies():
    seeds = {new_base_seed() for _ in range(20)}
    assert len(seeds) > 1 and all(0 <= s < 2 ** 63 for s in seeds)


def test_seed_is_computed_only_when_read(monkeypatch):
    import hpcpet.seeds

    traj = hpcpet.Trajectory()
    traj.add_parameter("x", 0.0)
    traj.explore({"x": [1.0, 2.0, 3.0]})
    traj.freeze()
    traj.base_seed = 11
    computed = []
    real = hpcpet.seeds.run_seed
    monkeypatch.setattr(hpcpet.seeds, "run_seed", lambda b, i: computed.append(i) or real(b, i))

    def run(t):
        if t.x == 2.0:
            t.add_result("s", t.seed & 0xFFFF)
    result = Worker(FrozenInput(traj, run)).run_batch(range(0, 3))
    assert list(result.status) == [1, 1, 1]
    assert computed == [1]  # only the run that read traj.seed
    assert result.columns["s"].data[1] == real(11, 1) & 0xFFFF


def test_seed_without_base_seed_fails_that_run():
    traj = hpcpet.Trajectory()
    traj.add_parameter("x", 0.0)
    traj.freeze()
    result = Worker(FrozenInput(traj, lambda t: t.add_result("s", t.seed))).run_batch(range(0, 1))
    assert list(result.status) == [2] and "no base seed" in result.errors[0]


def test_a_parameter_named_seed_wins_with_a_warning():
    traj = hpcpet.Trajectory()
    with pytest.warns(UserWarning, match="traj.seed gives this parameter"):
        traj.add_parameter("seed", 42)
    traj.freeze()
    traj.base_seed = 1
    result = Worker(FrozenInput(traj, lambda t: t.add_result("s", t.seed))).run_batch(range(0, 1))
    assert result.columns["s"].data[0] == 42


def test_same_seeds_on_every_backend_batch_size_and_part(tmp_path):
    runs = {
        "serial": ["--backend", "serial"],
        "batch1": ["--backend", "serial", "--batch-size", "1"],
        "pool": ["--backend", "pool", "--ncores", "2", "--batch-size", "3"],
    }
    got = {}
    for name, opts in runs.items():
        out = tmp_path / f"{name}.h5"
        hpcpet_cli("run", SEEDED, "-o", out, "--seed", "7", "--quiet", *opts)
        got[name] = _seeds(out)
    for part in ("1/2", "2/2"):
        out = tmp_path / f"part{part[0]}.h5"
        hpcpet_cli("run", SEEDED, "-o", out, "--seed", "7", "--quiet", "--part", part)
    hpcpet_cli("merge", tmp_path / "part1.h5", tmp_path / "part2.h5", "-o", tmp_path / "merged.h5")
    got["parts"] = _seeds(tmp_path / "merged.h5")
    want = _expected(7, 40)
    for name, (base, seeds, status) in got.items():
        assert base == 7, name
        assert (status == 1).all(), name
        assert np.array_equal(seeds, want), name


@pytest.mark.mpi
def test_same_seeds_under_mpi(tmp_path):
    out = tmp_path / "mpi.h5"
    hpcpet_cli("run", SEEDED, "-o", out, "--seed", "7", "--quiet", "--batch-size", "4",
               prefix=(bin_path("mpiexec"), "-n", "3"), timeout=120)
    base, seeds, status = _seeds(out)
    assert base == 7 and (status == 1).all()
    assert np.array_equal(seeds, _expected(7, 40))


def test_resume_keeps_the_recorded_seed(tmp_path):
    out = tmp_path / "r.h5"
    first = hpcpet_cli("run", SEEDED, "-o", out, "--quiet", env={"SEEDED_FAIL_FROM": "25"})
    base, seeds, status = _seeds(out)
    assert (status[:25] == 1).all() and (status[25:] == 2).all(), first.stderr
    hpcpet_cli("resume", out, "--retry-failed", "--quiet")
    base2, seeds2, status2 = _seeds(out)
    assert base2 == base and (status2 == 1).all()
    assert np.array_equal(seeds2, _expected(base, 40))


def test_parts_without_a_seed_agree_on_one(tmp_path):
    for part in ("1/2", "2/2"):
        hpcpet_cli("run", SEEDED, "-o", tmp_path / f"p{part[0]}.h5", "--quiet", "--part", part)
    hpcpet_cli("merge", tmp_path / "p1.h5", tmp_path / "p2.h5", "-o", tmp_path / "m.h5")
    bases = [_seeds(tmp_path / f)[0] for f in ("p1.h5", "p2.h5", "m.h5")]
    assert bases[0] == bases[1] == bases[2]
    assert np.array_equal(_seeds(tmp_path / "m.h5")[1], _expected(bases[0], 40))


def test_random_base_seed_is_recorded_and_differs(tmp_path):
    bases = []
    for k in range(2):
        out = tmp_path / f"{k}.h5"
        hpcpet_cli("run", SEEDED, "-o", out, "--quiet")
        base, seeds, _ = _seeds(out)
        assert np.array_equal(seeds, _expected(base, 40))
        bases.append(base)
    assert bases[0] != bases[1]


def test_environment_seed_and_draws(tmp_path):
    def make():
        traj = hpcpet.Trajectory()
        traj.add_parameter("x", 0.0)
        traj.explore({"x": [0.0, 1.0, 2.0]})
        return traj

    def run(t):
        t.add_result("draw", np.random.default_rng(t.seed).normal())
    draws = []
    for k, backend in enumerate(["serial", "pool"]):
        out = str(tmp_path / f"e{k}.h5")
        hpcpet.Environment(make(), out, backend=backend, ncores=2, seed=123, progress="quiet").run(run)
        with hpcpet.load(out) as t:
            draws.append(t.get_from_runs("draw"))
    want = [np.random.default_rng(run_seed(123, i)).normal() for i in range(3)]
    assert np.allclose(draws[0], want) and np.allclose(draws[1], want)
    with pytest.raises(HpcpetError, match="seed"):
        hpcpet.Environment(make(), str(tmp_path / "bad.h5"), seed=-3)


@pytest.mark.parametrize("value", ["-1", "x", str(2 ** 63)])
def test_bad_seed_option_is_one_line(tmp_path, value):
    proc = hpcpet_cli("run", SEEDED, "-o", tmp_path / "b.h5", "--seed", value, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "seed" in proc.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "b.h5").exists()

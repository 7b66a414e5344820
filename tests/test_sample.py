"""Samplers (hpcpet/sample.py): points in the box, reproducible from their recorded origin."""
import json

import numpy as np
import pytest
from scipy.stats import qmc

import hpcpet
from hpcpet.errors import HpcpetError

SAMPLERS = [hpcpet.sample.uniform, hpcpet.sample.latin_hypercube, hpcpet.sample.sobol]
BOX = {"x": (-5, 5), "y": (0.0, 1e-3)}


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_points_in_bounds_reproducible_and_recorded(sampler):
    ex = sampler(BOX, n=64, seed=3)
    assert isinstance(ex, hpcpet.Exploration) and ex.kind == "zip" and len(ex) == 64
    x, y = ex.column("x"), ex.column("y")
    assert x.dtype == np.float64 and ((-5 <= x) & (x < 5)).all() and ((0 <= y) & (y < 1e-3)).all()
    assert len(np.unique(x)) == 64
    again = sampler(BOX, n=64, seed=3)
    assert again == ex and np.array_equal(again.column("x"), x)
    assert sampler(BOX, n=64, seed=4) != ex
    origin = json.loads(json.dumps(ex.origin))  # JSON-able
    assert origin["sampler"] == sampler.__name__ and origin["seed"] == 3 and origin["n"] == 64
    assert origin["bounds"] == {"x": [-5.0, 5.0], "y": [0.0, 1e-3]}
    assert hpcpet.sample.from_origin(origin) == ex


def test_no_seed_draws_one_and_records_it():
    a = hpcpet.sample.latin_hypercube(BOX, n=10)
    b = hpcpet.sample.latin_hypercube(BOX, n=10)
    assert a.origin["seed"] != b.origin["seed"] and a != b
    assert hpcpet.sample.latin_hypercube(BOX, n=10, seed=a.origin["seed"]) == a


def test_latin_hypercube_has_one_point_per_stratum():
    ex = hpcpet.sample.latin_hypercube({"x": (0, 10), "y": (-1, 1)}, n=10, seed=0)
    assert sorted(np.floor(ex.column("x")).astype(int).tolist()) == list(range(10))
    assert sorted(np.floor((ex.column("y") + 1) * 5).astype(int).tolist()) == list(range(10))


def test_sobol_is_scipys_scrambled_sequence():
    ex = hpcpet.sample.sobol({"a": (0, 1), "b": (0, 2)}, n=16, seed=9)
    engine = qmc.Sobol(2, scramble=True, **_rng_kw(9))
    want = engine.random(16)
    assert np.allclose(ex.column("a"), want[:, 0]) and np.allclose(ex.column("b"), 2 * want[:, 1])
    # balanced: each half of [0, 1) holds half the points
    assert (ex.column("a") < 0.5).sum() == 8


def _rng_kw(seed):
    import inspect

    key = "rng" if "rng" in inspect.signature(qmc.Sobol).parameters else "seed"
    return {key: np.random.default_rng(seed)}


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_integer_and_log_options(sampler):
    ex = sampler({"k": (1, 4), "rate": (1e-3, 1e3), "x": (0, 1)}, n=256, seed=1, integer=["k"], log=["rate"])
    k, rate = ex.column("k"), ex.column("rate")
    assert k.dtype.kind == "i" and set(k.tolist()) == {1, 2, 3, 4}  # both ends included
    assert np.all(np.bincount(k)[1:] > 256 / 4 * 0.6)  # about equally often
    assert ((1e-3 <= rate) & (rate <= 1e3)).all()
    decades = np.floor(np.log10(rate)).astype(int)
    assert set(decades.tolist()) == {-3, -2, -1, 0, 1, 2}  # every decade, not just the last
    assert ex.origin["integer"] == ["k"] and ex.origin["log"] == ["rate"]
    assert ex.origin["bounds"]["k"] == [1, 4]
    both = sampler({"n": (1, 1000)}, n=64, seed=2, integer=["n"], log=["n"])
    assert both.column("n").dtype.kind == "i" and (both.column("n") < 32).sum() > 20


@pytest.mark.parametrize("kwargs,match", [
    (dict(bounds={"x": (1, 0)}, n=4), "low < high"),
    (dict(bounds={"x": (0, float("inf"))}, n=4), "finite"),
    (dict(bounds={"x": (0,)}, n=4), "pair"),
    (dict(bounds={"x": "ab"}, n=4), "pair"),
    (dict(bounds={}, n=4), "non-empty"),
    (dict(bounds={"x": (0, 1)}, n=0), "n must be"),
    (dict(bounds={"x": (0, 1)}, n=2.5), "n must be"),
    (dict(bounds={"x": (0, 1)}, n=4, seed=-1), "seed"),
    (dict(bounds={"x": (0, 1)}, n=4, integer=["y"]), "'y' have no bounds"),
    (dict(bounds={"x": (0, 1)}, n=4, log=["x"]), "must be > 0"),
    (dict(bounds={"x": (0.5, 3)}, n=4, integer=["x"]), "whole numbers"),
    (dict(bounds={"1x": (0, 1)}, n=4), "1x"),
])
def test_bad_sampler_input(kwargs, match):
    with pytest.raises(HpcpetError, match=match):
        hpcpet.sample.latin_hypercube(**kwargs)


def test_sample_explores_a_trajectory_and_runs(tmp_path):
    traj = hpcpet.Trajectory()
    traj.add_parameter("x", 0.0)
    traj.add_parameter("n", 1)
    traj.explore(hpcpet.sample.latin_hypercube({"x": (-1, 1), "n": (1, 3)}, n=20, seed=5, integer=["n"]))
    out = str(tmp_path / "s.h5")
    hpcpet.Environment(traj, out, progress="quiet").run(lambda t: t.add_result("y", t.x * t.n))
    with hpcpet.load(out) as t:
        assert np.allclose(t.get_from_runs("y"), t.explored["x"] * t.explored["n"])
        segments = json.loads(t.h5.attrs["exploration_segments"])
    assert segments[0]["origin"]["sampler"] == "latin_hypercube" and segments[0]["origin"]["seed"] == 5
    with pytest.raises(HpcpetError, match="'n' is int"):  # a float sample of an int parameter
        t2 = hpcpet.Trajectory()
        t2.add_parameter("n", 1)
        t2.explore(hpcpet.sample.uniform({"n": (1, 3)}, n=4, seed=1))


def test_sobol_warns_unless_n_is_a_power_of_two():
    import warnings

    with pytest.warns(UserWarning, match="power of 2"):
        hpcpet.sample.sobol({"x": (0, 1)}, n=10, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hpcpet.sample.sobol({"x": (0, 1)}, n=16, seed=1)


def test_resume_refuses_an_unseeded_sample_that_changed(tmp_path):
    exp = tmp_path / "unseeded.py"
    exp.write_text("import os, hpcpet\n"
                   "def build(traj):\n    traj.add_parameter('x', 0.0)\n"
                   "    traj.explore(hpcpet.sample.uniform({'x': (0, 1)}, n=5))\n"
                   "def run(traj):\n    if os.environ.get('FAIL'):\n        raise ValueError('x')\n"
                   "    traj.add_result('y', traj.x)\n")
    from conftest import hpcpet_cli

    out = tmp_path / "u.h5"
    hpcpet_cli("run", exp, "-o", out, "--quiet", env={"FAIL": "1"})
    proc = hpcpet_cli("resume", out, "--retry-failed", check=False)
    assert proc.returncode == 2 and "differs" in proc.stderr, proc.stderr

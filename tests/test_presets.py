"""Presets (pypet's presetting): ``run -p NAME=VALUE`` and ``Environment(presets=...)`` override defaults."""
import json

import numpy as np
import pytest

import hpcpet
from hpcpet.errors import HpcpetError

from conftest import experiment, hpcpet_cli

SEEDED = experiment("seeded.py")


def assert_one_line_error(proc, *words):
    assert proc.returncode == 2, proc
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("hpcpet: error:")]
    assert len(errors) == 1, proc.stderr
    for w in words:
        assert w in errors[0], (w, errors[0])


def test_cli_presets_override_defaults_and_are_recorded(tmp_path):
    out = tmp_path / "p.h5"
    hpcpet_cli("run", SEEDED, "-o", out, "--quiet", "-p", "dt=0.05", "-p", "neuron.tau=20", "-p", "n=5",
               "-p", "flag=true", "-p", "label=hello world", "-p", "neuron.syn.w=-2")
    with hpcpet.load(str(out)) as t:
        assert np.all(t.get_from_runs("dt") == 0.05)
        tau = t.get_from_runs("tau")
        assert tau.dtype.kind == "f" and np.all(tau == 20.0)  # "20" read as the parameter's float
        n = t.get_from_runs("n")
        assert n.dtype.kind == "i" and np.all(n == 5)
        assert np.all(t.get_from_runs("flag"))
        assert set(list(t.get_from_runs("label"))) == {"hello world"}
        assert np.all(t.get_from_runs("w") == -2)
        assert json.loads(t.h5.attrs["presets"]) == {"dt": "0.05", "neuron.tau": "20", "n": "5",
                                                      "flag": "true", "label": "hello world",
                                                      "neuron.syn.w": "-2"}
        # the stored defaults are the preset values
        assert float(t.h5["parameters/dt"][()]) == 0.05


def test_preset_of_an_explored_parameter_keeps_the_exploration(tmp_path):
    out = tmp_path / "x.h5"
    hpcpet_cli("run", SEEDED, "-o", out, "--quiet", "-p", "x=99")
    with hpcpet.load(str(out)) as t:
        assert t.explored["x"].tolist() == list(np.arange(40.0))


@pytest.mark.parametrize("preset,words", [
    ("nope=1", ["'nope'", "undeclared"]),
    ("neuron=1", ["'neuron'", "undeclared"]),
    ("n=abc", ["n=abc", "int"]),
    ("n=2.5", ["n=2.5", "int"]),
    ("dt=fast", ["dt=fast", "float"]),
    ("flag=maybe", ["flag=maybe", "bool"]),
    ("dt", ["NAME=VALUE"]),
    ("=3", ["NAME=VALUE"]),
    ("1x=3", ["1x"]),
])
def test_bad_presets_are_one_line_errors(tmp_path, preset, words):
    out = tmp_path / "b.h5"
    proc = hpcpet_cli("run", SEEDED, "-o", out, "-p", preset, check=False)
    assert_one_line_error(proc, *words)
    assert not out.exists()


def _traj():
    traj = hpcpet.Trajectory()
    traj.add_parameter("x", 0.0)
    traj.add_parameter("k", 2)
    traj.add_parameter("v", np.zeros(3))
    traj.add_parameter("anything", None)
    traj.explore({"x": [1.0, 2.0]})
    return traj


def test_environment_presets(tmp_path):
    out = str(tmp_path / "e.h5")

    def run(t):
        t.add_result("k", t.k)
        t.add_result("v", t.v)
        t.add_result("a", t.anything)
    env = hpcpet.Environment(_traj(), out, progress="quiet",
                             presets={"k": "7", "v": [1, 2, 3], "anything": "[1.5, 2.5]"})
    env.run(run)
    with hpcpet.load(out) as t:
        assert t.get_from_runs("k").tolist() == [7, 7]
        assert t.get_from_runs("v").tolist() == [[1.0, 2.0, 3.0]] * 2
        assert t.get_from_runs("a").tolist() == [[1.5, 2.5]] * 2
        assert json.loads(t.h5.attrs["presets"]) == {"k": "7", "v": [1, 2, 3], "anything": "[1.5, 2.5]"}


@pytest.mark.parametrize("presets,match", [
    ({"k": 2.5}, "'k' is int"),
    ({"k": "2.5"}, "k=2.5"),
    ({"x": "a"}, "x=a"),
    ({"x": [1.0, 2.0]}, "'x' is float"),
    ({"v": 1.0}, "'v' is float array"),
    ({"v": "[[1, 2]]"}, "'v' is float array"),
    ({"k": None}, "k=None"),
    ({"k": "None"}, "k=None"),
])
def test_environment_presets_checked(tmp_path, presets, match):
    with pytest.raises(HpcpetError, match=match):
        hpcpet.Environment(_traj(), str(tmp_path / "e.h5"), presets=presets)


def test_unknown_environment_preset_refused_before_the_file(tmp_path):
    out = tmp_path / "u.h5"
    env = hpcpet.Environment(_traj(), str(out), presets={"nope": 1}, progress="quiet")
    with pytest.raises(HpcpetError, match="undeclared parameter.*'nope'"):
        env.run(lambda t: None)
    assert not out.exists()


def test_preset_before_declaration_and_after():
    traj = hpcpet.Trajectory(presets={"a.b": "3"})
    traj.add_parameter("a", {"b": 1, "c": 2.0})
    assert traj["a.b"] == 3
    traj.preset("a.c", 4)
    assert traj["a.c"] == 4.0 and isinstance(traj["a.c"], float)
    traj.freeze()
    with pytest.raises(HpcpetError, match="frozen"):
        traj.preset("a.c", 5.0)


def test_resume_applies_the_recorded_presets(tmp_path):
    out = tmp_path / "r.h5"
    hpcpet_cli("run", SEEDED, "-o", out, "--quiet", "-p", "dt=0.25", env={"SEEDED_FAIL_FROM": "30"})
    hpcpet_cli("resume", out, "--retry-failed", "--quiet")
    with hpcpet.load(str(out)) as t:
        assert np.asarray(t.status).tolist() == [1] * 40
        assert np.all(t.get_from_runs("dt") == 0.25)

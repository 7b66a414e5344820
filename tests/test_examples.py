"""Every example in examples/ runs and its results load."""
import os
import subprocess
import sys

import numpy as np
import pytest

import hpcpet

from conftest import ROOT, hpcpet_cli

EXAMPLES = os.path.join(ROOT, "examples")


def _example(name):
    return os.path.join(EXAMPLES, name)


def test_every_example_is_covered():
    assert sorted(f for f in os.listdir(EXAMPLES) if f.endswith(".py")) == \
        ["api_script.py", "ask_tell.py", "genetic.py", "logistic.py", "oscillator.py", "product.py"]


def test_product(tmp_path):
    out = tmp_path / "p.h5"
    hpcpet_cli("run", _example("product.py"), "-o", out, "--quiet")
    with hpcpet.load(str(out)) as t:
        da = t.to_xarray("some_group.z")
        assert da.shape == (101, 4)
        assert np.allclose(da.values, np.outer(t.axes["x"], t.axes["neuron.tau"]))


def test_oscillator_fixed_shape_trace(tmp_path):
    out = tmp_path / "o.h5"
    hpcpet_cli("run", _example("oscillator.py"), "-o", out, "--quiet", "--backend", "pool", "--ncores", "2")
    with hpcpet.load(str(out)) as t:
        assert t.completed.all()
        trace = t.to_xarray("trace")
        amp = t.to_xarray("amplitude")
    assert trace.dims == ("zeta", "drive.w", "trace_dim0") and trace.shape == (4, 25, 200)
    # resonance: the amplitude peaks near w = w0 = 1 and falls with damping
    peak_w = amp["drive.w"].values[amp.values.argmax(axis=1)]
    assert np.all(np.abs(peak_w - 1.0) < 0.2), peak_w
    assert np.all(np.diff(amp.max(dim="drive.w").values) < 0)
    assert np.allclose(np.abs(trace.values[:, :, 100:]).max(axis=2), amp.values, rtol=0.3)


def test_logistic_ragged_attractor(tmp_path):
    out = tmp_path / "l.h5"
    proc = subprocess.run([sys.executable, _example("logistic.py"), "-o", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    with hpcpet.load(str(out)) as t:
        attractor = t.get_from_runs("attractor")
        r = t.explored["r"]
        n = t.get_from_runs("n_points")
        assert t.results["attractor"]["kind"] == "ragged"
        df = t.to_pandas()
    assert [len(a) for a in attractor] == list(n)
    assert n[np.argmin(np.abs(r - 2.9))] == 1  # a fixed point
    assert n[np.argmin(np.abs(r - 3.2))] == 2  # period 2
    assert n[np.argmin(np.abs(r - 3.5))] == 4  # period 4
    assert n[np.argmin(np.abs(r - 3.9))] > 100  # chaos
    assert sorted(df.columns) == ["lyapunov", "n_points", "r", "status"]
    assert df.loc[np.argmin(np.abs(r - 3.9)), "lyapunov"] > 0


def test_api_script(tmp_path):
    out = tmp_path / "a.h5"
    proc = subprocess.run([sys.executable, _example("api_script.py"), "-o", str(out), "--samples", "500"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "5/6 runs done, 1 failed" in proc.stdout
    assert "failed" in proc.stdout.splitlines()[-1]
    with hpcpet.load(str(out)) as t:
        assert t.exploration_kind == "zip"
        assert list(t.status) == [1, 1, 1, 1, 1, 2]
        mean = t.to_xarray("stats.mean")
        q = t.get_from_runs("stats.quartiles")
        assert "sigma must be positive" in t.errors[5]
    assert mean.dims == ("run",)
    assert np.allclose(mean.values[:5], [0.0, 1.0, 2.0, 5.0, -3.0], atol=0.3)
    assert q.shape == (6, 3) and np.all(np.diff(q[:5], axis=1) > 0)


def _readme_section(title):
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        text = fh.read()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def _blocks(section, language):
    import re

    return re.findall(rf"```{language}\n(.*?)```", section, re.S)


@pytest.mark.mpi
def test_readme_60_second_example_runs_as_written(tmp_path):
    """Every command of the README's 60-second example, as written, in order, in an empty folder."""
    section = _readme_section("60-second example")
    python_blocks, bash_blocks = _blocks(section, "python"), _blocks(section, "bash")
    assert len(python_blocks) == 2 and len(bash_blocks) == 1
    (tmp_path / "experiment.py").write_text(python_blocks[0])
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    commands = [ln for ln in bash_blocks[0].splitlines() if ln.strip()]
    assert len(commands) >= 4
    for command in commands:
        proc = subprocess.run(["bash", "-c", command], cwd=str(tmp_path), env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, (command, proc.stdout, proc.stderr)
    snippet = python_blocks[1].strip().splitlines()
    snippet[-1] = "print(repr((" + snippet[-1] + ")))"
    proc = subprocess.run([sys.executable, "-c", "\n".join(snippet)], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    from hpcpet.seeds import run_seed

    with hpcpet.load(str(tmp_path / "out.h5")) as t:
        assert t.get_from_runs("some_group.z").tolist() == [5.0, 10.0, 20.0, 10.0, 20.0, 40.0]
    with hpcpet.load(str(tmp_path / "noisy.h5")) as t:
        noise = t.get_from_runs("some_group.z") - np.array([5.0, 10.0, 20.0, 10.0, 20.0, 40.0])
        assert int(t.h5.attrs["seed"]) == 1
    assert np.allclose(noise, [0.1 * np.random.default_rng(run_seed(1, i)).normal() for i in range(6)])


#: the generation loop (Environment.run(fn, next_runs=...), study.select, get_from_runs(runs=))
#: is storage's side of issue 12; these examples are written against its documented API
NEEDS_GENERATIONS = pytest.mark.skipif(False, reason="")


def _next_runs_of(name):
    from hpcpet.experiment import load_experiment

    return load_experiment(_example(name))


def test_genetic_breeding_is_deterministic_and_stays_in_bounds():
    """The GA's breeding step alone (numpy only): same generator, same children; within the box."""
    ga = _next_runs_of("genetic.py").module
    rng = np.random.default_rng(0)
    genes = rng.uniform(-5, 5, size=(40, 2))
    fitness = -((genes[:, 0] - 1) ** 2 + (genes[:, 1] + 2) ** 2)
    a = ga.breed(genes, fitness, np.random.default_rng([1, 3]))
    b = ga.breed(genes, fitness, np.random.default_rng([1, 3]))
    assert np.array_equal(a, b) and a.shape == (40, 2)
    assert (a >= -5).all() and (a <= 5).all()
    # selection pressure: children are on average fitter than their parents' generation
    child_fitness = -((a[:, 0] - 1) ** 2 + (a[:, 1] + 2) ** 2)
    assert child_fitness.mean() > fitness.mean()


@NEEDS_GENERATIONS
def test_genetic(tmp_path):
    out = tmp_path / "ga.h5"
    proc = subprocess.run([sys.executable, _example("genetic.py"), "-o", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    with hpcpet.load(str(out)) as t:
        assert t.generations == 15 and len(t) == 15 * 40 and t.completed.all()
        first, last = t.select("generation == 0"), t.select("generation == 14")
        f = t.get_from_runs("fitness")
        assert f[last].mean() > f[first].mean()
        best = int(np.argmax(f))
        assert abs(t.explored["x"][best] - 1) < 0.3 and abs(t.explored["y"][best] + 2) < 0.3


@NEEDS_GENERATIONS
def test_ask_tell_with_optuna(tmp_path):
    pytest.importorskip("optuna")
    out = tmp_path / "tpe.h5"
    proc = subprocess.run([sys.executable, _example("ask_tell.py"), "-o", str(out), "--quiet",
                           "--backend", "pool", "--ncores", "2"],
                          capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    with hpcpet.load(str(out)) as t:
        assert t.generations == 8 and len(t) == 8 * 16 and t.completed.all()
        loss = t.get_from_runs("loss")
        assert loss[t.select("generation >= 6")].min() < loss[t.select("generation == 0")].min()

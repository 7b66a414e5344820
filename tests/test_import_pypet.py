"""`hpcpet import-pypet` on a file written by the real pypet 0.7 (tests/data/pypet_small.hdf5,
made by tests/data/make_pypet_fixture.py in benchmarks/.venv-pypet)."""
import os
import shutil

import h5py
import numpy as np
import pytest

import hpcpet
from hpcpet.errors import HpcpetError
from hpcpet.storage.pypet_import import detect_exploration, import_pypet

from conftest import HERE, hpcpet_cli

FIXTURE = os.path.join(HERE, "data", "pypet_small.hdf5")
X = [0.5, 1.0, 1.5, 2.0, 2.5]
Y = [1, 2, 3, 4]


def test_import_fixture(tmp_path):
    out = tmp_path / "new.h5"
    proc = hpcpet_cli("import-pypet", FIXTURE, "-o", out)
    assert "20 runs (20 completed)" in proc.stdout and "cartesian 5 x 4" in proc.stdout
    with hpcpet.load(str(out)) as t:
        assert len(t) == 20 and t.completed.all()
        assert t.name == "small" and t.comment == "pypet fixture for hpcpet"
        assert t.exploration_kind == "cartesian" and t.explored_names == ["x", "y"]
        params = t.parameters
        assert params["x"] == 1.0 and params["y"] == 1 and params["name"] == "fixture"
        assert t.comments["x"] == "first factor"
        xs, ys = t.explored["x"], t.explored["y"]
        assert list(xs) == [x for x in X for _ in Y] and list(ys) == Y * 5
        z = t.get_from_runs("z")
        expect = xs * ys
        expect[7] = np.nan  # the fixture's run 7 adds no z
        assert np.array_equal(z, expect, equal_nan=True)
        assert t.results["z"]["comment"] == "product"
        msg = t.get_from_runs("msg")
        assert msg[0] == "x=0.5 y=1" and msg[19] == "x=2.5 y=4"
        trace = t.get_from_runs("trace")
        assert trace.shape == (20, 3) and list(trace[5]) == [1.0, 2.0, 3.0]
        assert t.meta["imported_from"] == os.path.abspath(FIXTURE)
        da = t.to_xarray("z")
        assert da.dims == ("x", "y") and float(da.sel(x=2.0, y=3)) == 6.0


def test_import_matches_pypet_run_by_run(tmp_path):
    """Every run's values equal what pypet stored under results/run_set_*/run_*/."""
    out = tmp_path / "new.h5"
    import_pypet(FIXTURE, str(out))
    with h5py.File(FIXTURE, "r") as src, hpcpet.load(str(out)) as t:
        runs = src["small/results/run_set_00000"]
        z, trace, msg = t.get_from_runs("z"), t.get_from_runs("trace"), t.get_from_runs("msg")
        for i in range(20):
            g = runs[f"run_{i:08d}"]
            if "z" in g:
                assert z[i] == g["z/z"][()]
            assert np.array_equal(trace[i], g["trace/trace"][()])
            assert msg[i] == g["msg/msg"][()].decode()
            assert t.explored["x"][i] == src["small/parameters/x/explored_data"][i]["data"]


def test_incomplete_pypet_runs_are_pending(tmp_path):
    """A pypet file whose overview marks runs not completed (as after a crash)."""
    copy = tmp_path / "partial.hdf5"
    shutil.copy(FIXTURE, copy)
    with h5py.File(copy, "r+") as f:
        table = f["small/overview/runs"]
        rows = table[()]
        rows["completed"][15:] = 0
        table[...] = rows
        for i in range(15, 20):
            del f[f"small/results/run_set_00000/run_{i:08d}"]
    out = tmp_path / "new.h5"
    report = import_pypet(str(copy), str(out))
    assert report.done == 15
    with hpcpet.load(str(out)) as t:
        assert list(t.status) == [1] * 15 + [0] * 5
        assert np.isnan(t.to_xarray("z").values[3:, 3]).all()


def test_import_errors(tmp_path):
    out = tmp_path / "new.h5"
    import_pypet(FIXTURE, str(out))
    proc = hpcpet_cli("import-pypet", FIXTURE, "-o", out, check=False)
    assert proc.returncode == 2 and "exists" in proc.stderr
    hpcpet_cli("import-pypet", FIXTURE, "-o", out, "--overwrite")
    proc = hpcpet_cli("import-pypet", FIXTURE, "-o", tmp_path / "b.h5", "--trajectory", "other", check=False)
    assert proc.returncode == 2 and "no pypet trajectory 'other'" in proc.stderr and "small" in proc.stderr
    proc = hpcpet_cli("import-pypet", tmp_path / "missing.hdf5", "-o", tmp_path / "c.h5", check=False)
    assert proc.returncode == 2 and "file not found" in proc.stderr
    with pytest.raises(HpcpetError, match="holds no pypet trajectory"):
        import_pypet(str(out), str(tmp_path / "d.h5"))  # an hpcpet file is not a pypet one


def test_detect_exploration():
    grid = detect_exploration({"a": np.repeat([1, 2, 3], 2), "b": np.tile([5.0, 6.0], 3)})
    assert grid.kind == "cartesian" and grid.names == ["a", "b"]
    swapped = detect_exploration({"a": np.tile([1, 2, 3], 2), "b": np.repeat([5.0, 6.0], 3)})
    assert swapped.kind == "cartesian" and swapped.names == ["b", "a"]
    assert np.array_equal(swapped.column("a"), np.tile([1, 2, 3], 2))
    zipped = detect_exploration({"a": np.array([1, 2, 3]), "b": np.array([4, 5, 7])})
    assert zipped.kind == "zip"
    partial = detect_exploration({"a": np.array([1, 1, 2, 2]), "b": np.array([1, 2, 2, 1])})
    assert partial.kind == "zip"


SETS_FIXTURE = os.path.join(HERE, "data", "pypet_sets.hdf5")


def _pypet_runs(src: h5py.File, traj: str) -> dict[int, h5py.Group]:
    """Every ``results/run_set_*/run_*`` group of a pypet file, by run index."""
    runs = {}
    for set_name, group in src[f"{traj}/results"].items():
        assert set_name.startswith("run_set_")
        for run_name, run in group.items():
            runs[int(run_name[len("run_"):])] = run
    return runs


@pytest.mark.parametrize("set_size", [None, "1", "7"])
def test_import_run_sets_matches_pypet_run_by_run(tmp_path, set_size):
    """tests/data/pypet_sets.hdf5: 30 runs in 4 run_set groups (pypet patched to 8 runs a set),
    zipped exploration, a scalar result missing in run 13 and a variable-length array result.
    Every run's values equal what pypet stored, across all run_set groups and whatever
    hpcpet set size the import uses (1: every batch fixed-shape; 7: straddles pypet's sets)."""
    out = tmp_path / "sets.h5"
    extra = ["--set-size", set_size] if set_size else []
    proc = hpcpet_cli("import-pypet", SETS_FIXTURE, "-o", out, *extra)
    assert "30 runs (30 completed)" in proc.stdout and "zip 30" in proc.stdout
    assert "2 per-run results" in proc.stdout and "skipped" not in proc.stdout
    with h5py.File(SETS_FIXTURE, "r") as src, hpcpet.load(str(out)) as t:
        assert sorted(src["sets/results"]) == [f"run_set_{s:05d}" for s in range(4)]
        runs = _pypet_runs(src, "sets")
        assert sorted(runs) == list(range(30))
        assert len(t) == 30 and t.completed.all()
        assert t.exploration_kind == "zip" and t.explored_names == ["x", "y"]
        assert t.parameters["name"] == "sets" and t.comments["x"] == "scale"
        xs = src["sets/parameters/x/explored_data"][()]["data"]
        ys = src["sets/parameters/y/explored_data"][()]["data"]
        assert np.array_equal(t.explored["x"], xs) and np.array_equal(t.explored["y"], ys)
        z = t.get_from_runs("z")
        ragged = t.get_from_runs("ragged")
        assert isinstance(ragged, list) and len(ragged) == 30
        assert t.results["ragged"]["kind"] == "ragged"
        assert t.results["z"]["comment"] == "product"
        for i, g in runs.items():
            if i == 13:
                assert "z" not in g and np.isnan(z[i])  # the fixture's run 13 adds no z
            else:
                assert z[i] == g["z/z"][()] == xs[i] * ys[i]
            stored = g["ragged/ragged"][()]
            assert len(stored) == i % 5 + 1
            assert np.array_equal(ragged[i], stored)
            run = t.run(i)
            assert np.array_equal(run.results["ragged"], stored)
            assert ("z" in run.results) == (i != 13)
            assert run.parameters["x"] == xs[i] and run.parameters["y"] == ys[i]

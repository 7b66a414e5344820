"""`hpcpet import-pypet` on a file written by the real pypet 0.7 (tests/data/pypet_small.hdf5,
made by tests/data/make_pypet_fixture.py in benchmarks/.venv-pypet)."""
import json
import os
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest

import hpcpet
from hpcpet.errors import HpcpetError
from hpcpet.storage.pypet_import import UnsupportedPypetError, detect_exploration, import_pypet

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
    ic = np.array([[0.0, 1.0], [2.0, 3.0]])  # array values (an explored ArrayParameter) in a grid
    arrays = detect_exploration({"s": np.tile([1.0, 2.0, 3.0], 2), "ic": np.repeat(ic, 3, axis=0)})
    assert arrays.kind == "cartesian" and arrays.names == ["ic", "s"] and arrays.shape == (2, 3)
    assert np.array_equal(arrays.column("ic"), np.repeat(ic, 3, axis=0))
    assert detect_exploration({"ic": ic[[0, 1, 0]], "s": np.array([1.0, 1.0, 2.0])}).kind == "zip"


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


# ---------------------------------------------------------------- pypet's example_05 (arrays)
ARRAYS = os.path.join(HERE, "data", "pypet_arrays.hdf5")
UNSUPPORTED = os.path.join(HERE, "data", "pypet_unsupported.hdf5")
with open(os.path.join(HERE, "data", "pypet_arrays_expected.json")) as _f:
    EXPECTED = json.load(_f)  # every value as pypet 0.7 itself loads it (make_pypet_arrays_fixture.py)
#: pypet full name of each per-run result (run part as XXXXXXXX) -> the hpcpet name of each item
NATIVE = {"results.runs.run_XXXXXXXX.euler_evolution": {"data": "euler_evolution.data"},
          "results.runs.run_XXXXXXXX.stats": {"mean": "stats.mean", "n": "stats.n", "label": "stats.label"},
          "results.lorenz.run_XXXXXXXX.frame": {"frame": "lorenz.frame"},
          "results.run_set_00000.run_XXXXXXXX.series": {"series": "series"},
          "results.run_set_00000.run_XXXXXXXX.norm": {"norm": "norm"},
          "results.run_set_00000.run_XXXXXXXX.info": {"info": "info"}}  # a dict: info.k, info.scale


def _value(e):
    """The Python value of one entry of pypet_arrays_expected.json."""
    t = e["type"]
    if t == "DataFrame":
        df = pd.DataFrame(e["data"], columns=e["columns"],
                          index=pd.Index(e["index"], name=e["index_name"], dtype=e["index_dtype"]))
        return df.astype(e["dtypes"])
    if t == "Series":
        return pd.Series(e["values"], index=e["index"], name=e["name"], dtype=e["dtype"])
    if t == "ndarray":
        return np.array(e["values"], dtype=e["dtype"])
    if t == "tuple":
        return tuple(e["values"])
    return e["value"]


def _same(got, want):
    if isinstance(want, pd.DataFrame):
        return (isinstance(got, pd.DataFrame) and got.equals(want) and got.index.name == want.index.name
                and list(got.columns) == list(want.columns)
                and [str(d) for d in got.dtypes] == [str(d) for d in want.dtypes])
    if isinstance(want, pd.Series):
        return isinstance(got, pd.Series) and got.equals(want) and got.name == want.name \
            and list(got.index) == list(want.index)
    if isinstance(want, np.generic):
        return type(got) is type(want) and (got == want or (got != got and want != want))
    if isinstance(want, (np.ndarray, tuple)):
        return np.asarray(got).shape == np.asarray(want).shape and np.array_equal(got, want)
    if isinstance(want, str):
        return isinstance(got, str) and got == want
    if isinstance(want, bool):
        return isinstance(got, (bool, np.bool_)) and bool(got) is want
    if isinstance(want, int):
        return isinstance(got, (int, np.integer)) and int(got) == want
    return isinstance(got, (float, np.floating)) and float(got) == want


def test_example_05_every_value_equals_what_pypet_loads(tmp_path):
    """Explored ArrayParameter (pypet's __rr__ references, one array used by two runs), plain
    parameters of each type, a multi-item result, a DataFrame and a Series result, globals."""
    out = tmp_path / "arrays.h5"
    proc = hpcpet_cli("import-pypet", ARRAYS, "-o", out)
    assert "3 runs (3 completed)" in proc.stdout and "skipped" not in proc.stdout + proc.stderr
    with hpcpet.load(str(out)) as t:
        assert t.completed.all() and len(t) == 3
        assert set(t.parameters) == set(EXPECTED["parameters"])
        for name, e in EXPECTED["parameters"].items():
            assert _same(t.parameters[name], _value(e)), name
        assert t.comments["initial_conditions"].startswith("Our initial conditions")
        assert sorted(t.explored_names) == sorted(EXPECTED["explored"]) == ["func_params.sigma", "initial_conditions"]
        ic = t.explored["initial_conditions"]
        assert ic.shape == (3, 3)  # an array-valued explored parameter
        for name, runs in EXPECTED["explored"].items():
            for i, e in enumerate(runs):
                assert _same(t.explored[name][i], _value(e)), (name, i)
                assert _same(t.run(i).parameters[name], _value(e)), (name, i)
        assert np.array_equal(ic[0], ic[2]) and not np.array_equal(ic[0], ic[1])
        names = {item_name for items in NATIVE.values() for item_name in items.values()} - {"info"}
        assert set(t.results) == names | {"info.k", "info.scale"}
        assert set(EXPECTED["runs"]) == set(NATIVE)
        for full, runs in EXPECTED["runs"].items():
            assert sorted(runs) == ["0", "1", "2"]
            for run, items in runs.items():
                assert set(items) == set(NATIVE[full])
                for item, e in items.items():
                    name = NATIVE[full][item]
                    want = _value(e)
                    subs = {f"{name}.{k}": v for k, v in want.items()} if isinstance(want, dict) else {name: want}
                    for name, want in subs.items():
                        assert _same(t.run(int(run))[name], want), (name, run)
                        assert _same(t.get_from_runs(name)[int(run)], want), (name, run)
        assert t.results["lorenz.frame"]["kind"] == "pickle" and t.results["series"]["kind"] == "pickle"
        assert t.results["euler_evolution.data"]["comment"] == "Our time series data!"
        assert t.get_from_runs("euler_evolution.data").shape == (3, 20, 3)
        g = t.globals
        assert set(g) == {"summary.final", "summary.note"}
        for item, e in EXPECTED["globals"]["results.summary"].items():
            assert _same(g[f"summary.{item}"], _value(e)), item


def _euler(t):
    """The fixture's run function (tests/data/make_pypet_arrays_fixture.py), written for hpcpet."""
    steps, dt = t.steps, t.dt
    result = np.zeros((steps, 3))
    result[0] = t.initial_conditions
    sigma, beta, rho = t["func_params.sigma"], t["func_params.beta"], t["func_params.rho"]
    for i in range(1, steps):
        x, y, z = result[i - 1]
        result[i] = result[i - 1] + dt * np.array([sigma * (y - x), x * (rho - z) - y, x * y - beta * z])
    t.add_result("euler_evolution", {"data": result}, comment="Our time series data!")
    t.add_result("stats", {"mean": float(result[:, 0].mean()), "n": int(t.index * 10), "label": f"run {t.index}"})
    frame = pd.DataFrame({"x": result[:4, 0], "step": np.arange(4, dtype=np.int64),
                          "tag": [f"t{t.index}{k}" for k in range(4)]}, index=pd.Index([10, 20, 30, 40], name="t"))
    t.add_result("lorenz.$.frame", frame)
    t.add_result("$set.$.series", pd.Series(result[-1], index=["x", "y", "z"], name="last"))
    t.add_result("$set.$.norm", float(np.linalg.norm(result[-1])))
    t.add_result("$set.$.info", {"k": t.index, "scale": 0.5 * t.index})


def test_example_05_names_and_values_equal_a_native_hpcpet_run(tmp_path):
    """The same study run natively by hpcpet gives the same names (parameters, explored, results,
    globals) and the same values as the imported pypet file."""
    out = tmp_path / "imported.h5"
    import_pypet(ARRAYS, str(out))
    traj = hpcpet.Trajectory(name="native")
    for name, e in EXPECTED["parameters"].items():
        traj.add_parameter(name, _value(e))
    traj.explore({k: [_value(e) for e in v] for k, v in EXPECTED["explored"].items()})
    native = str(tmp_path / "native.h5")
    hpcpet.Environment(traj, native, progress="quiet").run(_euler)
    with hpcpet.load(native, mode="a") as t:
        t.add_result("summary.final", np.arange(4, dtype=np.float64))
        t.add_result("summary.note", "after the runs")
    with hpcpet.load(native) as n, hpcpet.load(str(out)) as t:
        assert n.completed.all()
        assert set(n.parameters) == set(t.parameters)
        assert sorted(n.explored_names) == sorted(t.explored_names)
        assert set(n.results) == set(t.results)
        assert set(n.globals) == set(t.globals)
        for name in n.results:
            for i in range(3):
                assert _same(t.run(i)[name], n.run(i)[name]), (name, i)
            assert n.results[name]["kind"] == t.results[name]["kind"], name


def test_unsupported_content_exits_2_naming_it(tmp_path):
    """pypet_unsupported.hdf5 adds a derived parameter, a PickleResult, a SparseParameter holding
    a scipy sparse matrix and a pandas global result: exit 2 naming each, no file."""
    out = tmp_path / "bad.h5"
    proc = hpcpet_cli("import-pypet", UNSUPPORTED, "-o", out, check=False)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hpcpet: error: cannot convert 4 item(s)")
    for what in ("derived parameter scaled_dt", "results.obj (PickleResult)",
                 "parameter coupling (a scipy sparse matrix", "global result table (a pandas object"):
        assert what in lines[0], what
    assert "--skip-unsupported" in lines[0] and "Traceback" not in proc.stderr
    assert not out.exists()
    with pytest.raises(UnsupportedPypetError) as info:
        import_pypet(UNSUPPORTED, str(out))
    assert len(info.value.items) == 4 and not out.exists()


def test_skip_unsupported_imports_the_rest_and_lists_it(tmp_path):
    out = tmp_path / "skip.h5"
    proc = hpcpet_cli("import-pypet", UNSUPPORTED, "-o", out, "--skip-unsupported")
    assert "4 unsupported item(s) skipped" in proc.stdout
    skipped = [ln for ln in proc.stderr.splitlines() if ln.startswith("hpcpet: skipped")]
    assert len(skipped) == 4 and len(proc.stderr.splitlines()) == 4
    for line, what in zip(skipped, ("coupling", "scaled_dt", "results.obj", "global result table")):
        assert what in line, (what, line)
    with hpcpet.load(str(out)) as t, hpcpet.load(str(_imported(tmp_path))) as full:
        # pypet_unsupported.hdf5's runs add no series (keeps the fixture small)
        assert set(t.results) == set(full.results) - {"series"} and set(t.globals) == set(full.globals)
        assert "obj" not in t.globals and "table" not in t.globals
        assert "scaled_dt" not in t.parameters and "coupling" not in t.parameters
        for name in t.results:
            assert all(_same(t.run(i)[name], full.run(i)[name]) for i in range(3)), name


def _imported(tmp_path):
    out = tmp_path / "full.h5"
    if not out.exists():
        import_pypet(ARRAYS, str(out))
    return out


def test_values_of_runs_pypet_did_not_complete_are_not_dropped_silently(tmp_path):
    """Run 2 keeps its results but pypet's overview says it did not complete: exit 2 naming
    the results and the run; with --skip-unsupported run 2 imports as pending."""
    copy = tmp_path / "partial.hdf5"
    shutil.copy(ARRAYS, copy)
    with h5py.File(copy, "r+") as f:
        rows = f["example_05/overview/runs"][()]
        rows["completed"][2] = 0
        f["example_05/overview/runs"][...] = rows
    out = tmp_path / "p.h5"
    proc = hpcpet_cli("import-pypet", copy, "-o", out, check=False)
    assert proc.returncode == 2 and "runs 2, which pypet did not mark completed" in proc.stderr
    assert "norm" in proc.stderr and not out.exists()
    hpcpet_cli("import-pypet", copy, "-o", out, "--skip-unsupported")
    with hpcpet.load(str(out)) as t:
        assert list(t.status) == [1, 1, 0]
        assert np.isnan(t.get_from_runs("norm")[2]) and not np.isnan(t.get_from_runs("norm")[:2]).any()


def test_ragged_array_exploration_is_refused(tmp_path):
    """An ArrayParameter explored with arrays of different lengths cannot be one hpcpet column:
    exit 2 naming the parameter, whatever --skip-unsupported says (the runs would be wrong)."""
    copy = tmp_path / "ragged.hdf5"
    shutil.copy(ARRAYS, copy)
    with h5py.File(copy, "r+") as f:
        g = f["example_05/parameters/initial_conditions/explored__rr__/set_00000"]
        attrs = dict(g["xa_00000001"].attrs)
        del g["xa_00000001"]
        g["xa_00000001"] = np.array([1.0, 2.0])
        g["xa_00000001"].attrs.update(attrs)
    for extra in ([], ["--skip-unsupported"]):
        proc = hpcpet_cli("import-pypet", copy, "-o", tmp_path / "r.h5", *extra, check=False)
        assert proc.returncode == 2 and "explored parameter 'initial_conditions'" in proc.stderr, proc.stderr

"""to_xarray / to_pandas on real result files."""
import numpy as np
import pandas as pd
import pytest

import hpcpet
from hpcpet.errors import HpcpetError


def test_xarray_cartesian_scalar(reference):
    with hpcpet.load(reference) as t:
        da = t.to_xarray("some_group.z")
        axes = t.axes
    assert da.dims == ("x", "neuron.tau")
    assert da.shape == (5, 7)
    assert np.array_equal(da["x"].values, axes["x"]) and np.array_equal(da["neuron.tau"].values, axes["neuron.tau"])
    # C order: first name slowest, so da[i, j] is the run i * 7 + j
    expect = np.outer(axes["x"], axes["neuron.tau"])
    expect[2, 2] = np.nan  # x=3, tau=20 raises
    assert np.array_equal(da.values, expect, equal_nan=True)
    assert float(da.sel(x=4.0, **{"neuron.tau": 80.0})) == 320.0
    assert da.attrs["comment"] == "product"


def test_xarray_wildcard_name_and_int_results_become_float_with_nan(reference):
    with hpcpet.load(reference) as t:
        da = t.to_xarray("ints.$.n")
    assert da.dtype.kind == "f"
    assert np.isnan(da.values[2, 2]) and da.values[1, 0] == 4.0


def test_xarray_fixed_shape_array(reference):
    with hpcpet.load(reference) as t:
        da = t.to_xarray("arrays.fixed")
    assert da.dims == ("x", "neuron.tau", "arrays.fixed_dim0")
    assert da.shape == (5, 7, 3)
    assert list(da.values[4, 6]) == [5.0, 320.0, 325.0]
    assert np.isnan(da.values[2, 2]).all()


def test_xarray_result_only_some_runs_have(reference):
    with hpcpet.load(reference) as t:
        da = t.to_xarray("sometimes.big")
    assert np.isnan(da.values[:, :5]).all()
    assert np.array_equal(da.values[:, 5], [160.0] * 5)


def test_xarray_refuses_text_ragged_and_unknown(reference):
    with hpcpet.load(reference) as t:
        with pytest.raises(HpcpetError, match="text"):
            t.to_xarray("text.msg")
        with pytest.raises(HpcpetError, match="shape varies"):
            t.to_xarray("arrays.ragged")
        with pytest.raises(HpcpetError, match="no result 'nope'"):
            t.to_xarray("nope")


def _zip_file(path):
    traj = hpcpet.Trajectory("zipped")
    traj.add_parameter("a", 0.0)
    traj.add_parameter("b", 0)
    traj.explore({"a": [0.5, 0.1, 0.3, 0.2], "b": [1, 2, 3, 4]})

    def run(traj):
        if traj.b == 3:
            raise RuntimeError("no")
        traj.add_result("y", traj.a * traj.b)
        traj.add_result("v", np.array([traj.b, -traj.b]))

    hpcpet.Environment(traj, str(path), progress="quiet").run(run)
    return str(path)


def test_xarray_zip_exploration(tmp_path):
    with hpcpet.load(_zip_file(tmp_path / "z.h5")) as t:
        da = t.to_xarray("y")
        dv = t.to_xarray("v")
    assert da.dims == ("run",)
    assert list(da["run"].values) == [0, 1, 2, 3]
    assert list(da["a"].values) == [0.5, 0.1, 0.3, 0.2] and list(da["b"].values) == [1, 2, 3, 4]
    assert np.allclose(da.values, [0.5, 0.2, np.nan, 0.8], equal_nan=True)
    assert dv.dims == ("run", "v_dim0") and dv.dtype.kind == "f"
    assert np.isnan(dv.values[2]).all() and list(dv.values[3]) == [4.0, -4.0]


def test_pandas_one_row_per_run(reference):
    with hpcpet.load(reference) as t:
        df = t.to_pandas()
        n = len(t)
        ex = {k: t.explored[k] for k in t.explored_names}
        z = t.get_from_runs("some_group.z")
    assert len(df) == n and df.index.name == "run" and list(df.index) == list(range(n))
    assert list(df.columns[:2]) == ["x", "neuron.tau"]
    assert {"some_group.z", "ints.n", "return", "sometimes.big", "status"} <= set(df.columns)
    assert "text.msg" not in df.columns and "arrays.fixed" not in df.columns
    assert np.array_equal(df["x"].values, ex["x"])
    assert np.array_equal(df["some_group.z"].values, z, equal_nan=True)
    assert df.loc[16, "status"] == "failed" and np.isnan(df.loc[16, "some_group.z"])
    assert (df["status"] == "done").sum() == n - 1
    # pandas queries work
    assert len(df[(df["x"] == 2.0) & (df["status"] == "done")]) == 7


def test_pandas_selected_results_and_text(reference):
    with hpcpet.load(reference) as t:
        df = t.to_pandas(["text.$set.$.msg", "some_group.z"])
        with pytest.raises(HpcpetError, match="to_xarray"):
            t.to_pandas(["arrays.fixed"])
    assert list(df.columns) == ["x", "neuron.tau", "text.msg", "some_group.z", "status"]
    assert df.loc[0, "text.msg"] == "x=1.0 tau=5.0" and pd.isna(df.loc[16, "text.msg"])


def test_pandas_pending_runs(tmp_path):
    """Runs never executed (an interrupted file) are 'pending' with NaN results."""
    from hpcpet.engine import BatchResult
    from hpcpet.columns import encode
    from hpcpet.storage.writer import Writer

    traj = hpcpet.Trajectory()
    traj.add_parameter("x", 0)
    traj.explore(hpcpet.cartesian_product({"x": [1, 2, 3, 4]}))
    traj.freeze()
    w = Writer.create(str(tmp_path / "p.h5"), traj, set_size=2)
    w.write(BatchResult(0, 2, np.array([1, 1], np.uint8), {"r": encode([10, 20])}, {}, {}, 0.0))
    w.close()
    with hpcpet.load(str(tmp_path / "p.h5")) as t:
        df = t.to_pandas()
        da = t.to_xarray("r")
    assert list(df["status"]) == ["done", "done", "pending", "pending"]
    assert np.allclose(df["r"].values, [10, 20, np.nan, np.nan], equal_nan=True)
    assert da.dims == ("x",) and np.allclose(da.values, [10, 20, np.nan, np.nan], equal_nan=True)

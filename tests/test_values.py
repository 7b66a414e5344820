"""Every value round-trips or fails only its run (issue 13): awkward values, mixed types across
runs, text and bytes with NUL, huge integers, pandas objects, dict results, many long names."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import hpcpet
from conftest import bin_path, experiment, hpcpet_cli


def _study(tmp_path, values, backend="serial", batch_size=None, name="v"):
    """One run per value, each adding result ``name`` = value; returns the loaded file's path."""
    traj = hpcpet.Trajectory()
    traj.add_parameter("i", 0)
    traj.explore({"i": list(range(len(values)))})

    def run(t, values=values):
        v = values[t.i]
        if v is not None:
            t.add_result(name, v)
        t.add_result("ok", t.i)

    path = str(tmp_path / "v.h5")
    hpcpet.Environment(traj, path, backend=backend, ncores=2, batch_size=batch_size, progress="quiet",
                       overwrite=True).run(run)
    return path


def _equal(got, want):
    if isinstance(want, pd.DataFrame):
        return isinstance(got, pd.DataFrame) and got.equals(want) and list(got.dtypes) == list(want.dtypes)
    if isinstance(want, pd.Series):
        return isinstance(got, pd.Series) and got.equals(want) and got.name == want.name
    if isinstance(want, (str, bytes)):
        return type(got) is type(want) and got == want
    if isinstance(want, (bool, np.bool_)):
        return isinstance(got, (bool, np.bool_)) and bool(got) == bool(want)
    # integers stay integers; mixed with floats in other runs they widen to floats, exactly
    if isinstance(want, (int, np.integer)):
        return (isinstance(got, (int, np.integer)) or isinstance(got, (np.floating, np.complexfloating))) \
            and got == want and (not isinstance(got, np.integer) or int(got) == int(want))
    if isinstance(want, (float, complex, np.floating, np.complexfloating)):
        return (isinstance(got, (float, complex, np.floating, np.complexfloating))
                and (got == want or (got != got and want != want)))
    want, got = np.asarray(want), np.asarray(got)
    return got.shape == want.shape and np.array_equal(got, want, equal_nan=want.dtype.kind in "fc")


def check(path, values, name="v"):
    """Each run either gives its value back equal (same type) or failed naming the result."""
    with hpcpet.load(path) as t:
        errors = t.errors
        done = t.completed
        assert (t.status != 0).all()  # no run left behind
        if done.any():  # the other results of the same runs are stored
            assert np.array_equal(np.ma.getdata(t.get_from_runs("ok"))[done], np.flatnonzero(done))
        for i, want in enumerate(values):
            r = t.run(i)
            if r.status == "failed":
                assert f"'{name}'" in errors[i], errors[i]
                continue
            assert r.status == "done", (i, r.status)
            if want is None:
                assert name not in r.results
            else:
                assert _equal(r[name], want), (i, r[name], want)
        return errors


def test_mixed_integers_and_floats_never_lose_precision(tmp_path):
    values = [2**53 + 1, 0.5, 3]
    errors = check(_study(tmp_path, values, batch_size=1), values)
    assert list(errors) == [1] and "precision" in errors[1]  # the float came after the big int
    values = [np.uint64(2**64 - 1), np.int64(-1)]
    errors = check(_study(tmp_path, values, batch_size=1), values)
    assert list(errors) == [1]
    values = [1, 2.5, 4]  # small ints with floats: floats, exactly
    check(_study(tmp_path, values, batch_size=1), [1.0, 2.5, 4.0])


def test_bytes_and_text_with_nul_and_surrogates(tmp_path):
    values = [b"a\x00", b"", b"\xff\x00\xfe"]
    check(_study(tmp_path, values), values)
    values = ["a\x00b", "\udc80 lone", "", "ünï"]
    check(_study(tmp_path, values, batch_size=2), values)


def test_text_among_numbers_in_a_later_batch_fails_only_that_run(tmp_path):
    values = [float(i) for i in range(40)] + [1.0, "oops"] + [2.0] * 5
    errors = check(_study(tmp_path, values, batch_size=8), values)
    assert list(errors) == [41] and "text" in errors[41]


def test_ragged_list_of_arrays_fails_only_its_run_on_every_backend(tmp_path):
    values = [np.ones(2), [np.ones(2), np.ones(3)], np.ones(2)]
    for backend in ("serial", "pool"):
        errors = check(_study(tmp_path, values, backend=backend), values)
        assert list(errors) == [1] and "different shapes" in errors[1]


def test_pandas_results_come_back_with_labels_and_dtypes(tmp_path):
    df = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5], "c": ["x", "y"]}, index=["r1", "r2"])
    values = [df, df * 2 if False else df.assign(a=[3, 4]), pd.DataFrame({"t": pd.to_datetime(["2026-01-01"])})]
    check(_study(tmp_path, values), values)
    s = [pd.Series([1.0, 2.0], index=[10, 20], name="rate")]
    check(_study(tmp_path, s), s)


def test_dict_results_are_sub_results(tmp_path):
    traj = hpcpet.Trajectory()
    traj.add_parameter("i", 0)
    traj.explore({"i": [0, 1, 2]})

    def run(t):
        t.add_result("out", {"rate": t.i * 1.5, "trace": np.arange(t.i + 1), "nested": {"n": t.i}})

    path = str(tmp_path / "d.h5")
    hpcpet.Environment(traj, path, progress="quiet").run(run)
    with hpcpet.load(path) as t:
        assert set(t.results) == {"out.rate", "out.trace", "out.nested.n"}
        assert t.get_from_runs("out.rate").tolist() == [0.0, 1.5, 3.0]
        assert t.run(2)["out.trace"].tolist() == [0, 1, 2] and t.run(1)["out.nested.n"] == 1


def test_many_long_result_names(tmp_path):
    names = [f"group_{k // 100:02d}.a_rather_long_result_name_of_57_characters_{k:04d}" for k in range(1200)]
    traj = hpcpet.Trajectory()
    traj.add_parameter("i", 0)
    traj.explore({"i": [0, 1]})

    def run(t):
        for k, n in enumerate(names):
            t.add_result(n, t.i + k)

    path = str(tmp_path / "many.h5")
    s = hpcpet.Environment(traj, path, progress="quiet").run(run)
    assert s.done == 2
    with hpcpet.load(path) as t:
        assert len(t.results) == 1200 and t.get_from_runs(names[1199]).tolist() == [1199, 1200]


def test_ragged_result_under_mpi_fails_only_its_run(tmp_path):
    out = tmp_path / "m.h5"
    hpcpet_cli("run", experiment("values.py"), "-o", out, "--quiet", prefix=(bin_path("mpiexec"), "-n", "3"))
    with hpcpet.load(str(out)) as t:
        assert t.failed.tolist() == [False, True, False, False] and "different shapes" in t.errors[1]
        assert t.run(3)["b"] == b"\x00z" * 3 and t.run(2)["t"] == "t2\x00" and t.run(0)["b"] == b""


# ---------------------------------------------------------------------------- property
scalars = st.one_of(
    st.integers(-2**70, 2**70), st.floats(allow_nan=True), st.booleans(),
    st.complex_numbers(allow_nan=False, max_magnitude=1e9), st.binary(max_size=6),
    st.text(max_size=6), st.none(),
    st.lists(st.integers(-5, 5), max_size=3), st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=2),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.lists(scalars, min_size=1, max_size=12), st.sampled_from([None, 1, 3]))
def test_whatever_a_run_adds_comes_back_or_fails_that_run(tmp_path, values, batch):
    path = _study(tmp_path, values, batch_size=batch)
    want = []
    for v in values:  # what a run's value is once stored: lists become arrays
        want.append(np.asarray(v) if isinstance(v, list) else v)
    errors = check(path, want)
    for i, text in errors.items():
        assert "ResultTypeError" in text, text


def _trace(t):
    """A membrane voltage that relaxes to rest: long constant stretches compress well."""
    v = np.full(5000, -65.0)
    v[:200] = -65.0 + 20.0 * np.exp(-np.arange(200) / (5.0 + t.i))
    return v


@pytest.mark.parametrize("spec", ["gzip:6", "lzf", "zstd", "blosc:lz4:5"])
def test_compression_of_result_columns(tmp_path, spec):
    import h5py

    traj = hpcpet.Trajectory()
    traj.add_parameter("i", 0)
    traj.explore({"i": list(range(30))})

    def run(t):
        t.add_result("v", _trace(t))
        t.add_result("plain", _trace(t), compression="none")
        t.add_result("small", _trace(t), dtype="float32")

    plain, packed = str(tmp_path / "plain.h5"), str(tmp_path / "packed.h5")
    hpcpet.Environment(traj, plain, progress="quiet").run(run)
    hpcpet.Environment(traj, packed, progress="quiet", compression=spec).run(run)
    with hpcpet.load(plain) as a, hpcpet.load(packed) as b:
        assert np.array_equal(a.get_from_runs("v"), b.get_from_runs("v"))  # lossless
        assert b.get_from_runs("small").dtype == np.float32
        assert np.allclose(b.get_from_runs("small"), b.get_from_runs("v"), rtol=1e-6)
    with h5py.File(packed, "r") as f:  # plain h5py (+ import hdf5plugin for zstd/blosc) reads it
        ds = f["results/v/data"]
        assert ds.compression is not None or ds._filters, ds
        assert ds.id.get_storage_size() < 0.3 * ds.nbytes
        assert f["results/plain/data"].id.get_storage_size() >= f["results/plain/data"].nbytes
        assert f.attrs["compression"] == spec


def test_bad_compression_is_a_one_line_error(tmp_path):
    proc = hpcpet_cli("run", experiment("product.py"), "-o", tmp_path / "x.h5", "--compression", "zip",
                      check=False)
    assert proc.returncode == 2 and "unknown compression 'zip'" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x.h5").exists()


def test_compressed_columns_are_chunked_in_whole_buckets(tmp_path):
    import h5py

    traj = hpcpet.Trajectory()
    traj.add_parameter("i", 0)
    traj.explore({"i": list(range(3000))})
    path = str(tmp_path / "c.h5")
    hpcpet.Environment(traj, path, progress="quiet", set_size=100, compression="gzip").run(
        lambda t: t.add_result("z", float(t.i)))
    with h5py.File(path, "r") as f:
        rows = f["results/z/data"].chunks[0]
        assert rows % 100 == 0 or rows == 3000

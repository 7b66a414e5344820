"""The Python API: Environment(...).run(fn), Summary, backends, bucket layout."""
import h5py
import numpy as np
import pytest

import hpcpet
from hpcpet.errors import HpcpetError


def _traj(n=12):
    traj = hpcpet.Trajectory("api")
    traj.add_parameter("x", 0.0)
    traj.add_parameter("k", 0)
    traj.explore(hpcpet.cartesian_product({"x": np.linspace(0, 1, n // 3), "k": [1, 2, 3]}))
    return traj


def scaled(traj, factor, offset=0.0, *, power=1):
    if traj.k == 3 and traj.x == 0.0:
        raise ArithmeticError("k=3 at x=0")
    traj.add_result("$.y", factor * traj.x ** power + offset + traj.k)
    return traj.k


def test_args_and_kwargs_reach_the_function(tmp_path):
    out = str(tmp_path / "a.h5")
    summary = hpcpet.Environment(_traj(), out, progress="quiet").run(scaled, 10.0, 0.5, power=2)
    assert isinstance(summary, hpcpet.Summary)
    with hpcpet.load(out) as t:
        x, k = t.explored["x"], t.explored["k"]
        ok = t.completed
        assert np.allclose(t.get_from_runs("y")[ok], (10.0 * x ** 2 + 0.5 + k)[ok])
        assert np.array_equal(t.get_from_runs("return")[ok], k[ok])
        assert t.meta["function"] == "scaled" and t.meta["backend"] == "serial"
        assert t.meta["experiment_path"] == "" and t.source is None


def test_summary_numbers(tmp_path):
    out = str(tmp_path / "s.h5")
    s = hpcpet.Environment(_traj(12), out, progress="quiet", set_size=5).run(scaled, 1.0)
    assert (s.n_runs, s.done, s.failed, s.pending, s.ran) == (12, 11, 1, 0, 12)
    assert s.path == out and not s.interrupted
    assert s.seconds > 0 and s.rate == pytest.approx(12 / s.seconds)
    assert "11/12 runs done, 1 failed, 0 pending" in str(s)
    with hpcpet.load(out) as t:
        assert "ArithmeticError: k=3 at x=0" in t.errors[2]
        assert bool(t.meta["complete"]) is False


def test_fail_fast_api(tmp_path):
    out = str(tmp_path / "ff.h5")
    with pytest.raises(HpcpetError, match="fail-fast"):
        hpcpet.Environment(_traj(12), out, progress="quiet", fail_fast=True, batch_size=1).run(scaled, 1.0)
    with hpcpet.load(out) as t:
        assert t.status.tolist()[:3] == [1, 1, 2] and not t.status[3:].any()


def test_refuses_existing_file_and_overwrites(tmp_path):
    out = tmp_path / "e.h5"
    out.write_bytes(b"keep me")
    with pytest.raises(HpcpetError, match="exists"):
        hpcpet.Environment(_traj(), str(out), progress="quiet").run(scaled, 1.0)
    assert out.read_bytes() == b"keep me"
    s = hpcpet.Environment(_traj(), str(out), progress="quiet", overwrite=True).run(scaled, 1.0)
    assert s.done == 11


def test_pool_backend_via_api(tmp_path):
    serial, pool = str(tmp_path / "serial.h5"), str(tmp_path / "pool.h5")
    hpcpet.Environment(_traj(300), serial, progress="quiet", set_size=7).run(scaled, 2.0, offset=1.0)
    s = hpcpet.Environment(_traj(300), pool, backend="pool", ncores=2, progress="quiet",
                           set_size=7).run(scaled, 2.0, offset=1.0)
    assert (s.done, s.failed) == (299, 1)
    with hpcpet.load(serial) as a, hpcpet.load(pool) as b:
        assert a.meta["backend"] == "serial" and b.meta["backend"] == "pool"
        assert np.array_equal(a.status, b.status)
        assert np.array_equal(a.get_from_runs("y"), b.get_from_runs("y"), equal_nan=True)
        assert np.array_equal(a.get_from_runs("return"), b.get_from_runs("return"), equal_nan=True)
        assert a.errors.keys() == b.errors.keys()


def test_unknown_backend(tmp_path):
    with pytest.raises(HpcpetError, match="unknown backend"):
        hpcpet.Environment(_traj(), str(tmp_path / "x.h5"), backend="gpu")


def _max_children(path):
    """Largest number of members of any group in the file, and that group."""
    counts = {}
    with h5py.File(path, "r") as f:
        counts["/"] = len(f)
        f.visititems(lambda name, obj: counts.__setitem__(name, len(obj))
                     if isinstance(obj, h5py.Group) else None)
    name = max(counts, key=counts.get)
    return counts[name], name


@pytest.mark.parametrize("n_runs,set_size", [(5000, 10), (1000, 3), (9, 2), (64, 4), (65, 4)])
def test_no_group_has_more_than_set_size_children(tmp_path, n_runs, set_size):
    traj = hpcpet.Trajectory()
    traj.add_parameter("i", 0)
    traj.explore({"i": np.arange(n_runs)})

    def run(t):
        t.add_result("g.$set.$.v", t.i * 2)
        t.add_result("g.$set.$.w", np.arange(t.i % 3))
        if t.i % 5:
            t.add_result("g.$set.$.s", f"run {t.i}")

    out = str(tmp_path / "many.h5")
    hpcpet.Environment(traj, out, set_size=set_size, progress="quiet").run(run)
    most, where = _max_children(out)
    assert most <= max(set_size, 10), (most, where)  # 10: the fixed top-level groups
    with h5py.File(out, "r") as f:  # one column over all runs, buckets one after another, contiguous
        assert f["results/g/v/data"].chunks is None
        assert f["results/g/v/data"].shape == (n_runs,)
    with hpcpet.load(out) as t:
        assert t.completed.all()
        assert np.array_equal(t.get_from_runs("g.v"), np.arange(n_runs) * 2)
        w = t.get_from_runs("g.w")
        assert all(len(w[i]) == i % 3 for i in range(n_runs))
        s = t.get_from_runs("g.s")
        assert s[1] == "run 1" and s[0] is None
        last = t.run(n_runs - 1)
        assert last["g.v"] == 2 * (n_runs - 1)

"""Writer + loader round trips: what runs add is what ``load`` gives back.

The property test generates random per-run results of every kind, runs them
through ``Environment(...).run(fn)`` (serial) with random run counts, set
sizes and batch sizes, and reads them back with ``get_from_runs`` and
``run(i)``.
"""
import os
import tempfile

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import hpcpet
from hpcpet.columns import Column, encode
from hpcpet.engine import FrozenInput
from hpcpet.environment import Environment
from hpcpet.storage.writer import Writer

# ---------------------------------------------------------------------------- value strategies
text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
KINDS = {
    # kind: (strategy of one run's value, stored as a fixed numpy column?)
    "f": (st.floats(allow_nan=False, width=64), True),
    "i": (st.integers(-2**62, 2**62), True),
    "b": (st.booleans(), True),
    "c": (st.complex_numbers(allow_nan=False, allow_infinity=False, max_magnitude=1e6), True),
    "fixed": (st.lists(st.floats(-1e9, 1e9), min_size=6, max_size=6).map(
        lambda v: np.array(v).reshape(2, 3)), True),
    "r1": (st.lists(st.integers(-1000, 1000), max_size=4).map(lambda v: np.array(v, np.int64)), False),
    "r2": (st.tuples(st.integers(0, 3), st.integers(1, 3)).map(
        lambda s: np.arange(s[0] * s[1], dtype=float).reshape(s) + 0.5), False),
    "s": (text, False),
}


@st.composite
def plans(draw):
    n = draw(st.integers(1, 40))
    kinds = draw(st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=len(KINDS), unique=True))
    # per result: how often a run leaves it out (0 = never)
    skip = {k: draw(st.sampled_from([0.0, 0.0, 0.3, 0.9])) for k in kinds}
    runs = []
    for i in range(n):
        fail = draw(st.integers(0, 9)) == 0
        values = {}
        for k in kinds:
            if skip[k] and draw(st.floats(0, 1)) < skip[k]:
                continue
            values[k] = draw(KINDS[k][0])
        runs.append((fail, values))
    set_size = draw(st.integers(1, 12))
    batch = draw(st.one_of(st.none(), st.integers(1, 15)))
    checkpoint_each_batch = draw(st.booleans())
    return n, kinds, runs, set_size, batch, checkpoint_each_batch


def name_of(kind):
    return f"res.$set.$.{kind}"


def _run(traj, plan):
    fail, values = plan[traj.index]
    for k, v in values.items():
        traj.add_result(name_of(k), v)
    if fail:
        raise RuntimeError(f"planned failure {traj.index}")


def _execute(path, runs, set_size, batch, checkpoint_each_batch):
    traj = hpcpet.Trajectory("prop")
    traj.add_parameter("i", 0)
    traj.explore({"i": np.arange(len(runs))})
    env = Environment(traj, path, set_size=set_size, batch_size=batch, progress="quiet", overwrite=True)
    traj.freeze()
    writer = Writer.create(path, traj, set_size=set_size, overwrite=True)
    if checkpoint_each_batch:
        writer.checkpoint_seconds = 0.0
    frozen = FrozenInput(traj, _run, (runs,), {})
    return env.execute(writer, frozen, writer.todo())


def _same(got, want):
    if isinstance(want, str):
        return isinstance(got, str) and got == want
    want = np.asarray(want)
    got = np.asarray(got)
    return got.shape == want.shape and np.array_equal(got, want)


def check_file(path, n, kinds, runs):
    failed = np.array([f for f, _ in runs])
    with hpcpet.load(path) as t:
        assert len(t) == n
        assert np.array_equal(t.failed, failed)
        assert np.array_equal(t.completed, ~failed)
        assert set(t.errors) == set(np.flatnonzero(failed).tolist())
        for i in np.flatnonzero(failed):
            assert f"planned failure {i}" in t.errors[int(i)]
        stored = set(t.results)
        for k in kinds:
            name = f"res.{k}"
            have = [not f and k in v for f, v in runs]
            if not any(have):
                assert name not in stored
                continue
            col = t.get_from_runs(name)
            assert t.get_from_runs(name_of(k)) is not None  # wildcards accepted
            fixed = t.results[name]["kind"] == "fixed"  # equal-shape "ragged" rows are stored fixed
            assert fixed or not KINDS[k][1]
            if fixed:
                assert isinstance(col, np.ndarray) and len(col) == n
                missing = [f or k not in v for f, v in runs]
                if col.dtype.kind not in "fc" and any(missing):  # ints and bools: masked, never a fake 0
                    assert isinstance(col, np.ma.MaskedArray)
                    m = np.ma.getmaskarray(col).reshape(n, -1)
                    assert m.shape[1] == 0 or np.array_equal(m[:, 0], missing)
                for i, (f, v) in enumerate(runs):
                    if f:
                        continue
                    if k in v:
                        want = np.asarray(v[k])
                        got = np.ma.getdata(col)[i]
                        assert got.dtype == want.dtype or (want.dtype.kind in "iu" and got.dtype.kind in "iu"), \
                            (name, got.dtype, want.dtype)
                        assert _same(got, want), (name, i, col[i], v[k])
                    elif col.dtype.kind in "fc":
                        assert np.isnan(col[i]).all(), (name, i, col[i])
                    else:
                        assert np.ma.getmaskarray(col)[i].all(), (name, i, col[i])
            else:
                assert isinstance(col, list) and len(col) == n
                for i, (f, v) in enumerate(runs):
                    if f or k not in v:
                        assert col[i] is None, (name, i, col[i])
                    else:
                        assert _same(col[i], v[k]), (name, i, col[i], v[k])
        for i, (f, v) in enumerate(runs):
            r = t.run(i)
            assert r.index == i and r["i"] == i
            assert r.status == ("failed" if f else "done")
            if f:
                assert r.results == {} and f"planned failure {i}" in r.error
                continue
            assert r.error is None
            assert set(r.results) == {f"res.{k}" for k in v}
            for k, val in v.items():
                assert _same(r[f"res.{k}"], val), (k, i, r[f"res.{k}"], val)


@settings(max_examples=35, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.data_too_large])
@given(plans())
def test_round_trip_property(plan):
    n, kinds, runs, set_size, batch, ckpt = plan
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "p.h5")
        summary = _execute(path, runs, set_size, batch, ckpt)
        n_failed = sum(f for f, _ in runs)
        assert (summary.done, summary.failed, summary.pending) == (n - n_failed, n_failed, 0)
        check_file(path, n, kinds, runs)


# ---------------------------------------------------------------------------- fixed cases
def _one(tmp_path, runs, set_size=3, batch=None, ckpt=False, kinds=None):
    path = str(tmp_path / "x.h5")
    _execute(path, runs, set_size, batch, ckpt)
    kinds = kinds or sorted({k for _, v in runs for k in v})
    check_file(path, len(runs), kinds, runs)
    return path


def test_int_missing_in_whole_bucket_is_masked(tmp_path):
    # bucket 0 (runs 0-2) never adds "i": those runs must read as missing, not 0
    runs = [(False, {})] * 3 + [(False, {"i": 7}), (False, {"i": 8}), (False, {"i": 9})]
    path = _one(tmp_path, runs)
    with hpcpet.load(path) as t:
        col = t.get_from_runs("res.i")
        assert isinstance(col, np.ma.MaskedArray) and col.dtype == np.int64
        assert col.mask.tolist() == [True] * 3 + [False] * 3 and col[3:].tolist() == [7, 8, 9]


def test_bool_missing_is_masked(tmp_path):
    _one(tmp_path, [(False, {"b": True}), (False, {}), (False, {"b": False}), (False, {"b": True})],
         set_size=2)


def test_int_complete_stays_int(tmp_path):
    path = _one(tmp_path, [(False, {"i": k}) for k in range(7)] + [(True, {"i": 99})])
    with hpcpet.load(path) as t:
        assert t.get_from_runs("res.i").dtype.kind == "i"


def test_ragged_that_looks_fixed_in_one_bucket(tmp_path):
    # bucket 0 has equal lengths (stored as a fixed block), bucket 1 not
    runs = [(False, {"r1": np.arange(2)}), (False, {"r1": np.arange(2) + 5}),
            (False, {"r1": np.arange(3)}), (False, {"r1": np.arange(0)})]
    for ckpt in (False, True):
        _one(tmp_path, runs, set_size=2, batch=1, ckpt=ckpt)


def test_fixed_then_ragged_in_same_bucket_across_batches(tmp_path):
    runs = [(False, {"r2": np.ones((2, 2))}), (False, {"r2": np.ones((2, 2)) * 2}),
            (False, {"r2": np.ones((1, 3))}), (False, {"r2": np.ones((0, 1))})]
    _one(tmp_path, runs, set_size=4, batch=2, ckpt=True)
    _one(tmp_path, runs, set_size=4, batch=2, ckpt=False)


def test_int_then_float_promotes(tmp_path):
    path = str(tmp_path / "p.h5")
    runs = [(False, {"f": 1}), (False, {"f": 2}), (False, {"f": 2.5}), (False, {"f": 3.5})]
    _execute(path, runs, set_size=2, batch=1, checkpoint_each_batch=True)
    with hpcpet.load(path) as t:
        assert t.get_from_runs("res.f").tolist() == [1.0, 2.0, 2.5, 3.5]


def test_non_ascii_and_empty_strings(tmp_path):
    runs = [(False, {"s": "ünïcødé ✓ 漢字"}), (False, {"s": ""}), (False, {}), (True, {"s": "x"}),
            (False, {"s": "\U0001F600 emoji"})]
    path = _one(tmp_path, runs, set_size=2)
    with h5py.File(path, "r") as h5:  # readable as UTF-8 by plain h5py: values[offsets[k]:offsets[k+1]]
        g = h5["results/res/s"]
        o = g["offsets"][()]
        assert g["values"][o[0]:o[1]].tobytes().decode() == "ünïcødé ✓ 漢字"


def test_unstorable_result_fails_the_run(tmp_path):
    path = str(tmp_path / "u.h5")

    def run(traj):
        traj.add_result("ok", 1.0)
        if traj.index == 1:
            traj.add_result("bad", {1, 2})  # a set: not storable

    traj = hpcpet.Trajectory()
    traj.add_parameter("x", 0)
    traj.explore({"x": [0, 1, 2]})
    s = Environment(traj, path, progress="quiet").run(run)
    assert (s.done, s.failed) == (2, 1)
    with hpcpet.load(path) as t:
        assert "ResultTypeError" in t.errors[1] and "'bad'" in t.errors[1]
        assert t.get_from_runs("ok")[[0, 2]].tolist() == [1.0, 1.0]


def test_text_among_numbers_refuses_only_that_value():
    col = encode([1.0, "a", 2.0])
    assert col.kind == "fixed" and list(col.refused) == [1] and "text" in col.refused[1]
    assert col.present.tolist() == [True, False, True]


def test_encode_kinds():
    assert encode([1, 2]).kind == "fixed"
    assert encode([np.zeros(2), np.zeros(3)]).kind == "ragged"
    assert encode(["a", None]).kind == "string"
    c = encode([None, 2.0, None])
    assert c.kind == "fixed" and c.present.tolist() == [False, True, False]
    assert isinstance(encode([np.zeros(2)]), Column)


def test_file_readable_with_plain_h5py(tmp_path):
    path = str(tmp_path / "plain.h5")
    traj = hpcpet.Trajectory()
    traj.add_parameter("x", 1.0)
    traj.add_parameter("neuron.tau", 10.0)
    traj.explore(hpcpet.cartesian_product({"x": [1.0, 2.0], "neuron.tau": [5.0, 7.0, 9.0]}))

    def run(t):
        t.add_result("some_group.$set.$.z", t.x * t.neuron.tau)

    Environment(traj, path, set_size=4, progress="quiet").run(run)
    with h5py.File(path, "r") as h5:
        z = h5["results/some_group/z/data"][()]  # one dataset over all runs, chunks of set_size
        assert z.tolist() == [5.0, 7.0, 9.0, 10.0, 14.0, 18.0]
        assert h5["results/some_group/z/data"].chunks is None  # contiguous: one read per column
        assert h5["runs/status"][()].tolist() == [1] * 6
        assert h5["explored/neuron/tau"][()].tolist() == [5.0, 7.0, 9.0] * 2
        assert h5["parameters/x"][()] == 1.0


@pytest.mark.parametrize("batch", [1, None])
def test_group_leaf_clash_between_results_fails_those_runs(tmp_path, batch):
    """``g`` in some runs and ``g.h`` in others cannot both be stored: the later name's runs fail."""
    path = str(tmp_path / "clash.h5")
    traj = hpcpet.Trajectory()
    traj.add_parameter("x", 0)
    traj.explore({"x": [0, 1, 2, 3, 4]})

    def run(t):
        t.add_result("y", float(t.x))
        t.add_result("g" if t.x % 2 else "g.h", 1.0)

    s = Environment(traj, path, set_size=2, batch_size=batch, progress="quiet").run(run)
    assert (s.done, s.failed) == (3, 2)
    with hpcpet.load(path) as t:
        assert t.failed.tolist() == [False, True, False, True, False]
        assert "clashes with result 'g.h'" in t.errors[1]
        assert set(t.results) == {"y", "g.h"}
        assert t.get_from_runs("y")[[0, 2, 4]].tolist() == [0.0, 2.0, 4.0]


# ---------------------------------------------------------------------------- consolidation
def _batch(start, stop, f, status=None, info=None, gzip=False):
    from hpcpet.batch import DONE, BatchResult

    n = stop - start
    st_ = np.full(n, DONE, np.uint8) if status is None else np.asarray(status, np.uint8)
    done = st_ == DONE
    cols = {"f": Column("fixed", np.asarray(f, float)),
            "c": Column("fixed", np.full(n, 7, np.int64)),
            "i": Column("fixed", np.arange(start, stop, dtype=np.int64), done & (np.arange(start, stop) % 3 != 0))}
    opts = {"f": {"compression": "gzip"}, "c": {"compression": "gzip"}} if gzip else {}
    errors = {start + k: "boom" for k in np.flatnonzero(~done)}
    return BatchResult(start, stop, st_, cols, errors, {}, 0.0, info or {}, options=opts)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order=st.permutations(range(8)), gzip=st.booleans(), every=st.integers(1, 9),
       nan=st.lists(st.integers(0, 39), max_size=12), fail=st.lists(st.integers(0, 39), max_size=6),
       hosts=st.lists(st.sampled_from(["a", "bb", "ccc"]), min_size=8, max_size=8))
def test_consolidation_places_every_run_whatever_the_arrival_order(tmp_path_factory, order, gzip, every,
                                                                   nan, fail, hosts):
    """Batches arrive in any order, spread over segments; failed runs are redone after a reopen
    (a later segment wins); NaN values equal the compressed fill and must still come back."""
    from hpcpet.batch import DONE, FAILED, Steps
    from hpcpet.trajectory import Trajectory

    path = str(tmp_path_factory.mktemp("c") / "c.h5")
    traj = Trajectory("c")
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(40))})
    traj.freeze()
    want = np.arange(40, dtype=float) * 1.5
    want[nan] = np.nan
    w = Writer.create(path, traj, set_size=4)
    for k, b in enumerate(order):
        lo, hi = 5 * b, 5 * b + 5
        status = [FAILED if i in fail else DONE for i in range(lo, hi)]
        start = np.arange(lo, hi, dtype=float) if b % 2 else Steps(float(lo), 1.0)  # as engines give it
        info = {"host": hosts[b], "worker": b, "start": start, "duration": 0.5}
        w.write(_batch(lo, hi, want[lo:hi], status, info, gzip))
        if (k + 1) % every == 0:
            w.checkpoint(compact=False)
    w.close()
    w = Writer.reopen(path)
    redo = sorted(set(fail))
    for i in redo:
        w.write(_batch(i, i + 1, [np.nan], None, {"host": "z", "worker": 99, "start": np.array([-1.0]),
                                                  "duration": 2.0}, gzip))
        want[i] = np.nan
    w.close()
    with h5py.File(path, "r") as h5:  # one dataset per column, every run in place
        assert h5["results/f/data"].shape == (40,)
    with hpcpet.load(path) as t:
        assert t.completed.all()
        assert np.array_equal(t.get_from_runs("f"), want, equal_nan=True)
        assert t.get_from_runs("c").tolist() == [7] * 40
        i = t.get_from_runs("i")
        expect_missing = [r % 3 == 0 for r in range(40)]  # the redone runs added it too
        assert np.ma.getmaskarray(i).tolist() == expect_missing
        assert np.ma.getdata(i)[~np.array(expect_missing)].tolist() == \
            [r for r in range(40) if not expect_missing[r]]
        info = t.run_info
        host = [("z" if r in fail else hosts[r // 5]) for r in range(40)]
        assert [str(h) for h in info["host"]] == host
        assert info["worker"].tolist() == [99 if r in fail else r // 5 for r in range(40)]
        assert info["start"].tolist() == [-1.0 if r in fail else float(r) for r in range(40)]
        assert info["duration"].tolist() == [2.0 if r in fail else 0.5 for r in range(40)]


def test_overwrite_leaves_nothing_of_a_killed_study(tmp_path):
    """A study killed with segments on disk, then `run --overwrite`: the new study is only its own."""
    from hpcpet.trajectory import Trajectory

    path = str(tmp_path / "o.h5")
    traj = Trajectory("o")
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(10))})
    traj.freeze()
    w = Writer.create(path, traj, set_size=4)
    w.write(_batch(0, 5, np.ones(5)))
    w.checkpoint()
    w.abandon()  # as a kill leaves it: the segment stays for resume
    assert os.listdir(path + ".segments")
    w = Writer.create(path, traj, set_size=4, overwrite=True)
    w.write(_batch(5, 10, np.full(5, 2.0)))
    w.close()
    with hpcpet.load(path) as t:
        assert t.completed.tolist() == [False] * 5 + [True] * 5
        assert np.isnan(t.get_from_runs("f")[:5]).all()

"""Run-length columns (hpcpet.storage.runlength): bit-exact however runs are cut, moved and merged."""
import time

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hpcpet
from hpcpet.batch import Steps
from hpcpet.storage.runlength import RUN_ORIGINS, Runs, blocks_of, gather, row_count, stored_as_runs


def _reference(n, sources):
    """What the sources say, the slow way: every source expanded, a later one wins a row."""
    out, covered = None, np.zeros(n, bool)
    for rows, runs in sources:
        data = runs.expand()
        if out is None:
            out = np.zeros(n, data.dtype)
        at = np.arange(runs.n) if rows is None else rows
        out[at] = data
        covered[at] = True
    return out, covered


@st.composite
def linear_sources(draw):
    """Segments of start times: batches of Steps (short runs) and of timed runs, in any order."""
    n = draw(st.integers(4, 400))
    sources = []
    for _ in range(draw(st.integers(1, 5))):
        m = draw(st.integers(1, n))
        rows = draw(st.permutations(range(n)))[:m] if draw(st.booleans()) else \
            np.arange(draw(st.integers(0, n - m)), n)[:m]
        rows = np.sort(np.asarray(rows)) if draw(st.booleans()) else np.asarray(rows)
        starts = np.unique(np.concatenate([[0], draw(st.lists(st.integers(0, m - 1), max_size=4))])).astype(np.int64)
        values = np.array(draw(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64),
                                        min_size=len(starts), max_size=len(starts))))
        steps = np.array(draw(st.lists(st.floats(0, 1e3), min_size=len(starts), max_size=len(starts))))
        sources.append((np.asarray(rows, np.int64), Runs(starts, values, m, steps)))
    return n, sources


def _stored(tmp_path, sources):
    f = h5py.File(tmp_path / "runs.h5", "w")
    groups = []
    for k, (rows, runs) in enumerate(sources):
        g = f.create_group(str(k))
        runs.write(g)
        groups.append((None if rows is None else blocks_of(rows), g))
    return f, groups


@settings(max_examples=60, deadline=None)
@given(linear_sources())
def test_gather_is_bit_exact_however_segments_overlap_and_arrive(tmp_path_factory, case):
    n, sources = case
    f, groups = _stored(tmp_path_factory.mktemp("g"), sources)
    with f:
        got = gather(n, groups)
        want, covered = _reference(n, sources)
        if got is None:  # not compact: the caller stores the rows themselves
            return
        runs, has = got
        assert (has == covered).all()
        assert runs.expand()[covered].tobytes() == want[covered].tobytes()
        for i in np.flatnonzero(covered)[:20]:
            assert np.float64(runs.row(int(i))).tobytes() == want[i].tobytes()


def test_a_cut_run_keeps_its_origin(tmp_path):
    """A later segment overwrites the middle of an evenly spaced run: the rest is not recomputed."""
    first = Runs(np.array([0]), np.array([1.7e9 + 0.1]), 100, np.array([3.3e-6]))
    middle = Runs(np.array([0]), np.array([5.0]), 10, np.array([0.0]))
    f, groups = _stored(tmp_path, [(None, first), (np.arange(40, 50), middle)])
    with f:
        runs, has = gather(100, groups)
        assert has.all() and len(runs.starts) == 3
        want = Steps(1.7e9 + 0.1, 3.3e-6).expand(100)
        want[40:50] = 5.0
        assert runs.expand().tobytes() == want.tobytes()
        g = f.create_group("merged")
        runs.write(g)
        assert RUN_ORIGINS in g and row_count(g) == 100 and stored_as_runs(g)
        assert Runs.read(g).expand().tobytes() == want.tobytes()


def test_equal_values_from_many_segments_become_one_run(tmp_path):
    host = [(np.arange(k * 10, k * 10 + 10), Runs(np.array([0]), np.array([b"node1"]), 10)) for k in range(5)]
    f, groups = _stored(tmp_path, host)
    with f:
        runs, has = gather(60, groups)
        assert len(runs.starts) == 1 and not has[50:].any() and has[:50].all()  # 50..59: no segment yet


def test_not_compact_or_not_runs_is_left_to_the_caller(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        plain = f.create_group("plain")
        plain.create_dataset("data", data=np.arange(10.0))
        assert gather(10, [(None, plain)]) is None
        many = f.create_group("many")
        Runs(np.arange(10), np.arange(10.0), 10, np.zeros(10)).write(many)
        assert gather(10, [(None, many)]) is None
    assert Runs.of(np.arange(10.0)) is None and Runs.of(np.zeros(10)).values.tolist() == [0.0]


def test_minus_zero_and_nan_survive(tmp_path):
    data = np.array([-0.0] * 8 + [np.nan] * 8 + [0.0] * 8)
    runs = Runs.of(data)
    assert runs is not None and runs.expand().tobytes() == data.tobytes()


@pytest.mark.parametrize("backend", ["serial", "pool"])
def test_run_info_of_a_study_is_stored_as_a_few_runs(tmp_path, backend):
    """10^4 short runs: start, host, worker, attempts, duration take a few numbers per batch, and
    ``load().run_info`` and ``run(i)`` give the values the workers measured."""
    traj = hpcpet.Trajectory("t")
    traj.add_parameter("x", 0.0)
    traj.explore({"x": np.arange(10_000.0)})
    out = str(tmp_path / "o.h5")
    before = time.time()
    hpcpet.Environment(traj, out, backend=backend, ncores=2, progress="quiet").run(_square)
    after = time.time()
    with h5py.File(out, "r", locking=False) as f:
        for name in ("start", "host", "worker", "attempts", "duration"):
            assert stored_as_runs(f["run_info"][name]), name
            assert len(f["run_info"][name]["run_values"]) < 2_500
    with hpcpet.load(out) as t, h5py.File(out, "r", locking=False) as f:
        info = t.run_info
        for name in info:  # docs/format.md "Run info": decoded with plain numpy
            plain = _plain_h5py(f["run_info"][name])
            assert plain.tobytes() == np.asarray(info[name]).astype(plain.dtype).tobytes(), name
        assert len(info["start"]) == 10_000 and (info["start"] >= before).all() and (info["start"] <= after).all()
        assert (info["duration"] >= 0).all() and (info["attempts"] == 1).all()
        for i in (0, 1, 4_999, 9_999):
            run = t.run(i)
            assert run.info["start"] == info["start"][i] and run.info["host"] == info["host"][i]


def _square(traj):
    traj.add_result("y", traj.x ** 2)


def _plain_h5py(g):
    """The recipe of docs/format.md, "Run info", word for word."""
    starts, values = g["run_starts"][()], g["run_values"][()]
    lengths = np.diff(np.append(starts, g.attrs["rows"]))
    rows = np.repeat(values, lengths)
    if "run_steps" in g:
        origin = g["run_origins"][()] if "run_origins" in g else starts
        k = (np.arange(g.attrs["rows"]) - np.repeat(origin, lengths)).astype(np.float64)
        rows = k * np.repeat(g["run_steps"][()], lengths) + rows
    return rows


def test_runs_redone_after_a_resume_replace_only_their_own_run_info(tmp_path):
    """The results file holds run info as runs; a resume that redoes failed runs overlays them
    (the overlapping case): every other run keeps the exact bits it had."""
    traj = hpcpet.Trajectory("t")
    traj.add_parameter("x", 0.0)
    traj.explore({"x": np.arange(5_000.0)})
    out = str(tmp_path / "o.h5")
    hpcpet.Environment(traj, out, progress="quiet").run(_fails_in_the_middle)
    with hpcpet.load(out) as t:
        before = t.run_info
        failed = np.flatnonzero(~t.completed)
    assert len(failed) == 100
    with h5py.File(out, "r", locking=False) as f:
        assert stored_as_runs(f["run_info/start"])
    traj = hpcpet.Trajectory("t")
    traj.add_parameter("x", 0.0)
    traj.explore({"x": np.arange(5_000.0)})
    hpcpet.Environment(traj, out, progress="quiet").resume(_square, retry_failed=True)
    with hpcpet.load(out) as t, h5py.File(out, "r", locking=False) as f:
        after = t.run_info
        assert t.completed.all()
        assert stored_as_runs(f["run_info/start"])
    kept = np.ones(5_000, bool)
    kept[failed] = False
    for name in ("start", "duration", "worker", "attempts"):
        assert after[name][kept].tobytes() == before[name][kept].tobytes(), name
    assert (after["start"][failed] > before["start"][kept].max()).all()


def _fails_in_the_middle(traj):
    if 2_000 <= traj.x < 2_100:
        raise ValueError("not yet")
    traj.add_result("y", traj.x ** 2)

"""The engine's batch source (how runs are cut into batches) and the frozen input."""
import pickle

import numpy as np
import pytest
from hypothesis import given, strategies as st

import hpcpet
from hpcpet.engine import DONE, BatchResult, BatchSource, FrozenInput


def handed_out(source: BatchSource) -> list[range]:
    return list(iter(source.next, None))


def finished(batch: range, seconds_per_run: float) -> BatchResult:
    n = len(batch)
    return BatchResult(batch.start, batch.stop, np.full(n, DONE, np.uint8), {}, {}, {}, n * seconds_per_run)


@given(st.lists(st.booleans(), max_size=300), st.integers(1, 16), st.integers(1, 50))
def test_batches_cover_exactly_the_runs_to_do(mask, workers, set_size):
    mask = np.array(mask, bool)
    for todo in (mask, np.flatnonzero(mask)):  # a mask or sorted indices
        source = BatchSource(todo, workers, set_size)
        assert source.total == mask.sum()
        runs = [i for b in handed_out(source) for i in b]
        assert runs == np.flatnonzero(mask).tolist()
        assert source.remaining == 0


def test_few_slow_runs_are_spread_over_every_worker():
    # before any run is timed, 8 runs on 2 workers must not all go into one batch
    source = BatchSource(np.ones(8, bool), workers=2)
    first = [source.next() for _ in range(4)]  # what 2 workers with 2 queued batches get
    assert all(len(b) <= 2 for b in first)
    source = BatchSource(np.ones(64, bool), workers=15)
    assert len({source.next().start for _ in range(15)}) == 15  # every worker has something


def test_batches_grow_for_tiny_runs_and_shrink_at_the_end():
    n = 1_000_000
    source = BatchSource(np.ones(n, bool), workers=2, set_size=1000)
    first = source.next()
    assert len(first) == BatchSource.FIRST_BATCH
    source.observe(finished(first, 1e-6))
    big = source.next()
    assert len(big) >= 10_000 and big.stop % 1000 == 0  # ~0.05 s of work, cut at a bucket boundary
    sizes = [len(b) for b in handed_out(source)]
    assert sizes[-1] < len(big) / 10  # the last batches are small, so no worker idles at the end


def test_slow_runs_go_one_per_batch():
    source = BatchSource(np.ones(100, bool), workers=4)
    source.observe(finished(source.next(), 0.5))
    assert all(len(b) == 1 for b in handed_out(source))


def test_fixed_batch_size_and_stop():
    source = BatchSource(np.arange(10), workers=3, batch_size=4)
    assert [len(b) for b in handed_out(source)] == [4, 4, 2]
    source = BatchSource(np.arange(10), workers=3, batch_size=4)
    source.next()
    source.stop()
    assert source.next() is None


def test_observing_the_same_first_result_twice_changes_nothing():
    # the MPI backend observes its first result itself; the environment observes it again
    a, b = BatchSource(np.ones(100, bool), 2), BatchSource(np.ones(100, bool), 2)
    r = finished(range(0, 16), 1e-3)
    a.observe(r)
    b.observe(r)
    b.observe(r)
    assert a.per_run == pytest.approx(b.per_run)


def test_frozen_input_of_a_million_runs_is_small():
    # a cartesian exploration travels as its axes, not as 10^6 rows
    traj = hpcpet.Trajectory()
    traj.add_parameter("x", 1.0)
    traj.add_parameter("y", 1.0)
    traj.explore(hpcpet.cartesian_product({"x": np.arange(1000.0), "y": np.arange(1000.0)}))
    traj.freeze()
    assert len(traj) == 1_000_000
    assert len(pickle.dumps(FrozenInput(traj, None))) < 64_000

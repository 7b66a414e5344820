"""The engine's batch source (how runs are cut into batches) and the frozen input."""
import pickle

import numpy as np
import pytest
from hypothesis import given, strategies as st

import hpcpet
from hpcpet.engine import DONE, FAILED, BatchResult, BatchSource, FrozenInput, Worker
from hpcpet.batch import info_array


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


def test_a_small_round_is_cut_into_two_equal_batches_per_worker():
    # a generation of 2000 runs of ~2 us on 2 workers: 4 batches of 500 (each worker's two queued
    # batches: the whole generation goes out at once, evenly); a big round keeps ~0.05 s batches
    source = BatchSource(np.ones(2000, bool), workers=2)
    source.observe(finished(source.next(), 2e-6))
    source.restart(range(2000, 4000))
    assert source.total == 4000 and source.remaining == 2000
    assert [(b.start, b.stop) for b in handed_out(source)] == [(2000, 2500), (2500, 3000), (3000, 3500),
                                                                (3500, 4000)]
    source.restart(range(4000, 4000 + 1_000_000))
    assert len(source.next()) >= 10_000
    source = BatchSource(np.ones(64, bool), workers=63)  # tiny runs on many workers: not 1-run batches
    source.observe(finished(source.next(), 1e-6))
    source.restart(range(64, 64 + 2000))
    assert min(len(b) for b in handed_out(source)) >= int(BatchSource.TAIL_SECONDS / 1e-6) // 4


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
    assert a.bytes_per_run == b.bytes_per_run == 0


def test_batches_of_heavy_results_hold_at_most_batch_bytes():
    """1 MB per run: batches of 8 runs, however short the runs (big blocks are fresh memory each time)."""
    from hpcpet.columns import Column

    source = BatchSource(np.ones(1000, bool), 1)
    first = source.next()
    rows = np.zeros((len(first), 1 << 17))  # 1 MiB per run
    source.observe(BatchResult(first.start, first.stop, np.full(len(first), DONE, np.uint8),
                               {"v": Column("fixed", rows)}, {}, {}, 1e-6 * len(first)))
    assert source.bytes_per_run == pytest.approx(1 << 20)
    sizes = {len(b) for b in handed_out(source)[:-1]}
    assert sizes == {BatchSource.BATCH_BYTES >> 20}
    light = BatchSource(np.ones(100_000, bool), 1)  # scalar results: the time rule alone
    b = light.next()
    light.observe(BatchResult(b.start, b.stop, np.full(len(b), DONE, np.uint8),
                              {"z": Column("fixed", np.zeros(len(b)))}, {}, {}, 1e-6 * len(b)))
    assert len(light.next()) > 40_000  # 0.05 s of runs (cut at a bucket boundary)


def test_frozen_input_of_a_million_runs_is_small():
    # a cartesian exploration travels as its axes, not as 10^6 rows
    traj = hpcpet.Trajectory()
    traj.add_parameter("x", 1.0)
    traj.add_parameter("y", 1.0)
    traj.explore(hpcpet.cartesian_product({"x": np.arange(1000.0), "y": np.arange(1000.0)}))
    traj.freeze()
    assert len(traj) == 1_000_000
    assert len(pickle.dumps(FrozenInput(traj, None))) < 64_000


# ---------------------------------------------------------------- the worker: run info, failures


def _traj(n: int) -> hpcpet.Trajectory:
    traj = hpcpet.Trajectory()
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(n))})
    traj.freeze()
    return traj


def _hostile(traj):
    import os
    import sys
    import time

    x = traj.x
    print(f"python {x}")
    os.write(1, b"C %d\n" % x)
    if x == 1:
        time.sleep(30)
    elif x == 2:
        sys.exit(4)
    elif x == 3:
        traj.add_result("a", [np.ones(2), np.ones(3)])  # ragged: cannot be stored
    else:
        traj.add_result("a", float(x))
    time.sleep(0.01)
    return x


def test_a_run_fails_alone_on_timeout_sys_exit_or_an_unstorable_value():
    import time

    worker = Worker(FrozenInput(_traj(6), _hostile, run_timeout=0.5, capture=True), worker_id=7)
    t0 = time.time()
    result = worker.run_batch(range(0, 6))
    assert time.time() - t0 < 10  # the 30 s sleep was interrupted in place
    assert result.status[[0, 1, 2, 4, 5]].tolist() == [DONE, FAILED, FAILED, DONE, DONE]
    assert "timeout after 0.5 s" in result.errors[1]
    assert "SystemExit: 4" in result.errors[2]
    # the ragged value fails only its run: here (worker) or, refused in the column, at the writer
    refused = getattr(result.columns["a"], "refused", {})
    assert ("result 'a'" in result.errors.get(3, "")) or (3 in refused and result.status[3] == DONE)
    assert result.columns["a"].data[[0, 4, 5]].tolist() == [0.0, 4.0, 5.0]
    info = {name: info_array(a, len(result)) for name, a in result.info.items()}
    assert set(info) == {"duration", "start", "host", "worker", "attempts", "output"}
    assert all(len(a) == 6 for a in info.values())
    assert 0.4 < info["duration"][1] < 5 and (info["duration"][[0, 4, 5]] >= 0.01).all()
    assert (np.diff(info["start"]) > 0).all() and abs(info["start"][0] - t0) < 5
    import socket

    assert str(info["host"][0]) == socket.gethostname()
    assert info["worker"].tolist() == [7] * 6 and info["attempts"].tolist() == [1] * 6
    # captured at descriptor level: print() and os.write(1, ...) alike, each run its own
    # (print is buffered until the run ends, so it may come after the direct write)
    assert [sorted(o.splitlines()) for o in info["output"]] == [[f"C {k}", f"python {k}"] for k in range(6)]


def test_captured_output_keeps_the_last_4_kb():
    def loud(traj):
        import os

        os.write(2, b"x" * 10_000 + b"END")
    result = Worker(FrozenInput(_traj(2), loud, capture=True)).run_batch(range(0, 2))
    out = result.info["output"]
    assert [len(o) for o in out] == [4096, 4096] and all(o.endswith("END") for o in out)


def test_short_runs_get_their_batch_mean_duration():
    worker = Worker(FrozenInput(_traj(5000), lambda t: None))
    worker.run_batch(range(0, 100))  # the first batch is timed run by run
    info = worker.run_batch(range(100, 5000)).info
    assert np.ndim(info["duration"]) == 0 and info["duration"] < 1e-3  # one value for the batch
    start = info["start"]  # two numbers for the batch: run k started at first + k * step
    # (non-decreasing: runs of ~0.2 us are finer than a float64 Unix time resolves, 0.24 us)
    begun = info_array(start, 4900)
    assert start.step == info["duration"] > 0 and (np.diff(begun) >= 0).all() and begun[-1] > begun[0]


def test_batch_result_gives_constant_info_as_one_value():
    result = Worker(FrozenInput(_traj(1000), lambda t: None)).run_batch(range(0, 1000))
    assert {name for name, a in result.info.items() if np.ndim(a) == 0} >= {"host", "worker", "attempts"}
    back = pickle.loads(pickle.dumps(result))
    for name, a in result.info.items():
        a, b = info_array(a, 1000), info_array(back.info[name], 1000)
        assert np.array_equal(b, a, equal_nan=a.dtype.kind == "f") and b.dtype == a.dtype
    assert len(pickle.dumps(result)) < 1000 * 8 * 2 + 4000  # duration and start at most, per run


def _failed(batch: range, which: list) -> BatchResult:
    status = np.full(len(batch), DONE, np.uint8)
    status[[i - batch.start for i in which]] = 2
    return BatchResult(batch.start, batch.stop, status, {}, {i: "boom" for i in which}, {}, 0.0)


def test_settle_hands_failed_runs_out_again_until_retries_are_used():
    source = BatchSource(np.ones(10, bool), workers=1, batch_size=10, retries=2)
    first = source.next()
    r = source.settle(_failed(first, [3, 4, 8]))
    assert r.status[[3, 4, 8]].tolist() == [0, 0, 0] and r.errors == {}
    assert info_array(r.info["attempts"], 10).tolist() == [1] * 10
    assert [source.next(), source.next()] == [range(3, 5), range(8, 9)]
    r = source.settle(_failed(range(3, 5), [3]))  # run 4 succeeds on its 2nd attempt
    assert r.info["attempts"].tolist() == [2, 2] and r.status.tolist() == [0, DONE]
    source.settle(_failed(range(8, 9), []))
    assert source.next() == range(3, 4)
    r = source.settle(_failed(range(3, 4), [3]))  # third attempt fails: now it counts
    assert r.status.tolist() == [2] and r.errors == {3: "boom"} and r.info["attempts"].tolist() == [3]
    assert source.next() is None and source.remaining == 0


def test_no_retries_means_failures_stand():
    source = BatchSource(np.ones(4, bool), workers=1, batch_size=4)
    r = source.settle(_failed(source.next(), [1]))
    assert r.status[1] == 2 and r.errors == {1: "boom"}


def test_run_timeout_outside_the_main_thread_warns():
    import threading

    caught = []

    def make():
        import warnings

        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            Worker(FrozenInput(_traj(1), lambda t: None, run_timeout=1.0))
        caught.extend(w)
    t = threading.Thread(target=make)
    t.start()
    t.join()
    assert any("main thread" in str(w.message) for w in caught)

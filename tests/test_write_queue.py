"""The writer thread's queue (hpcpet/write_queue.py): bounded in bytes, ordered, errors handed back."""
import threading
import time

import numpy as np
import pytest

from hpcpet.batch import DONE, BatchResult
from hpcpet.columns import Column
from hpcpet.write_queue import MAX_BATCHES, WriteQueue, limit_bytes, result_bytes

MB = 1 << 20


def batch(start: int, nbytes: int) -> BatchResult:
    """A one-run batch holding ``nbytes`` of result data (and no run info)."""
    data = np.zeros((1, nbytes // 8))
    return BatchResult(start, start + 1, np.full(1, DONE, np.uint8), {"v": Column("fixed", data)}, {}, {}, 0.0)


class SlowWriter:
    """Writes slowly and records what the queue held each time it was asked to write."""

    def __init__(self, queue_ref, seconds=0.02):
        self.queue_ref, self.seconds = queue_ref, seconds
        self.written, self.held = [], []

    def __call__(self, result):
        self.held.append(self.queue_ref[0].held)
        time.sleep(self.seconds)
        self.written.append(result.start)


def slow_queue(limit: int, seconds: float = 0.02) -> tuple[WriteQueue, SlowWriter]:
    """A queue of at most ``limit`` bytes feeding a writer that takes ``seconds`` per result."""
    ref = []
    write = SlowWriter(ref, seconds)
    q = WriteQueue(write, limit=limit)
    ref.append(q)
    return q, write


def test_result_bytes_counts_columns_and_run_info():
    r = batch(0, 8000)
    r.info = {"duration": np.zeros(1), "host": np.full(1, "node", "U4")}
    assert result_bytes(r) == 8000 + 8 + 16


def test_a_slow_writer_makes_the_dispatcher_wait_with_at_most_the_bound_held():
    q, write = slow_queue(3 * MB)
    most = 0
    for i in range(20):
        q.put(batch(i, MB))
        most = max(most, q.held)
        assert q.held <= 3 * MB
    assert q.close() is None
    assert write.written == list(range(20))  # every result, in order: close drains the queue
    assert q.waits > 0 and q.peak <= 3 * MB and most == 3 * MB  # it filled up, then the dispatcher waited
    assert max(write.held) <= 3 * MB


def test_at_most_max_batches_wait_however_small_they_are():
    # runs received and not committed are lost by a kill: their number is bounded too
    q, write = slow_queue(64 * MB, 0.005)
    for i in range(30):
        q.put(batch(i, 100))
        assert len(q._items) <= MAX_BATCHES
    q.close()
    assert write.written == list(range(30)) and q.waits > 0


def test_one_result_larger_than_the_bound_still_goes_through_alone():
    q, write = slow_queue(1 * MB, 0.01)
    for i in range(4):
        q.put(batch(i, 2 * MB))
        assert q.held <= 2 * MB  # a single result, never two
    q.drain()
    assert write.written == [0, 1, 2, 3] and q.peak == 2 * MB
    q.close()


def test_the_writer_error_is_raised_as_it_was_in_the_dispatching_thread():
    boom = OSError(28, "No space left on device")
    woken = threading.Event()

    def write(result):
        if result.start == 2:
            raise boom

    q = WriteQueue(write, limit=MB, on_error=woken.set)
    q.put(batch(0, 100))
    q.put(batch(1, 100))
    q.put(batch(2, 100))
    assert woken.wait(5)  # the dispatcher is woken even if no other result comes
    with pytest.raises(OSError) as got:
        for i in range(3, 100):
            q.put(batch(i, 100))
            time.sleep(0.001)
    assert got.value is boom
    q.drain()  # reported once
    assert q.close() is None


def test_an_error_nobody_saw_is_returned_by_close():
    def write(result):
        raise RuntimeError("HDF5 error")

    q = WriteQueue(write, limit=MB)
    q.put(batch(0, 100))
    err = q.close()
    assert isinstance(err, RuntimeError) and str(err) == "HDF5 error"


def test_first_runs_in_the_thread_before_any_write_and_its_error_stops_everything():
    order = []
    q = WriteQueue(lambda r: order.append(("write", threading.current_thread().name)), limit=MB,
                   first=lambda: order.append(("first", threading.current_thread().name)))
    q.put(batch(0, 100))
    q.drain()
    assert order == [("first", "hpcpet-writer"), ("write", "hpcpet-writer")]
    q.close()

    written = []

    def refuse():
        raise ValueError("cannot create the file")

    q = WriteQueue(written.append, limit=MB, first=refuse)
    assert q.first_done.wait(5)
    with pytest.raises(ValueError, match="cannot create"):
        q.put(batch(0, 100))
    assert q.close() is None and written == []


def test_a_call_runs_in_the_thread_in_its_place_and_its_error_is_the_writers():
    order = []
    q = WriteQueue(lambda r: order.append(r.start), limit=MB)
    q.put(batch(0, 100))
    q.call(lambda: order.append(("call", threading.current_thread().name)))
    q.put(batch(1, 100))
    q.drain()
    assert order == [0, ("call", "hpcpet-writer"), 1]

    def fails():
        raise OSError("disk full")

    q.call(fails)
    with pytest.raises(OSError, match="disk full"):
        q.drain()
    assert q.close() is None


def test_close_runs_last_in_the_thread_after_every_write_unless_writing_failed():
    order = []
    q, write = slow_queue(MB, seconds=0.01)
    for k in range(3):
        q.put(batch(k, 100))
    assert q.close(last=lambda: order.append((list(write.written), threading.current_thread().name))) is None
    assert order == [([0, 1, 2], "hpcpet-writer")]

    def write_fails(result):
        raise OSError("disk full")

    q = WriteQueue(write_fails, limit=MB)
    q.put(batch(0, 100))
    assert isinstance(q.close(last=lambda: order.append("closed")), OSError) and order[-1] != "closed"


def test_the_writer_thread_closes_the_study_itself(tmp_path, monkeypatch):
    """Under the pool the consolidation runs in the writer thread: one thread makes every write."""
    import hpcpet
    from hpcpet.storage import writer as writer_module

    threads = []
    close = writer_module.Writer.close

    def recorded(self):
        threads.append(threading.current_thread().name)
        return close(self)

    monkeypatch.setattr(writer_module.Writer, "close", recorded)
    traj = hpcpet.Trajectory()
    traj.add_parameter("x", 0.0)
    traj.explore({"x": [1.0, 2.0, 3.0]})
    s = hpcpet.Environment(traj, str(tmp_path / "c.h5"), backend="pool", ncores=2, progress="quiet").run(
        lambda t: t.add_result("y", t.x * 2))
    assert s.done == 3 and threads == ["hpcpet-writer"]
    with hpcpet.load(str(tmp_path / "c.h5")) as t:
        assert t.get_from_runs("y").tolist() == [2.0, 4.0, 6.0]


def test_the_bound_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("HPCPET_WRITE_QUEUE_MB", "2.5")
    assert limit_bytes() == int(2.5 * MB)
    monkeypatch.delenv("HPCPET_WRITE_QUEUE_MB")
    assert limit_bytes() == 32 * MB

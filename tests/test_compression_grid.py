"""Chunk grids (hpcpet/storage/grid.py): compressed heavy rows are compressed once, chunks copied as they are.

Every test compares what ``hpcpet.load`` and plain h5py (+ ``import
hdf5plugin``) give back with what the runs stored, bit for bit, through the
paths a grid takes: batches in any order whose boundaries fall inside
chunks, a partial last chunk, failed runs and runs without a value inside
chunks, a writer killed (abandoned) and one that resumes (the results
file's chunks are a source too), a result whose type widens between
segments, compactions, mixed compressed and uncompressed results, other
filters (gzip has shuffle), and a hypothesis round trip. Counting the
chunks copied shows which path was taken; no test measures time.
"""
import os

import h5py
import hdf5plugin  # noqa: F401  (registers zstd with HDF5 for the plain-h5py checks)
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import hpcpet
from hpcpet.batch import DONE, FAILED, BatchResult
from hpcpet.columns import Column
from hpcpet.storage import grid as grid_mod
from hpcpet.storage.segments import SegmentFile, live_segments
from hpcpet.storage.writer import Writer
from hpcpet.trajectory import Trajectory

WIDTH = 1024  # float64 values per run: 8 kB, a grid result; chunks of 128 runs (1 MB)


def value(i: int, width: int = WIDTH, dtype=np.float64) -> np.ndarray:
    """A relaxing voltage: compresses well, and every run's row differs."""
    v = np.full(width, -65.0)
    k = min(width, 64)
    v[:k] = -65.0 + 30.0 * np.exp(-np.arange(k) / (3.0 + i % 11)) + i * 1e-3
    return v.astype(dtype)


def _traj(n: int) -> Trajectory:
    traj = Trajectory("grid")
    traj.add_parameter("i", 0)
    traj.explore({"i": list(range(n))})
    traj.freeze()
    return traj


def _batch(lo, hi, fail=(), skip=(), width=WIDTH, dtype=np.float64, extra=True) -> BatchResult:
    status = np.array([FAILED if i in fail else DONE for i in range(lo, hi)], np.uint8)
    present = np.array([i not in skip for i in range(lo, hi)])
    cols = {"v": Column("fixed", np.stack([value(i, width, dtype) for i in range(lo, hi)]),
                        None if present.all() else present)}
    if extra:
        cols["s"] = Column("fixed", np.arange(lo, hi, dtype=np.float64))
    return BatchResult(lo, hi, status, cols, {i: "boom" for i in fail if lo <= i < hi}, {}, 0.0)


@pytest.fixture
def copies(monkeypatch):
    """Counts the chunks consolidation copies as they are (a list: one count per result written)."""
    counts = []
    real = grid_mod.copy_chunks

    def spy(ds, sources, owner_runs):
        got = real(ds, sources, owner_runs)
        counts.append(0 if got is None else len(np.unique(np.flatnonzero(got) // ds.chunks[0])))
        return got
    monkeypatch.setattr("hpcpet.storage.rows.copy_chunks", spy)
    return counts


def _expect(n, fail=(), skip=(), width=WIDTH, dtype=np.float64):
    out = np.full((n, width), np.nan, dtype)
    for i in range(n):
        if i not in fail and i not in skip:
            out[i] = value(i, width, dtype)
    return out


def _check(path, n, fail=(), skip=(), width=WIDTH, dtype=np.float64, spec="zstd"):
    want = _expect(n, fail, skip, width, dtype)
    with hpcpet.load(path) as t:
        got = t.get_from_runs("v")
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.array_equal(got.view(np.uint8), want.view(np.uint8))  # bit-exact, NaN payloads too
        assert [t.run(i).results.get("v") is None for i in (0, n - 1)] == [i in fail or i in skip for i in (0, n - 1)]
    with h5py.File(path, "r") as h5:  # plain h5py + hdf5plugin: the documented layout
        ds = h5["results/v/data"]
        assert ds.chunks is not None and grid_mod.GRID not in h5["results/v"]
        assert np.array_equal(ds[()].view(np.uint8), want.view(np.uint8))
        assert h5["results/v"].attrs["compression"] == spec
    assert not os.path.exists(path + ".segments")


def _writer(path, n, spec="zstd", set_size=1000):
    w = Writer.create(path, _traj(n), set_size=set_size, metadata={"compression": spec})
    w.checkpoint_seconds = 0.0  # a segment per batch
    return w


def test_segments_hold_grids_and_consolidation_copies_whole_chunks(tmp_path, copies):
    path = str(tmp_path / "g.h5")
    n = 1000  # chunks of 128 runs: the last one (896..999) is partial
    w = _writer(path, n)
    bounds = [0, 300, 301, 640, 700, 1000]  # boundaries inside chunks, a batch of one run
    for lo, hi in zip(bounds, bounds[1:]):
        w.write(_batch(lo, hi))
    seg = SegmentFile(live_segments(path, 0)[0][2])
    try:  # the segment stores the rows compressed in run space, like the final column
        g = seg.h5["results/v"]
        assert grid_mod.GRID in g and "data" not in g
        assert g[grid_mod.GRID].chunks == (128, WIDTH) and "32015" in g[grid_mod.GRID]._filters  # zstd
        assert g[grid_mod.GRID].id.get_storage_size() < 0.3 * 300 * WIDTH * 8
        assert seg.grid_bytes == 300 * WIDTH * 8
    finally:
        seg.close()
    with hpcpet.load(path) as t:  # a reader while the study runs decodes the grids
        assert np.array_equal(t.get_from_runs("v")[:700], _expect(700))
    w.close()
    _check(path, n)
    # chunk k is whole in one segment when no boundary (300, 301, 640, 700) falls inside it
    whole = [k for k in range(8) if not any(128 * k < b < min(n, 128 * (k + 1)) for b in bounds)]
    assert copies[0] == len(whole) == 6



@pytest.fixture
def encoded(monkeypatch):
    """The runs of each chunk the writer encoded in threads (chunk_codecs), in the order stored."""
    from hpcpet.storage import chunk_codecs

    got = []
    real = chunk_codecs.encode_chunks

    def spy(encode, blocks):
        def seen():
            for b in blocks:
                got.append(b)
                yield b
        return real(encode, seen())
    monkeypatch.setattr(chunk_codecs, "encode_chunks", spy)
    return got


@pytest.mark.parametrize("spec", ["zstd", "gzip:4"])
def test_whole_chunks_are_encoded_in_threads_and_the_rest_by_hdf5(tmp_path, encoded, spec):
    path = str(tmp_path / "t.h5")
    n = 600  # chunks of 128 runs
    w = _writer(path, n, spec=spec)
    w.write(_batch(0, 300, skip={200}))  # two segments: chunk 2 (256..383) is cut at 300
    w.write(_batch(300, 600, fail={400}))  # chunk 4 (512..599) is partial in the grid's extent
    w.close()
    _check(path, n, fail={400}, skip={200}, spec=spec)
    # encoded: chunks 0, 1 and 3, the rows of runs without a value or failed included (a segment
    # keeps a row for every run of its batches; ``present`` and the status decide at consolidation)
    rows = np.stack([value(i) for i in range(n)])
    assert len(encoded) == 3
    for e, a in zip(encoded, (0, 128, 384)):
        keep = [k for k in range(128) if a + k != 200]
        assert np.array_equal(e[keep], rows[a:a + 128][keep])


def test_the_file_is_the_same_without_the_threaded_encoder(tmp_path, monkeypatch):
    from hpcpet.storage import chunk_codecs

    paths = []
    for threaded in (True, False):
        if not threaded:
            monkeypatch.setattr(chunk_codecs, "encoder", lambda compression: None)
        path = str(tmp_path / f"{threaded}.h5")
        w = _writer(path, 700)
        for lo, hi in [(0, 256), (500, 700), (256, 500)]:
            w.write(_batch(lo, hi, fail={3}, skip={260}))
        w.close()
        _check(path, 700, fail={3}, skip={260})
        paths.append(path)
    with h5py.File(paths[0], "r") as a, h5py.File(paths[1], "r") as b:
        x, y = a["results/v/data"], b["results/v/data"]
        assert x.chunks == y.chunks and x._filters == y._filters
        assert np.array_equal(x[()].view(np.uint8), y[()].view(np.uint8))

def test_batches_out_of_order_failed_and_missing_rows(tmp_path, copies):
    path = str(tmp_path / "o.h5")
    n = 640
    w = _writer(path, n)
    fail, skip = {5, 130, 131}, {300, 639}
    for b in [4, 0, 3, 1, 2]:  # whole chunks of 128 runs, out of order
        w.write(_batch(128 * b, 128 * b + 128, fail=fail, skip=skip))
    w.close()
    _check(path, n, fail, skip)
    assert copies[0] == 1  # chunks 0, 1, 2 and 4 hold a run without a value: written row by row


def test_a_later_segment_wins_and_resume_copies_the_results_files_chunks(tmp_path, copies):
    path = str(tmp_path / "r.h5")
    n = 512
    w = _writer(path, n)
    w.write(_batch(0, 256, fail={10, 300}))
    w.close()  # consolidated: runs 256.. pending, run 10 failed
    assert copies == [1]  # chunk 0 holds the failed run
    w = Writer.reopen(path)
    w.checkpoint_seconds = 0.0
    assert w.todo(retry_failed=True).tolist() == [10] + list(range(256, 512))
    w.write(_batch(256, 512))
    w.write(_batch(10, 11))  # retried: a later source wins run 10
    w.close()
    _check(path, n)
    # chunk 1 (128..255) comes whole from the results file, chunks 2 and 3 from the segment;
    # chunk 0 has run 10 from another source
    assert copies[1] == 3


def test_a_writer_killed_then_resumed(tmp_path, copies):
    path = str(tmp_path / "k.h5")
    n = 500
    w = _writer(path, n)
    for lo in (0, 128, 256):
        w.write(_batch(lo, lo + 128))
    w.abandon()  # as a kill after the last checkpoint: the segments stay
    assert len(live_segments(path, 0)) == 3
    with hpcpet.load(path) as t:
        assert np.array_equal(t.get_from_runs("v")[:384], _expect(384))
    w = Writer.reopen(path)
    assert w.todo().tolist() == list(range(384, 500))
    w.write(_batch(384, 500))
    w.close()
    _check(path, n)
    assert copies[0] == 4  # every chunk, the partial last one too


def test_a_result_that_widens_is_converted_not_copied(tmp_path, copies):
    path = str(tmp_path / "w.h5")
    n = 384
    w = _writer(path, n)
    w.write(_batch(0, 128, dtype=np.float32))
    w.write(_batch(128, 384))  # float32 rows widen to float64: the first segment's grid differs
    w.close()
    want = _expect(n)
    want[:128] = _expect(128, dtype=np.float32).astype(np.float64)
    with hpcpet.load(path) as t:
        assert np.array_equal(t.get_from_runs("v"), want)
    assert copies[0] == 2


def test_mixed_compressed_and_uncompressed_results(tmp_path):
    path = str(tmp_path / "m.h5")
    n = 300
    w = _writer(path, n, spec="none")
    for lo, hi in ((0, 100), (100, 300)):
        b = _batch(lo, hi)
        b.columns["p"] = Column("fixed", np.stack([value(i) for i in range(lo, hi)]))
        b.options = {"p": {"compression": "zstd:5"}, "q": {"compression": "gzip:1"}}
        b.columns["q"] = Column("fixed", np.stack([value(i, 600) for i in range(lo, hi)]))
        w.write(b)
    w.close()
    with hpcpet.load(path) as t:
        assert np.array_equal(t.get_from_runs("v"), _expect(n))
        assert np.array_equal(t.get_from_runs("p"), _expect(n))
        assert np.array_equal(t.get_from_runs("q"), _expect(n, width=600))
    with h5py.File(path, "r") as h5:
        assert h5["results/v/data"].chunks is None  # uncompressed: staged, contiguous
        assert h5["results/p"].attrs["compression"] == "zstd:5" and h5["results/q/data"].compression == "gzip"
        assert h5["results/q/data"].shuffle


@pytest.mark.parametrize("spec", ["gzip:4", "lzf", "blosc:lz4:5", "zstd:1"])
def test_other_filters(tmp_path, copies, spec):
    path = str(tmp_path / "f.h5")
    w = _writer(path, 256, spec=spec)
    w.write(_batch(0, 128))
    w.write(_batch(128, 256))
    w.close()
    _check(path, 256, spec=spec)
    assert copies[0] == 2


def test_compaction_of_small_grid_segments(tmp_path, copies):
    path = str(tmp_path / "c.h5")
    n = 160
    w = _writer(path, n)
    for lo in range(0, n, 10):  # 16 small segments: two compactions of 8 (their grids are small)
        w.write(_batch(lo, lo + 10))
    assert len(live_segments(path, 0)) == 2
    w.close()
    _check(path, n)


def test_a_study_that_grows_after_its_grids_were_written(tmp_path):
    path = str(tmp_path / "e.h5")
    w = _writer(path, 200)
    w.write(_batch(0, 200))
    w.checkpoint()
    from hpcpet.exploration import Exploration

    more = Exploration.from_segments(list(_traj(200).exploration.segments)
                                     + list(_traj(100).exploration.segments))
    w.extend(more)
    w.write(_batch(200, 300))
    w.close()
    _check(path, 300)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_round_trip(tmp_path_factory, data):
    n = data.draw(st.integers(1, 300), label="n")
    width = data.draw(st.sampled_from([512, 700, 3000]), label="width")  # chunks of 256, 187, 43 runs
    set_size = data.draw(st.sampled_from([7, 100, 1000]), label="set_size")
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, n - 1)), max_size=6), label="cuts") - {n})
    spans = list(zip([0, *cuts], [*cuts, n]))
    order = data.draw(st.permutations(spans), label="order")
    fail = data.draw(st.sets(st.integers(0, n - 1), max_size=3), label="fail")
    skip = data.draw(st.sets(st.integers(0, n - 1), max_size=3), label="skip") - fail
    assume(len(fail | skip) < n)  # some run adds the result
    resume_after = data.draw(st.integers(0, len(order)), label="resume_after")
    path = str(tmp_path_factory.mktemp("rt") / "h.h5")
    w = _writer(path, n, set_size=set_size)
    for k, (lo, hi) in enumerate(order):
        if k == resume_after:  # a kill, then resume
            w.abandon()
            w = Writer.reopen(path)
            w.checkpoint_seconds = 0.0
        w.write(_batch(lo, hi, fail, skip, width, extra=False))
    w.close()
    want = _expect(n, fail, skip, width)
    with hpcpet.load(path) as t:
        assert np.array_equal(t.get_from_runs("v").view(np.uint8), want.view(np.uint8))
    with h5py.File(path, "r") as h5:
        assert np.array_equal(h5["results/v/data"][()].view(np.uint8), want.view(np.uint8))


def test_resume_when_the_results_file_skipped_fill_valued_chunks(tmp_path, copies):
    path = str(tmp_path / "n.h5")
    n = 384
    w = _writer(path, n)
    for lo, hi in ((0, 60), (60, 256)):  # chunk 0 from two segments: written row by row
        b = _batch(lo, hi)
        b.columns["v"].data[:max(0, 128 - lo)] = np.nan  # ... and equal to the fill value: never allocated
        w.write(b)
    w.close()
    with h5py.File(path, "r") as h5:
        assert h5["results/v/data"].id.get_chunk_info_by_coord((0, 0)).byte_offset is None
    w = Writer.reopen(path)
    w.write(_batch(256, 384))
    w.close()
    want = _expect(n)
    want[:128] = np.nan
    with hpcpet.load(path) as t:
        got = t.get_from_runs("v")
        assert np.array_equal(got, want, equal_nan=True) and t.run(5).results["v"] is not None
    assert copies[1] == 2  # chunk 1 from the results file, chunk 2 from the segment; chunk 0 stays unwritten

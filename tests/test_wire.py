"""Batch results over a pipe as pickle-5 buffers (hpcpet/backends/wire.py), between real processes."""
import multiprocessing as mp
import os

import numpy as np
import pytest

from hpcpet.backends import wire
from hpcpet.batch import DONE, BatchResult
from hpcpet.columns import Column


def sample() -> BatchResult:
    big = np.arange(100_000, dtype=np.float64).reshape(1000, 100)  # 800 kB: out of band
    fortran = np.asfortranarray(np.arange(60_000, dtype=np.int32).reshape(300, 200))
    strided = np.arange(20_000.0)[::2]  # 80 kB, not contiguous: copied into the pickle
    cols = {"big": Column("fixed", big), "f": Column("fixed", fortran[None]),
            "ragged": Column("ragged", [np.ones(20_000), np.zeros(3)]),
            "text": Column("string", ["a", "b"]), "strided": Column("fixed", strided[None])}
    return BatchResult(0, 2, np.full(2, DONE, np.uint8), cols, {}, {"big": "c"}, 1.5,
                       {"duration": np.ones(2), "host": np.full(2, "h", "U1")})


def _child(conn, mode):
    if mode == "send":
        wire.send(conn, sample())
        wire.send(conn, "and a second message")
    else:  # half a message: the header, then only part of a buffer, then exit
        data, buffers = wire.dumps(sample())
        import pickle

        conn.send_bytes(pickle.dumps((data, [b.nbytes for b in buffers]), protocol=5))
        os.write(conn.fileno(), buffers[0][:1000])
    conn.close()


@pytest.fixture
def ctx():
    return mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")


def test_arrays_arrive_equal_and_writable(ctx):
    mine, theirs = ctx.Pipe()
    p = ctx.Process(target=_child, args=(theirs, "send"))
    p.start()
    theirs.close()
    got, want = wire.recv(mine), sample()
    assert wire.recv(mine) == "and a second message"
    p.join()
    assert (got.start, got.stop, got.seconds, got.comments) == (0, 2, 1.5, {"big": "c"})
    for name, col in want.columns.items():
        if col.kind == "fixed":
            assert np.array_equal(got.columns[name].data, col.data) and got.columns[name].data.dtype == col.data.dtype
    assert got.columns["f"].data.flags.f_contiguous or got.columns["f"].data[0].flags.f_contiguous
    assert [len(a) for a in got.columns["ragged"].data] == [20_000, 3]
    assert got.columns["text"].data == ["a", "b"]
    assert got.columns["big"].data.flags.writeable  # the writer may mark runs in place
    assert np.array_equal(got.info["duration"], np.ones(2))


def test_big_arrays_travel_out_of_band_and_small_ones_inside():
    data, buffers = wire.dumps(sample())
    sizes = sorted(b.nbytes for b in buffers)
    assert sizes == sorted([800_000, 240_000, 160_000])  # big, Fortran matrix, the long ragged row
    assert 80_000 < len(data) < 80_000 + 10_000  # in band: the strided copy and the small things


def test_a_message_cut_short_is_eof_not_garbage(ctx):
    mine, theirs = ctx.Pipe()
    p = ctx.Process(target=_child, args=(theirs, "cut"))
    p.start()
    theirs.close()
    with pytest.raises(EOFError):
        wire.recv(mine)
    p.join()


def test_an_object_that_cannot_be_pickled_raises_before_anything_is_sent(ctx):
    mine, theirs = ctx.Pipe()
    with pytest.raises(Exception):
        wire.send(theirs, {"f": lambda: 1, "a": np.zeros(100_000)})
    assert not mine.poll(0.1)

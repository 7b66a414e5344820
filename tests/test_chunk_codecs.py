"""Chunks encoded in threads (hpcpet/storage/chunk_codecs.py) are chunks HDF5's own filters decode.

Each check writes chunks with ``write_direct_chunk`` into a dataset created
with the pipeline's filters and reads them back through HDF5 (plain h5py,
``import hdf5plugin``), bit for bit; the shuffle is checked against the
bytes HDF5's own shuffle produces. Pipelines without an exact encoder must
get none.
"""
import builtins
import zlib

import h5py
import hdf5plugin  # noqa: F401  (registers zstd with HDF5)
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hpcpet.storage import chunk_codecs
from hpcpet.storage.compression import parse

DTYPES = [np.float64, np.float32, np.int16, np.uint8, np.complex128, np.bool_, np.int64]


def _roundtrip(tmp_path, spec: str, rows: np.ndarray, chunk: int) -> np.ndarray:
    """Write ``rows`` as whole chunks through the encoder of ``spec``; read them back with h5py."""
    kw = parse(spec)
    encode = chunk_codecs.encoder(kw)
    assert encode is not None
    with h5py.File(tmp_path / f"{spec.replace(':', '_')}.h5", "w") as f:
        ds = f.create_dataset("d", rows.shape, rows.dtype, chunks=(chunk,) + rows.shape[1:], **kw)
        blocks = [rows[a:a + chunk] for a in range(0, len(rows), chunk)]
        for a, data in zip(range(0, len(rows), chunk), chunk_codecs.encode_chunks(encode, blocks)):
            ds.id.write_direct_chunk((a,) + (0,) * (rows.ndim - 1), data)
        return ds[()]


@pytest.mark.parametrize("spec", ["zstd", "zstd:1", "zstd:19", "gzip", "gzip:0", "gzip:9"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_encoded_chunks_decode_bit_exact(tmp_path, spec, dtype):
    rng = np.random.default_rng(3)
    rows = (rng.normal(size=(12, 5, 7)) * 100).astype(dtype)
    got = _roundtrip(tmp_path, spec, rows, chunk=4)
    assert got.dtype == rows.dtype
    assert np.array_equal(got.view(np.uint8), rows.view(np.uint8))


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(st.sampled_from(DTYPES), hnp.array_shapes(min_dims=1, max_dims=3, max_side=9)),
       st.integers(1, 4), st.sampled_from(["zstd", "gzip:1"]))
def test_any_rows_round_trip(tmp_path_factory, rows, chunk, spec):
    """NaN payloads, signed zeros, odd sizes: whatever the rows hold comes back byte for byte."""
    n = len(rows) - len(rows) % chunk
    if n == 0:
        return
    rows = rows[:n]
    got = _roundtrip(tmp_path_factory.mktemp("rt"), spec, rows, chunk)
    assert np.array_equal(got.view(np.uint8), rows.view(np.uint8))


@pytest.mark.parametrize("dtype", DTYPES)
def test_shuffle_orders_bytes_as_hdf5_does(tmp_path, dtype):
    rows = (np.arange(60).reshape(6, 10) * 7919).astype(dtype)
    with h5py.File(tmp_path / "s.h5", "w") as f:
        ds = f.create_dataset("d", data=rows, chunks=(6, 10), compression="gzip", compression_opts=1,
                              shuffle=True)
        mask, stored = ds.id.read_direct_chunk((0, 0))
    assert mask == 0
    assert zlib.decompress(stored) == chunk_codecs.shuffle(rows)


@pytest.mark.parametrize("spec", ["none", "lzf", "blosc", "blosc:lz4:5"])
def test_pipelines_without_an_exact_encoder_get_none(spec):
    assert chunk_codecs.encoder(parse(spec)) is None


def test_gzip_without_shuffle_and_odd_zstd_options_get_none():
    assert chunk_codecs.encoder({"compression": "gzip", "compression_opts": 4}) is None
    assert chunk_codecs.encoder({"compression": "gzip", "compression_opts": 4, "shuffle": False}) is None
    assert chunk_codecs.encoder({"compression": chunk_codecs.ZSTD_FILTER, "compression_opts": (3, 1)}) is None
    assert chunk_codecs.encoder({**parse("zstd"), "shuffle": True}) is None


def test_zstd_without_zstandard_gets_none(monkeypatch):
    real = builtins.__import__

    def no_zstandard(name, *args, **kwargs):
        if name == "zstandard":
            raise ImportError("no zstandard here")
        return real(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_zstandard)
    assert chunk_codecs.encoder(parse("zstd")) is None
    assert chunk_codecs.encoder(parse("gzip")) is not None  # zlib is always there


@pytest.mark.parametrize("n_threads", [1, 3])
def test_encode_chunks_keeps_the_order_of_many_blocks(monkeypatch, n_threads):
    monkeypatch.setattr(chunk_codecs, "threads", lambda: n_threads)
    blocks = [np.full(3, k, np.int32) for k in range(100)]  # more than threads * WINDOW in flight
    got = list(chunk_codecs.encode_chunks(lambda b: b.tobytes(), iter(blocks)))
    assert got == [b.tobytes() for b in blocks]


def test_an_error_in_a_thread_reaches_the_caller():
    def boom(block):
        if block[0] == 7:
            raise ValueError("chunk 7")
        return b""
    with pytest.raises(ValueError, match="chunk 7"):
        list(chunk_codecs.encode_chunks(boom, [np.full(2, k) for k in range(20)]))


def test_encode_threads_setting(monkeypatch):
    monkeypatch.setenv("HPCPET_ENCODE_THREADS", "0")  # h5py compresses as it writes
    assert chunk_codecs.threads() == 0 and chunk_codecs.encoder(parse("zstd")) is None
    monkeypatch.setenv("HPCPET_ENCODE_THREADS", "6")
    assert chunk_codecs.threads() == 6 and chunk_codecs.encoder(parse("gzip")) is not None
    monkeypatch.setenv("HPCPET_ENCODE_THREADS", "many")  # not a number: the default
    assert 1 <= chunk_codecs.threads() <= chunk_codecs.MAX_THREADS

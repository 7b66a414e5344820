"""Whole chunks compressed in threads, byte for byte as HDF5's own filter pipeline stores them.

h5py compresses a chunk in the thread that writes it, through the HDF5
filter, one chunk at a time. For a heavy compressed result that is the
writer's ceiling (400 MB of voltage traces under zstd: ~0.55 s of zstd in
one thread). Here the writer encodes the whole chunks of a block in a few
threads (zstd and zlib release the GIL) and stores them with
``write_direct_chunk``; the file is the same as h5py would have written it.

Invariants:

- :func:`encoder` returns an encoder only for a pipeline it reproduces
  exactly: ``zstd`` (HDF5 filter 32015, from hdf5plugin, encoded with the
  ``zstandard`` package) and ``gzip`` (byte shuffle, then deflate, encoded
  with ``zlib``). A chunk it makes decodes, through the dataset's own
  filters, to the rows it was given; any other pipeline (lzf, blosc), or
  zstd without ``zstandard`` installed, or ``HPCPET_ENCODE_THREADS=0``,
  gets None and is written by h5py.
- :func:`encode_chunks` yields the encoded chunks in the order of the
  blocks it was given, holding at most :data:`WINDOW` chunks per thread
  at a time.
"""
from __future__ import annotations

import functools
import os
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator

import numpy as np

#: HDF5 filter id of zstd (registered by hdf5plugin)
ZSTD_FILTER = 32015
#: most threads that encode chunks
MAX_THREADS = 4
#: chunks queued per thread
WINDOW = 4

Encoder = Callable[[np.ndarray], bytes]


def encoder(compression: dict) -> Encoder | None:
    """The function that encodes one chunk (a C-contiguous block) as ``compression`` stores it, or None.

    ``compression``: the ``create_dataset`` keywords of
    :func:`hpcpet.storage.compression.parse`.
    """
    if threads() == 0:
        return None
    name = compression.get("compression")
    keys = set(compression)
    if name == ZSTD_FILTER and keys == {"compression", "compression_opts"}:
        opts = tuple(compression["compression_opts"] or ())
        if len(opts) != 1:
            return None
        try:
            import zstandard
        except ImportError:
            return None
        level = int(opts[0])
        local = threading.local()

        def zstd(block: np.ndarray) -> bytes:
            ctx = getattr(local, "ctx", None)
            if ctx is None:  # a compressor is not thread-safe: one per thread
                ctx = local.ctx = zstandard.ZstdCompressor(level=level)
            return ctx.compress(_contiguous(block).view(np.uint8).reshape(-1))
        return zstd
    if name == "gzip" and keys == {"compression", "compression_opts", "shuffle"} and compression["shuffle"]:
        level = int(compression["compression_opts"])

        def gzip(block: np.ndarray) -> bytes:
            return zlib.compress(shuffle(block), level)
        return gzip
    return None


def shuffle(block: np.ndarray) -> bytes:
    """The bytes of ``block`` as HDF5's shuffle filter orders them: every element's first byte, then
    every element's second byte, and so on."""
    size = block.dtype.itemsize
    raw = _contiguous(block).view(np.uint8).reshape(-1, size)
    return raw.T.tobytes() if size > 1 else raw.tobytes()


def _contiguous(block: np.ndarray) -> np.ndarray:
    return block if block.flags.c_contiguous else np.ascontiguousarray(block)


def threads() -> int:
    """How many threads encode chunks: ``HPCPET_ENCODE_THREADS`` if it is a number (0: none, h5py
    compresses as it writes), else the cores this process may use, at most :data:`MAX_THREADS`."""
    value = os.environ.get("HPCPET_ENCODE_THREADS", "").strip()
    if value.isdigit():
        return int(value)
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(MAX_THREADS, cores))


def encode_chunks(encode: Encoder, blocks: Iterable[np.ndarray]) -> Iterator[bytes]:
    """``encode(block)`` for each of ``blocks``, in their order, computed in :func:`threads` threads."""
    n = threads()
    if n <= 1:
        for block in blocks:
            yield encode(block)
        return
    pool = _executor(n)
    pending = []
    for block in blocks:
        pending.append(pool.submit(encode, block))
        if len(pending) >= n * WINDOW:
            yield pending.pop(0).result()
    for future in pending:
        yield future.result()


@functools.cache
def _executor(n: int) -> ThreadPoolExecutor:
    """The pool of ``n`` encoding threads (made once per size; only the writer thread asks)."""
    return ThreadPoolExecutor(n, thread_name_prefix="hpcpet-encode")

"""Chunk grids: compressed heavy rows stored in run space, so consolidation copies chunks, not values.

A compressed fixed-shape result of at least :data:`GRID_MIN_ROW_BYTES` per run
(a voltage trace under ``--compression zstd``) is compressed once, by the
checkpoint that commits it. Its segment group holds ``grid``: a dataset of
``run_max + 1`` rows where row ``r`` is run ``r``, chunked and filtered like
the consolidated column (:func:`hpcpet.storage.rows._chunks`, the result's
compression); only the chunks that hold the segment's runs are allocated
(``present`` and ``runs/index`` say which rows hold values, as usual). At
consolidation a chunk is moved byte for byte (``read_direct_chunk`` /
``write_direct_chunk``) from the source that holds every one of its runs;
only the chunks whose runs are spread over several sources (a batch
boundary inside a chunk) are decompressed and written again. The
results file's own column is a source of the same kind (resume). A
segment's whole chunks are encoded in threads (:mod:`.chunk_codecs`, for
zstd and gzip) and stored with ``write_direct_chunk``; its other rows go
through h5py.

Invariants:

- A chunk is copied only if the target dataset has the source's dtype,
  row shape, chunk shape and filter pipeline, and the source is, for every
  run of the chunk inside the target's extent, the last source that holds
  a value for it. The copied bytes therefore decode to exactly the rows
  that writing the values would have stored (values come back bit-exact).
- Copied chunks are written before any row goes through the filter, and
  no row of a copied chunk is written afterwards: each chunk of the target
  is written once, by one of the two paths.
- Segments stay ordinary immutable files (published atomically); a grid is
  read with plain h5py (``import hdf5plugin`` first for zstd or blosc).
"""
from __future__ import annotations

from dataclasses import dataclass

import h5py
import numpy as np

from . import layout as L

#: the dataset of a segment's result group holding compressed rows in run space
GRID = "grid"
#: compressed fixed results with rows of at least this many bytes go into a grid (chunks of <= 256 runs)
GRID_MIN_ROW_BYTES = 4096
#: root attribute of a segment: bytes its grids hold uncompressed (compaction sizes segments by it)
GRID_BYTES = "grid_bytes"


@dataclass
class Grid:
    """How a segment writes one result's rows as a grid: the run of each row, the chunk rows, the filters."""

    index: np.ndarray
    chunk_rows: int
    compression: dict


def grid_chunk_rows(kind: str, shape, dtype, compression: dict, n_runs: int, set_size: int) -> int | None:
    """Runs per chunk of a grid for such a result, or None if its rows do not go into one."""
    from .rows import _chunks

    if kind != "fixed" or not compression or not shape or n_runs < 1:
        return None
    dtype = np.dtype(dtype)
    if dtype.itemsize * int(np.prod(shape, dtype=np.int64)) < GRID_MIN_ROW_BYTES:
        return None
    return _chunks(n_runs, tuple(shape), dtype, set_size)[0]


def write_grid(g: h5py.Group, data: np.ndarray, grid: Grid, fill) -> None:
    """Create ``g/grid`` holding ``data[k]`` at row ``grid.index[k]`` (rows written in run order)."""
    from .rows import places, plan_runs

    index = np.asarray(grid.index)
    shape = data.shape[1:]
    rows = int(index.max()) + 1
    ds = g.create_dataset(GRID, (rows,) + shape, data.dtype, chunks=(min(grid.chunk_rows, rows),) + shape,
                          fillvalue=fill, **grid.compression)
    rest = _write_whole_chunks(ds, data, index, grid.compression)
    if rest is not None:
        data, index = data[rest], index[rest]
    for a, b, where in places(*plan_runs(index)):  # in run order: a chunk split over two spans is still in the cache
        ds[a:b] = data[where]


def _write_whole_chunks(ds: h5py.Dataset, data: np.ndarray, index: np.ndarray, compression: dict) -> np.ndarray | None:
    """Encode and store every chunk of ``ds`` that ``data`` fills whole; return the rows left to write
    (positions in ``data``), or None if no chunk was stored this way (see :mod:`.chunk_codecs`).

    A chunk is whole when the rows hold each of its runs once and it lies inside the extent.
    """
    from .chunk_codecs import encode_chunks, encoder
    from .rows import plan_runs

    c = ds.chunks[0]
    encode = encoder(compression)
    if encode is None or len(index) < c:
        return None
    order, _ = plan_runs(index)  # None: the rows are in run order already
    runs = index if order is None else index[order]
    if (np.diff(runs) <= 0).any():  # a run twice: leave it to the plain path
        return None
    heads = np.flatnonzero(runs % c == 0)
    heads = heads[heads + c <= len(runs)]
    heads = heads[(runs[heads + c - 1] == runs[heads] + c - 1) & (runs[heads] + c <= len(ds))]
    if not len(heads):
        return None
    tail = (0,) * (ds.ndim - 1)
    # rows in run order are encoded from views of ``data``; others are gathered chunk by chunk
    blocks = (data[h:h + c] if order is None else data[order[h:h + c]] for h in heads.tolist())
    for h, chunk in zip(heads.tolist(), encode_chunks(encode, blocks)):
        ds.id.write_direct_chunk((int(runs[h]),) + tail, chunk)
    done = np.zeros(len(runs), bool)
    done[(heads[:, None] + np.arange(c)).ravel()] = True
    return np.flatnonzero(~done) if order is None else np.sort(order[~done])


def read_grid(g: h5py.Group, runs: np.ndarray | None = None) -> np.ndarray:
    """Rows of ``g/grid`` for ``runs`` (default: the segment's ``runs/index``), in that order."""
    from .compression import enable_readers
    from .rows import places, plan_runs

    enable_readers()
    ds = g[GRID]
    runs = g.file[L.RUN_INDEX][()] if runs is None else np.asarray(runs)
    out = np.empty((len(runs),) + ds.shape[1:], ds.dtype)
    for a, b, where in places(*plan_runs(runs)):
        out[where] = ds[a:b]
    return out


def _pipeline(ds: h5py.Dataset) -> tuple:
    plist = ds.id.get_create_plist()
    return tuple(plist.get_filter(i)[:3] for i in range(plist.get_nfilters()))


def same_layout(src: h5py.Dataset, dst: h5py.Dataset) -> bool:
    """Whether a chunk of ``src`` is a valid chunk of ``dst`` as it is (dtype, row shape, chunks, filters)."""
    return (src.chunks is not None and src.chunks == dst.chunks and src.dtype == dst.dtype
            and src.shape[1:] == dst.shape[1:] and _pipeline(src) == _pipeline(dst))


def chunked_rows(where, src: h5py.Group) -> h5py.Dataset | None:
    """The dataset in run space whose chunks a source can give away: a segment's grid, the results file's column."""
    if GRID in src:
        return src[GRID]
    if where is None and L.DATA in src and isinstance(src[L.DATA], h5py.Dataset) and src[L.DATA].chunks:
        return src[L.DATA]
    return None


def copy_chunks(ds: h5py.Dataset, sources: list, owner_runs) -> np.ndarray | None:
    """Copy into ``ds`` every chunk that one source holds whole; return the runs written (None: none).

    ``sources``: ``(where, group)`` in order (see
    :func:`hpcpet.storage.rows.write_fixed`); ``owner_runs(where, group)``
    gives the runs that source holds a value for. A later source wins a run.
    """
    if ds.chunks is None or not len(ds):
        return None
    n, c = len(ds), ds.chunks[0]
    able = {s: d for s, (where, src) in enumerate(sources)
            for d in [chunked_rows(where, src)] if d is not None and same_layout(d, ds)}
    if not able:
        return None
    owner = np.full(-(-n // c) * c, -1, np.int32)
    for s, (where, src) in enumerate(sources):
        owner[owner_runs(where, src)] = s
    owner[n:] = owner[n - 1] if n % c else -1  # the last chunk's rows past the extent: anyone's
    blocks = owner.reshape(-1, c)
    whole = (blocks == blocks[:, :1]).all(axis=1)
    copied = np.zeros(n, bool)
    tail = (0,) * (ds.ndim - 1)
    for s, src_ds in able.items():
        for k in np.flatnonzero(whole & (blocks[:, 0] == s)).tolist():
            lo, hi = k * c, min(n, (k + 1) * c)
            if hi > len(src_ds):
                continue
            try:
                mask, raw = src_ds.id.read_direct_chunk((lo,) + tail)
            except (RuntimeError, KeyError, ValueError):  # not allocated (a fill-valued chunk): write rows
                continue
            ds.id.write_direct_chunk((lo,) + tail, raw, mask)
            copied[lo:hi] = True
    return copied if copied.any() else None

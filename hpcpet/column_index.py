"""An index that makes loading a result column from a finished file a few memory copies.

Reading one column of a 10^7-run file through HDF5 means opening 10^4 bucket
datasets (~40 us each). When a file is closed, the writer records, for every
fixed-kind result, the byte offset of each bucket's contiguous dataset in
``column_index/<path>``. The loader then reads the column straight from the
file with one memory map. The index is an accelerator only: it is deleted
before hpcpet modifies the file again, it records the file's size and is
ignored when the size differs (any other program that changes datasets makes the
file grow, since hpcpet files never reuse freed space), and any bucket it does
not cover (offset -1) is read through HDF5 as usual.
"""
from __future__ import annotations

import json

import h5py
import numpy as np

from . import layout as L

INDEX = "column_index"


def drop(h5: h5py.File) -> None:
    """Remove the index (before the file is modified)."""
    if INDEX in h5:
        del h5[INDEX]
        h5.flush()


def build(h5: h5py.File, info: dict[str, dict], n_runs: int, set_size: int,
          known: dict[str, dict[int, tuple[int, str]]] | None = None, scan: bool = True) -> None:
    """Record bucket offsets of every fixed-kind result (call when the file is final).

    ``known``: what the writer noted as it wrote (result name -> bucket ->
    (offset or -1 if not indexable, dtype string)). Buckets not in it are looked up in the file
    when ``scan`` (they were written by an earlier session), else taken as absent.
    """
    drop(h5)
    known = known or {}
    n_buckets = -(-n_runs // set_size)
    for name, d in info.items():
        if d.get("kind") != "fixed":
            continue
        path = L.name_to_path(name)
        dtype = np.dtype(d["dtype"])
        offsets = np.full(n_buckets, -1, np.int64)
        noted = known.get(name, {})
        for b in range(n_buckets):
            if b in noted:
                off, kind = noted[b]
                offsets[b] = off if np.dtype(kind) == dtype else -1
            elif scan:
                offsets[b] = _lookup(h5, path, b, dtype, n_runs, set_size)
        out = h5.create_dataset(f"{INDEX}/{path}", data=offsets)
        out.attrs["dtype"] = dtype.str
        out.attrs["shape"] = json.dumps(list(d.get("shape") or []))
    if INDEX in h5:
        h5[INDEX].attrs["file_size"] = np.int64(-1)  # set by stamp() once the file is closed


def _lookup(h5: h5py.File, path: str, b: int, dtype: np.dtype, n_runs: int, set_size: int) -> int:
    """Offset of bucket ``b``'s dataset ``path``, or -1 if absent or not indexable."""
    full = f"{L.bucket_path(b, set_size, n_runs)}/{path}"
    if full not in h5 or f"{full}{L.PRESENT_SUFFIX}" in h5:
        return -1
    ds = h5[full]
    lo, hi = L.bucket_range(b, set_size, n_runs)
    if ds.dtype != dtype or ds.shape[0] != hi - lo or ds.chunks is not None:
        return -1
    off = ds.id.get_offset()
    return -1 if off is None else off


def stamp(path: str) -> None:
    """After the writer closed ``path``: record its size in the index (or drop the index)."""
    import os

    with h5py.File(path, "r+") as h5:
        if INDEX not in h5:
            return
        size = os.path.getsize(path)
        h5[INDEX].attrs.modify("file_size", np.int64(size))
    if os.path.getsize(path) != size:  # the stamp itself moved things: do without the index
        with h5py.File(path, "r+") as h5:
            drop(h5)


def read(h5: h5py.File, name: str, out: np.ndarray, have: np.ndarray, set_size: int) -> np.ndarray | None:
    """Fill ``out`` from the index; return a bool array of buckets it did NOT cover, or None.

    None means there is no usable index for ``name``.
    """
    import os

    key = f"{INDEX}/{L.name_to_path(name)}"
    if key not in h5 or h5.driver != "sec2":
        return None
    if h5[INDEX].attrs.get("file_size", -1) != os.path.getsize(h5.filename):
        return None  # the file changed since the index was made
    ds = h5[key]
    if np.dtype(ds.attrs["dtype"]) != out.dtype:
        return None
    offsets = ds[()]
    n = len(out)
    row = out.dtype.itemsize * int(np.prod(out.shape[1:], dtype=np.int64))
    mm = np.memmap(h5.filename, dtype=np.uint8, mode="r")
    flat = out.reshape(n, -1).view(np.uint8).reshape(n, row) if row else None
    for b in np.flatnonzero(offsets >= 0):
        lo = b * set_size
        hi = min(lo + set_size, n)
        off = int(offsets[b])
        flat[lo:hi] = mm[off:off + (hi - lo) * row].reshape(hi - lo, row)
        have[lo:hi] = True
    del mm
    return offsets < 0

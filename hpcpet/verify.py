"""Checking a results file before resuming it: are the runs marked done really readable?

HDF5 is not crash-consistent inside a flush: a process killed while HDF5
writes its metadata can leave a group that was modified in place (a
bucket, a block, ``result_info``) pointing at objects that were never
written. :func:`check` reads back every bucket that holds runs marked done;
:func:`repair` copies the intact part of the file to a new file in which
the runs of damaged buckets are pending again, so that ``resume`` re-runs
them (docs/reliability.md).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import h5py
import numpy as np

from . import layout as L
from .columns import FIXED, RAGGED, STRING
from .batch import DONE, FAILED, PENDING
from .errors import FileFormatError

_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError)


@dataclass
class Check:
    """What :func:`check` found."""

    status: np.ndarray
    damaged: list[int] = field(default_factory=list)  # buckets whose done runs cannot be read back
    info: dict[str, dict] | None = None  # result_info, None if it cannot be read
    missing_info: dict[str, dict] = field(default_factory=dict)  # results stored, not in result_info
    errors_ok: bool = True

    @property
    def clean(self) -> bool:
        """Nothing to repair."""
        return not self.damaged and self.info is not None and not self.missing_info and self.errors_ok

    @property
    def demoted(self) -> int:
        """Runs marked done that a repair sets back to pending."""
        n = 0
        for b in self.damaged:
            n += int((self.status[self._range(b)] == DONE).sum())
        return n

    def _range(self, b: int) -> slice:
        return slice(*L.bucket_range(b, self.set_size, len(self.status)))

    set_size: int = 1


def read_info(h5: h5py.File) -> dict[str, dict]:
    """``result_info`` as result name -> attributes (raises if it cannot be read)."""
    info = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Group) and "kind" in obj.attrs:
            info[name.replace("/", ".")] = {k: obj.attrs[k] for k in obj.attrs}
    h5[L.RESULT_INFO].visititems(visit)
    return info


def _guess_info(ds: h5py.Dataset) -> dict:
    """A result_info entry for a result whose entry was lost, from one bucket's dataset."""
    base = h5py.check_vlen_dtype(ds.dtype)
    if base is str or h5py.check_string_dtype(ds.dtype) is not None:
        return {"kind": STRING, "dtype": "str", "shape": "null"}
    if base is not None:
        return {"kind": RAGGED, "dtype": str(np.dtype(base)), "shape": "null"}
    return {"kind": FIXED, "dtype": str(ds.dtype), "shape": json.dumps(list(ds.shape[1:]))}


def _merge_guess(old: dict | None, new: dict) -> dict:
    if old is None:
        return new
    if old["kind"] == new["kind"] == FIXED and old["shape"] == new["shape"]:
        return {**old, "dtype": str(np.result_type(np.dtype(old["dtype"]), np.dtype(new["dtype"])))}
    if old["kind"] == new["kind"]:
        return old
    return {"kind": RAGGED, "dtype": old["dtype"] if old["kind"] == RAGGED else new["dtype"], "shape": "null"}


def _bucket_names(group: h5py.Group, size: int) -> dict[str, h5py.Dataset]:
    """Every dataset of a bucket read back in full (raises if any is unreadable or short)."""
    found: dict[str, h5py.Dataset] = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            data = obj[()]
            if len(data) != size:
                raise ValueError(f"{obj.name} has {len(data)} rows, not {size}")
            found[name] = obj
    group.visititems(visit)
    return found


def check(h5: h5py.File) -> Check:
    """Read back every bucket holding runs marked done; see :class:`Check`."""
    n, ss = int(h5.attrs["n_runs"]), int(h5.attrs["set_size"])
    try:
        status = h5[L.STATUS][()]
    except _ERRORS as exc:
        raise FileFormatError(f"{h5.filename}: run status is unreadable ({exc}); the file cannot be resumed")
    result = Check(status=status, set_size=ss)
    try:
        result.info = read_info(h5)
    except _ERRORS:
        result.info = None
    info = result.info or {}
    guesses: dict[str, dict] = {}
    for b in range(-(-n // ss)):
        lo, hi = L.bucket_range(b, ss, n)
        if not (status[lo:hi] == DONE).any():
            continue
        try:
            group = h5[L.bucket_path(b, ss, n)]
            found = _bucket_names(group, hi - lo)
            stored = {p for p in found if not p.endswith((L.PRESENT_SUFFIX, L.SHAPE_SUFFIX))}
            if L.BUCKET_RESULTS_ATTR in group.attrs:  # written by the writer: all must be there
                expected = json.loads(group.attrs[L.BUCKET_RESULTS_ATTR])
                lost = [x for x in expected if L.name_to_path(x) not in stored]
                if lost:
                    raise KeyError(f"results {lost} lost")
        except _ERRORS:
            result.damaged.append(b)
            continue
        for p in stored:
            name = p.replace("/", ".")
            if name not in info:
                guesses[name] = _merge_guess(guesses.get(name), _guess_info(found[p]))
    result.missing_info = guesses
    try:
        idx, txt = h5[L.ERROR_INDEX][()], h5[L.ERROR_TEXT][()]
        result.errors_ok = len(idx) == len(txt)
    except _ERRORS:
        result.errors_ok = False
    return result


def repair(path: str, found: Check) -> int:
    """Rewrite ``path`` without its damage; returns the runs marked done that are pending again.

    The intact part is copied to a new file that replaces ``path`` when
    complete (the damaged file is left as it was if this fails).
    """
    from .writer import fsync, open_h5

    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.repair.tmp")
    status = found.status.copy()
    ss = found.set_size
    n = len(status)
    for b in found.damaged:
        sl = slice(*L.bucket_range(b, ss, n))
        status[sl][status[sl] == DONE] = PENDING
    demoted = int((found.status == DONE).sum() - (status == DONE).sum())
    src = open_h5(path, "r")
    dst = open_h5(tmp, "w")
    try:
        for k, v in src.attrs.items():
            dst.attrs[k] = v
        for name in src:
            if name not in (L.RESULTS, L.RESULT_INFO, L.RUNS):
                src.copy(src[name], dst, name)
        errs = {}
        if found.errors_ok:
            errs = dict(zip(src[L.ERROR_INDEX][()].tolist(), src[L.ERROR_TEXT][()]))
        else:  # failed runs whose traceback is lost are run again
            status[status == FAILED] = PENDING
        st = dst.create_dataset(L.STATUS, shape=(n,), dtype=np.uint8, chunks=(min(n, 65536),),
                                fillvalue=PENDING)
        st[...] = status
        keys = [k for k in sorted(errs) if status[k] == FAILED]
        dst.create_dataset(L.ERROR_INDEX, data=np.array(keys, np.int64), maxshape=(None,), chunks=(256,))
        dst.create_dataset(L.ERROR_TEXT, data=np.array([errs[k] for k in keys], dtype=h5py.string_dtype()),
                           maxshape=(None,), chunks=(256,))
        dst.create_group(L.RESULTS)
        damaged = set(found.damaged)
        for b in range(-(-n // ss)):
            lo, hi = L.bucket_range(b, ss, n)
            if b in damaged or not (status[lo:hi] == DONE).any():
                continue
            bpath = L.bucket_path(b, ss, n)
            parent, name = bpath.rsplit("/", 1)
            src.copy(src[bpath], dst.require_group(parent), name)
        dst.create_group(L.RESULT_INFO)
        info = {**(found.info or {}), **found.missing_info}
        for name, attrs in info.items():
            g = dst.require_group(L.RESULT_INFO + "/" + L.name_to_path(name))
            for k, v in attrs.items():
                g.attrs[k] = v
            if "comment" not in attrs:
                g.attrs["comment"] = ""
        dst.attrs["repaired"] = json.dumps({"runs_rerun": demoted, "buckets": sorted(damaged)})
        dst.flush()
        fsync(dst)
        dst.close()
        src.close()
        os.replace(tmp, path)
    except BaseException:
        for f in (dst, src):
            try:
                f.close()
            except Exception:
                pass
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return demoted

"""Merging part files (``run --part K/N``) into one file equal to an unsplit run.

The merge is a writer: it copies the header of the first part, writes the
combined run status, errors and result descriptions, then goes bucket by
bucket. A bucket that lies inside one part's slice is copied as a whole HDF5
group (no decoding); a bucket that straddles a part boundary is read from each
part and written once, through the writer's own bucket code. Memory stays at
one bucket plus the status arrays.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import h5py
import numpy as np

from . import column_index
from . import layout as L
from .batch import DONE, FAILED, PENDING
from .errors import FileFormatError, HpcpetError
from .parts import PART_ATTRS, compact_ranges
from .writer import Writer, _Bucket, now, open_h5

#: top-level groups copied unchanged from the first part
_HEADER = (L.PARAMETERS, L.EXPLORATION, L.EXPLORED, L.GLOBALS, "experiment")


@dataclass
class Part:
    """One input file and the runs it is responsible for."""

    path: str
    h5: h5py.File
    start: int
    stop: int

    @property
    def label(self) -> str:
        """The part as the user named it (``K/N``) or ``whole file``."""
        part = self.h5.attrs.get("part")
        return part.decode() if isinstance(part, bytes) else (part or "whole file")


@dataclass
class MergeSummary:
    """What :func:`merge` did."""

    path: str
    n_runs: int
    done: int
    failed: int
    pending: int
    copied_buckets: int
    merged_buckets: int

    def __str__(self) -> str:
        return (f"{self.path}: {self.done}/{self.n_runs} runs done, {self.failed} failed, "
                f"{self.pending} pending ({self.copied_buckets} buckets copied, "
                f"{self.merged_buckets} merged across part boundaries)")


def _open_parts(paths: list[str]) -> list[Part]:
    parts = []
    try:
        for p in paths:
            if not os.path.exists(p):
                raise HpcpetError(f"file not found: {p}")
            h5 = open_h5(p, "r")
            parts.append(Part(p, h5, 0, 0))
            if L.FORMAT_ATTR not in h5.attrs:
                raise FileFormatError(f"{p} is not an hpcpet results file")
            n = int(h5.attrs["n_runs"])
            parts[-1].start = int(h5.attrs.get("part_start", 0))
            parts[-1].stop = int(h5.attrs.get("part_stop", n))
    except BaseException:
        for part in parts:
            part.h5.close()
        raise
    return parts


def check_parts(parts: list[Part]) -> None:
    """Raise unless all parts come from one exploration and do not overlap."""
    first = parts[0].h5.attrs
    for key in ("exploration_fingerprint", "n_runs", "set_size"):
        for part in parts[1:]:
            a = part.h5.attrs
            if key not in a or a[key] != first[key]:
                raise HpcpetError(
                    f"{part.path} is not a part of the same exploration as {parts[0].path}: "
                    f"{key} {a.get(key)!r} != {first[key]!r}")
    ordered = sorted(parts, key=lambda p: (p.start, p.stop))
    for a, b in zip(ordered, ordered[1:]):
        if b.start < a.stop:
            raise HpcpetError(f"{a.path} (part {a.label}, runs {a.start}-{a.stop - 1}) and {b.path} "
                              f"(part {b.label}, runs {b.start}-{b.stop - 1}) overlap "
                              f"in runs {b.start}-{min(a.stop, b.stop) - 1}")


def _merged_info(parts: list[Part]) -> dict[str, dict]:
    """Result descriptions of all parts combined like the writer widens them."""
    info: dict[str, dict] = {}
    for part in parts:
        def visit(name, obj, info=info):
            if not (isinstance(obj, h5py.Group) and "kind" in obj.attrs):
                return
            new = {k: obj.attrs[k] for k in obj.attrs}
            old = info.get(name)
            if old is None:
                info[name] = new
                return
            if not old.get("comment") and new.get("comment"):
                old["comment"] = new["comment"]
            if (old["kind"], old["dtype"], old["shape"]) == (new["kind"], new["dtype"], new["shape"]):
                return
            if old["kind"] == new["kind"] == "fixed" and old["shape"] == new["shape"]:
                old["dtype"] = str(np.result_type(np.dtype(old["dtype"]), np.dtype(new["dtype"])))
            elif "string" in (old["kind"], new["kind"]) and old["kind"] != new["kind"]:
                raise HpcpetError(f"result {name.replace('/', '.')} is text in one part and numbers "
                                  "in another; cannot merge")
            else:
                old.update(kind="ragged", shape="null")
                if old["dtype"] != new["dtype"]:
                    old["dtype"] = str(np.result_type(np.dtype(old["dtype"]), np.dtype(new["dtype"])))
        part.h5[L.RESULT_INFO].visititems(visit)
    return info


def merge(paths: list[str], output: str, *, overwrite: bool = False,
          allow_missing: bool = False) -> MergeSummary:
    """Merge part files of one exploration into ``output``.

    Parameters
    ----------
    paths : list of str
        Files written by ``run --part K/N`` (a whole, unsplit file counts as
        one part covering every run).
    output : str
        The merged file to create.
    overwrite : bool
        Replace ``output`` if it exists.
    allow_missing : bool
        Write the merged file even if some runs are in no part or still
        pending in theirs (they stay pending; ``resume`` can do them).

    Returns
    -------
    MergeSummary
    """
    if not paths:
        raise HpcpetError("merge needs at least one part file")
    if os.path.exists(output) and not overwrite:
        raise HpcpetError(f"{output} exists; pass --overwrite to replace it")
    if any(os.path.abspath(p) == os.path.abspath(output) for p in paths):
        raise HpcpetError(f"{output} is also an input; choose another output file")
    parts = _open_parts(paths)
    try:
        check_parts(parts)
        first = parts[0].h5
        n, ss = int(first.attrs["n_runs"]), int(first.attrs["set_size"])
        status = np.full(n, PENDING, np.uint8)
        covered = np.zeros(n, bool)
        for p in parts:
            status[p.start:p.stop] = p.h5[L.STATUS][p.start:p.stop]
            covered[p.start:p.stop] = True
        pending = status == PENDING
        if pending.any() and not allow_missing:
            lines = []
            uncovered = np.flatnonzero(~covered)
            if len(uncovered):
                lines.append(f"{len(uncovered)} runs are in no part: {compact_ranges(uncovered)}")
            unfinished = np.flatnonzero(covered & pending)
            if len(unfinished):
                owners = sorted({p.path for p in parts if pending[p.start:p.stop].any()})
                lines.append(f"{len(unfinished)} runs are still pending in "
                             f"{', '.join(owners)}: {compact_ranges(unfinished)}")
            raise HpcpetError(f"{int(pending.sum())} of {n} runs are missing; " + "; ".join(lines)
                              + " (run or resume the missing parts, or pass --allow-missing)")
        info = _merged_info(parts)
        return _write(parts, output, status, info, n, ss)
    finally:
        for p in parts:
            p.h5.close()


def _write(parts: list[Part], output: str, status: np.ndarray, info: dict[str, dict],
           n: int, ss: int) -> MergeSummary:
    first = parts[0].h5
    tmp = output + ".merging"
    out = open_h5(tmp, "w")
    try:
        for k, v in first.attrs.items():
            if k not in PART_ATTRS and k not in ("ended", "complete"):
                out.attrs[k] = v
        out.attrs["merged_from"] = json.dumps([os.path.abspath(p.path) for p in parts])
        out.attrs["merged"] = now()
        for name in _HEADER:
            if name in first:
                first.copy(first[name], out, name=name)
        out.create_dataset(L.STATUS, data=status, chunks=(min(n, 65536),), fillvalue=PENDING)
        idx, txt = _errors(parts, status)
        out.create_dataset(L.ERROR_INDEX, data=idx, maxshape=(None,), dtype=np.int64, chunks=(256,))
        out.create_dataset(L.ERROR_TEXT, data=txt, maxshape=(None,), dtype=h5py.string_dtype(),
                           chunks=(256,))
        out.create_group(L.RESULTS)
        for name, attrs in info.items():
            g = out.require_group(L.RESULT_INFO + "/" + name)
            for k, v in attrs.items():
                g.attrs[k] = v
        out.require_group(L.RESULT_INFO)
        copied, merged = _buckets(parts, out, n, ss)
        ended = [p.h5.attrs["ended"] for p in parts if "ended" in p.h5.attrs]
        if ended:
            out.attrs["ended"] = max(ended)
        out.attrs["complete"] = bool((status == DONE).all())
        column_index.build(out, info, n, ss)
    except BaseException:
        out.close()
        os.remove(tmp)
        raise
    out.close()
    os.replace(tmp, output)
    column_index.stamp(output)
    return MergeSummary(output, n, int((status == DONE).sum()), int((status == FAILED).sum()),
                        int((status == PENDING).sum()), copied, merged)


def _errors(parts: list[Part], status: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Error index and text of every part, restricted to its slice, in run order."""
    idx_all, txt_all = [], []
    for p in parts:
        idx = p.h5[L.ERROR_INDEX][()]
        keep = (idx >= p.start) & (idx < p.stop)
        if keep.any():
            idx_all.append(idx[keep])
            txt_all.extend(np.asarray(p.h5[L.ERROR_TEXT][()], object)[keep].tolist())
    if not idx_all:
        return np.zeros(0, np.int64), np.zeros(0, h5py.string_dtype())
    idx = np.concatenate(idx_all)
    order = np.argsort(idx, kind="stable")
    txt = np.array(txt_all, dtype=object)[order]
    return idx[order], np.array([t.decode() if isinstance(t, bytes) else t for t in txt],
                                dtype=h5py.string_dtype())


def _buckets(parts: list[Part], out: h5py.File, n: int, ss: int) -> tuple[int, int]:
    """Copy or merge every bucket; return (copied, merged) counts."""
    copied = merged = 0
    writer = Writer(out)  # the writer's bucket code merges straddling buckets
    writer._todo_mask = np.zeros(n, bool)
    ocpl = h5py.h5p.create(h5py.h5p.OBJECT_COPY)
    lcpl = h5py.h5p.create(h5py.h5p.LINK_CREATE)
    lcpl.set_create_intermediate_group(True)
    for part in sorted(parts, key=lambda p: p.start):
        if part.stop <= part.start:
            continue
        b_first, b_last = part.start // ss, (part.stop - 1) // ss
        for b in range(b_first, b_last + 1):
            lo, hi = L.bucket_range(b, ss, n)
            path = L.bucket_path(b, ss, n)
            if part.start <= lo and hi <= part.stop:
                if path in part.h5:
                    h5py.h5o.copy(part.h5.id, path.encode(), out.id, path.encode(), ocpl, lcpl)
                    copied += 1
                continue
            # straddles: every part with runs in this bucket adds its rows; merged once,
            # when the first of those parts comes by
            owners = sorted((p for p in parts if p.start < hi and p.stop > lo and path in p.h5),
                            key=lambda p: p.start)
            if not owners or owners[0] is not part:
                continue
            _merge_bucket(writer, b, lo, hi, owners)
            merged += 1
    writer._staged.clear()
    return copied, merged


def _merge_bucket(writer: Writer, b: int, lo: int, hi: int, owners: list[Part]) -> None:
    bucket = _Bucket(lo, hi, 0)
    final = writer.status[lo:hi].copy()
    for p in owners:
        st = np.full(hi - lo, PENDING, np.uint8)
        s, e = max(lo, p.start), min(hi, p.stop)
        st[s - lo:e - lo] = p.h5[L.STATUS][s:e]
        bucket.status = st  # rows outside p's slice are not done there, so they are skipped
        writer._load_bucket(bucket, p.h5[L.bucket_path(b, writer.set_size, writer.n_runs)])
    bucket.status = final
    writer._write_bucket(b, bucket)

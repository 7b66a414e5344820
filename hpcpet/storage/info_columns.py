"""Run info as the writer stores it: the per-run facts of batches as compact columns.

Invariant: the values are kept exactly (host and other text as UTF-8 bytes,
integers in the smallest integer type that holds them, durations as
float32); a fact given once for a whole batch (a scalar, or
:class:`~hpcpet.batch.Steps` for start times) costs one conversion per
distinct value, not one per run.
"""
from __future__ import annotations

import numpy as np

from ..batch import BatchResult, Steps
from ..columns import Column
from ..kinds import FIXED, STRING
from .runlength import COMPACT, Runs


def gather_info(name: str, batches: list[BatchResult], keeps: list[np.ndarray], counts: list[int]) -> Column:
    """One run-info column over the kept runs of ``batches`` (see :func:`info_column`).

    A value given once for a whole batch (a scalar) is converted once per
    distinct value and repeated, so the cost per batch does not depend on the
    number of its runs and constant facts (host, worker) cost one conversion.
    """
    values = [b.info.get(name) for b in batches]
    if values and any(isinstance(v, Steps) for v in values):
        spaced = _spaced(values, keeps, counts)
        if spaced is not None:
            return spaced
    parts, present, same = [], [], {}
    plain = name not in ("duration", "output")  # float and int arrays are kept as they come
    for b, k, n, v in zip(batches, keeps, counts, values):
        if isinstance(v, Steps):
            v = v.expand(len(b))
        if v is None or (isinstance(v, np.ndarray) and v.ndim == 1):
            arr = v if v is None or (plain and v.dtype.kind == "f") else _info_array(v, name)
            if arr is not None and n != len(b):
                arr = arr[k]
            parts.append((arr, n))
        else:
            key = (type(v), v)
            try:
                a = same.get(key)
            except TypeError:  # not hashable
                key, a = None, None
            if a is None:
                a = _info_array(np.array([v]), name)
                if key is not None:
                    same[key] = a
            parts.append((a, n))
        present.append(v is not None)
    if all(present) and all(len(a) == 1 for a, _ in parts) and len({id(a) for a, _ in parts}) == 1:
        a = parts[0][0]  # one value for every run of the segment (host, worker, attempts)
        return Column(FIXED, np.full(sum(n for _, n in parts), a[0], a.dtype))
    like = next(a for a, _ in parts if a is not None)
    chunks = []
    for a, n in parts:
        if a is None:
            a = np.zeros((1,) + like.shape[1:], like.dtype)
        chunks.append(a if len(a) == n else np.repeat(a, n, axis=0))
    data = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
    if all(present):
        return Column(FIXED, data) if data.dtype != object else Column(STRING, list(data))
    mask = np.concatenate([np.full(n, p) for (_, n), p in zip(parts, present)])
    if data.dtype == object:
        return Column(STRING, [v if m else None for v, m in zip(data.tolist(), mask)], mask)
    return Column(FIXED, data, mask)


def _spaced(values: list, keeps: list[np.ndarray], counts: list[int]) -> Runs | None:
    """Start times given as :class:`~hpcpet.batch.Steps` (and, for batches timed run by run, as
    float arrays) as evenly spaced runs, or None if that is not compact (or not possible)."""
    starts, firsts, steps, at = [], [], [], 0
    for v, k, n in zip(values, keeps, counts):
        if isinstance(v, Steps) and n == len(k):
            starts.append(np.array([at]))
            firsts.append(np.array([v.first]))
            steps.append(np.zeros(1) + v.step)
        else:
            if isinstance(v, Steps):
                v = v.expand(len(k))
            if not (isinstance(v, np.ndarray) and v.ndim == 1 and v.dtype == np.float64):
                return None
            if n != len(v):
                v = v[k]
            if (np.signbit(v) & (v == 0)).any():  # -0.0 + 0.0 * k would lose its sign
                return None
            starts.append(at + np.arange(n))
            firsts.append(v)
            steps.append(np.zeros(n))
        at += n
    runs = Runs(np.concatenate(starts).astype(np.int64), np.concatenate(firsts), at, np.concatenate(steps))
    return runs if len(runs.starts) < max(2, at // COMPACT) else None


def _info_array(arr: np.ndarray, name: str) -> np.ndarray:
    """:func:`info_column`'s values as one array (captured output: an object array of str)."""
    col = info_column(arr, name)
    return col.data if col.kind == FIXED else np.array(col.data + [None], dtype=object)[:-1]


def info_column(arr: np.ndarray, name: str = "") -> Column:
    """A run-info array as a compact column: short text as fixed-width UTF-8 bytes (``host``),
    small integers in the smallest integer type, durations as float32; captured output as text."""
    arr = np.asarray(arr)
    if arr.dtype.kind in "USO":
        if name == "output":
            return Column(STRING, ["" if v is None else str(v) for v in arr.tolist()])
        if arr.dtype.kind != "S":
            arr = np.char.encode(arr.astype(str), "utf-8", "surrogatepass")
        return Column(FIXED, arr)
    if arr.dtype.kind in "iu" and arr.size:
        small = np.result_type(np.min_scalar_type(int(arr.min())), np.min_scalar_type(int(arr.max())))
        return Column(FIXED, arr.astype(small, copy=False))
    if arr.dtype.kind == "f" and name == "duration":
        return Column(FIXED, arr.astype(np.float32))
    return Column(FIXED, arr)

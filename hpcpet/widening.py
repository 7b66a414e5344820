"""The one rule for combining result types across runs, so that no value changes.

Runs of one result may give values of different dtypes or shapes. Their
common type is found here, and only here (the worker's columns, the writer,
the reader and merge all use this module). Widening is lossless or
refused: integers become floats only when every one of them is exactly
representable (|v| <= 2**53 for float64), int64 and uint64 combine only when
all values fit one of them, bool never mixes with numbers, text never with
anything else. A refused combination fails the newer runs, never changes the
older ones.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kinds import FIXED, RAGGED

#: exactly representable integers per float kind (mantissa bits)
_MANTISSA = {2: 11, 4: 24, 8: 53, 16: 64}


class Refused(ValueError):
    """Two result types that cannot be combined without changing a value."""


@dataclass(frozen=True)
class ResultType:
    """Kind, dtype and shape of a result's values (``lo``/``hi``: range of integer values)."""

    kind: str
    dtype: str
    shape: tuple | None = None
    lo: int | None = None
    hi: int | None = None


def _mantissa(dt: np.dtype) -> int:
    size = dt.itemsize // 2 if dt.kind == "c" else dt.itemsize
    return _MANTISSA.get(size, 53)


def promote(d1: np.dtype, r1: tuple | None, d2: np.dtype, r2: tuple | None) -> tuple[np.dtype, tuple | None]:
    """Common dtype of two numeric dtypes with integer ranges ``(lo, hi)``; raises :class:`Refused`."""
    d1, d2 = np.dtype(d1), np.dtype(d2)
    rng = _union(r1, r2)
    if d1 == d2:
        return d1, rng
    k1, k2 = d1.kind, d2.kind
    if "b" in (k1, k2):
        raise Refused("true/false values mixed with numbers")
    if k1 in "iu" and k2 in "iu":
        r = np.result_type(d1, d2)
        if r.kind in "iu":
            return r, rng
        lo, hi = rng if rng else (0, 0)
        if hi < 2 ** 63:
            return np.dtype(np.int64), rng
        if lo >= 0:
            return np.dtype(np.uint64), rng
        raise Refused("integers outside the range of any one 64-bit integer type")
    if k1 in "iu" or k2 in "iu":
        f = d2 if k1 in "iu" else d1
        ir = r1 if k1 in "iu" else r2
        big = max(abs(ir[0]), abs(ir[1])) if ir else 0
        if big <= 2 ** _mantissa(f):
            return f, None
        wide = np.dtype(np.complex128 if f.kind == "c" else np.float64)
        if big <= 2 ** 53:
            return np.result_type(f, wide), None
        raise Refused("integers too large to mix with floats without losing precision")
    return np.result_type(d1, d2), None


def _union(r1: tuple | None, r2: tuple | None) -> tuple | None:
    if r1 is None:
        return r2
    if r2 is None:
        return r1
    return (min(r1[0], r2[0]), max(r1[1], r2[1]))


def int_range(a: np.ndarray) -> tuple[int, int] | None:
    """``(min, max)`` of an integer array as Python ints (None for other dtypes or no values)."""
    if a.dtype.kind not in "iu" or a.size == 0:
        return None
    return int(a.min()), int(a.max())


def common_dtype(arrays: list[np.ndarray]) -> np.dtype:
    """The dtype that holds every array's values exactly; raises :class:`Refused`."""
    groups: dict[np.dtype, tuple | None] = {}
    sized = [a for a in arrays if a.size]  # an empty array's dtype says nothing about values
    for a in sized or arrays:
        dt = a.dtype
        groups[dt] = _union(groups.get(dt), int_range(a)) if dt in groups else int_range(a)
    it = iter(groups.items())
    dtype, rng = next(it)
    for dt, r in it:
        dtype, rng = promote(dtype, rng, dt, r)
    return dtype


def widen(a: ResultType | None, b: ResultType) -> ResultType:
    """The type that holds values of both ``a`` (stored so far) and ``b`` (new); raises :class:`Refused`."""
    if a is None or a == b:
        return b
    numeric = (FIXED, RAGGED)
    if a.kind in numeric and b.kind in numeric:
        r1 = (a.lo, a.hi) if a.lo is not None else None
        r2 = (b.lo, b.hi) if b.lo is not None else None
        dtype, rng = promote(np.dtype(a.dtype), r1, np.dtype(b.dtype), r2)
        lo, hi = rng if rng and np.dtype(dtype).kind in "iu" else (None, None)
        if a.kind == FIXED and b.kind == FIXED and a.shape == b.shape:
            return ResultType(FIXED, dtype.str, a.shape, lo, hi)
        return ResultType(RAGGED, dtype.str, None, lo, hi)
    if a.kind == b.kind:
        return a
    words = {FIXED: "numbers", RAGGED: "arrays", "string": "text", "bytes": "bytes", "pickle": "pandas objects"}
    raise Refused(f"earlier runs stored {words.get(a.kind, a.kind)}, this run {words.get(b.kind, b.kind)}")

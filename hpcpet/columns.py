"""Per-run values gathered into typed columns.

A worker turns the values that a batch of runs produced for one result name
into a :class:`Column`; the writer copies columns into bucket buffers
(:class:`BucketColumn`) and writes each bucket as one dataset per name.

Kinds
-----
``fixed``
    Numbers or arrays of one shape: an ndarray of shape ``(n, *shape)``.
``ragged``
    Arrays whose shape varies from run to run: a list of ndarrays.
``string``
    Text: a list of str.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

FIXED, RAGGED, STRING = "fixed", "ragged", "string"


class ResultTypeError(TypeError):
    """A result value that hpcpet cannot store."""


def fill_value(dtype: np.dtype) -> Any:
    """What stands in a column for a run that has no value."""
    kind = np.dtype(dtype).kind
    if kind in "fc":
        return np.nan
    if kind == "b":
        return False
    if kind in "SU":
        return ""
    return 0


@dataclass
class Column:
    """Values of one result name for consecutive runs.

    Attributes
    ----------
    kind : str
        ``fixed``, ``ragged`` or ``string``.
    data : numpy.ndarray or list
        One row per run.
    present : numpy.ndarray or None
        Bool mask of runs that have a value; None when all have one.
    """

    kind: str
    data: Any
    present: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.data)


def _check_ragged(values: list) -> list:
    out = []
    for v in values:
        a = np.asarray(v)
        if a.dtype.kind not in "biufc":
            raise ResultTypeError(f"cannot store a value of type {type(v).__name__} ({a.dtype})")
        out.append(a)
    return out


def encode(values: list) -> Column:
    """Make a column from per-run values; ``None`` marks a run without a value."""
    present = None
    if any(v is None for v in values):
        present = np.fromiter((v is not None for v in values), bool, len(values))
        sample = [v for v in values if v is not None]
    else:
        sample = values
    if sample and all(isinstance(v, str) for v in sample):
        return Column(STRING, ["" if v is None else v for v in values], present)
    try:
        arr = np.asarray(sample)
    except ValueError:  # inhomogeneous shapes
        arr = None
    if arr is not None and arr.dtype.kind in "biufcS":
        if present is None:
            return Column(FIXED, arr, None)
        full = np.full((len(values),) + arr.shape[1:], fill_value(arr.dtype), dtype=arr.dtype)
        full[present] = arr
        return Column(FIXED, full, present)
    if arr is not None and arr.dtype.kind == "U":
        raise ResultTypeError("a result mixes text and other values")
    if arr is not None and arr.dtype.kind != "O":
        raise ResultTypeError(f"cannot store values of dtype {arr.dtype}")
    rows = _check_ragged(sample)
    if present is not None:
        it = iter(rows)
        empty = np.zeros(0, rows[0].dtype if rows else float)
        rows = [next(it) if p else empty for p in present]
    return Column(RAGGED, rows, present)


class BucketColumn:
    """A result's rows for one bucket of runs, filled in as batches arrive."""

    def __init__(self, length: int):
        self.length = length
        self.kind: str | None = None
        self.data: Any = None
        self.present = np.zeros(length, bool)

    def put(self, offset: int, col: Column, rows: slice) -> None:
        """Copy rows ``rows`` of ``col`` to positions ``offset..`` of the bucket."""
        data = col.data[rows]
        n = len(data)
        mask = np.ones(n, bool) if col.present is None else col.present[rows]
        if self.kind is None:
            self._start(col.kind, data)
        if self.kind == FIXED and col.kind == FIXED and data.shape[1:] == self.data.shape[1:]:
            dtype = np.result_type(self.data.dtype, data.dtype)
            if dtype != self.data.dtype:
                self.data = self.data.astype(dtype)
            self.data[offset:offset + n][mask] = data[mask]
        else:
            self._to_list(col.kind)
            rows_list = list(data) if col.kind != FIXED else [np.asarray(r) for r in data]
            for i in np.flatnonzero(mask):
                self.data[offset + i] = rows_list[i]
        self.present[offset:offset + n] |= mask

    def _start(self, kind: str, data: Any) -> None:
        self.kind = kind
        if kind == FIXED:
            self.data = np.full((self.length,) + data.shape[1:], fill_value(data.dtype), data.dtype)
        elif kind == STRING:
            self.data = [""] * self.length
        else:
            self.data = [None] * self.length

    def _to_list(self, incoming: str) -> None:
        if self.kind == STRING and incoming == STRING:
            return
        if self.kind == STRING or incoming == STRING:
            raise ResultTypeError("a result mixes text and numbers across runs")
        if self.kind == FIXED:
            self.data = [np.asarray(r) if p else None for r, p in zip(self.data, self.present)]
            self.kind = RAGGED

    def rows(self) -> Column:
        """The bucket's rows as a column (missing ragged rows become empty arrays)."""
        present = None if self.present.all() else self.present.copy()
        if self.kind == RAGGED:
            dtype = next((r.dtype for r in self.data if r is not None), np.dtype(float))
            data = [r if r is not None else np.zeros(0, dtype) for r in self.data]
            return Column(RAGGED, data, present)
        return Column(self.kind, self.data, present)

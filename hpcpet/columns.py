"""Per-run values gathered into typed columns (the worker side of storing results).

A worker turns the values that a batch of runs produced for one result name
into a :class:`Column`. Every value is either encoded losslessly or refused:
a refused value fails only its own run, with a reason (``Column.refused``).

Kinds
-----
``fixed``
    Numbers, or arrays of one shape: an ndarray of shape ``(n, *shape)``.
``ragged``
    Numeric arrays whose shape varies from run to run: a list of ndarrays.
``string``
    Text: a list of str (any code point, NUL and lone surrogates included).
``bytes``
    Binary: a list of bytes.
``pickle``
    pandas DataFrame / Series: a list of pickles (bytes), loaded back as the object.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .kinds import BYTES, FIXED, PICKLE, RAGGED, STRING, VARIABLE  # noqa: F401 (re-exported)
from .widening import Refused, ResultType, _union, common_dtype, int_range


class ResultTypeError(TypeError):
    """A result value that hpcpet cannot store."""


def fill_value(dtype: np.dtype) -> Any:
    """What stands in a fixed column for a run that has no value."""
    kind = np.dtype(dtype).kind
    if kind in "fc":
        return np.nan
    if kind == "b":
        return False
    if kind == "S":
        return b""
    return 0


@dataclass
class Column:
    """Values of one result name for consecutive runs.

    Attributes
    ----------
    kind : str
        One of the kinds above.
    data : numpy.ndarray or list
        One row per run.
    present : numpy.ndarray or None
        Bool mask of runs that have a value; None when all have one.
    refused : dict
        Row -> reason, for values that cannot be stored (their runs fail).
    """

    kind: str
    data: Any
    present: np.ndarray | None = None
    refused: dict[int, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.data)


def _is_pandas(v: Any) -> bool:
    mod = type(v).__module__
    return mod.startswith("pandas") and type(v).__name__ in ("DataFrame", "Series")


_SCALAR_INT = (int, np.integer)


def value_class(v: Any) -> str:
    """The storage class of one value: a kind, or ``"?"`` for values that cannot be stored."""
    if isinstance(v, str):
        return STRING
    if isinstance(v, (bytes, bytearray, np.bytes_)):
        return BYTES
    if _is_pandas(v):
        return PICKLE
    if isinstance(v, (bool, int, float, complex, np.number, np.bool_)):
        return FIXED
    if isinstance(v, (np.ndarray, list, tuple)):
        return "array"
    return "?"


def _refusal(v: Any) -> str:
    if isinstance(v, dict):
        return "a dict cannot be one value here (add_result stores a dict as sub-results)"
    return f"cannot store a value of type {type(v).__name__}"


def _as_array(v: Any) -> tuple[np.ndarray | None, str]:
    """A value as a numeric array, or None and the reason why not."""
    try:
        a = np.asarray(v)
    except (ValueError, OverflowError):
        return None, "a list of arrays of different shapes cannot be one value (store them as separate results or a dict)"
    if a.dtype.kind in "biufc":
        return a, ""
    if a.dtype.kind == "O" and isinstance(v, (list, tuple)) and all(isinstance(x, int) for x in v):
        return None, "integers too large for 64 bits"
    if a.dtype.kind in "US":
        return None, "arrays of text cannot be stored (store each text as its own result)"
    return None, f"cannot store an array of dtype {a.dtype}"


def _ints_array(values: list) -> tuple[np.ndarray | None, str]:
    """Python ints as int64, else uint64 if they all fit, else refused."""
    try:
        return np.asarray(values, np.int64), ""
    except OverflowError:
        pass
    try:
        return np.asarray(values, np.uint64), ""
    except OverflowError:
        return None, "integers too large for 64 bits"


def encode(values: list) -> Column:
    """Make a column from per-run values; ``None`` marks a run without a value.

    The kind is that of most values; a value that cannot be stored, or does
    not fit that kind, or would lose precision next to the others, is refused
    (its run fails with the reason in ``Column.refused``).
    """
    n = len(values)
    refused: dict[int, str] = {}
    present = None
    types = set(map(type, values))
    if type(None) in types:
        present = np.fromiter((v is not None for v in values), bool, n)
        types.discard(type(None))
    if types == {float} or types == {np.float64}:  # the hot path: one float per run
        if present is None:
            return Column(FIXED, np.asarray(values, np.float64))
        out = np.full(n, np.nan)
        out[present] = [v for v in values if v is not None]
        return Column(FIXED, out, present)
    classes = [value_class(v) if v is not None else None for v in values]
    counts: dict[str, int] = {}
    for c in classes:
        if c is not None and c != "?":
            key = RAGGED if c == "array" else c
            counts[key] = counts.get(key, 0) + 1
    if not counts:
        for k, v in enumerate(values):
            if v is not None:
                refused[k] = _refusal(v)
        return _empty(n, refused)
    main = max(counts, key=lambda c: (counts[c], c == RAGGED))  # numbers and arrays are one family
    numeric = main in (FIXED, RAGGED) or (main == FIXED)
    if numeric and FIXED in counts and RAGGED in counts:
        main = RAGGED if counts[RAGGED] >= counts[FIXED] else FIXED
    rows: list[Any] = [None] * n
    for k, (v, c) in enumerate(zip(values, classes)):
        if c is None:
            continue
        if c == "?":
            refused[k] = _refusal(v)
            continue
        if numeric and c in (FIXED, "array"):
            a, why = _as_array(v) if c == "array" else (None, "")
            if c == "array" and a is None:
                refused[k] = why
                continue
            rows[k] = a if c == "array" else v
        elif c == main:
            rows[k] = v
        else:
            refused[k] = f"a {_kind_word(c)} value among {_kind_word(main)} values of the same result"
    have = np.fromiter((r is not None for r in rows), bool, n)
    mask = None if have.all() else have
    if main == STRING:
        return Column(STRING, [r if r is not None else "" for r in rows], mask, refused)
    if main == BYTES:
        return Column(BYTES, [bytes(r) if r is not None else b"" for r in rows], mask, refused)
    if main == PICKLE:
        data = [pickle.dumps(r, protocol=4) if r is not None else b"" for r in rows]
        return Column(PICKLE, data, mask, refused)
    return _numeric(rows, have, mask, refused)


def _kind_word(c: str) -> str:
    return {FIXED: "number", RAGGED: "array", "array": "array", STRING: "text", BYTES: "bytes",
            PICKLE: "pandas"}.get(c, c)


def _empty(n: int, refused: dict[int, str]) -> Column:
    return Column(FIXED, np.full(n, np.nan), np.zeros(n, bool), refused)


def _numeric(rows: list, have: np.ndarray, mask: np.ndarray | None, refused: dict[int, str]) -> Column:
    """Numbers and numeric arrays: one fixed column if shapes agree, else ragged; lossless dtypes."""
    n = len(rows)
    idx = np.flatnonzero(have)
    if len(idx) == 0:
        return _empty(n, refused)
    sample = [rows[k] for k in idx]
    arrays: list[np.ndarray] = []
    ints = [k for k, v in zip(idx, sample) if isinstance(v, int) and not isinstance(v, bool)]
    if ints:  # Python ints: int64, or uint64 when they are that large
        arr, why = _ints_array([rows[k] for k in ints])
        if arr is None:
            for k in ints:
                refused[int(k)] = why
                rows[k] = None
            return _numeric(rows, np.fromiter((r is not None for r in rows), bool, n),
                            None, refused) if any(r is not None for r in rows) else _empty(n, refused)
        for k, v in zip(ints, arr):
            rows[k] = v
    arrays = [np.asarray(rows[k]) for k in idx]
    try:
        dtype = common_dtype(arrays)
    except Refused as exc:
        # keep the dtype of most values; refuse the others
        by_dtype: dict[str, list[int]] = {}
        for k, a in zip(idx, arrays):
            by_dtype.setdefault(a.dtype.str, []).append(int(k))
        keep = max(by_dtype, key=lambda d: len(by_dtype[d]))
        for d, ks in by_dtype.items():
            if d != keep:
                for k in ks:
                    refused[k] = f"{exc} (dtype {np.dtype(d)} among {np.dtype(keep)} values)"
                    rows[k] = None
        have = np.fromiter((r is not None for r in rows), bool, n)
        return _numeric(rows, have, None if have.all() else have, refused)
    shapes = {a.shape for a in arrays}
    if len(shapes) == 1:
        shape = next(iter(shapes))
        if mask is None and len(arrays) == n:
            return Column(FIXED, np.asarray(arrays, dtype).reshape((n,) + shape), None, refused)
        out = np.full((n,) + shape, fill_value(dtype), dtype)
        for k, a in zip(idx, arrays):
            out[k] = a
        return Column(FIXED, out, mask if mask is not None else (None if have.all() else have), refused)
    data = [np.zeros(0, dtype)] * n
    for k, a in zip(idx, arrays):
        data[k] = a.astype(dtype, copy=False)
    return Column(RAGGED, data, mask if mask is not None else (None if have.all() else have), refused)


def type_of(col: Column) -> ResultType:
    """The :class:`ResultType` of a column (its integer range over rows that have a value)."""
    if col.kind == FIXED:
        rng = None
        if col.data.dtype.kind in "iu":  # the range of the rows with a value (others hold 0)
            rng = int_range(col.data if col.present is None or col.present.all() else col.data[col.present])
        return ResultType(FIXED, col.data.dtype.str, tuple(col.data.shape[1:]),
                          *(rng if rng else (None, None)))
    if col.kind == RAGGED:
        rows = col.data if col.present is None else [r for r, p in zip(col.data, col.present) if p]
        dtype = rows[0].dtype if rows else np.dtype(float)
        rng = None
        for r in rows:
            rng = _union(rng, int_range(r))
        return ResultType(RAGGED, dtype.str, None, *(rng if rng else (None, None)))
    return ResultType(col.kind, "|u1")

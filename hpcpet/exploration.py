"""Explorations: which parameter values each run sees.

An exploration is kept compact: a cartesian product travels and is stored as
its axes, a zipped exploration as its columns. Columns for any slice of runs
are computed on demand, so workers receive kilobytes, not the expanded
product.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .errors import ExplorationError
from .naming import check_name


def _as_column(name: str, values: Any) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.ndim >= 1:
        col = values
    else:
        try:
            values = list(values)
        except TypeError:
            raise ExplorationError(f"explored values of {name!r} must be a sequence") from None
        if not values:
            raise ExplorationError(f"explored values of {name!r} are empty")
        try:
            col = np.asarray(values)
        except ValueError:  # inhomogeneous shapes
            col = np.empty(0, object)
        if col.dtype.kind in "US" and not all(isinstance(v, (str, bytes, np.str_, np.bytes_))
                                              for v in np.ravel(np.asarray(values, object))):
            col = np.empty(0, object)  # numpy turned mixed numbers and text into text
    if col.dtype.kind == "O":
        raise ExplorationError(
            f"explored values of {name!r} mix types or shapes; use one type per parameter"
        )
    if col.dtype.kind not in "biufcUS":
        raise ExplorationError(f"explored values of {name!r} have unsupported dtype {col.dtype}")
    if len(col) == 0:
        raise ExplorationError(f"explored values of {name!r} are empty")
    return col


class Exploration:
    """Values of the explored parameters for every run.

    Build one with :func:`cartesian_product` or :func:`zip_exploration`
    (``Trajectory.explore`` accepts a plain dict of equal-length sequences
    and zips it).

    Attributes
    ----------
    kind : str
        ``"cartesian"`` or ``"zip"``.
    axes : dict[str, numpy.ndarray]
        For ``cartesian``: each parameter's own values, first name slowest.
        For ``zip``: each parameter's column in run order.
    """

    def __init__(self, kind: str, axes: Mapping[str, np.ndarray]):
        if kind not in ("cartesian", "zip"):
            raise ExplorationError(f"unknown exploration kind {kind!r}")
        self.kind = kind
        self.axes = {check_name(n): _as_column(n, v) for n, v in axes.items()}
        if not self.axes:
            raise ExplorationError("an exploration needs at least one parameter")
        if kind == "zip":
            lengths = {n: len(c) for n, c in self.axes.items()}
            if len(set(lengths.values())) > 1:
                detail = ", ".join(f"{n}: {k}" for n, k in lengths.items())
                raise ExplorationError(f"explored lists have different lengths ({detail})")
            self._shape = (len(next(iter(self.axes.values()))),)
        else:
            self._shape = tuple(len(c) for c in self.axes.values())
        self._len = int(np.prod(self._shape, dtype=np.int64))

    @property
    def names(self) -> list[str]:
        """Explored parameter names, in order."""
        return list(self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        """Grid shape: one length per axis (cartesian) or ``(n_runs,)`` (zip)."""
        return self._shape

    def __len__(self) -> int:
        return self._len

    def column(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Values of parameter ``name`` for runs ``start .. stop-1``, in run order."""
        stop = self._len if stop is None else min(stop, self._len)
        axis = self.axes[name]
        if self.kind == "zip":
            return axis[start:stop]
        pos = self.names.index(name)
        inner = int(np.prod(self._shape[pos + 1:], dtype=np.int64))
        idx = (np.arange(start, stop, dtype=np.int64) // inner) % len(axis)
        return axis[idx]

    def columns(self, start: int = 0, stop: int | None = None) -> dict[str, np.ndarray]:
        """All explored columns for runs ``start .. stop-1``."""
        return {n: self.column(n, start, stop) for n in self.axes}

    def point(self, index: int) -> dict[str, Any]:
        """Explored values of run ``index`` as Python/numpy scalars."""
        if not 0 <= index < self._len:
            raise IndexError(f"run {index} out of range 0..{self._len - 1}")
        return {n: c[0] for n, c in self.columns(index, index + 1).items()}

    def fingerprint(self) -> str:
        """A hash that identifies this exploration (names, kind and values)."""
        import hashlib

        h = hashlib.sha256(self.kind.encode())
        for n, c in self.axes.items():
            h.update(n.encode())
            h.update(str(c.dtype).encode())
            h.update(np.ascontiguousarray(c).tobytes())
        return h.hexdigest()[:16]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Exploration) and self.fingerprint() == other.fingerprint()

    def __repr__(self) -> str:
        return f"Exploration({self.kind}, {len(self)} runs, {self.names})"


def cartesian_product(axes: Mapping[str, Sequence[Any]]) -> Exploration:
    """All combinations of the given values; the first name varies slowest.

    Parameters
    ----------
    axes : mapping of str to sequence
        Parameter name -> the values it takes.

    Returns
    -------
    Exploration
        ``prod(len(v))`` runs.
    """
    if not isinstance(axes, Mapping):
        raise ExplorationError("cartesian_product takes a dict of name -> values")
    return Exploration("cartesian", dict(axes))


def zip_exploration(columns: Mapping[str, Sequence[Any]]) -> Exploration:
    """Run ``i`` takes the ``i``-th value of every list; all lists have equal length."""
    if not isinstance(columns, Mapping):
        raise ExplorationError("explore takes a dict of name -> values")
    return Exploration("zip", dict(columns))

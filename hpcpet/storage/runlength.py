"""Run-length columns: a 1-d column stored as runs of equal, or evenly spaced, values.

Run info is mostly such a column: one host, one worker per batch, a batch's
mean duration, start times ``first + k * step`` of runs too short to time one
by one. Stored as runs it costs a few numbers per batch instead of bytes per
run, in segments and in the consolidated file alike (docs/format.md "Run
info").

Invariant: expanding gives back exactly the bits that were stored. An evenly
spaced run's row ``i`` is ``value + (i - origin) * step``, computed as
:meth:`hpcpet.batch.Steps.expand` computes it; runs are cut, moved and merged
by their integer positions only (a cut run keeps its value and origin), so
no value is ever recomputed.
"""
from __future__ import annotations

from dataclasses import dataclass

import h5py
import numpy as np

from . import layout as L

#: where each run starts, its value (at its origin, if evenly spaced), its step, and the row at which
#: k = 0 when that is not the run's start (a run cut from a longer one)
RUN_STARTS, RUN_VALUES, RUN_STEPS, RUN_ORIGINS = "run_starts", "run_values", "run_steps", "run_origins"

#: runs are stored when there are fewer than one per this many rows
COMPACT = 4


@dataclass
class Runs:
    """``n`` rows: from row ``starts[j]`` on, ``values[j]`` (or ``values[j] + (i - origins[j]) * steps[j]``)."""

    starts: np.ndarray
    values: np.ndarray
    n: int
    steps: np.ndarray | None = None
    origins: np.ndarray | None = None

    def lengths(self) -> np.ndarray:
        return np.diff(np.append(self.starts, self.n))

    def expand(self) -> np.ndarray:
        """The rows (the same bits as :meth:`hpcpet.batch.Steps.expand` gives for each batch)."""
        lengths = self.lengths()
        if self.steps is None:
            return np.repeat(self.values, lengths, axis=0)
        k = (np.arange(self.n) - np.repeat(self.origin(), lengths)).astype(np.float64)
        k *= np.repeat(self.steps, lengths)
        k += np.repeat(self.values, lengths)
        return k

    def origin(self) -> np.ndarray:
        return self.starts if self.origins is None else self.origins

    def row(self, i: int):
        """Row ``i`` alone."""
        j = int(np.searchsorted(self.starts, i, side="right")) - 1
        if self.steps is None:
            return self.values[j]
        return Runs(np.zeros(1, np.int64), self.values[j:j + 1], 1, self.steps[j:j + 1],
                    np.array([self.origin()[j] - i])).expand()[0]

    def write(self, g: h5py.Group) -> None:
        """Store the runs in group ``g`` (``run_starts``, ``run_values``, ``run_steps``, ``run_origins``)."""
        g.create_dataset(RUN_STARTS, data=np.asarray(self.starts, np.int64))
        g.create_dataset(RUN_VALUES, data=self.values)
        if self.steps is not None:
            g.create_dataset(RUN_STEPS, data=self.steps)
            if self.origins is not None and (self.origins != self.starts).any():
                g.create_dataset(RUN_ORIGINS, data=np.asarray(self.origins, np.int64))
        g.attrs["rows"] = self.n

    @classmethod
    def read(cls, g: h5py.Group) -> "Runs":
        """The runs stored in group ``g``."""
        steps = g[RUN_STEPS][()] if RUN_STEPS in g else None
        origins = g[RUN_ORIGINS][()] if RUN_ORIGINS in g else None
        return cls(g[RUN_STARTS][()], g[RUN_VALUES][()], int(g.attrs["rows"]), steps, origins)

    @classmethod
    def of(cls, data: np.ndarray) -> "Runs | None":
        """``data`` (1-d) as runs of equal values, or None if that would not be compact."""
        if data.ndim != 1 or len(data) < 2 or data.dtype.kind == "c":
            return None
        bits = _bits(data)
        change = np.flatnonzero(bits[1:] != bits[:-1]) + 1
        if len(change) >= len(data) // COMPACT:
            return None
        starts = np.concatenate([[0], change]).astype(np.int64)
        return cls(starts, data[starts], len(data))


def _bits(v: np.ndarray) -> np.ndarray:
    """Values compared by their bits (NaN equals the same NaN, -0.0 differs from 0.0)."""
    return v.view(f"u{v.dtype.itemsize}") if v.dtype.kind == "f" and v.dtype.itemsize in (2, 4, 8) else v


def stored_as_runs(g: h5py.Group) -> bool:
    """Whether result group ``g`` holds its rows as runs."""
    return RUN_VALUES in g


def row_count(g: h5py.Group) -> int:
    """How many rows a fixed result group holds (as runs or as ``data``)."""
    return int(g.attrs["rows"]) if stored_as_runs(g) else len(g[L.DATA])


def blocks_of(rows: np.ndarray) -> np.ndarray:
    """Where the rows of a source go, as int64[k, 3] blocks ``(first row, first target row,
    length)``: maximal stretches of consecutive rows going to consecutive target rows."""
    rows = np.asarray(rows, np.int64)
    if not len(rows):
        return np.zeros((0, 3), np.int64)
    first = np.concatenate([[0], np.flatnonzero(np.diff(rows) != 1) + 1])
    return np.stack([first, rows[first], np.diff(np.append(first, len(rows)))], axis=1)


def gather(n: int, sources: list[tuple[np.ndarray | None, h5py.Group]]) -> "tuple[Runs, np.ndarray] | None":
    """The runs of ``n`` rows that ``sources`` hold, and which rows they cover (bool[n]); None if
    they do not all hold runs or the result would not be compact.

    ``sources``: ``(blocks, group)`` pairs in order, ``blocks`` the
    :func:`blocks_of` the group's rows (None: rows 0..); a later source wins
    a row. Rows no source covers get the first run's value. The work is per
    run and per block, not per row, unless sources overlap.
    """
    limit = max(2, n // COMPACT)
    parts, count, spaced = [], 0, None
    for blocks, g in sources:
        if not stored_as_runs(g) or L.PRESENT in g:
            return None
        src = Runs.read(g)
        if spaced is None:
            spaced = src.steps is not None
        elif spaced != (src.steps is not None):
            return None  # evenly spaced and equal runs of one column: not worth the care
        if blocks is None:
            blocks = np.array([[0, 0, src.n]], np.int64)
        if count + len(blocks) + len(src.starts) > 2 * limit:
            return None
        # a piece: rows within one run and one block (they go to consecutive rows there)
        b = np.sort(np.concatenate([src.starts, blocks[:, 0]]))  # (np.union1d would import numpy.ma)
        b = b[np.append(True, b[1:] != b[:-1]) & (b < src.n)]
        j = np.searchsorted(src.starts, b, side="right") - 1
        q = np.searchsorted(blocks[:, 0], b, side="right") - 1
        target = blocks[q, 1] + (b - blocks[q, 0])
        step = src.steps[j] if spaced else None
        parts.append((target, np.diff(np.append(b, src.n)), src.values[j], step,
                      src.origin()[j] + (target - b)))  # the origin moves with the rows
        count += len(b)
    if not parts:
        return None
    t, length, value = (np.concatenate([p[k] for p in parts]) for k in range(3))
    step = np.concatenate([p[3] for p in parts]) if spaced else np.zeros(len(t))
    origin = np.concatenate([p[4] for p in parts])
    order = np.argsort(t, kind="stable")
    end = (t + length)[order]
    if len(t) > 1 and (end[:-1] > t[order][1:]).any():  # sources overlap: the later wins, row by row
        return _painted(n, t, length, value, step if spaced else None, origin)
    t, length, value, step, origin = t[order], length[order], value[order], step[order], origin[order]
    gap_at = np.concatenate([[0], end])
    gap_len = np.concatenate([t, [n]]) - gap_at
    gaps = gap_len > 0
    starts = np.concatenate([t, gap_at[gaps]])
    covered_run = np.concatenate([np.ones(len(t), bool), np.zeros(int(gaps.sum()), bool)])
    pick = np.concatenate([np.arange(len(t)), np.zeros(int(gaps.sum()), np.int64)])
    by = np.argsort(starts, kind="stable")
    starts, covered_run, pick = starts[by], covered_run[by], pick[by]
    if len(starts) >= limit:
        return None
    covered = np.repeat(covered_run, np.diff(np.append(starts, n)))
    runs = Runs(starts, value[pick], n)
    if spaced:
        runs.steps = np.where(covered_run, step[pick], 0.0)
        runs.origins = np.where(covered_run, origin[pick], starts)
    return _joined(runs), covered


def _painted(n: int, t, length, value, step, origin) -> "tuple[Runs, np.ndarray] | None":
    """:func:`gather` of pieces that overlap (a run stored twice): each row takes the last piece on it."""
    owner = np.full(n, -1, np.int64)
    for i, (a, m) in enumerate(zip(t.tolist(), length.tolist())):
        owner[a:a + m] = i
    starts = np.concatenate([[0], np.flatnonzero(owner[1:] != owner[:-1]) + 1]).astype(np.int64)
    if len(starts) >= max(2, n // COMPACT):
        return None
    covered = owner >= 0
    who = owner[starts]
    pick = np.where(who >= 0, who, 0)  # rows no source covers: the first piece's value
    runs = Runs(starts, value[pick], n)
    if step is not None:
        runs.steps = np.where(who >= 0, step[pick], 0.0)
        runs.origins = np.where(who >= 0, origin[pick], starts)
    return _joined(runs), covered


def _joined(runs: Runs) -> Runs:
    """``runs`` with neighbours that continue each other (same value, step and origin) made one."""
    if len(runs.starts) < 2:
        return runs
    v = runs.values
    bits = _bits(v)
    same = bits[1:] == bits[:-1]
    if runs.steps is not None:
        o, st = runs.origin(), runs.steps
        sb = _bits(st)
        same &= (sb[1:] == sb[:-1]) & ((o[1:] == o[:-1]) | (st[1:] == 0))
    keep = np.concatenate([[True], ~same])
    if keep.all():
        return runs
    return Runs(runs.starts[keep], v[keep], runs.n, None if runs.steps is None else runs.steps[keep],
                None if runs.steps is None else runs.origin()[keep])

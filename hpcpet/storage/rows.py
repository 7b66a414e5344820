"""Rows of one result as stored on disk: a fixed array, or values + offsets.

The same encoding is used in segments (rows of the runs a checkpoint
committed) and in the consolidated results file (rows of every run), so one
group layout, one reader and one writer serve both (docs/format.md):

- ``fixed``: ``data`` dtype[n, *shape];
- variable kinds: ``values`` (the rows one after another, flattened; text as
  UTF-8 with lone surrogates kept, bytes as they are, pandas objects pickled),
  ``offsets`` int64[n + 1] and, for ragged rows that are not all 1-D,
  ``shapes`` int64[n, ndim] padded with -1;
- ``present`` bool[n] when some rows hold no value.

Only fixed-size HDF5 datatypes are used, so every byte string survives.
"""
from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, replace
from typing import Any

import h5py
import numpy as np

from ..columns import Column, fill_value
from ..kinds import BYTES, FIXED, PICKLE, RAGGED, STRING
from ..widening import ResultType
from . import layout as L
from .grid import GRID, GRID_MIN_ROW_BYTES, Grid, copy_chunks, read_grid, write_grid
from .runlength import RUN_STEPS, RUN_VALUES, Runs, blocks_of, stored_as_runs


@dataclass
class Rows:
    """``n`` rows of one result in its stored type.

    ``data`` for fixed kinds; ``values``, ``offsets`` (and ``shapes``) for
    variable ones; ``present`` None when every row has a value.
    """

    rtype: ResultType
    n: int
    data: np.ndarray | None = None
    values: np.ndarray | None = None
    offsets: np.ndarray | None = None
    shapes: np.ndarray | None = None
    present: np.ndarray | None = None
    #: rows in a stage file instead of ``data`` (a segment's heavy result, see :mod:`.stage`):
    #: the attributes that say where
    staged: dict | None = None
    #: rows given as runs of equal or evenly spaced values instead of ``data`` (run info, see
    #: :mod:`.runlength`)
    runs: Runs | None = None
    #: a segment writes ``data`` compressed in run space (see :mod:`.grid`): the runs and the filters
    grid: "Grid | None" = None

    @property
    def kind(self) -> str:
        return self.rtype.kind

    # ------------------------------------------------------------------ building
    @classmethod
    def from_runs(cls, gathered: tuple[Runs, np.ndarray], rtype: ResultType) -> "Rows":
        """The rows of type ``rtype`` that :func:`~hpcpet.storage.runlength.gather` found:
        ``(runs, covered)``."""
        runs, covered = gathered
        return cls(rtype, runs.n, present=None if covered.all() else covered,
                   runs=replace(runs, values=runs.values.astype(rtype.dtype, copy=False)))

    @classmethod
    def from_column(cls, col: Column, rtype: ResultType, keep: np.ndarray) -> "Rows":
        """The rows ``keep`` (bool mask) of a worker's column, converted to ``rtype`` (lossless)."""
        if rtype.kind == FIXED and col.kind == FIXED and keep.all():  # every row: no gather
            data = np.asarray(col.data).astype(rtype.dtype, copy=False)
            pres = col.present
            return cls(rtype, len(data), data=data, present=None if pres is None or pres.all() else pres)
        present = keep if col.present is None else keep & col.present
        idx = np.flatnonzero(keep)
        pres = present[idx]
        n = len(idx)
        if rtype.kind == FIXED:
            data = np.asarray(col.data)[idx].astype(rtype.dtype, copy=False)
            return cls(rtype, n, data=data, present=None if pres.all() else pres)
        if col.kind == FIXED:  # fixed rows joining a ragged result
            rows = [np.asarray(r) for r in np.asarray(col.data)[idx]]
        else:
            rows = [col.data[k] for k in idx]
        rows = [r if p else _empty_row(rtype) for r, p in zip(rows, pres)]
        return cls.from_list(rtype, rows, None if pres.all() else pres)

    @classmethod
    def from_list(cls, rtype: ResultType, rows: list, present: np.ndarray | None = None) -> "Rows":
        """Rows from Python values (arrays, str, bytes or pickles), all of kind ``rtype.kind``."""
        n = len(rows)
        if rtype.kind == FIXED:
            shape = tuple(rtype.shape or ())
            data = np.full((n,) + shape, fill_value(rtype.dtype), rtype.dtype)
            for k, r in enumerate(rows):
                if present is None or present[k]:
                    data[k] = r
            return cls(rtype, n, data=data, present=present)
        if rtype.kind == RAGGED:
            arrays = [np.asarray(r, rtype.dtype) for r in rows]
            flat = [a.ravel() for a in arrays]
            shapes = None
            if any(a.ndim != 1 for a in arrays):
                ndim = max(a.ndim for a in arrays)
                shapes = np.array([list(a.shape) + [-1] * (ndim - a.ndim) for a in arrays], np.int64)
                shapes = shapes.reshape(n, ndim)
        else:  # bytes joined once: no array per row
            raw = [_as_bytes(r, rtype.kind) for r in rows]
            offsets = np.zeros(n + 1, np.int64)
            np.cumsum([len(r) for r in raw], out=offsets[1:])
            values = np.frombuffer(b"".join(raw), np.uint8).copy()
            return cls(rtype, n, values=values, offsets=offsets, present=present)
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum([len(f) for f in flat], out=offsets[1:])
        values = np.concatenate(flat) if flat else np.zeros(0, rtype.dtype)
        values = values.astype(rtype.dtype if rtype.kind == RAGGED else np.uint8, copy=False)
        return cls(rtype, n, values=values, offsets=offsets, shapes=shapes, present=present)

    def astype(self, rtype: ResultType) -> "Rows":
        """These rows in a wider type (see :mod:`hpcpet.widening`)."""
        if rtype == self.rtype:
            return self
        if rtype.kind == FIXED:
            return Rows(rtype, self.n, data=self.data.astype(rtype.dtype), present=self.present)
        if self.kind == FIXED:
            rows = [np.asarray(r) for r in self.data]
            return Rows.from_list(rtype, rows, self.present)
        return Rows(rtype, self.n, values=self.values.astype(rtype.dtype), offsets=self.offsets,
                    shapes=self.shapes, present=self.present)

    @staticmethod
    def concat(parts: list["Rows"], rtype: ResultType) -> "Rows":
        """One Rows object of all ``parts`` in order, in type ``rtype``."""
        parts = [p.astype(rtype) for p in parts]
        if len(parts) == 1:  # one batch: its rows as they are (a heavy batch is not copied)
            return parts[0]
        n = sum(p.n for p in parts)
        present = None
        if any(p.present is not None for p in parts):
            present = np.concatenate([p.present if p.present is not None else np.ones(p.n, bool)
                                      for p in parts])
        if rtype.kind == FIXED:
            return Rows(rtype, n, data=np.concatenate([p.data for p in parts]), present=present)
        values = np.concatenate([p.values for p in parts])
        offsets = np.zeros(n + 1, np.int64)
        pos, base = 1, 0
        for p in parts:
            offsets[pos:pos + p.n] = p.offsets[1:] + base
            base += int(p.offsets[-1])
            pos += p.n
        shapes = None
        if any(p.shapes is not None for p in parts):
            ndim = max(p.shapes.shape[1] if p.shapes is not None else 1 for p in parts)
            shapes = np.full((n, ndim), -1, np.int64)
            pos = 0
            for p in parts:
                if p.shapes is not None:
                    shapes[pos:pos + p.n, :p.shapes.shape[1]] = p.shapes
                else:
                    shapes[pos:pos + p.n, 0] = np.diff(p.offsets)
                pos += p.n
        return Rows(rtype, n, values=values, offsets=offsets, shapes=shapes, present=present)

    def masked(self, keep: np.ndarray) -> "Rows":
        """These rows with the value removed where ``keep`` is False (e.g. runs that failed)."""
        if keep.all():
            return self
        present = keep.copy() if self.present is None else self.present & keep
        return Rows(self.rtype, self.n, self.data, self.values, self.offsets, self.shapes, present)

    # ------------------------------------------------------------------ values
    def has(self) -> np.ndarray:
        """Bool per row: holds a value."""
        return np.ones(self.n, bool) if self.present is None else self.present

    def value(self, k: int) -> Any:
        """Row ``k`` as the value the run added (None if it added none)."""
        if self.present is not None and not self.present[k]:
            return None
        if self.kind == FIXED:
            v = self.data[k]
            return v[()] if isinstance(v, np.ndarray) and v.ndim == 0 else v
        lo, hi = int(self.offsets[k]), int(self.offsets[k + 1])
        raw = self.values[lo:hi]
        if self.kind == RAGGED:
            if self.shapes is None:
                return raw
            shaped = raw.reshape(L.row_shape(self.shapes[k]))
            return shaped[()] if shaped.ndim == 0 else shaped  # a number among arrays stays a number
        return decode_bytes(raw.tobytes(), self.kind)

    def to_list(self) -> list:
        """Every row's value (None where a row has none)."""
        return [self.value(k) for k in range(self.n)]

    def to_column(self, sel: np.ndarray, keep: np.ndarray) -> Column:
        """Rows ``sel`` (indices) as a worker's column (values kept only where ``keep``), e.g. for merge."""
        has = self.has()[sel] & keep
        present = None if has.all() else has
        if self.kind == FIXED:
            return Column(FIXED, self.data[sel], present)
        rows = []
        for j, k in enumerate(sel.tolist()):
            if not has[j]:
                rows.append(_empty_row(self.rtype) if self.kind == RAGGED else ("" if self.kind == STRING else b""))
            elif self.kind == PICKLE:
                rows.append(self.values[self.offsets[k]:self.offsets[k + 1]].tobytes())
            else:
                rows.append(self.value(k))
        return Column(self.kind, rows, present)

    def info_array(self, sel: np.ndarray) -> np.ndarray:
        """Rows ``sel`` of a run-info column as a plain array."""
        if self.kind == FIXED:
            return self.data[sel]
        return np.array([v if v is not None else "" for v in (self.value(k) for k in sel.tolist())], dtype=object)

    # ------------------------------------------------------------------ disk
    def write(self, parent: h5py.Group, path: str, chunk: int, comment: str = "",
              compression: dict | None = None, runs: bool = False) -> None:
        """Create the group ``path`` under ``parent`` holding these rows (``chunk`` rows per chunk).

        ``runs``: a 1-d fixed column whose value changes rarely (run info in a
        segment: host, worker, a batch's mean duration) is stored as runs of
        equal values (:class:`~hpcpet.storage.runlength.Runs`) when that is compact.
        """
        g = _result_group(parent, path, self.rtype, comment)
        kw = dict(compression or {})
        as_runs = self.runs
        if as_runs is None and runs and self.kind == FIXED and self.staged is None:
            as_runs = Runs.of(self.data)
        if self.staged is not None:  # the rows are in a stage file: say where
            for k, v in self.staged.items():
                g.attrs[k] = v
        elif as_runs is not None:
            as_runs.write(g)
        elif self.grid is not None and self.kind == FIXED and self.n:
            write_grid(g, self.data, self.grid, fill_value(self.data.dtype))
        elif self.kind == FIXED:
            _dataset(g, L.DATA, self.data, (max(1, min(chunk, self.n)),) + self.data.shape[1:], kw)
        else:
            vchunk = max(1, min(len(self.values), 1 << 16))
            _dataset(g, L.VALUES, self.values, (vchunk,), kw)
            _dataset(g, L.OFFSETS, self.offsets, (max(1, min(chunk + 1, self.n + 1)),), {})
            if self.shapes is not None:
                _dataset(g, L.SHAPES, self.shapes, (max(1, min(chunk, self.n)), self.shapes.shape[1]), {})
        if self.present is not None and not self.present.all():
            _dataset(g, L.PRESENT, self.present, (max(1, min(chunk, self.n)),), {})

    @classmethod
    def read(cls, g: h5py.Group, sel: np.ndarray | None = None) -> "Rows":
        """Rows stored in group ``g`` (all, or the row indices ``sel`` of a fixed result)."""
        rtype = read_type(g)
        if rtype.kind == FIXED:
            ds = data_of(g)
            data = ds[()] if sel is None else ds[np.sort(sel)]
            n = len(data)
            present = None
            if L.PRESENT in g:
                present = g[L.PRESENT][()] if sel is None else g[L.PRESENT][()][np.sort(sel)]
            return cls(rtype, n, data=data, present=present)
        offsets = g[L.OFFSETS][()]
        values = g[L.VALUES][()]
        shapes = g[L.SHAPES][()] if L.SHAPES in g else None
        present = g[L.PRESENT][()] if L.PRESENT in g else None
        return cls(rtype, len(offsets) - 1, values=values, offsets=offsets, shapes=shapes,
                   present=present)


def data_of(g: h5py.Group):
    """The rows of a fixed result group: its ``data`` dataset, or, staged, its rows read from the
    stage file, or, in a grid, its rows read from it, or, stored as runs, those expanded."""
    from .stage import STAGED, read_staged

    if STAGED in g.attrs:
        return read_staged(g, read_type(g))
    if GRID in g:
        return read_grid(g)
    if stored_as_runs(g):
        return Runs.read(g).expand()
    return g[L.DATA]


def _result_group(parent: h5py.Group, path: str, t: ResultType, comment: str) -> h5py.Group:
    """The group of one result with the attributes that describe its type (the group may exist)."""
    g = parent.require_group(path)
    g.attrs["kind"] = t.kind
    g.attrs["dtype"] = np.dtype(t.dtype).str
    g.attrs["shape"] = json.dumps(list(t.shape)) if t.shape is not None else "null"
    if t.lo is not None:
        g.attrs["int_range"] = json.dumps([t.lo, t.hi])
    if comment:
        g.attrs["comment"] = comment
    return g


#: rows read from one source at a time when a fixed column is streamed (bytes)
SLAB_BYTES = 16 << 20


class Placement:
    """Where the rows of one source go: consecutive run spans, in the order of its rows.

    Computed once from the source's run indices (read by ``load_index``)
    and shared by every result the source holds; the indices themselves are
    not kept, so a 10^7-run study's placements hold next to nothing.
    """

    def __init__(self, load_index):
        self.load_index = load_index
        self._plan: tuple | None = None
        self._blocks: np.ndarray | None = None

    def plan(self) -> tuple[np.ndarray | None, list[tuple[int, int]]]:
        """``(order, spans)``: the row order that sorts the runs (None if sorted) and their spans."""
        if self._plan is None:
            self._plan = plan_runs(np.asarray(self.load_index()))
        return self._plan

    def index(self) -> np.ndarray:
        return np.asarray(self.load_index())

    def blocks(self) -> np.ndarray:
        """The source's :func:`~hpcpet.storage.runlength.blocks_of` (computed once)."""
        if self._blocks is None:
            self._blocks = blocks_of(self.index())
        return self._blocks


def plan_runs(rows: np.ndarray) -> tuple[np.ndarray | None, list[tuple[int, int]]]:
    """``(order, spans)`` of run indices ``rows``: the order that sorts them (None if sorted) and
    the :func:`spans` of the sorted runs."""
    order = None
    if len(rows) > 1 and (rows[1:] < rows[:-1]).any():
        order = np.argsort(rows, kind="stable")
        rows = rows[order]
    return order, spans(rows)


def write_fixed(parent: h5py.Group, path: str, n: int, rtype: ResultType, sources: list, chunk: int,
                comment: str = "", compression: dict | None = None, fill: Any = None,
                staged_here: str | None = None) -> None:
    """Write a fixed result of ``n`` runs from ``sources`` without holding the column in memory.

    ``sources``: ``(placement, group)`` pairs, in order (a :class:`Placement`,
    or None for runs 0..); a later source wins a run it holds a value for.
    The layout is that of :meth:`Rows.write` (contiguous, or chunks of whole
    buckets when compressed). ``fill``: the value of runs no source covers
    (default :func:`~hpcpet.columns.fill_value`); with compression, slabs
    equal to it are not written at all, so a constant column costs next to
    nothing. Memory: one source, or :data:`SLAB_BYTES` of the base file, at a time.
    ``staged_here``: this file is the stage file of that name and already
    holds the column (uncompressed): rows staged in it are in place, the
    others are written into it. A compressed column of heavy rows takes the
    chunks that one source holds whole as they are (:func:`.grid.copy_chunks`)
    and writes only the other rows through the filter.
    """
    from .stage import STAGED

    g = _result_group(parent, path, rtype, comment)
    shape = tuple(rtype.shape or ())
    dtype = np.dtype(rtype.dtype)
    fill = fill_value(dtype) if fill is None else fill
    kw = dict(compression or {})
    covered = np.zeros(n, bool)
    for where, src in sources:
        has = src[L.PRESENT][()] if L.PRESENT in src else None
        if where is None:
            covered[:len(data_of(src))] = True if has is None else has
        elif has is None:
            for a, b in where.plan()[1]:
                covered[a:b] = True
        else:
            covered[where.index()[has]] = True
    in_place = lambda src: staged_here is not None and attr_text(src, STAGED) == staged_here  # noqa: E731
    row_bytes = max(1, dtype.itemsize * int(np.prod(shape, dtype=np.int64)))
    slab = max(1, SLAB_BYTES // row_bytes)
    if staged_here is not None:
        ds = g[L.DATA]
        _fill(ds, ~covered, fill, slab)
    elif n == 0 or (not kw and not covered.any()):
        g.create_dataset(L.DATA, data=np.full((n,) + shape, fill, dtype))
    elif kw:
        chunks = _chunks(n, shape, dtype, chunk)
        ds = g.create_dataset(L.DATA, (n,) + shape, dtype, chunks=chunks, fillvalue=fill, **kw)
    else:
        ds = g.create_dataset(L.DATA, (n,) + shape, dtype)  # no fill pass: every row is written once
        _fill(ds, ~covered, fill, slab)
    copied = None
    if kw and staged_here is None and n and row_bytes >= GRID_MIN_ROW_BYTES:
        copied = copy_chunks(ds, sources, _runs_with_value)
    if n and (kw or covered.any()):
        written = np.zeros(n, bool) if kw else None
        for where, src in sources:
            if not in_place(src):
                _write_source(ds, where, src, rtype, (fill, written) if kw else None, slab, copied)
    if not covered.all():
        g.create_dataset(L.PRESENT, data=covered, chunks=(max(1, min(chunk, n)),))


def _runs_with_value(where, src: h5py.Group) -> np.ndarray:
    """The runs a source of :func:`write_fixed` holds a value for."""
    has = src[L.PRESENT][()] if L.PRESENT in src else None
    runs = np.arange(len(data_of(src))) if where is None else where.index()
    return runs if has is None else runs[has]


def _write_source(ds: h5py.Dataset, where, src: h5py.Group, rtype: ResultType, skip, slab: int,
                  copied: np.ndarray | None = None) -> None:
    """Write one source's rows into ``ds``.

    ``skip``: ``(fill, written)``: a slab equal to the dataset's fill value
    is not written unless an earlier source wrote one of its rows
    (``written``, a bool per run, kept up to date). ``copied``: bool per
    run, True where ``ds`` already holds the run's final value (a chunk
    copied whole): those rows are neither read nor written.
    """
    dtype = np.dtype(rtype.dtype)
    has = src[L.PRESENT][()] if L.PRESENT in src else None
    if copied is not None:
        _write_rest(ds, where, src, dtype, has, copied, skip, slab)
        return
    if skip is not None and has is None and where is not None and RUN_VALUES in src and RUN_STEPS not in src \
            and len(src[RUN_VALUES]) == 1 and _all_equal(src[RUN_VALUES][()], skip[0]):
        written = skip[1]  # one value, the fill: nothing to write where no earlier source wrote
        spans = where.plan()[1]
        if not any(written[a:b].any() for a, b in spans):
            for a, b in spans:
                written[a:b] = True
            return
    data = data_of(src)

    def put(a: int, block: np.ndarray) -> None:
        _put(ds, a, block, skip)

    if where is None and has is None:  # the base file's column: slab by slab
        for a in range(0, len(data), slab):
            put(a, data[a:a + slab].astype(dtype, copy=False))
        return
    block = data[()].astype(dtype, copy=False)
    if has is None:
        order, spans = where.plan()
    else:  # some rows hold no value: place only the others
        rows = (np.arange(len(data)) if where is None else where.index())[has]
        block = block[has]
        order, spans = plan_runs(rows)
    _place(put, block, order, spans)


def _write_rest(ds: h5py.Dataset, where, src: h5py.Group, dtype: np.dtype, has: np.ndarray | None,
                copied: np.ndarray, skip, slab: int) -> None:
    """:func:`_write_source` of the rows whose runs are not ``copied`` (only those are read)."""
    runs = np.arange(len(data_of(src))) if where is None else where.index()
    keep = ~copied[runs] if has is None else has & ~copied[runs]
    pos = np.flatnonzero(keep)
    if not len(pos):
        return

    def put(a: int, block: np.ndarray) -> None:
        _put(ds, a, block.astype(dtype, copy=False), skip)

    if where is None:  # the results file's column: its rows are its runs, read slab by slab
        data = data_of(src)
        for a, b in spans(pos):
            for lo in range(a, b, slab):
                put(lo, data[lo:min(b, lo + slab)])
        return
    rows = runs[pos]
    block = read_grid(src, rows) if GRID in src else np.asarray(data_of(src)[()])[pos]
    _place(put, block, *plan_runs(rows))


def places(order: np.ndarray | None, spans: list[tuple[int, int]]):
    """``(lo, hi, where)`` for each of the :func:`plan_runs` ``spans``: the rows ``where`` (a slice,
    or indices) of the planned run indices hold runs ``lo .. hi-1``, in order."""
    pos = 0
    for lo, hi in spans:
        yield lo, hi, slice(pos, pos + hi - lo) if order is None else order[pos:pos + hi - lo]
        pos += hi - lo


def _place(put, block: np.ndarray, order: np.ndarray | None, spans: list[tuple[int, int]]) -> None:
    """``put`` the rows of ``block`` (in ``order``, if given) at the run ``spans`` (see :func:`plan_runs`)."""
    for lo, _, where in places(order, spans):
        put(lo, block[where])


def _put(ds: h5py.Dataset, a: int, block: np.ndarray, skip) -> None:
    """Write ``block`` into ``ds`` from row ``a`` unless ``skip`` (see :func:`_write_source`) says
    the rows hold the fill value and nothing was written there."""
    b = a + len(block)
    if skip is not None:
        fill, written = skip
        if not written[a:b].any() and _all_equal(block, fill):
            written[a:b] = True
            return
        written[a:b] = True
    ds[a:b] = block


def _fill(ds: h5py.Dataset, rows: np.ndarray, fill: Any, slab: int) -> None:
    """Write ``fill`` into the rows of ``ds`` where ``rows`` is True, at most ``slab`` rows at a time."""
    for a, b in spans(np.flatnonzero(rows)):
        for lo in range(a, b, slab):
            hi = min(b, lo + slab)
            ds[lo:hi] = np.full((hi - lo,) + ds.shape[1:], fill, ds.dtype)


def attr_text(g: h5py.Group, name: str) -> str | None:
    """Attribute ``name`` of ``g`` as text (None if it has none)."""
    v = g.attrs.get(name)
    return v.decode() if isinstance(v, bytes) else v


def spans(rows: np.ndarray) -> list[tuple[int, int]]:
    """``[a, b)`` ranges of consecutive values in sorted ``rows`` (a repeated run ends a range)."""
    if len(rows) == 0:
        return []
    cut = np.flatnonzero(np.diff(rows) != 1) + 1
    starts = np.concatenate([[0], cut])
    ends = np.concatenate([cut, [len(rows)]])
    return [(int(rows[s]), int(rows[e - 1]) + 1) for s, e in zip(starts, ends)]


def _all_equal(block: np.ndarray, value: Any) -> bool:
    if block.dtype.kind in "fc" and isinstance(value, float) and np.isnan(value):
        return bool(np.isnan(block).all())
    return bool((block == value).all())


def _chunks(n: int, shape: tuple, dtype: np.dtype, bucket: int) -> tuple:
    """Chunks of a compressed column: whole buckets, about :data:`CHUNK_BYTES`."""
    bucket = max(1, min(bucket, n))
    row = max(1, int(np.prod(shape, dtype=np.int64)) * dtype.itemsize)
    rows = max(1, CHUNK_BYTES // row)
    rows = bucket * max(1, rows // bucket) if rows >= bucket else rows
    return (min(rows, n),) + tuple(shape)


def read_type(g: h5py.Group) -> ResultType:
    """The :class:`ResultType` recorded in a result group's attributes."""
    a = g.attrs
    kind = _text(a["kind"])
    shape = json.loads(_text(a["shape"])) if "shape" in a else None
    rng = json.loads(_text(a["int_range"])) if "int_range" in a else (None, None)
    return ResultType(kind, np.dtype(_text(a["dtype"])).str, tuple(shape) if shape is not None else None,
                      rng[0], rng[1])


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


#: about how many bytes a chunk of a compressed column holds (a whole number of buckets)
CHUNK_BYTES = 1 << 20


def _dataset(g: h5py.Group, name: str, data: np.ndarray, chunks: tuple, kw: dict) -> None:
    """Uncompressed: contiguous (one read loads a column). Compressed: chunks of whole buckets, ~1 MB."""
    if data.size == 0 or not kw:
        g.create_dataset(name, data=data)
        return
    g.create_dataset(name, data=data, chunks=_chunks(len(data), tuple(chunks[1:]), data.dtype, chunks[0]), **kw)


def _empty_row(rtype: ResultType) -> Any:
    if rtype.kind == RAGGED:
        return np.zeros(0, rtype.dtype)
    return b""


def _as_bytes(value: Any, kind: str) -> bytes:
    if kind == STRING and isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return bytes(value)


def decode_bytes(raw: bytes, kind: str) -> Any:
    """A stored variable-length row back as the run's value."""
    if kind == STRING:
        return raw.decode("utf-8", "surrogatepass")
    if kind == BYTES:
        return raw
    if kind == PICKLE:
        return pickle.loads(raw)
    raise ValueError(kind)


def absent(rtype: ResultType, n: int) -> Rows:
    """``n`` rows without a value."""
    present = np.zeros(n, bool)
    if rtype.kind == FIXED:
        shape = tuple(rtype.shape or ())
        return Rows(rtype, n, data=np.full((n,) + shape, fill_value(rtype.dtype), rtype.dtype),
                    present=present)
    vdtype = rtype.dtype if rtype.kind == RAGGED else np.uint8
    return Rows(rtype, n, values=np.zeros(0, vdtype), offsets=np.zeros(n + 1, np.int64), present=present)


def assemble(n: int, sources: list[tuple[np.ndarray, Rows]], rtype: ResultType) -> Rows:
    """Rows of runs ``0..n-1`` from ``(run indices, rows)`` sources; a later source wins a run."""
    if rtype.kind == FIXED:
        return assemble_fixed(n, iter(sources), rtype)
    sources = [(idx, rows.astype(rtype)) for idx, rows in sources]
    owner = np.full(n, -1, np.int32)
    for s, (idx, rows) in enumerate(sources):
        owner[idx[rows.has()]] = s
    present = owner >= 0
    lengths = np.zeros(n, np.int64)
    ndim = 0
    for s, (idx, rows) in enumerate(sources):
        mine = owner[idx] == s
        lengths[idx[mine]] = np.diff(rows.offsets)[mine]
        if rows.shapes is not None:
            ndim = max(ndim, rows.shapes.shape[1])
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    vdtype = rtype.dtype if rtype.kind == RAGGED else np.uint8
    values = np.empty(int(offsets[-1]), vdtype)
    shapes = np.full((n, ndim), -1, np.int64) if ndim else None
    for s, (idx, rows) in enumerate(sources):
        mine = owner[idx] == s
        if not mine.any():
            continue
        r = rows
        src_lo = r.offsets[:-1][mine]
        ln = np.diff(r.offsets)[mine]
        dst_lo = offsets[idx[mine]]
        if ln.sum():
            step = np.repeat(dst_lo - src_lo, ln)
            src = _ranges(src_lo, ln)
            values[src + step] = r.values[src]
        if shapes is not None:
            if r.shapes is not None:
                shapes[idx[mine], :r.shapes.shape[1]] = r.shapes[mine]
            else:
                shapes[idx[mine], 0] = ln
    return Rows(rtype, n, values=values, offsets=offsets, shapes=shapes,
                present=None if present.all() else present)


def assemble_fixed(n: int, sources, rtype: ResultType) -> Rows:
    """:func:`assemble` for a fixed kind from an iterator of sources, one in memory at a time.

    Assigning in order lets a later source win a run; no other bookkeeping is needed.
    """
    shape = tuple(rtype.shape or ())
    data = np.full((n,) + shape, fill_value(rtype.dtype), rtype.dtype)
    present = np.zeros(n, bool)
    for idx, rows in sources:
        rows = rows.astype(rtype)
        if rows.present is None:
            data[idx] = rows.data
            present[idx] = True
        else:
            has = rows.present
            data[idx[has]] = rows.data[has]
            present[idx[has]] = True
    return Rows(rtype, n, data=data, present=None if present.all() else present)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + l)`` for every start and length, vectorised."""
    total = int(lengths.sum())
    out = np.ones(total, np.int64)
    ends = np.cumsum(lengths)
    nz = lengths > 0
    s, ln, e = starts[nz], lengths[nz], ends[nz]
    out[0] = s[0]
    heads = e[:-1]
    out[heads] = s[1:] - (s[:-1] + ln[:-1] - 1)
    return np.cumsum(out)

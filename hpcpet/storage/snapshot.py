"""A consistent view of a study: its results file plus the live segments next to it.

Used by the reader (``hpcpet.load``, ``info``, ``status``) while a study is
written or after, and by the writer to consolidate. Invariant: a snapshot
never mixes two versions of the results file: if the file was replaced while
the snapshot was taken (the writer consolidated), it is taken again.
"""
from __future__ import annotations

import os
from typing import Any

import h5py
import numpy as np

from ..errors import FileFormatError, HpcpetError
from ..kinds import FIXED
from ..widening import Refused, ResultType, widen
from . import layout as L
from .files import open_h5
from .rows import Placement, Rows, absent, assemble, assemble_fixed, read_type
from .segments import SegmentFile, _result_groups, live_segments


def _text(v: Any) -> Any:
    return v.decode() if isinstance(v, bytes) else v


class Snapshot:
    """The results file ``path`` (opened read-only) and its live segments."""

    def __init__(self, path: str):
        self.path = os.fspath(path)
        for attempt in range(20):
            try:
                self._open()
                return
            except _Retry:
                self.close()
                if attempt == 19:
                    raise HpcpetError(f"{path} kept changing while it was read; try again") from None
                import time

                time.sleep(0.05)

    def _open(self) -> None:
        path = self.path
        if not os.path.exists(path):
            raise HpcpetError(f"file not found: {path}")
        self.segments: list[SegmentFile] = []
        self._status: np.ndarray | None = None
        self.h5 = open_h5(path, "r")
        ino = os.fstat(self.h5.id.get_vfd_handle()).st_ino
        a = self.h5.attrs
        if L.FORMAT_ATTR not in a:
            raise FileFormatError(f"{path} is not an hpcpet results file")
        self.format = int(a[L.FORMAT_ATTR])
        if self.format != L.FORMAT_VERSION:
            return
        try:
            self.base = int(a.get(L.SEGMENTS_ATTR, 0))
            self.n_runs = int(a["n_runs"])
            self.set_size = int(a["set_size"])
            self.attrs: dict[str, Any] = {k: _text(a[k]) for k in a}
            if any(p in str(self.attrs.get("compression", "")) for p in ("zstd", "blosc")):
                from .compression import enable_readers

                enable_readers()  # the zstd / blosc filters come from hdf5plugin
            self.base_status = self.h5[L.STATUS][()]
        except (KeyError, OSError, RuntimeError) as exc:
            raise FileFormatError(f"{path} is damaged ({exc})") from None
        for first, last, seg_path in live_segments(path, self.base):
            try:
                self.segments.append(SegmentFile(seg_path))
            except HpcpetError:
                if not os.path.exists(seg_path):
                    raise _Retry() from None  # compacted away while we listed: look again
                raise
        try:
            if os.stat(path).st_ino != ino:
                raise _Retry()
        except FileNotFoundError:
            raise _Retry() from None
        for seg in self.segments:
            self.attrs.update(seg.set_attrs())
            grown = seg.h5.attrs.get("n_runs")
            if grown is not None and int(grown) > self.n_runs:  # the study grew (expand, generations)
                self.n_runs = int(grown)
        self.attrs["n_runs"] = self.n_runs
        if len(self.base_status) < self.n_runs:
            self.base_status = np.concatenate(
                [self.base_status, np.zeros(self.n_runs - len(self.base_status), np.uint8)])

    def close(self) -> None:
        """Close every file of the snapshot."""
        for seg in getattr(self, "segments", []):
            seg.close()
        h5 = getattr(self, "h5", None)
        if h5 is not None and h5.id.valid:
            h5.close()

    @property
    def last(self) -> int:
        """The number of the newest checkpoint in the snapshot."""
        return max([self.base] + [s.last for s in self.segments])

    # ------------------------------------------------------------------ exploration
    @property
    def grown(self) -> bool:
        """Whether segments add runs to the exploration of the results file."""
        return any(L.EXPLORED in s.h5 for s in self.segments)

    def exploration(self):
        """The whole exploration: the file's, then the segments added by later generations."""
        from .explorations import read_exploration, read_pieces

        expl = read_exploration(self.h5)
        added = [p for s in self.segments for p in read_pieces(s.h5)]
        if not added:
            return expl
        from ..exploration import Exploration

        return Exploration.from_segments([*expl.segments, *added])

    def explored(self, name: str) -> np.ndarray:
        """The explored values of parameter ``name`` for every run."""
        from .explorations import read_column

        p = L.name_to_path(name)
        parts = [read_column(self.h5[L.EXPLORED][p])]
        parts += [read_column(s.h5[L.EXPLORED][p]) for s in self.segments if L.EXPLORED in s.h5]
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def pieces(self) -> list[dict]:
        """The description of every exploration segment (kind, names, shape, groups, generation, runs)."""
        import json

        from .explorations import PIECES

        out = []
        for h5 in [self.h5] + [s.h5 for s in self.segments]:
            path = L.EXPLORATION + "/" + PIECES + "/description"
            if path in h5:
                out += [json.loads(t) for t in Rows.read(h5[path]).to_list()]
        if not out:  # a file written before exploration pieces were recorded
            a = self.h5[L.EXPLORATION].attrs
            out = [{"kind": _text(a["kind"]), "generation": 0, "runs": int(self.attrs["n_runs"]),
                    "shape": json.loads(a["shape"]), "names": json.loads(a["names"]), "origin": None}]
        return out

    def generation(self) -> np.ndarray:
        """The generation of every run."""
        pieces = self.pieces()
        return np.repeat(np.array([p["generation"] for p in pieces], np.int64),
                         [int(p["runs"]) for p in pieces])

    # ------------------------------------------------------------------ runs
    def status(self) -> np.ndarray:
        """Status of every run (uint8; a copy: the snapshot never changes, so it is computed once)."""
        if self._status is None:
            st = self.base_status.copy()
            for seg in self.segments:
                st[seg.index] = seg.status
            self._status = st
        return self._status.copy()

    def errors(self) -> dict[int, str]:
        """Run index -> error text of runs that are failed now."""
        out: dict[int, str] = {}
        if L.ERROR_INDEX in self.h5:
            idx = self.h5[L.ERROR_INDEX][()]
            text = Rows.read(self.h5[L.ERROR_TEXT]).to_list()
            out.update(zip(idx.tolist(), text))
        for seg in self.segments:
            out.update(seg.errors())
        status = self.status()
        return {k: v for k, v in out.items() if status[k] == 2}

    # ------------------------------------------------------------------ results
    def _groups(self, root: str, index: bool = True) -> list[tuple[np.ndarray | None, h5py.Group]]:
        """(run index or None for all runs, group) of every source that has ``root``.

        ``index=False``: the segment itself instead of its run index (not read).
        """
        out = []
        if root in self.h5:
            out.append((None, self.h5[root]))
        for seg in self.segments:
            if root in seg.h5:
                out.append((seg.index if index else seg, seg.h5[root]))
        return out

    def result_types(self, root: str = L.RESULTS) -> dict[str, ResultType]:
        """Name -> stored type of every result (or run-info column), folded over all sources."""
        types: dict[str, ResultType] = {}
        for _, g in self._groups(root, index=False):
            names = _result_groups(g) if root == L.RESULTS else list(g)
            for name in names:
                t = read_type(g[L.name_to_path(name)])
                try:
                    types[name] = widen(types.get(name), t)
                except Refused as exc:  # the writer never lets this happen
                    raise FileFormatError(f"{self.path}: result {name!r}: {exc}") from None
        return types

    def result_options(self) -> dict[str, dict]:
        """Result name -> storage options given with ``add_result`` (the newest wins)."""
        out: dict[str, dict] = {}
        if L.RESULTS in self.h5:
            for name in _result_groups(self.h5[L.RESULTS]):
                spec = self.h5[L.RESULTS][L.name_to_path(name)].attrs.get("compression")
                if spec is not None:
                    out[name] = {"compression": _text(spec)}
        for seg in self.segments:
            out.update(seg.result_options())
        return out

    def comments(self) -> dict[str, str]:
        """Result name -> comment."""
        out: dict[str, str] = {}
        if L.RESULTS in self.h5:
            for name in _result_groups(self.h5[L.RESULTS]):
                c = self.h5[L.RESULTS][L.name_to_path(name)].attrs.get("comment")
                if c:
                    out[name] = _text(c)
        for seg in self.segments:
            out.update(seg.comments())
        return out

    def rows(self, name: str, rtype: ResultType | None = None, root: str = L.RESULTS) -> Rows:
        """Rows of result ``name`` for every run (later sources win)."""
        if rtype is None:
            rtype = self.result_types(root)[name]
        groups = self.sources(name, root)
        if not groups:
            return absent(rtype, self.n_runs)
        if len(groups) == 1 and groups[0][0] is None:
            whole = Rows.read(groups[0][1])
            if whole.rtype == rtype and whole.n == self.n_runs:
                return whole  # the consolidated file alone: no copy
            groups = [(np.arange(whole.n), None)]
            sources = [(groups[0][0], whole)]
            return assemble(self.n_runs, sources, rtype)

        def read(idx, g):
            rows = Rows.read(g)
            return (np.arange(rows.n) if idx is None else idx), rows
        if rtype.kind == FIXED:  # one source in memory at a time (10^7-run columns)
            return assemble_fixed(self.n_runs, (read(idx, g) for idx, g in groups), rtype)
        return assemble(self.n_runs, [read(idx, g) for idx, g in groups], rtype)

    def sources(self, name: str, root: str = L.RESULTS, placed: dict | None = None) -> list[tuple[Any, h5py.Group]]:
        """``(run indices or None for runs 0.., group)`` of every stored part of result ``name``, oldest first.

        ``placed``: a dict kept by the caller; the run indices are then given
        as :class:`~hpcpet.storage.rows.Placement` objects, one per segment.
        """
        p = L.name_to_path(name)
        groups = [(idx, g[p]) for idx, g in self._groups(root, index=placed is None)
                  if p in g and isinstance(g[p], h5py.Group)]
        if placed is not None:  # one Placement per segment, shared by every result
            groups = [(None if s is None else placed.setdefault(s.path, Placement(lambda s=s: s.index)), g)
                      for s, g in groups]
        for _, g in groups:
            spec = g.attrs.get("compression")
            if spec is not None and any(x in _text(spec) for x in ("zstd", "blosc")):
                from .compression import enable_readers

                enable_readers()
        return groups

    def row(self, name: str, index: int, root: str = L.RESULTS) -> Any:
        """The value of result ``name`` of run ``index`` (None if absent); reads only what it needs."""
        value = None
        p = L.name_to_path(name)
        for idx, g in self._groups(root):
            if p not in g:
                continue
            k = index if idx is None else np.flatnonzero(idx == index)
            if idx is not None:
                if len(k) == 0:
                    continue
                k = int(k[-1])
            if idx is None:  # the consolidated file: read just this run's row
                rows_in_file = len(g[p][L.DATA]) if L.DATA in g[p] else len(g[p][L.OFFSETS]) - 1
                if k < rows_in_file and _present(g[p], k):
                    value = _one_row(g[p], k)
                continue
            rows = Rows.read(g[p])
            if rows.has()[k]:
                value = rows.value(k)
        return value

    def globals_groups(self) -> list[h5py.Group]:
        """The ``globals`` groups of the file and the segments, oldest first."""
        return [g for _, g in self._groups(L.GLOBALS, index=False)]


def _present(g: h5py.Group, k: int) -> bool:
    return bool(g[L.PRESENT][k]) if L.PRESENT in g else True


def _one_row(g: h5py.Group, k: int) -> Any:
    """Row ``k`` of a result group, reading only that row."""
    from ..kinds import FIXED, RAGGED
    from .rows import decode_bytes

    t = read_type(g)
    if t.kind == FIXED:
        v = g[L.DATA][k]
        return v[()] if isinstance(v, np.ndarray) and v.ndim == 0 else v
    lo, hi = (int(x) for x in g[L.OFFSETS][k:k + 2])
    raw = g[L.VALUES][lo:hi]
    if t.kind == RAGGED:
        if L.SHAPES not in g:
            return raw
        shaped = raw.reshape(L.row_shape(g[L.SHAPES][k]))
        return shaped[()] if shaped.ndim == 0 else shaped
    return decode_bytes(raw.tobytes(), t.kind)


def _text_array(arr: np.ndarray) -> np.ndarray:
    """Text stored as HDF5 strings comes back as bytes objects: make it a numpy str array."""
    if arr.dtype.kind == "O":
        return np.array([v.decode() if isinstance(v, bytes) else v for v in arr.ravel()]).reshape(arr.shape)
    return arr


class _Retry(Exception):
    """The study changed while the snapshot was taken."""

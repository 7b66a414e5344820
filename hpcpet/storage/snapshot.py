"""A consistent view of a study: its results file plus the live segments next to it.

Used by the reader (``hpcpet.load``, ``info``, ``status``) while a study is
written or after, and by the writer to consolidate. Invariant: a snapshot
never mixes two versions of the results file: if the file was replaced while
the snapshot was taken (the writer consolidated), it is taken again.

A snapshot reads the results file itself and a list of *sources* laid over
it in order (a later one wins a run): the live segment files
(:class:`~hpcpet.storage.segments.SegmentFile`) and, in a writer's own view
(:class:`LiveSnapshot`), the runs it holds in memory
(:class:`~hpcpet.storage.segments.MemorySegment`); both offer the same methods.
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
from .runlength import Runs, row_count, stored_as_runs
from .segments import SegmentFile, _result_groups, group_types, live_segments


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
            grown = seg.grown_to
            if grown is not None and grown > self.n_runs:  # the study grew (expand, generations)
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
        return any(s.grows for s in self.segments)

    def exploration(self):
        """The whole exploration: the file's, then the segments added by later generations."""
        from .explorations import read_exploration

        expl = read_exploration(self.h5)
        added = [p for s in self.segments for p in s.pieces()]
        if not added:
            return expl
        from ..exploration import Exploration

        return Exploration.from_segments([*expl.segments, *added])

    def exploration_header(self) -> tuple[str, list[str], tuple[int, ...]]:
        """The results file's exploration attributes: kind, explored names, shape."""
        import json

        try:
            a = self.h5[L.EXPLORATION].attrs
            return _text(a["kind"]), json.loads(a["names"]), tuple(json.loads(a["shape"]))
        except (KeyError, OSError) as exc:
            raise FileFormatError(f"{self.path} is damaged ({exc})") from None

    def explored(self, name: str) -> np.ndarray:
        """The explored values of parameter ``name`` for every run."""
        from .explorations import read_column

        p = L.name_to_path(name)
        parts = [read_column(self.h5[L.EXPLORED][p])]
        parts += [s.explored(name) for s in self.segments if s.grows]
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def pieces(self) -> list[dict]:
        """The description of every exploration segment (kind, names, shape, groups, generation, runs)."""
        import json

        from .explorations import PIECES

        out = []
        path = L.EXPLORATION + "/" + PIECES + "/description"
        if path in self.h5:
            out += [json.loads(t) for t in Rows.read(self.h5[path]).to_list()]
        for s in self.segments:
            out += s.descriptions()
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

    def generation_count(self) -> int:
        """How many generations the runs belong to: the highest generation of a run, plus one."""
        return max((int(p["generation"]) for p in self.pieces() if int(p["runs"])), default=-1) + 1

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
    def _base_group(self, root: str, name: str) -> h5py.Group | None:
        """The results file's group of ``name`` under ``root``, if it has one."""
        if root not in self.h5:
            return None
        p = L.name_to_path(name)
        g = self.h5[root]
        return g[p] if p in g and isinstance(g[p], h5py.Group) else None

    def result_types(self, root: str = L.RESULTS) -> dict[str, ResultType]:
        """Name -> stored type of every result (or run-info column), folded over all sources."""
        types: dict[str, ResultType] = {}
        found = [group_types(self.h5[root], root)] if root in self.h5 else []
        found += [seg.types(root) for seg in self.segments]
        for each in found:
            for name, t in each.items():
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
        base = self._base_group(root, name)
        segs = [seg for seg in self.segments if name in seg.types(root)]
        if base is None and not segs:
            return absent(rtype, self.n_runs)
        if base is not None:
            spec = base.attrs.get("compression")
            if spec is not None and any(x in _text(spec) for x in ("zstd", "blosc")):
                from .compression import enable_readers

                enable_readers()
        if not segs:
            whole = Rows.read(base)
            if whole.rtype == rtype and whole.n == self.n_runs:
                return whole  # the consolidated file alone: no copy
            return assemble(self.n_runs, [(np.arange(whole.n), whole)], rtype)

        def sources():
            if base is not None:
                rows = Rows.read(base)
                yield np.arange(rows.n), rows
            for seg in segs:
                yield seg.index, seg.rows(root, name)
        if rtype.kind == FIXED:  # one source in memory at a time (10^7-run columns)
            return assemble_fixed(self.n_runs, sources(), rtype)
        return assemble(self.n_runs, list(sources()), rtype)

    def sources(self, name: str, root: str = L.RESULTS, placed: dict | None = None) -> list[tuple[Any, h5py.Group]]:
        """``(where, group)`` of every stored part of result ``name`` in the files, oldest first.

        ``where``: None for the results file's group (runs 0..), else a
        :class:`~hpcpet.storage.rows.Placement` of the segment's runs, one per
        segment file, kept in the caller's dict ``placed`` and shared by
        every result (consolidation). Segments held in memory have no group
        and are not sources.
        """
        placed = {} if placed is None else placed
        base = self._base_group(root, name)
        groups = [] if base is None else [(None, base)]
        p = L.name_to_path(name)
        for seg in self.segments:
            if seg.path is not None and name in seg.types(root):
                where = placed.setdefault(seg.path, Placement(lambda s=seg: s.index))
                groups.append((where, seg.h5[root][p]))
        for _, g in groups:
            spec = g.attrs.get("compression")
            if spec is not None and any(x in _text(spec) for x in ("zstd", "blosc")):
                from .compression import enable_readers

                enable_readers()
        return groups

    def row(self, name: str, index: int, root: str = L.RESULTS) -> Any:
        """The value of result ``name`` of run ``index`` (None if absent); reads only what it needs."""
        value = None
        g = self._base_group(root, name)
        if g is not None:  # the consolidated file: read just this run's row
            rows_in_file = len(g[L.OFFSETS]) - 1 if L.OFFSETS in g else row_count(g)
            if index < rows_in_file and _present(g, index):
                value = _one_row(g, index)
        for seg in self.segments:
            v = seg.value(root, name, index)
            if v is not None:
                value = v
        return value

    def globals_groups(self) -> list[h5py.Group]:
        """The ``globals`` groups of the file and the segments, oldest first."""
        groups = [self.h5[L.GLOBALS]] if L.GLOBALS in self.h5 else []
        return groups + [g for g in (seg.globals_group() for seg in self.segments) if g is not None]


def _present(g: h5py.Group, k: int) -> bool:
    return bool(g[L.PRESENT][k]) if L.PRESENT in g else True


def _one_row(g: h5py.Group, k: int) -> Any:
    """Row ``k`` of a result group, reading only that row."""
    from ..kinds import FIXED, RAGGED
    from .rows import decode_bytes

    t = read_type(g)
    if t.kind == FIXED:
        v = Runs.read(g).row(k) if stored_as_runs(g) else g[L.DATA][k]
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


class LiveSnapshot(Snapshot):
    """A writer's view of its own study (:meth:`hpcpet.storage.writer.Writer.view`).

    The results file and the live segment files, which the writer keeps
    open (they never change), overlaid by the runs it took and has not
    committed yet (:class:`~hpcpet.storage.segments.MemorySegment`); the
    exploration, status and root attributes come from the writer's memory.
    Valid until the writer goes on; :meth:`close` closes the segment files
    it opened (their objects, with what was read of them, stay with the writer).

    Parameters
    ----------
    path : str
        The results file.
    h5 : h5py.File
        The results file, opened read-only.
    sources : list
        Segment files and memory segments, oldest first.
    attrs : dict
        Root attributes as the writer holds them.
    exploration : hpcpet.exploration.Exploration
        The study's whole exploration.
    status : numpy.ndarray
        Status of every run, the runs not committed yet included.
    last : int
        The number of the writer's newest checkpoint.
    descriptions : list of dict, optional
        :meth:`pieces`, if the writer has them already.
    header : tuple, optional
        :meth:`exploration_header`, if the writer has it already.
    """

    def __init__(self, path: str, h5: h5py.File, sources: list, *, attrs: dict, exploration,
                 status: np.ndarray, last: int, descriptions: list[dict] | None = None,
                 header: tuple | None = None):
        self.path = os.fspath(path)
        self.h5 = h5
        self.segments = list(sources)
        self.format = L.FORMAT_VERSION
        self.base = int(attrs.get(L.SEGMENTS_ATTR, 0))
        self.n_runs = len(exploration)
        self.set_size = int(attrs["set_size"])
        self.attrs = dict(attrs, n_runs=self.n_runs)
        self._exploration = exploration
        self._status = status
        self._last = last
        self._descriptions = descriptions
        self._header = header

    def exploration_header(self) -> tuple[str, list[str], tuple[int, ...]]:
        if self._header is None:
            self._header = super().exploration_header()
        return self._header[0], list(self._header[1]), self._header[2]

    def close(self) -> None:
        """Close the segment files opened (the results file stays open: the writer owns it)."""
        for seg in self.segments:
            seg.release()

    @property
    def last(self) -> int:
        return self._last

    @property
    def grown(self) -> bool:
        return len(self._exploration) > int(self.h5.attrs["n_runs"])

    def exploration(self):
        return self._exploration

    def explored(self, name: str) -> np.ndarray:
        return self._exploration.column(name)

    def pieces(self) -> list[dict]:
        if self._descriptions is None:
            from .explorations import descriptions

            self._descriptions = descriptions(self._exploration.segments)
        return [dict(d) for d in self._descriptions]

    def generation(self) -> np.ndarray:
        return self._exploration.generation_column()

    def generation_count(self) -> int:
        return max((s.generation for s in self._exploration.segments if len(s)), default=-1) + 1


class _Retry(Exception):
    """The study changed while the snapshot was taken."""

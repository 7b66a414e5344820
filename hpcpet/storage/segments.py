"""Segments: immutable files holding the runs committed by one checkpoint (or several, compacted).

Invariant: a segment is written under a temporary name, fsynced and renamed
to ``seg-FIRST-LAST.h5`` (FIRST..LAST: the checkpoint numbers it holds); it is
never opened for writing again. The live segments of a study are those whose
numbers are above the results file's ``segments`` attribute and not covered
by a wider segment (a compaction that was killed before it removed its
inputs leaves them covered). Within one segment every dataset has one row per
run listed in ``runs/index``; a later segment wins a run that occurs twice.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

import h5py
import numpy as np

from ..kinds import STRING
from ..widening import ResultType
from . import layout as L
from .files import open_h5, publish
from .grid import GRID_BYTES
from .rows import Rows
from .stage import is_stage_name, referenced

_TEXT = ResultType(STRING, "|u1")
#: HDF5 chunk cache of a segment being written: a grid chunk that two runs of rows share is compressed once
SEGMENT_CACHE = 4 << 20


@dataclass
class SegmentData:
    """What one segment holds (all arrays aligned with ``index``)."""

    index: np.ndarray                                   # int64 run indices
    status: np.ndarray                                  # uint8 per run
    results: dict[str, Rows] = field(default_factory=dict)
    comments: dict[str, str] = field(default_factory=dict)
    info: dict[str, Rows] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    globals: dict[str, tuple] = field(default_factory=dict)  # name -> (value, comment)
    attrs: dict = field(default_factory=dict)             # root attributes to set at consolidation
    options: dict = field(default_factory=dict)           # result name -> storage options
    #: a study that grows: (new exploration segments, the whole exploration, first new run, n_runs)
    extension: tuple | None = None
    #: names of the stage files that hold rows of this segment's staged results
    stages: list = field(default_factory=list)

    def grid_bytes(self) -> int:
        """Bytes the results written as grids (see :mod:`.grid`) hold uncompressed."""
        return sum(r.data.nbytes for r in self.results.values() if r.grid is not None and r.data is not None)


def write_segment(results_path: str, first: int, last: int, seg: SegmentData, set_size: int,
                  level: int = 0) -> str:
    """Write ``seg`` as segment ``first..last`` of ``results_path``; return its path."""
    folder = L.folder(results_path)
    final = os.path.join(folder, L.segment_name(first, last))
    tmp = L.temporary(results_path, L.segment_name(first, last))
    with h5py.File(tmp, "w", locking=False, rdcc_nbytes=SEGMENT_CACHE) as h5:
        a = h5.attrs
        a[L.SEGMENT_ATTR] = 1
        a["first"], a["last"], a["level"] = first, last, level
        a["n"] = len(seg.index)
        if len(seg.index):
            a["run_min"], a["run_max"] = int(seg.index.min()), int(seg.index.max())
        h5.create_dataset(L.RUN_INDEX, data=seg.index.astype(np.int64))
        h5.create_dataset(L.STATUS, data=seg.status.astype(np.uint8))
        if seg.errors:
            keys = sorted(seg.errors)
            h5.create_dataset(L.ERROR_INDEX, data=np.asarray(keys, np.int64))
            Rows.from_list(_TEXT, [seg.errors[k] for k in keys]).write(h5, L.ERROR_TEXT, 4096)
        res = h5.create_group(L.RESULTS)
        for name, rows in seg.results.items():
            rows.write(res, L.name_to_path(name), set_size, seg.comments.get(name, ""))
        for name, comment in seg.comments.items():  # comments of results stored earlier
            if name not in seg.results:
                h5.require_group("comments").attrs[name] = comment
        if seg.info:
            info = h5.create_group(L.INFO)
            for name, rows in seg.info.items():
                rows.write(info, name, set_size, runs=True)  # mostly constant: runs of equal values
        if seg.globals:
            from .header import write_value

            g = h5.create_group(L.GLOBALS)
            for name, (value, comment) in seg.globals.items():
                write_value(g, L.name_to_path(name), value, comment)
        if seg.attrs:
            import json

            a["set_attrs"] = json.dumps(seg.attrs)
        if seg.options:
            import json

            a["result_options"] = json.dumps(seg.options)
        grid_bytes = seg.grid_bytes()
        if grid_bytes:
            a[GRID_BYTES] = grid_bytes
        if seg.stages:
            import json

            from .stage import STAGES

            a[STAGES] = json.dumps(sorted(set(seg.stages)))
        if seg.extension is not None:
            from .explorations import write_explored, write_pieces

            pieces, expl, lo, n_runs = seg.extension
            write_pieces(h5, pieces)
            if isinstance(expl, dict):  # compaction: the explored columns of the merged segments
                from .explorations import create_column

                for name, col in expl.items():  # uncompressed: consolidation reads them once
                    create_column(h5, L.EXPLORED + "/" + L.name_to_path(name), col)
            else:
                write_explored(h5, expl, lo, n_runs, compress=False)
            a["first_run"], a["n_runs"] = lo, n_runs
    publish(tmp, final)
    return final


def live_segments(results_path: str, base: int) -> list[tuple[int, int, str]]:
    """``(first, last, path)`` of the live segments of a study, oldest first."""
    folder = L.folder(results_path)
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for name in names:
        span = L.parse_segment_name(name)
        if span and span[1] > base:
            found.append((span[0], span[1], os.path.join(folder, name)))
    found.sort(key=lambda s: (s[0], -s[1]))
    live, reach = [], base
    for first, last, path in found:  # drop segments covered by a wider one
        if last <= reach:
            continue
        live.append((first, last, path))
        reach = last
    return live


def stale_files(results_path: str, base: int | None) -> list[str]:
    """Segments already contained in the results file or covered by a wider one, and temporary files.

    ``base=None``: every segment and temporary file (a new study replaces an old one).
    """
    folder = L.folder(results_path)
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    live = set() if base is None else {p for _, _, p in live_segments(results_path, base)}
    staged = set()  # stage files the live segments' rows are in
    for p in live:
        try:
            with h5py.File(p, "r", locking=False) as h5:
                staged.update(referenced(h5))
        except (OSError, RuntimeError):
            pass
    out = []
    for name in names:
        p = os.path.join(folder, name)
        if L.is_temporary(name) or (L.parse_segment_name(name) and p not in live) or \
                (is_stage_name(name) and name not in staged):
            out.append(p)
    return out


class SegmentFile:
    """One segment file opened read-only.

    A source of a :class:`~hpcpet.storage.snapshot.Snapshot`, like
    :class:`MemorySegment`: ``index``, ``status``, ``types``, ``rows``,
    ``value``, ``errors``, ``comments``, ``result_options``, ``set_attrs``,
    ``globals_group`` and the exploration it adds (``grows``, ``grown_to``,
    ``pieces``, ``descriptions``, ``explored``). The file never changes, so
    what is small (types) is read once; row data is read on each use.
    :meth:`release` closes the file until it is needed again (a writer keeps
    its segments' objects between views, not their open files).
    """

    def __init__(self, path: str):
        self.path = path
        self._h5: h5py.File | None = open_h5(path, "r")
        a = self._h5.attrs
        self.first, self.last, self.level = int(a["first"]), int(a["last"]), int(a.get("level", 0))
        self.n = int(a.get("n", len(self._h5[L.RUN_INDEX])))
        self.grid_bytes = int(a.get(GRID_BYTES, 0))
        self._types: dict[str, dict] = {}

    @property
    def h5(self) -> h5py.File:
        """The file, opened read-only (again, after :meth:`release`)."""
        if self._h5 is None or not self._h5.id.valid:
            self._h5 = open_h5(self.path, "r")
        return self._h5

    @property
    def index(self) -> np.ndarray:
        """The runs this segment holds (read on each use: a 10^7-run study keeps none in memory)."""
        return self.h5[L.RUN_INDEX][()]

    @property
    def status(self) -> np.ndarray:
        """Their status."""
        return self.h5[L.STATUS][()]

    def close(self) -> None:
        """Close the file (it opens again if used)."""
        if self._h5 is not None and self._h5.id.valid:
            self._h5.close()
        self._h5 = None

    release = close

    def result_names(self) -> list[str]:
        """Names of the results this segment holds rows of."""
        return _result_groups(self.h5[L.RESULTS])

    def results_group(self) -> h5py.Group:
        return self.h5[L.RESULTS]

    def errors(self) -> dict[int, str]:
        """Run index -> error text of the runs this segment marks failed."""
        if L.ERROR_INDEX not in self.h5:
            return {}
        idx = self.h5[L.ERROR_INDEX][()]
        text = Rows.read(self.h5[L.ERROR_TEXT]).to_list()
        return dict(zip(idx.tolist(), text))

    def comments(self) -> dict[str, str]:
        """Result name -> comment given in this segment's runs."""
        out = {}
        for name in self.result_names():
            c = self.h5[L.RESULTS][L.name_to_path(name)].attrs.get("comment")
            if c:
                out[name] = c.decode() if isinstance(c, bytes) else str(c)
        if "comments" in self.h5:
            for k, v in self.h5["comments"].attrs.items():
                out[k] = v.decode() if isinstance(v, bytes) else str(v)
        return out

    def info_names(self) -> list[str]:
        return list(self.h5[L.INFO]) if L.INFO in self.h5 else []

    def result_options(self) -> dict:
        import json

        raw = self.h5.attrs.get("result_options")
        return json.loads(raw) if raw is not None else {}

    def set_attrs(self) -> dict:
        import json

        raw = self.h5.attrs.get("set_attrs")
        return json.loads(raw) if raw is not None else {}

    # ------------------------------------------------------------------ as a snapshot's source
    def types(self, root: str = L.RESULTS) -> dict[str, ResultType]:
        """Name -> stored type of the results (or run-info columns) this segment holds rows of."""
        if root not in self._types:
            self._types[root] = group_types(self.h5[root], root) if root in self.h5 else {}
        return self._types[root]

    def rows(self, root: str, name: str) -> Rows:
        """The rows of ``name`` (one per entry of :attr:`index`); ``name`` must be in :meth:`types`."""
        return Rows.read(self.h5[root][L.name_to_path(name)])

    def value(self, root: str, name: str, run: int):
        """The value of ``name`` this segment holds for run ``run``, or None."""
        if name not in self.types(root):
            return None
        return _value_of(self.index, lambda: self.rows(root, name), run)

    def globals_group(self) -> h5py.Group | None:
        """The ``globals`` group (results added after the runs), if any."""
        return self.h5[L.GLOBALS] if L.GLOBALS in self.h5 else None

    @property
    def grows(self) -> bool:
        """Whether this segment adds runs to the study (a generation, ``hpcpet.expand``)."""
        return L.EXPLORED in self.h5

    @property
    def grown_to(self) -> int | None:
        """The study's number of runs after this segment, if it grows the study."""
        n = self.h5.attrs.get("n_runs")
        return None if n is None else int(n)

    def pieces(self) -> list:
        """The exploration segments this segment adds (:class:`hpcpet.exploration.Segment`)."""
        from .explorations import read_pieces

        return read_pieces(self.h5)

    def descriptions(self) -> list[dict]:
        """The descriptions (kind, names, shape, generation, runs, ...) of :meth:`pieces`."""
        import json

        from .explorations import PIECES

        path = L.EXPLORATION + "/" + PIECES + "/description"
        return [json.loads(t) for t in Rows.read(self.h5[path]).to_list()] if path in self.h5 else []

    def explored(self, name: str) -> np.ndarray:
        """The explored values of parameter ``name`` of the runs this segment adds."""
        from .explorations import read_column

        return read_column(self.h5[L.EXPLORED][L.name_to_path(name)])


class MemorySegment:
    """Runs a writer took and has not committed yet, as a snapshot's source (see :class:`SegmentFile`).

    Built from a function returning their :class:`SegmentData`, called on
    first use (a study view that reads no results costs nothing). It adds no
    exploration: a writer's view serves the exploration from memory.
    """

    path = None
    grows = False
    grown_to = None

    def __init__(self, make, index: np.ndarray, status: np.ndarray):
        self._make = make
        self._data: SegmentData | None = None
        self.index, self.status = index, status
        self.n = len(index)

    @property
    def data(self) -> SegmentData:
        if self._data is None:
            self._data, self._make = self._make(), None
        return self._data

    def close(self) -> None:
        """Nothing to close."""

    release = close

    def _of(self, root: str) -> dict[str, Rows]:
        return self.data.results if root == L.RESULTS else self.data.info if root == L.INFO else {}

    def types(self, root: str = L.RESULTS) -> dict[str, ResultType]:
        return {name: rows.rtype for name, rows in self._of(root).items()}

    def rows(self, root: str, name: str) -> Rows:
        held = self._of(root)
        rows = held[name]
        if rows.runs is not None and rows.data is None:  # run info held as runs: as the disk gives it
            rows = held[name] = replace(rows, data=rows.runs.expand(), runs=None)  # expanded once
        return rows

    def value(self, root: str, name: str, run: int):
        return None if name not in self._of(root) else _value_of(self.index, lambda: self.rows(root, name), run)

    def errors(self) -> dict[int, str]:
        return dict(self.data.errors)

    def comments(self) -> dict[str, str]:
        return dict(self.data.comments)

    def result_options(self) -> dict:
        return dict(self.data.options)

    def set_attrs(self) -> dict:
        return dict(self.data.attrs)

    def globals_group(self) -> None:
        return None

    def pieces(self) -> list:
        return []

    def descriptions(self) -> list[dict]:
        return []


def _value_of(index: np.ndarray, rows, run: int):
    """The value a source with runs ``index`` and rows ``rows()`` holds for ``run`` (the last wins), or None."""
    k = np.flatnonzero(index == run)
    if not len(k):
        return None
    r, k = rows(), int(k[-1])
    return r.value(k) if r.has()[k] else None


def group_types(g: h5py.Group, root: str = L.RESULTS) -> dict[str, ResultType]:
    """Name -> stored type of every result group under ``g`` (a ``results`` or ``run_info`` group)."""
    from .rows import read_type

    names = _result_groups(g) if root == L.RESULTS else list(g)
    return {name: read_type(g[L.name_to_path(name)]) for name in names}


def _result_groups(root: h5py.Group) -> list[str]:
    """Dotted names of the result groups under ``root`` (groups with a ``kind`` attribute)."""
    out: list[str] = []

    def walk(g: h5py.Group, prefix: str) -> None:
        for key in g:
            obj = g[key]
            if isinstance(obj, h5py.Group):
                if "kind" in obj.attrs:
                    out.append(prefix + key)
                else:
                    walk(obj, prefix + key + ".")
    walk(root, "")
    return out

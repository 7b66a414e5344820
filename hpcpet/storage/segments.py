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
from dataclasses import dataclass, field

import h5py
import numpy as np

from ..kinds import STRING
from ..widening import ResultType
from . import layout as L
from .files import open_h5, publish
from .rows import Rows
from .stage import is_stage_name, referenced

_TEXT = ResultType(STRING, "|u1")


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


def write_segment(results_path: str, first: int, last: int, seg: SegmentData, set_size: int,
                  level: int = 0) -> str:
    """Write ``seg`` as segment ``first..last`` of ``results_path``; return its path."""
    folder = L.folder(results_path)
    final = os.path.join(folder, L.segment_name(first, last))
    tmp = L.temporary(results_path, L.segment_name(first, last))
    with h5py.File(tmp, "w", locking=False) as h5:
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

                for name, col in expl.items():
                    create_column(h5, L.EXPLORED + "/" + L.name_to_path(name), col,
                                  chunks=(max(1, min(len(col), 65536)),) + col.shape[1:],
                                  compression="gzip", compression_opts=1, shuffle=True)
            else:
                write_explored(h5, expl, lo, n_runs)
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
    """One segment file opened read-only."""

    def __init__(self, path: str):
        self.path = path
        self.h5 = open_h5(path, "r")
        a = self.h5.attrs
        self.first, self.last, self.level = int(a["first"]), int(a["last"]), int(a.get("level", 0))
        self.n = int(a.get("n", len(self.h5[L.RUN_INDEX])))

    @property
    def index(self) -> np.ndarray:
        """The runs this segment holds (read on each use: a 10^7-run study keeps none in memory)."""
        return self.h5[L.RUN_INDEX][()]

    @property
    def status(self) -> np.ndarray:
        """Their status."""
        return self.h5[L.STATUS][()]

    def close(self) -> None:
        if self.h5.id.valid:
            self.h5.close()

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

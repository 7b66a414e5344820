"""Explorations on disk: its segments (generations) and the explored value of every run.

An exploration is stored as its segments, each a cartesian product (its axes)
or zipped columns, in run order: ``exploration/pieces/description`` holds one
JSON text per segment (kind, names, shape, groups, generation, runs, origin),
``exploration/pieces/axes/<path>`` the segments' axes of one parameter one
after another and ``exploration/pieces/offsets/<path>`` where each starts.
``explored/<path>`` holds the value of every run. A study that grows commits
the new segments and the new runs' explored values in a segment file; the
snapshot appends them in order. A one-segment exploration also keeps the
format's original ``exploration/axes`` and attributes (plain h5py readers).
"""
from __future__ import annotations

import json
from typing import Any

import h5py
import numpy as np

from ..exploration import Exploration, Segment
from ..kinds import STRING
from ..widening import ResultType
from . import layout as L
from .rows import Rows

_TEXT = ResultType(STRING, "|u1")
PIECES = "pieces"


def h5able(arr: np.ndarray) -> np.ndarray:
    """Numpy unicode arrays become UTF-8 strings HDF5 can store."""
    if arr.dtype.kind == "U":
        return np.array(arr.tolist(), dtype=h5py.string_dtype()) if arr.ndim else arr.astype(object)
    return arr


def _text_array(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind == "O":  # strings come back as bytes objects
        return np.array([v.decode() if isinstance(v, bytes) else v for v in arr.ravel()]).reshape(arr.shape)
    return arr


def write_pieces(h5: h5py.File | h5py.Group, segments: list[Segment]) -> None:
    """Store ``segments`` under ``exploration/pieces`` of ``h5``."""
    g = h5.require_group(L.EXPLORATION + "/" + PIECES)
    Rows.from_list(_TEXT, [json.dumps(s.describe(), default=_plain) for s in segments]).write(g, "description", 1024)
    for name in segments[0].names:
        axes = [s.axes[name] for s in segments]
        offsets = np.concatenate([[0], np.cumsum([len(a) for a in axes])]).astype(np.int64)
        g.create_dataset("axes/" + L.name_to_path(name), data=h5able(np.concatenate(axes)))
        g.create_dataset("offsets/" + L.name_to_path(name), data=offsets)


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v.tolist() if isinstance(v, np.ndarray) else str(v)


def read_pieces(h5: h5py.File | h5py.Group) -> list[Segment]:
    """The segments stored by :func:`write_pieces` (empty if ``h5`` holds none)."""
    path = L.EXPLORATION + "/" + PIECES
    if path not in h5:
        return []
    g = h5[path]
    described = [json.loads(t) for t in Rows.read(g["description"]).to_list()]
    out = []
    for k, d in enumerate(described):
        axes = {}
        for name in d["names"]:
            off = g["offsets/" + L.name_to_path(name)]
            axes[name] = _text_array(g["axes/" + L.name_to_path(name)][int(off[k]):int(off[k + 1])])
        out.append(Segment(d["kind"], axes, d.get("groups"), d.get("generation", 0), d.get("origin")))
    return out


def write_exploration(h5: h5py.File, expl: Exploration) -> None:
    """The exploration and every run's explored values of a new results file."""
    g = h5.create_group(L.EXPLORATION)
    g.attrs["names"] = json.dumps(expl.names)
    if len(expl.segments) == 1:
        seg = expl.segments[0]
        g.attrs["kind"] = seg.kind
        g.attrs["shape"] = json.dumps(list(seg.shape))
        for name, axis in seg.axes.items():
            g.create_dataset("axes/" + L.name_to_path(name), data=h5able(axis))
    else:
        g.attrs["kind"] = "segments"
        g.attrs["shape"] = json.dumps([len(expl)])
    write_pieces(h5, list(expl.segments))
    write_explored(h5, expl, 0, len(expl))


def write_explored(h5: h5py.File | h5py.Group, expl: Exploration, lo: int, hi: int) -> None:
    """``explored/<path>``: the explored values of runs ``lo .. hi-1``."""
    explored = h5.require_group(L.EXPLORED)
    n = hi - lo
    step = 1 << 20
    for name in expl.names:
        first = h5able(expl.column(name, lo, lo + 1))
        ds = explored.create_dataset(L.name_to_path(name), shape=(n,) + first.shape[1:], dtype=first.dtype,
                                     chunks=(max(1, min(n, 65536)),) + first.shape[1:],
                                     compression="gzip", compression_opts=1, shuffle=True)
        for a in range(lo, hi, step):
            ds[a - lo:min(hi, a + step) - lo] = h5able(expl.column(name, a, min(hi, a + step)))


def read_exploration(h5: h5py.File) -> Exploration:
    """The exploration of a results file (pieces, or the one-segment form of older files)."""
    pieces = read_pieces(h5)
    if pieces:
        return Exploration.from_segments(pieces)
    g = h5[L.EXPLORATION]
    text = lambda v: v.decode() if isinstance(v, bytes) else str(v)  # noqa: E731
    names = json.loads(g.attrs["names"])
    axes = {n: _text_array(g["axes/" + L.name_to_path(n)][()]) for n in names}
    return Exploration(text(g.attrs["kind"]), axes)

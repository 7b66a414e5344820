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


#: attribute of a dataset holding text as UTF-8 bytes (fixed width, NUL inside kept)
TEXT_ATTR = "text"


def h5able(arr: np.ndarray) -> np.ndarray:
    """Numpy text arrays become fixed-width UTF-8 bytes (lossless; mark the dataset with :func:`mark`)."""
    if arr.dtype.kind == "U":
        return np.char.encode(arr, "utf-8", "surrogatepass")
    return arr


def mark(ds: h5py.Dataset, arr: np.ndarray) -> None:
    """Record that ``ds`` holds the text array ``arr`` as UTF-8."""
    if arr.dtype.kind == "U":
        ds.attrs[TEXT_ATTR] = "utf-8"


def create_column(group: h5py.Group, path: str, arr: np.ndarray, **kw) -> h5py.Dataset:
    """``group.create_dataset(path, data=arr)`` for numbers or text (see :func:`h5able`)."""
    ds = group.create_dataset(path, data=h5able(arr), **kw)
    mark(ds, arr)
    return ds


def _text_array(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind == "O":  # variable-length strings come back as bytes objects
        return np.array([v.decode() if isinstance(v, bytes) else v for v in arr.ravel()]).reshape(arr.shape)
    return arr


def read_column(ds: h5py.Dataset, sel: Any = ()) -> np.ndarray:
    """Values stored by :func:`create_column` (text back as a numpy str array)."""
    data = ds[sel]
    if ds.attrs.get(TEXT_ATTR) is not None:
        return np.char.decode(data, "utf-8", "surrogatepass")
    return _text_array(data)


def write_pieces(h5: h5py.File | h5py.Group, segments: list[Segment]) -> None:
    """Store ``segments`` under ``exploration/pieces`` of ``h5``."""
    g = h5.require_group(L.EXPLORATION + "/" + PIECES)
    Rows.from_list(_TEXT, [json.dumps(s.describe(), default=_plain) for s in segments]).write(g, "description", 1024)
    for name in segments[0].names:
        axes = [s.axes[name] for s in segments]
        offsets = np.concatenate([[0], np.cumsum([len(a) for a in axes])]).astype(np.int64)
        create_column(g, "axes/" + L.name_to_path(name), np.concatenate(axes))
        g.create_dataset("offsets/" + L.name_to_path(name), data=offsets)


def descriptions(segments) -> list[dict]:
    """What :func:`write_pieces` records of ``segments``, as a reader reads it back (JSON values)."""
    return [json.loads(json.dumps(s.describe(), default=_plain)) for s in segments]


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v.tolist() if isinstance(v, np.ndarray) else str(v)


def read_pieces(h5: h5py.File | h5py.Group) -> list[Segment]:
    """The segments stored by :func:`write_pieces` (empty if ``h5`` holds none)."""
    path = L.EXPLORATION + "/" + PIECES
    if path not in h5:
        return []
    g = h5[path]
    described = [json.loads(t) for t in Rows.read(g["description"]).to_list()]
    offsets: dict[str, np.ndarray] = {}
    numbers: dict[str, np.ndarray] = {}  # numeric axes: read once, then sliced
    out = []
    for k, d in enumerate(described):
        axes = {}
        for name in d["names"]:
            p = L.name_to_path(name)
            if name not in offsets:
                offsets[name] = g["offsets/" + p][()]
                ds = g["axes/" + p]
                if ds.attrs.get(TEXT_ATTR) is None and ds.dtype.kind not in "OSU":
                    numbers[name] = ds[()]
            lo, hi = int(offsets[name][k]), int(offsets[name][k + 1])
            # text is decoded slice by slice: a slice's width is its own, as it was written
            axes[name] = numbers[name][lo:hi] if name in numbers else read_column(g["axes/" + p], slice(lo, hi))
        out.append(Segment(d["kind"], axes, d.get("groups"), d.get("generation", 0), d.get("origin")))
    return out


def write_exploration(h5: h5py.File, expl: Exploration) -> None:
    """The exploration and every run's explored values of a new results file.

    The explored values are compressed unless the exploration is several
    zipped segments (a study grown by generations of points): their values
    are stored as they are in ``exploration/pieces`` already, and compressing
    that second copy would cost the close of a grown study ~0.5 s per 10^6
    values for little (random points shrink by 15-35 %).
    """
    g = h5.create_group(L.EXPLORATION)
    g.attrs["names"] = json.dumps(expl.names)
    if len(expl.segments) == 1:
        seg = expl.segments[0]
        g.attrs["kind"] = seg.kind
        g.attrs["shape"] = json.dumps(list(seg.shape))
        for name, axis in seg.axes.items():
            create_column(g, "axes/" + L.name_to_path(name), axis)
    else:
        g.attrs["kind"] = "segments"
        g.attrs["shape"] = json.dumps([len(expl)])
    write_pieces(h5, list(expl.segments))
    points = len(expl.segments) > 1 and all(s.kind == "zip" for s in expl.segments)
    write_explored(h5, expl, 0, len(expl), compress=not points)


def write_explored(h5: h5py.File | h5py.Group, expl: Exploration, lo: int, hi: int,
                   compress: bool = True) -> None:
    """``explored/<path>``: the explored values of runs ``lo .. hi-1``.

    ``compress``: gzip-compressed chunks (the results file, see
    :func:`write_exploration`); a segment, read once at consolidation, is
    written uncompressed (faster to write).
    """
    explored = h5.require_group(L.EXPLORED)
    packed = dict(compression="gzip", compression_opts=1, shuffle=True) if compress else {}
    n = hi - lo
    step = 1 << 20
    for name in expl.names:
        sample = expl.column(name, lo, lo + 1)
        dtype = sample.dtype
        if dtype.kind == "U":  # wide enough for every value of the exploration, as UTF-8
            width = max(int(np.char.str_len(h5able(seg.axes[name])).max()) for seg in expl.segments)
            dtype = np.dtype(f"S{max(1, width)}")
        ds = explored.create_dataset(L.name_to_path(name), shape=(n,) + sample.shape[1:], dtype=dtype,
                                     chunks=(max(1, min(n, 65536)),) + sample.shape[1:], **packed)
        mark(ds, sample)
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
    axes = {n: read_column(g["axes/" + L.name_to_path(n)]) for n in names}
    return Exploration(text(g.attrs["kind"]), axes)

"""Reading format 1 files (hpcpet 0.1, round 1): read-only, kept so old files still load.

Format 1 kept results in ``results/block_*/run_set_*`` groups; see the
format 1 section of docs/format.md. Nothing writes this format any more.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Iterator

import h5py
import numpy as np

from ..batch import DONE, FAILED, PENDING
from ..columns import fill_value
from ..errors import FileFormatError, HpcpetError
from ..kinds import FIXED
from ..naming import block_name, set_name
from .files import open_h5
from .reader import Run, StudyView


class L:
    """Where things live in a format 1 file."""

    FORMAT_ATTR = "hpcpet_format"
    PARAMETERS, EXPLORATION, EXPLORED = "parameters", "exploration", "explored"
    STATUS, ERROR_INDEX, ERROR_TEXT = "runs/status", "runs/errors/index", "runs/errors/text"
    RESULTS, RESULT_INFO, GLOBALS = "results", "result_info", "globals"
    EXPERIMENT_SOURCE = "experiment/source"
    PRESENT_SUFFIX, SHAPE_SUFFIX = ".present", ".shape"
    BUCKET_RESULTS_ATTR = "results"

    @staticmethod
    def name_to_path(name: str) -> str:
        return name.replace(".", "/")

    @staticmethod
    def block_depth(n_runs: int, set_size: int) -> int:
        n_buckets = max(1, -(-n_runs // set_size))
        depth = 1
        if set_size > 1:
            while -(-n_buckets // set_size ** depth) > set_size:
                depth += 1
        return depth

    @classmethod
    def bucket_path(cls, bucket: int, set_size: int, n_runs: int) -> str:
        depth = cls.block_depth(n_runs, set_size)
        blocks = [block_name(bucket // set_size ** k) for k in range(depth, 0, -1)]
        return "/".join([cls.RESULTS, *blocks, set_name(bucket)])

    @staticmethod
    def bucket_range(bucket: int, set_size: int, n_runs: int) -> tuple[int, int]:
        start = bucket * set_size
        return start, min(start + set_size, n_runs)

    @staticmethod
    def row_shape(stored) -> tuple[int, ...]:
        return tuple(int(s) for s in stored if s >= 0)


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.dtype.kind == "O":
        return np.array([_decode(v) for v in value.ravel()], dtype=object).reshape(value.shape)
    return value


def _readable(method):
    """Turn HDF5's errors on a damaged file (a crash inside a flush) into one clear error."""
    import functools

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (OSError, RuntimeError) as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise FileFormatError(
                f"{self.path} is damaged ({first}), probably by a crash while it was written; "
                f"'python -m hpcpet resume {self.path}' repairs it and re-runs the damaged runs") from None
    return wrapper


class _LazyColumns(Mapping):
    """name -> numpy array, read from a group on first access."""

    def __init__(self, group: h5py.Group, names: list[str]):
        self._group, self._names, self._cache = group, names, {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._cache:
            if name not in self._names:
                raise KeyError(name)
            data = self._group[L.name_to_path(name)][()]
            self._cache[name] = _decode(data).astype(str) if data.dtype.kind == "O" else data
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class Format1Trajectory(StudyView):
    """A results file opened read-only; see :func:`load`.

    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str):
        self.path = path
        self.h5 = open_h5(path, "r")
        if L.FORMAT_ATTR not in self.h5.attrs:
            self.h5.close()
            raise FileFormatError(f"{path} is not an hpcpet results file")
        a = self.h5.attrs
        self.meta: dict[str, Any] = {k: _decode(a[k]) for k in a}
        self.n_runs = int(a["n_runs"])
        self.set_size = int(a["set_size"])
        self.name = self.meta.get("name", "")
        self.comment = self.meta.get("comment", "")
        g = self.h5[L.EXPLORATION]
        self.exploration_kind = _decode(g.attrs["kind"])
        self.explored_names: list[str] = json.loads(g.attrs["names"])
        self.shape = tuple(json.loads(g.attrs["shape"]))
        self._status: np.ndarray | None = None

    # ------------------------------------------------------------------ basics
    def close(self) -> None:
        """Close the file."""
        if self.h5.id.valid:
            self.h5.close()

    @property
    def explored(self) -> Mapping[str, np.ndarray]:
        """Explored parameter name -> values in run order (read on access)."""
        return _LazyColumns(self.h5[L.EXPLORED], self.explored_names)

    @property
    def axes(self) -> dict[str, np.ndarray]:
        """For a cartesian exploration: each parameter's own values (grid axes)."""
        g = self.h5[L.EXPLORATION]["axes"]
        return {n: _decode(g[L.name_to_path(n)][()]) for n in self.explored_names}

    @property
    def parameters(self) -> dict[str, Any]:
        """Parameter name -> default value."""
        out = {}
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name.replace("/", ".")] = _decode(obj[()])
        self.h5[L.PARAMETERS].visititems(visit)
        return out

    @property
    @_readable
    def comments(self) -> dict[str, str]:
        """Comments of parameters and results, by name."""
        out = {}
        def visit(name, obj):
            if "comment" in obj.attrs and _decode(obj.attrs["comment"]):
                out[name.replace("/", ".")] = _decode(obj.attrs["comment"])
        self.h5[L.PARAMETERS].visititems(visit)
        self.h5[L.RESULT_INFO].visititems(visit)
        return out

    @property
    def source(self) -> str | None:
        """Text of the experiment file that produced this file, if recorded."""
        if L.EXPERIMENT_SOURCE in self.h5:
            return _decode(self.h5[L.EXPERIMENT_SOURCE][()])
        return None

    # ------------------------------------------------------------------ status
    @property
    @_readable
    def status(self) -> np.ndarray:
        """Per-run status: 0 pending, 1 done, 2 failed (re-read on each access)."""
        return self.h5[L.STATUS][()]

    @property
    @_readable
    def errors(self) -> dict[int, str]:
        """Run index -> traceback text, for runs that are failed now."""
        idx = self.h5[L.ERROR_INDEX][()]
        if len(idx) == 0:
            return {}
        text = self.h5[L.ERROR_TEXT][()]
        status = self.status
        return {int(i): _decode(t) for i, t in zip(idx, text) if status[i] == FAILED}

    # ------------------------------------------------------------------ results
    @property
    @_readable
    def results(self) -> dict[str, dict]:
        """Result name -> its description (kind, dtype, shape, comment)."""
        out = {}
        def visit(name, obj):
            if "kind" in obj.attrs:
                d = {k: _decode(obj.attrs[k]) for k in obj.attrs}
                d["shape"] = json.loads(d["shape"]) if d.get("shape") else None
                out[name.replace("/", ".")] = d
        self.h5[L.RESULT_INFO].visititems(visit)
        return out

    @property
    def globals(self) -> dict[str, Any]:
        """Results stored once, outside runs."""
        out = {}
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name.replace("/", ".")] = _decode(obj[()])
        self.h5[L.GLOBALS].visititems(visit)
        return out

    def _buckets(self) -> Iterator[tuple[int, h5py.Group]]:
        def walk(group: h5py.Group) -> Iterator[tuple[int, h5py.Group]]:
            for name in sorted(group):  # blocks may nest (see layout.bucket_path)
                if name.startswith("run_set_"):
                    yield int(name.rsplit("_", 1)[1]), group[name]
                else:
                    yield from walk(group[name])
        yield from walk(self.h5[L.RESULTS])

    def _check_absent(self, bucket: str, path: str) -> None:
        """Raise if the bucket lists result ``path`` (writer's record) but it cannot be opened."""
        try:
            listed = self.h5[bucket].attrs.get(L.BUCKET_RESULTS_ATTR)
        except KeyError:  # no such bucket
            return
        if listed is not None and path.replace("/", ".") in json.loads(listed):
            raise OSError(f"result {path.replace('/', '.')!r} of {bucket} cannot be read")

    def _read_fixed(self, path: str, out: np.ndarray, have: np.ndarray,
                    only: np.ndarray | None = None) -> None:
        """Read every bucket's dataset ``path`` into ``out``; mark rows with a value in ``have``.

        Uses h5py's low-level API, one ``H5Dopen`` + ``H5Dread`` per bucket (a 10^7-run
        column has 10^4 buckets); HDF5 converts dtypes where a bucket's differs.
        """
        fid, ss, n = self.h5.id, self.set_size, self.n_runs
        n_buckets = -(-n // ss)
        leaf, pres = path.encode(), (path + L.PRESENT_SUFFIX).encode()
        ALL = h5py.h5s.ALL
        for blk in range(-(-n_buckets // ss)):
            first = blk * ss
            bpath = L.bucket_path(first, ss, n).rsplit("/", 1)[0].encode()
            try:
                block = h5py.h5g.open(fid, bpath)
            except (KeyError, ValueError):  # no bucket of this block written
                continue
            exists = block.links.exists
            for b in range(first, min(first + ss, n_buckets)):
                if only is not None and not only[b]:
                    continue
                rel = b"run_set_%05d/" % b
                lo, hi = b * ss, min(b * ss + ss, n)
                try:
                    ds = h5py.h5d.open(block, rel + leaf)
                except (KeyError, ValueError):  # no such bucket, or no such result in it
                    self._check_absent(L.bucket_path(b, ss, n), path)
                    continue
                try:
                    ds.read(ALL, ALL, out[lo:hi])
                except (TypeError, ValueError):  # another shape or an unconvertible dtype
                    out[lo:hi] = h5py.Dataset(ds)[()]
                if exists(rel + pres):
                    have[lo:hi] = h5py.Dataset(h5py.h5d.open(block, rel + pres))[()]
                else:
                    have[lo:hi] = True

    @_readable
    def get_from_runs(self, name: str) -> np.ndarray | list:
        """All runs' values of result ``name`` (without wildcards), in run order.

        Scalars and fixed-shape arrays give a numpy array of shape
        ``(n_runs, *shape)``; completed runs without a value hold NaN (numbers
        become floats if needed), failed and pending runs a fill value (NaN
        for floats, 0, False; see :attr:`completed`). Variable-shape arrays and text give
        a list with None for runs without a value.
        """
        from ..naming import plain_result_name

        name = plain_result_name(name) if "$" in name else name
        info = self.results.get(name)
        if info is None:
            known = ", ".join(sorted(self.results)) or "none"
            raise HpcpetError(f"no result {name!r} in {self.path} (results: {known})")
        path = L.name_to_path(name)
        ss, n = self.set_size, self.n_runs
        if info["kind"] == FIXED:
            dtype = np.dtype(info["dtype"])
            out = np.full((n,) + tuple(info["shape"]), fill_value(dtype), dtype)
            have = np.zeros(n, bool)  # runs whose value was read
            self._read_fixed(path, out, have)
            # completed runs without a value (also whole buckets without one) read as NaN
            missing = ~have & (self.status == DONE)
            if missing.any():
                if out.dtype.kind not in "fc":
                    out = out.astype(float)
                out[missing] = np.nan
            return out
        out: list = [None] * n
        for b, group in self._buckets():
            ds = group.get(path)
            if ds is None:
                self._check_absent(group.name, path)
                continue
            lo, hi = L.bucket_range(b, ss, n)
            rows = ds[()]
            pres = group[path + L.PRESENT_SUFFIX][()] if path + L.PRESENT_SUFFIX in group else None
            shapes = group[path + L.SHAPE_SUFFIX][()] if path + L.SHAPE_SUFFIX in group else None
            for k, r in enumerate(rows):
                if pres is not None and not pres[k]:
                    continue
                r = _decode(r)
                if shapes is not None and not isinstance(r, str):
                    r = r.reshape(L.row_shape(shapes[k]))
                out[lo + k] = r
        status = self.status
        return [v if status[i] == DONE else None for i, v in enumerate(out)]

    @_readable
    def run(self, index: int) -> Run:
        """Parameter values, results and status of run ``index``."""
        if not -self.n_runs <= index < self.n_runs:
            raise IndexError(f"run {index} out of range (0..{self.n_runs - 1})")
        index %= self.n_runs
        params = self.parameters
        for name in self.explored_names:
            params[name] = _decode(self.h5[L.EXPLORED][L.name_to_path(name)][index])
        status = int(self.h5[L.STATUS][index])
        results = {}
        b = index // self.set_size
        path = L.bucket_path(b, self.set_size, self.n_runs)
        if status == DONE and path in self.h5:
            group = self.h5[path]
            k = index - b * self.set_size
            for name in self.results:
                p = L.name_to_path(name)
                if p in group:
                    if p + L.PRESENT_SUFFIX in group and not group[p + L.PRESENT_SUFFIX][k]:
                        continue
                    v = _decode(group[p][k])
                    if p + L.SHAPE_SUFFIX in group:
                        shp = group[p + L.SHAPE_SUFFIX][k]
                        v = v.reshape(L.row_shape(shp))
                    results[name] = v
        names = {PENDING: "pending", DONE: "done", FAILED: "failed"}
        error = self.errors.get(index) if status == FAILED else None
        return Run(index, params, results, names[status], error)

    def file_size(self) -> int:
        """Size of the file in bytes."""
        return os.path.getsize(self.path)

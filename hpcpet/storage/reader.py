"""Reading a study lazily: nothing is read until it is asked for.

Invariant: a :class:`LoadedTrajectory` shows one consistent snapshot of the
study (the results file plus the segments committed so far; see
:mod:`hpcpet.storage.snapshot`), never a half-written state, and never opens
a file that a writer has open, so it works while the study is being written,
from any process, without HDF5 file locking. :meth:`LoadedTrajectory.refresh`
takes a new snapshot.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Iterator

import h5py
import numpy as np

from ..batch import DONE, FAILED, PENDING
from ..errors import FileFormatError, HpcpetError
from ..kinds import FIXED
from . import layout as L
from .header import read_value
from .snapshot import Snapshot


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.dtype.kind == "O":
        return np.array([_decode(v) for v in value.ravel()], dtype=object).reshape(value.shape)
    return value


class _LazyColumns(Mapping):
    """name -> numpy array, read on first access."""

    def __init__(self, read, names: list[str]):
        self._read, self._names, self._cache = read, names, {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._cache:
            if name not in self._names:
                raise KeyError(name)
            self._cache[name] = self._read(name)
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class Run:
    """One run of a loaded trajectory: its parameter values, results, status and run info."""

    def __init__(self, index: int, parameters: dict, results: dict, status: str, error: str | None,
                 info: dict | None = None):
        self.index, self.parameters, self.results = index, parameters, results
        self.status, self.error = status, error
        self.info = info or {}

    @property
    def output(self) -> str | None:
        """The captured tail of the run's stdout and stderr (``--capture``), else None."""
        return self.info.get("output")

    def __getitem__(self, name: str) -> Any:
        if name in self.results:
            return self.results[name]
        return self.parameters[name]

    def __repr__(self) -> str:
        return f"Run({self.index}, {self.status}, {self.parameters}, {sorted(self.results)})"


class StudyView:
    """What every loaded study offers on top of its format's own reading (format 2 and format 1).

    Subclasses set ``path``, ``name`` and ``n_runs`` and provide ``status`` and ``close``.
    """

    def __len__(self) -> int:
        return self.n_runs

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<hpcpet trajectory {self.name!r}: {self.n_runs} runs, {self.path}>"

    @property
    def completed(self) -> np.ndarray:
        """Bool array: which runs finished successfully."""
        return self.status == DONE

    @property
    def failed(self) -> np.ndarray:
        """Bool array: which runs raised an exception."""
        return self.status == FAILED

    def to_xarray(self, name: str):
        """Result ``name`` as an xarray.DataArray over the exploration (see hpcpet.analysis)."""
        from ..analysis import to_xarray

        return to_xarray(self, name)

    def to_pandas(self, results: list[str] | None = None):
        """One row per run: explored parameters, scalar results, status (see hpcpet.analysis)."""
        from ..analysis import to_pandas

        return to_pandas(self, results)


class LoadedTrajectory(StudyView):
    """A study opened read-only; see :func:`hpcpet.load`.

    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str, snapshot: Snapshot | None = None, writer=None):
        self.path = os.fspath(path)
        self._snap = snapshot or Snapshot(path)
        self._writer = writer  # mode="a": the study's writer, for results added afterwards
        self._setup()

    def _setup(self) -> None:
        s = self._snap
        self.h5 = s.h5
        self.meta: dict[str, Any] = dict(s.attrs)
        self.n_runs = s.n_runs
        self.set_size = s.set_size
        self.name = self.meta.get("name", "")
        self.comment = self.meta.get("comment", "")
        self.exploration_kind, self.explored_names, self.shape = s.exploration_header()
        self._cache: dict[str, Any] = {}

    def refresh(self) -> "LoadedTrajectory":
        """Look again: show the runs committed since this trajectory was loaded."""
        new = Snapshot(self.path)
        self._snap.close()
        self._snap = new
        self._setup()
        return self

    @property
    def running(self) -> bool:
        """Whether a writer is adding runs to this study now."""
        from .guard import is_live, read_guard

        return is_live(read_guard(self.path))

    # ------------------------------------------------------------------ basics
    def close(self) -> None:
        """Close the files (in ``mode="a"``: store the results added, consolidating the study)."""
        self._snap.close()
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()

    def add_result(self, name: str, value: Any, comment: str = "") -> None:
        """Store a result once for the whole study (post-processing); needs ``load(path, mode="a")``.

        It is committed at :meth:`close` (the end of the ``with`` block) and then
        read back by :attr:`globals`.
        """
        if self._writer is None:
            raise HpcpetError(f"{self.path} is open read-only; store results after the runs with "
                              f"'with hpcpet.load(path, mode=\"a\") as t: t.add_result(...)'")
        self._writer.add_global(name, value, comment)

    @property
    def explored(self) -> Mapping[str, np.ndarray]:
        """Explored parameter name -> values in run order (read on access)."""
        if "explored" not in self._cache:
            self._cache["explored"] = _LazyColumns(self._snap.explored, self.explored_names)
        return self._cache["explored"]

    @property
    def axes(self) -> dict[str, np.ndarray]:
        """For a cartesian exploration: each parameter's own values (grid axes)."""
        from .explorations import read_column

        g = self.h5[L.EXPLORATION]["axes"]
        return {n: read_column(g[L.name_to_path(n)]) for n in self.explored_names}

    @property
    def parameters(self) -> dict[str, Any]:
        """Parameter name -> default value."""
        out = {}
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name.replace("/", ".")] = read_value(obj)
        self.h5[L.PARAMETERS].visititems(visit)
        return out

    @property
    def comments(self) -> dict[str, str]:
        """Comments of parameters and results, by name."""
        out = {}
        def visit(name, obj):
            if "comment" in obj.attrs and _decode(obj.attrs["comment"]):
                out[name.replace("/", ".")] = _decode(obj.attrs["comment"])
        self.h5[L.PARAMETERS].visititems(visit)
        out.update(self._snap.comments())
        return out

    @property
    def source(self) -> str | None:
        """Text of the experiment file that produced this file, if recorded."""
        if L.EXPERIMENT_SOURCE in self.h5:
            return _decode(self.h5[L.EXPERIMENT_SOURCE][()])
        return None

    # ------------------------------------------------------------------ status
    @property
    def status(self) -> np.ndarray:
        """Per-run status: 0 pending, 1 done, 2 failed (as of the snapshot; see :meth:`refresh`)."""
        if "status" not in self._cache:
            self._cache["status"] = self._snap.status()
        return self._cache["status"].copy()

    @property
    def errors(self) -> dict[int, str]:
        """Run index -> traceback text, for runs that are failed now."""
        return self._snap.errors()

    # ------------------------------------------------------------------ results
    def _types(self, root: str = L.RESULTS):
        key = "types:" + root
        if key not in self._cache:
            self._cache[key] = self._snap.result_types(root)
        return self._cache[key]

    @property
    def results(self) -> dict[str, dict]:
        """Result name -> its description (kind, dtype, shape, comment)."""
        comments = self._snap.comments()
        out = {}
        for name, t in sorted(self._types().items()):
            out[name] = {"kind": t.kind, "dtype": _dtype_word(t), "shape": list(t.shape) if t.shape is not None else None,
                         "comment": comments.get(name, "")}
        return out

    @property
    def globals(self) -> dict[str, Any]:
        """Results stored once, outside runs (in ``build`` or afterwards with ``mode="a"``)."""
        out = {}
        for g in self._snap.globals_groups():
            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    out[name.replace("/", ".")] = read_value(obj)
            g.visititems(visit)
        return out

    def get_from_runs(self, name: str, runs: Any = None) -> np.ndarray | list:
        """Every run's value of result ``name`` (without wildcards), in run order.

        Scalars and fixed-shape arrays give a numpy array of shape
        ``(n_runs, *shape)``: floats hold NaN for runs without a value
        (pending, failed, or done without adding it); integers and bools give
        a ``numpy.ma.MaskedArray`` masked there, so a missing value never
        reads as a real 0 or False. Other kinds give a list with None for
        runs without a value. ``runs``: only these run indices (in that order).
        """
        from ..naming import plain_result_name

        name = plain_result_name(name) if "$" in name else name
        types = self._types()
        if name not in types:
            known = ", ".join(sorted(types)) or "none"
            raise HpcpetError(f"no result {name!r} in {self.path} (results: {known})")
        rows = self._snap.rows(name, types[name])
        done = self.status == DONE
        has = rows.has() & done
        sel = None if runs is None else np.asarray(runs, np.int64)
        if rows.kind == FIXED:
            data = rows.data if sel is None else rows.data[sel]
            h = has if sel is None else has[sel]
            if h.all():
                return data
            if data.dtype.kind in "fc":
                data = data.copy()
                data[~h] = np.nan
                return data
            mask = np.broadcast_to(~h.reshape((-1,) + (1,) * (data.ndim - 1)), data.shape)
            return np.ma.MaskedArray(data, mask=mask.copy())
        idx = range(self.n_runs) if sel is None else sel.tolist()
        return [rows.value(i) if has[i] else None for i in idx]

    # ------------------------------------------------------------------ generations
    @property
    def generation(self) -> np.ndarray:
        """The generation of every run (0: the exploration of ``build``; then one per growth)."""
        if "generation" not in self._cache:
            self._cache["generation"] = self._snap.generation()
        return self._cache["generation"]

    @property
    def generations(self) -> int:
        """How many generations the study has."""
        count = getattr(self._snap, "generation_count", None)
        if count is not None and "generation" not in self._cache:  # without a column of every run
            return count()
        g = self.generation
        return int(g.max()) + 1 if len(g) else 0

    @property
    def exploration(self):
        """The study's whole exploration (:class:`hpcpet.Exploration`, every generation)."""
        return self._snap.exploration()

    def select(self, expr: str) -> np.ndarray:
        """Indices of the runs where ``expr`` holds, e.g. ``"x > 0.5 and generation == 3"``.

        Names: explored parameters, scalar results (runs without a value never
        match), ``generation`` and ``index``. Reads only the columns it names.
        """
        from ..selection import names_in, select

        types = self._types()
        arrays: dict[str, Any] = {"generation": lambda: self.generation,
                                  "index": lambda: np.arange(self.n_runs)}
        for n in self.explored_names:
            arrays[n] = (lambda n=n: self.explored[n])
        for n, t in types.items():
            if t.kind == FIXED and not t.shape:
                arrays.setdefault(n, lambda n=n: _as_float(self.get_from_runs(n)))
        names_in(expr)  # a syntax error is reported before anything is read
        return select(expr, arrays, self.n_runs)

    @property
    def run_info(self) -> dict[str, np.ndarray]:
        """Per-run facts (``duration``, ``start``, ``host``, ``worker``, ``attempts``, ...): name -> array."""
        out = {}
        for name, t in self._types(L.INFO).items():
            rows = self._snap.rows(name, t, L.INFO)
            if rows.kind == FIXED and rows.data.dtype.kind == "S":  # text stored as UTF-8 bytes (host)
                names, which = np.unique(rows.data, return_inverse=True)  # a few hosts: decode each once
                out[name] = np.char.decode(names, "utf-8", "surrogatepass")[which.reshape(rows.data.shape)]
            else:
                out[name] = rows.data if rows.kind == FIXED else np.array(
                    [v if v is not None else "" for v in rows.to_list()], dtype=object)
        return out

    def run(self, index: int) -> Run:
        """Parameter values, results and status of run ``index``."""
        if not -self.n_runs <= index < self.n_runs:
            raise IndexError(f"run {index} out of range (0..{self.n_runs - 1})")
        index %= self.n_runs
        params = self.parameters
        for name in self.explored_names:
            params[name] = self.explored[name][index]
            if isinstance(params[name], np.generic):
                params[name] = params[name].item() if params[name].dtype.kind != "f" else params[name]
        status = int(self.status[index])
        results = {}
        if status == DONE:
            for name in self._types():
                v = self._snap.row(name, index)
                if v is not None:
                    results[name] = v
        info = {}
        for name in self._types(L.INFO):
            v = self._snap.row(name, index, L.INFO)
            if isinstance(v, bytes):
                v = v.decode("utf-8", "surrogatepass")
            if v is not None:
                info[name] = v
        names = {PENDING: "pending", DONE: "done", FAILED: "failed"}
        error = self.errors.get(index) if status == FAILED else None
        return Run(index, params, results, names[status], error, info)

    def file_size(self) -> int:
        """Size of the results file and its segments in bytes."""
        size = os.path.getsize(self.path)
        for seg in self._snap.segments:
            if seg.path is None:  # runs a writer holds in memory (its own view)
                continue
            try:
                size += os.path.getsize(seg.path)
            except OSError:
                pass
        return size


def _as_float(col):
    """A column for selection: missing values as NaN (they never match a comparison)."""
    if isinstance(col, np.ma.MaskedArray):
        return col.astype(float).filled(np.nan)
    return col


def _dtype_word(t) -> str:
    if t.kind in ("string",):
        return "str"
    if t.kind in ("bytes", "pickle"):
        return t.kind
    return str(np.dtype(t.dtype))


def load(path: str, mode: str = "r"):
    """Open a study lazily, while it is written or after.

    Parameters
    ----------
    path : str
        A results file written by hpcpet (format 2, or format 1 of hpcpet 0.1).
    mode : str
        ``"r"`` (default) to read; ``"a"`` to also store results afterwards
        with ``add_result`` (post-processing), which takes the study's writer
        guard (refused while a run writes it) and consolidates at ``close``.

    Returns
    -------
    LoadedTrajectory
        ``len(traj)``, ``traj.explored``, ``traj.parameters``,
        ``traj.get_from_runs(name)``, ``traj.completed``, ``traj.run(i)``, ...
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise HpcpetError(f"file not found: {path}")
    snap = Snapshot(path)
    if snap.format == 1:
        snap.close()
        from .format1 import Format1Trajectory

        return Format1Trajectory(path)
    if snap.format != L.FORMAT_VERSION:
        snap.close()
        raise FileFormatError(f"{path} has format {snap.format}, which this hpcpet does not know; "
                              "upgrade hpcpet")
    if mode == "r":
        return LoadedTrajectory(path, snap)
    if mode != "a":
        snap.close()
        raise HpcpetError(f"mode must be 'r' or 'a', got {mode!r}")
    snap.close()
    from .writer import Writer

    writer = Writer.reopen(path)
    try:
        return LoadedTrajectory(path, Snapshot(path), writer)
    except BaseException:
        writer.abandon()
        raise

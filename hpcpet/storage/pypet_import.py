"""Convert a pypet 0.7 trajectory (HDF5, written with PyTables) into an hpcpet results file.

Read with h5py only (pypet is not needed). What is converted:

- parameters (``<traj>/parameters/...``): defaults, comments and explored
  ranges (``explored_data``); the explored ranges become a cartesian
  exploration when they form a full grid, else a zipped one;
- per-run results (``results/.../run_set_SSSSS/run_XXXXXXXX/...`` or
  ``results/runs/run_XXXXXXXX/...``): the ``run_set_*`` and ``run_*`` parts
  are dropped, like hpcpet's ``$set``/``$`` wildcards; a result holding one
  item named like itself is stored under its own name, other items as
  ``<result>.<item>``;
- results outside runs become global results;
- run completion from ``overview/runs`` (``completed``), else from which runs
  have results.

Derived parameters, pandas objects, links and other pypet-only structures are
skipped and listed in the report. The file is written by hpcpet's
:class:`~hpcpet.storage.writer.Writer`, so its layout is hpcpet's own.
"""
from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

from ..columns import ResultTypeError, encode
from ..batch import DONE, PENDING, BatchResult
from ..errors import HpcpetError, InvalidNameError
from ..exploration import Exploration
from ..naming import check_name
from ..trajectory import Trajectory
from .writer import Writer

_RUN = re.compile(r"^run_(\d{8,})$")
_SET = re.compile(r"^run_set_(\d+)$")


@dataclass
class ImportReport:
    """What :func:`import_pypet` converted and skipped."""

    output: str
    trajectory: str
    n_runs: int
    done: int
    parameters: int
    explored: list[str]
    exploration: str
    results: list[str]
    globals: list[str]
    skipped: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{self.output}: pypet trajectory {self.trajectory!r}, {self.n_runs} runs "
                 f"({self.done} completed), {self.parameters} parameters, explored "
                 f"{', '.join(self.explored) or 'none'} ({self.exploration}), "
                 f"{len(self.results)} per-run results, {len(self.globals)} global results"]
        if self.skipped:
            shown = self.skipped[:10]
            lines.append("skipped: " + "; ".join(shown) +
                         (f"; ... {len(self.skipped) - 10} more" if len(self.skipped) > 10 else ""))
        return "\n".join(lines)


def _decode(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray):
        if v.dtype.kind == "S":
            return v.astype(str) if v.ndim else v.item().decode("utf-8", "replace")
        if v.dtype.kind == "O":
            return np.array([_decode(x) for x in v.ravel()]).reshape(v.shape) if v.ndim else _decode(v.item())
        if v.ndim == 0:
            return v[()]
    if isinstance(v, np.bytes_):
        return bytes(v).decode("utf-8", "replace")
    return v


def _attr(obj, key: str, default: Any = None) -> Any:
    v = obj.attrs.get(key, default)
    return _decode(v)


def _is_leaf(obj) -> bool:
    return isinstance(obj, h5py.Group) and bool(obj.attrs.get("SRVC_LEAF", False))


def _items(leaf: h5py.Group) -> tuple[dict[str, Any], list[str]]:
    """The data items of a pypet leaf (parameter or result) and what could not be read."""
    out, skipped = {}, []
    for key in leaf:
        obj = leaf.get(key, getlink=True)
        if not isinstance(obj, h5py.HardLink):
            skipped.append(f"{leaf.name}/{key} (link)")
            continue
        obj = leaf[key]
        if isinstance(obj, h5py.Group):
            skipped.append(f"{leaf.name}/{key} ({_attr(obj, 'SRVC_STORE', 'group')})")
            continue
        data = obj[()]
        if data.dtype.names:  # a PyTables table: one item per column
            if key == "explored_data" and "data" in data.dtype.names:
                out["__explored__"] = _decode(data["data"])
                continue
            if len(data) != 1:
                skipped.append(f"{leaf.name}/{key} (table with {len(data)} rows)")
                continue
            for col in data.dtype.names:
                out[col if key == "data" else f"{key}.{col}"] = _decode(data[col][0])
            continue
        out[key] = _decode(data)
    return out, skipped


def find_trajectory(h5: h5py.File, name: str | None) -> str:
    """Name of the trajectory group to import."""
    names = [k for k in h5 if isinstance(h5[k], h5py.Group) and
             ("parameters" in h5[k] or "overview" in h5[k] or "results" in h5[k])]
    if name is not None:
        if name not in names:
            raise HpcpetError(f"no pypet trajectory {name!r} in {h5.filename} "
                              f"(trajectories: {', '.join(names) or 'none'})")
        return name
    if not names:
        raise HpcpetError(f"{h5.filename} holds no pypet trajectory")
    if len(names) > 1:
        raise HpcpetError(f"{h5.filename} holds several trajectories ({', '.join(names)}); "
                          "choose one with --trajectory")
    return names[0]


def _read_parameters(group: h5py.Group | None, skipped: list[str]):
    params: dict[str, tuple[Any, str]] = {}
    explored: dict[str, np.ndarray] = {}
    if group is None:
        return params, explored
    leaves = []
    group.visititems(lambda n, o: leaves.append(n) if _is_leaf(o) else None)
    for rel in leaves:
        leaf = group[rel]
        name = rel.replace("/", ".")
        items, bad = _items(leaf)
        skipped.extend(bad)
        if "data" not in items:
            skipped.append(f"parameter {name} ({_attr(leaf, 'SRVC_INIT_CLASS_NAME', '?')} without plain data)")
            continue
        try:
            check_name(name)
        except InvalidNameError as exc:
            skipped.append(f"parameter {name} ({exc})")
            continue
        value = items["data"]
        if isinstance(value, np.ndarray) and value.dtype.kind in "SUO":
            value = value.astype(str)
        params[name] = (value, _attr(leaf, "SRVC_INIT_COMMENT", "") or "")
        col = items.get("__explored__")
        if col is not None:
            col = np.asarray(col)
            if col.dtype.kind == "S":
                col = col.astype(str)
            if col.dtype.kind == "U" and col.size and str(col.flat[0]).startswith("__rr__"):
                raise HpcpetError(f"explored parameter {name!r} holds arrays (pypet ArrayParameter); "
                                  "importing those is not supported")
            explored[name] = col
    return params, explored


def detect_exploration(columns: dict[str, np.ndarray]) -> Exploration:
    """A cartesian exploration if the columns form a full grid in some order, else zipped."""
    names = list(columns)
    n = len(next(iter(columns.values())))
    axes = {}
    for k, col in columns.items():
        if col.ndim != 1:
            return Exploration("zip", columns)
        _, first = np.unique(col, return_index=True)
        axes[k] = col[np.sort(first)]
    if 1 < len(names) <= 6 and int(np.prod([len(a) for a in axes.values()])) == n:
        for perm in itertools.permutations(names):
            cand = Exploration("cartesian", {k: axes[k] for k in perm})
            if all(np.array_equal(cand.column(k), columns[k]) for k in names):
                return cand
    elif len(names) == 1 and len(axes[names[0]]) == n:
        return Exploration("cartesian", axes)
    return Exploration("zip", columns)


def _read_results(group: h5py.Group | None, skipped: list[str]):
    per_run: dict[str, dict[int, Any]] = {}
    globals_: dict[str, Any] = {}
    comments: dict[str, str] = {}
    run_seen: set[int] = set()
    if group is None:
        return per_run, globals_, comments, run_seen
    leaves = []

    def visit(name, obj):
        if _is_leaf(obj):
            leaves.append(name)
        elif isinstance(obj, h5py.Group):
            m = _RUN.match(name.rsplit("/", 1)[-1])
            if m:
                run_seen.add(int(m.group(1)))

    group.visititems(visit)
    for rel in leaves:
        parts = rel.split("/")
        run = None
        plain = []
        for p in parts:
            m = _RUN.match(p)
            if m:
                run = int(m.group(1))
            elif not _SET.match(p) and p != "run_ALL":
                plain.append(p)
        if "run_ALL" in parts:
            skipped.append(f"results/{rel} (run_ALL placeholder)")
            continue
        leaf = group[rel]
        items, bad = _items(leaf)
        skipped.extend(bad)
        base = ".".join(plain)
        for item, value in items.items():
            name = base if (item == plain[-1] and len(items) == 1) else f"{base}.{item}"
            try:
                check_name(name)
            except InvalidNameError as exc:
                skipped.append(f"result {name} ({exc})")
                continue
            if isinstance(value, np.ndarray) and value.dtype.kind == "O":
                skipped.append(f"result {name} (object array)")
                continue
            comment = _attr(leaf, "SRVC_INIT_COMMENT", "") or ""
            if comment and name not in comments:
                comments[name] = comment
            if run is None:
                globals_[name] = value
            else:
                per_run.setdefault(name, {})[run] = value
    return per_run, globals_, comments, run_seen


def import_pypet(path: str, output: str, *, trajectory: str | None = None, overwrite: bool = False,
                 set_size: int = 1000) -> ImportReport:
    """Convert pypet trajectory file ``path`` into the hpcpet results file ``output``.

    Returns
    -------
    ImportReport
        Counts, names, and what was skipped.
    """
    if not os.path.exists(path):
        raise HpcpetError(f"file not found: {path}")
    if os.path.abspath(path) == os.path.abspath(output):
        raise HpcpetError("the output must be a new file, not the pypet file itself")
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise HpcpetError(f"cannot read {path} as HDF5: {str(exc).splitlines()[0]}") from None
    skipped: list[str] = []
    with h5:
        tname = find_trajectory(h5, trajectory)
        root = h5[tname]
        params, explored = _read_parameters(root.get("parameters"), skipped)
        if "derived_parameters" in root:
            skipped.append("derived_parameters")
        per_run, globals_, comments, run_seen = _read_results(root.get("results"), skipped)
        completed = None
        if "overview" in root and "runs" in root["overview"]:
            table = root["overview"]["runs"][()]
            if table.dtype.names and "completed" in table.dtype.names:
                completed = table["completed"].astype(bool)
                if "idx" in table.dtype.names:
                    order = np.argsort(table["idx"])
                    completed = completed[order]
        comment = _attr(root, "SRVC_INIT_COMMENT", "") or ""
    if not params:
        raise HpcpetError(f"pypet trajectory {tname!r} in {path} has no parameters")

    traj = Trajectory(name=tname, comment=comment)
    for name, (value, pcomment) in params.items():
        traj.add_parameter(name, value, comment=pcomment)
    if explored:
        lengths = {len(c) for c in explored.values()}
        if len(lengths) != 1:
            raise HpcpetError(f"explored ranges have different lengths in {path}: "
                              + ", ".join(f"{k}: {len(c)}" for k, c in explored.items()))
        traj.explore(detect_exploration(explored))
    for name, value in globals_.items():
        traj.add_result(name, value, comments.get(name, ""))
    traj.freeze()
    n = len(traj)
    if completed is not None and len(completed) == n:
        status = np.where(completed, DONE, PENDING).astype(np.uint8)
    else:
        status = np.full(n, PENDING, np.uint8)
        status[[i for i in run_seen if i < n]] = DONE
    for name, runs in per_run.items():
        extra = [i for i in runs if i >= n]
        if extra:
            skipped.append(f"result {name}: runs {extra[:3]} beyond the {n} explored runs")

    meta = {"imported_from": os.path.abspath(path), "pypet_trajectory": tname,
            "backend": "import-pypet", "function": "", "experiment_path": "", "git_commit": ""}
    writer = Writer.create(output, traj, set_size=set_size, overwrite=overwrite, metadata=meta)
    written: set[str] = set()
    try:
        for lo in range(0, n, set_size):
            hi = min(n, lo + set_size)
            columns = {}
            for name, runs in per_run.items():
                vals = [runs.get(i) for i in range(lo, hi)]
                if all(v is None for v in vals):
                    continue
                try:
                    columns[name] = encode(vals)
                except ResultTypeError as exc:
                    skipped.append(f"result {name} runs {lo}..{hi - 1} ({exc})")
                    continue
                written.add(name)
            writer.write(BatchResult(lo, hi, status[lo:hi].copy(), columns, {},
                                     {k: comments[k] for k in columns if k in comments}, 0.0))
    finally:
        writer.close()
    return ImportReport(output, tname, n, int((status == DONE).sum()), len(params), list(explored),
                        f"{traj.exploration.kind} {' x '.join(map(str, traj.exploration.shape))}",
                        sorted(written), sorted(globals_), skipped)

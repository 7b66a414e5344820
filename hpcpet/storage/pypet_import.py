"""Convert a pypet 0.7 trajectory (an HDF5 file written with PyTables) into an hpcpet results file.

Invariant: everything the pypet file holds is either converted, equal to
what pypet loads back and under the name a native hpcpet run would give it,
or listed in :attr:`ImportReport.unsupported`; :func:`import_pypet` refuses
(:class:`UnsupportedPypetError`, nothing written) when that list is not empty,
unless ``skip_unsupported`` is set. Nothing is dropped silently.

Names (pypet -> hpcpet):

- parameters keep their dotted names (``parameters.func_params.sigma`` -> ``func_params.sigma``);
- per-run results lose their run parts, as hpcpet's ``$``/``$set`` wildcards:
  ``results.runs.run_XXXXXXXX.z`` (pypet's ``f_add_result("z")`` in a run),
  ``results.run_set_SSSSS.run_XXXXXXXX.z`` (``"$set.$.z"``) -> ``z``;
  ``results.group.run_XXXXXXXX.z`` (``"group.$.z"``) -> ``group.z``;
- a result holding one item named like itself (``f_add_result("z", v)``) is ``z``;
  other items, as in a multi-item result (``f_add_result("stats", mean=m, n=k)``),
  are sub-results ``stats.mean``, ``stats.n`` (hpcpet's dict results);
- results outside runs become global results.

Values are read with PyTables as pypet's storage service loads them
(:mod:`hpcpet.storage.pypet_read`); pandas DataFrames and Series through
pandas' HDFStore, stored as hpcpet's ``pickle`` kind. Explored
``ArrayParameter`` values (``__rr__`` references into ``explored__rr__``)
become an array-valued explored parameter. The output is written by
hpcpet's :class:`~hpcpet.storage.writer.Writer` only.
"""
from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..batch import DONE, FAILED, PENDING, BatchResult
from ..columns import encode
from ..errors import HpcpetError, InvalidNameError
from ..exploration import Exploration
from ..naming import check_name
from ..trajectory import Trajectory
from .pypet_read import Unreadable, attr, is_leaf, open_pypet, read_leaf
from .writer import Writer

_RUN = re.compile(r"^run_(\d{8,})$")
_SET = re.compile(r"^run_set_(\d+)$")
_DUMMY = ("run_ALL", "run_set_ALL")
#: pypet classes whose stored items hpcpet reads (others: pickles, shared data, custom classes)
PARAMETER_CLASSES = ("Parameter", "ArrayParameter", "SparseParameter")
RESULT_CLASSES = ("Result", "SparseResult")
_SHOWN = 8


class UnsupportedPypetError(HpcpetError):
    """The pypet file holds things hpcpet cannot convert (``items``: what, one entry each)."""

    def __init__(self, path: str, items: list[str]):
        self.items = items
        shown = "; ".join(items[:_SHOWN]) + (f"; ... {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")
        super().__init__(f"cannot convert {len(items)} item(s) of pypet file {path}: {shown} "
                         "(--skip-unsupported imports the rest and lists these)")


@dataclass
class ImportReport:
    """What :func:`import_pypet` converted and what it left out (``unsupported``)."""

    output: str
    trajectory: str
    n_runs: int
    done: int
    parameters: int
    explored: list[str]
    exploration: str
    results: list[str]
    globals: list[str]
    unsupported: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"{self.output}: pypet trajectory {self.trajectory!r}, {self.n_runs} runs "
                f"({self.done} completed), {self.parameters} parameters, explored "
                f"{', '.join(self.explored) or 'none'} ({self.exploration}), "
                f"{len(self.results)} per-run results, {len(self.globals)} global results"
                + (f", {len(self.unsupported)} unsupported item(s) skipped" if self.unsupported else ""))


def find_trajectory(h5, name: str | None) -> str:
    """Name of the trajectory group to import from the open PyTables file ``h5``."""
    names = [g._v_name for g in h5.root._f_iter_nodes("Group")
             if any(k in g._v_children for k in ("parameters", "overview", "results"))]
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


def _leaves(group) -> list:
    """Every pypet leaf below ``group`` (parameters or results), in file order."""
    out = []
    for node in group._f_walk_groups():
        if node is not group and is_leaf(node) and not any(is_leaf(p) for p in _parents(node, group)):
            out.append(node)
    return out


def _parents(node, top):
    p = node._v_parent
    while p is not top and p is not None:
        yield p
        p = p._v_parent


def _rel(node, group) -> list[str]:
    return node._v_pathname[len(group._v_pathname) + 1:].split("/")


def _flatten(name: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{name}.{k}", v, out)
    else:
        out[name] = value


def _array_ref(i: int) -> str:
    """pypet's ArrayParameter._build_name: where explored array ``i`` is stored."""
    return f"explored__rr__.set_{i // 1000:05d}.xa_{i:08d}"


def _parameter(name: str, cls: str, items: dict[str, Any]) -> tuple[Any, list | None]:
    """A pypet parameter's default and explored values (None: not explored), as pypet loads them."""
    if any(k.startswith("data__spsp__") or "__spsp__" in k for k in items):
        raise Unreadable("a scipy sparse matrix (SparseParameter)")
    if "data__rr__" in items:
        default = items["data__rr__"]
        if "explored_data__rr__" not in items:
            return default, None
        try:
            return default, [items[_array_ref(int(i))] for i in items["explored_data__rr__"]["idx"]]
        except KeyError as exc:
            raise Unreadable(f"explored array {exc.args[0]} is missing") from None
    if "data" not in items:
        raise Unreadable(f"{cls} without data")
    default = items["data"]["data"][0]
    explored = items["explored_data"]["data"] if "explored_data" in items else None
    return default, explored


def _explored_column(name: str, values: list) -> np.ndarray:
    try:
        col = np.asarray(values)
    except ValueError:
        col = None
    if col is None or col.dtype.kind == "O":
        raise HpcpetError(f"explored parameter {name!r}: its values ({len(values)}) are not one "
                          "array shape or type, which hpcpet cannot explore")
    return col


def detect_exploration(columns: dict[str, np.ndarray]) -> Exploration:
    """A cartesian exploration if the columns form a full grid in some order, else zipped.

    A column may hold arrays (one row per run, as an explored ``ArrayParameter``).
    """
    names = list(columns)
    n = len(next(iter(columns.values())))
    axes = {}
    for k, col in columns.items():
        _, first = np.unique(col, axis=0, return_index=True)  # distinct values (rows), first seen
        axes[k] = col[np.sort(first)]
    if 1 < len(names) <= 6 and int(np.prod([len(a) for a in axes.values()])) == n:
        for perm in itertools.permutations(names):
            cand = Exploration("cartesian", {k: axes[k] for k in perm})
            if all(np.array_equal(cand.column(k), columns[k]) for k in names):
                return cand
    elif len(names) == 1 and len(axes[names[0]]) == n:
        return Exploration("cartesian", axes)
    return Exploration("zip", columns)


@dataclass
class _Content:
    """Everything read from the pypet file, before anything is written."""

    comment: str = ""
    params: dict[str, tuple[Any, str]] = field(default_factory=dict)
    explored: dict[str, list] = field(default_factory=dict)
    per_run: dict[str, dict[int, Any]] = field(default_factory=dict)
    globals: dict[str, Any] = field(default_factory=dict)
    comments: dict[str, str] = field(default_factory=dict)
    completed: np.ndarray | None = None
    unsupported: list[str] = field(default_factory=list)


def _read(path: str, trajectory: str | None) -> tuple[str, _Content]:
    h5 = open_pypet(path)
    store = None
    try:
        tname = find_trajectory(h5, trajectory)
        root = h5.get_node("/" + tname)
        try:
            import pandas as pd

            hdf = pd.HDFStore(path, mode="r")
            store = hdf
        except ImportError:
            hdf = None
        c = _Content(comment=attr(root, "SRVC_INIT_COMMENT", "") or "")
        getter = hdf.get if hdf is not None else None
        kids = root._v_children
        if "parameters" in kids:
            _read_parameters(kids["parameters"], getter, c)
        if "derived_parameters" in kids:
            for leaf in _leaves(kids["derived_parameters"]):
                c.unsupported.append(f"derived parameter {'.'.join(_rel(leaf, kids['derived_parameters']))}")
        if "results" in kids:
            _read_results(kids["results"], getter, c)
        if "overview" in kids and "runs" in kids["overview"]._v_children:
            table = kids["overview"]._v_children["runs"]
            if "completed" in table.colnames:
                done = table.col("completed").astype(bool)
                if "idx" in table.colnames:
                    done = done[np.argsort(table.col("idx"))]
                c.completed = done
        return tname, c
    finally:
        if store is not None:
            store.close()
        h5.close()


def _read_parameters(group, getter, c: _Content) -> None:
    for leaf in _leaves(group):
        name = ".".join(_rel(leaf, group))
        cls = attr(leaf, "SRVC_INIT_CLASS_NAME", "?")
        if cls not in PARAMETER_CLASSES:
            c.unsupported.append(f"parameter {name} ({cls})")
            continue
        items, bad = read_leaf(leaf, getter)
        try:
            check_name(name)
            if bad:
                raise Unreadable(", ".join(f"{k}: {v}" for k, v in bad.items()))
            default, explored = _parameter(name, cls, items)
        except (Unreadable, InvalidNameError) as exc:
            c.unsupported.append(f"parameter {name} ({exc})")
            continue
        c.params[name] = (default, attr(leaf, "SRVC_INIT_COMMENT", "") or "")
        if explored is not None:
            c.explored[name] = explored


def _result_name(parts: list[str]) -> tuple[str, int | None, str | None]:
    """(plain name, run index or None, why not convertible or None) of a result leaf's path."""
    run = None
    plain = []
    for k, p in enumerate(parts):
        m = _RUN.match(p)
        if m:
            run = int(m.group(1))
        elif p in _DUMMY:
            return ".".join(parts), None, f"stored under pypet's {p} placeholder"
        elif _SET.match(p):
            continue
        elif k == 0 and p == "runs" and len(parts) > 1 and (_RUN.match(parts[1]) or _SET.match(parts[1])):
            continue  # pypet prepends runs.$ to a name added in a run without a wildcard
        else:
            plain.append(p)
    return ".".join(plain), run, None


def _read_results(group, getter, c: _Content) -> None:
    for leaf in _leaves(group):
        parts = _rel(leaf, group)
        base, run, why = _result_name(parts)
        shown = "results." + ".".join(parts)
        cls = attr(leaf, "SRVC_INIT_CLASS_NAME", "?")
        if why is None and cls not in RESULT_CLASSES:
            why = cls
        if why is not None:
            c.unsupported.append(f"result {shown} ({why})")
            continue
        items, bad = read_leaf(leaf, getter)
        for item, reason in bad.items():
            c.unsupported.append(f"result {shown}.{item} ({reason})")
        values: dict[str, Any] = {}
        for item, value in items.items():
            if "__spsp__" in item:
                c.unsupported.append(f"result {shown}.{item} (a scipy sparse matrix)")
                continue
            one = len(items) == 1 and item == parts[-1]
            _flatten(base if one else f"{base}.{item}", value, values)
        comment = attr(leaf, "SRVC_INIT_COMMENT", "") or ""
        for name, value in values.items():
            try:
                check_name(name)
            except InvalidNameError as exc:
                c.unsupported.append(f"result {shown} ({exc})")
                continue
            if comment and name not in c.comments:
                c.comments[name] = comment
            if run is None:
                c.globals[name] = value
            else:
                c.per_run.setdefault(name, {})[run] = value


def _is_pandas(v: Any) -> bool:
    return type(v).__module__.startswith("pandas") and type(v).__name__ in ("DataFrame", "Series")


def _check_globals(c: _Content) -> None:
    for name, value in list(c.globals.items()):
        why = None
        if _is_pandas(value):
            why = "a pandas object as a global result"
        elif not isinstance(value, (str, bytes, np.bytes_)) and value is not None:
            try:
                if np.asarray(value).dtype.kind == "O":
                    why = f"a global value of type {type(value).__name__}"
            except (ValueError, TypeError):
                why = f"a global value of type {type(value).__name__}"
        if why is not None:
            c.unsupported.append(f"global result {name} ({why})")
            del c.globals[name]


def _check_clashes(c: _Content) -> None:
    names = sorted(set(c.per_run) | set(c.globals))
    for a, b in zip(names, names[1:]):
        if b.startswith(a + "."):
            c.unsupported.append(f"result {a} (both a value and the group of {b})")
            c.per_run.pop(a, None)
            c.globals.pop(a, None)
    for name in set(c.per_run) & set(c.globals):
        c.unsupported.append(f"result {name} (both per run and global)")
        del c.globals[name]


def _check_runs(c: _Content, n: int, status: np.ndarray) -> None:
    """Refuse values that could not be stored or that belong to runs the import leaves pending."""
    for name in list(c.per_run):
        runs = c.per_run[name]
        extra = sorted(i for i in runs if i >= n)
        if extra:
            c.unsupported.append(f"result {name} (runs {_runs_text(extra)} beyond the {n} explored runs)")
        pending = sorted(i for i in runs if i < n and status[i] != DONE)
        if pending:
            c.unsupported.append(f"result {name} (runs {_runs_text(pending)}, which pypet did not mark "
                                 "completed; they import as pending)")
        keep = {i: v for i, v in runs.items() if i < n and status[i] == DONE}
        if keep:
            order = sorted(keep)
            col = encode([keep[i] for i in order])
            by_reason: dict[str, list[int]] = {}
            for k, why in col.refused.items():
                by_reason.setdefault(why, []).append(order[k])
            for why, bad in by_reason.items():
                c.unsupported.append(f"result {name} (runs {_runs_text(bad)}: {why})")
                for i in bad:
                    del keep[i]
        if keep:
            c.per_run[name] = keep
        else:
            del c.per_run[name]


def _runs_text(runs: list[int]) -> str:
    return ", ".join(map(str, runs[:3])) + (f", ... ({len(runs)} runs)" if len(runs) > 3 else "")


def import_pypet(path: str, output: str, *, trajectory: str | None = None, overwrite: bool = False,
                 set_size: int = 1000, skip_unsupported: bool = False) -> ImportReport:
    """Convert pypet trajectory file ``path`` into the hpcpet results file ``output``.

    Raises
    ------
    UnsupportedPypetError
        The file holds items hpcpet cannot convert (and ``skip_unsupported``
        is False); nothing is written.

    Returns
    -------
    ImportReport
        Counts and names converted, and (with ``skip_unsupported``) what was left out.
    """
    if not os.path.exists(path):
        raise HpcpetError(f"file not found: {path}")
    if os.path.abspath(path) == os.path.abspath(output):
        raise HpcpetError("the output must be a new file, not the pypet file itself")
    tname, c = _read(path, trajectory)
    if not c.params:
        raise HpcpetError(f"pypet trajectory {tname!r} in {path} has no parameters")

    traj = Trajectory(name=tname, comment=c.comment)
    for name, (value, pcomment) in c.params.items():
        try:
            traj.add_parameter(name, value, comment=pcomment)
        except HpcpetError as exc:
            c.unsupported.append(f"parameter {name} ({exc})")
            if name in c.explored:
                raise HpcpetError(f"cannot convert explored parameter {name!r} of {path}: {exc}") from None
    if c.explored:
        columns = {k: _explored_column(k, v) for k, v in c.explored.items()}
        lengths = {len(col) for col in columns.values()}
        if len(lengths) != 1:
            raise HpcpetError(f"explored ranges have different lengths in {path}: "
                              + ", ".join(f"{k}: {len(col)}" for k, col in columns.items()))
        traj.explore(detect_exploration(columns))
    traj.freeze()
    n = len(traj)
    if c.completed is not None and len(c.completed) == n:
        status = np.where(c.completed, DONE, PENDING).astype(np.uint8)
    else:  # no overview table: a run is done if it stored anything
        status = np.full(n, PENDING, np.uint8)
        seen = [i for runs in c.per_run.values() for i in runs if i < n]
        status[seen] = DONE
    _check_globals(c)
    _check_clashes(c)
    _check_runs(c, n, status)
    if c.unsupported and not skip_unsupported:
        raise UnsupportedPypetError(path, c.unsupported)

    meta = {"imported_from": os.path.abspath(path), "pypet_trajectory": tname,
            "backend": "import-pypet", "function": "", "experiment_path": "", "git_commit": ""}
    writer = Writer.create(output, traj, set_size=set_size, overwrite=overwrite, metadata=meta)
    try:
        for name, value in c.globals.items():
            writer.add_global(name, value, c.comments.get(name, ""))
        for lo in range(0, n, set_size):
            hi = min(n, lo + set_size)
            columns = {}
            for name, runs in c.per_run.items():
                vals = [runs.get(i) for i in range(lo, hi)]
                if any(v is not None for v in vals):
                    columns[name] = encode(vals)
            batch = BatchResult(lo, hi, status[lo:hi].copy(), columns, {},
                                {k: c.comments[k] for k in columns if k in c.comments}, 0.0)
            writer.write(batch)
            if (batch.status == FAILED).any():  # the writer refused a value: never drop it silently
                first = min(batch.errors)
                raise HpcpetError(f"cannot convert run {first} of {path}: {batch.errors[first]}")
    except BaseException:
        writer.abandon()
        if os.path.exists(output):
            os.remove(output)  # the header this import created: a failed import leaves no file
        raise
    writer.close()
    kinds = sorted(c.per_run)
    return ImportReport(output, tname, n, int((status == DONE).sum()), len(c.params), list(c.explored),
                        f"{traj.exploration.kind} {' x '.join(map(str, traj.exploration.shape))}",
                        kinds, sorted(c.globals), c.unsupported)

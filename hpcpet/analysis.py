"""Results as labelled arrays and tables: xarray for grids, pandas for one row per run.

xarray and pandas are optional (the ``analysis`` extra); they are imported
only when these functions are called.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .columns import FIXED
from .batch import DONE, FAILED, PENDING
from .errors import HpcpetError
from .naming import plain_result_name

if TYPE_CHECKING:  # pragma: no cover
    import pandas
    import xarray

    from .storage.reader import LoadedTrajectory

STATUS_NAMES = {PENDING: "pending", DONE: "done", FAILED: "failed"}


def _need(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise HpcpetError(f"this needs {module}; install it with: pip install 'hpcpet[analysis]'") from None


def numeric_values(traj: "LoadedTrajectory", name: str) -> np.ndarray:
    """Result ``name`` for every run as a numeric array ``(n_runs, *shape)``.

    Runs that are not done, or have no value, hold NaN (integers and booleans
    become floats when there is any such run). Raises for text and for
    results whose shape varies from run to run.
    """
    name = plain_result_name(name) if "$" in name else name
    info = traj.results.get(name)
    if info is None:
        known = ", ".join(sorted(traj.results)) or "none"
        raise HpcpetError(f"no result {name!r} in {traj.path} (results: {known})")
    if info["kind"] != FIXED:
        what = "text" if info["kind"] == "string" else "arrays whose shape varies from run to run"
        raise HpcpetError(f"result {name!r} holds {what}; only numbers and fixed-shape arrays "
                          "can become a grid (use traj.get_from_runs for it)")
    values = traj.get_from_runs(name)
    if values.dtype.kind not in "biufc":
        raise HpcpetError(f"result {name!r} has non-numeric dtype {values.dtype}")
    missing = traj.status != DONE
    if missing.any():
        if values.dtype.kind not in "fc":
            values = values.astype(float)
        values[missing] = np.nan
    return values


def _coord(axis: np.ndarray) -> np.ndarray:
    """A 1-D coordinate for an axis; array-valued parameter axes become positions."""
    axis = np.asarray(axis)
    if axis.ndim != 1:
        return np.arange(len(axis))
    if axis.dtype.kind == "O":
        return axis.astype(str)
    return axis


def to_xarray(traj: "LoadedTrajectory", name: str) -> "xarray.DataArray":
    """Result ``name`` as a DataArray over the exploration.

    Cartesian explorations give one dimension per explored parameter (first
    name slowest) with the axis values as coordinates; zipped explorations
    give one dimension ``run`` with the explored parameters as coordinates
    along it. Array results add dimensions ``<name>_dim0``, ``<name>_dim1``...
    Missing and failed runs are NaN.
    """
    xr = _need("xarray")
    name = plain_result_name(name) if "$" in name else name
    values = numeric_values(traj, name)
    extra = values.shape[1:]
    extra_dims = [f"{name}_dim{k}" for k in range(len(extra))]
    info = traj.results[name]
    attrs = {"long_name": name}
    if info.get("comment"):
        attrs["comment"] = info["comment"]
    if traj.exploration_kind == "cartesian":
        axes = traj.axes
        dims = list(traj.explored_names) + extra_dims
        data = values.reshape(tuple(traj.shape) + extra)
        coords: dict[str, Any] = {n: _coord(axes[n]) for n in traj.explored_names}
    else:
        dims = ["run"] + extra_dims
        data = values
        coords = {"run": np.arange(len(traj))}
        for n in traj.explored_names:
            col = np.asarray(traj.explored[n])
            if col.ndim == 1:
                coords[n] = ("run", col)
    for d, k in zip(extra_dims, extra):
        coords[d] = np.arange(k)
    return xr.DataArray(data, dims=dims, coords=coords, name=name, attrs=attrs)


def to_pandas(traj: "LoadedTrajectory", results: list[str] | None = None) -> "pandas.DataFrame":
    """One row per run (index ``run``): explored parameters, scalar results, ``status``, run info.

    Run info (``duration``, ``start``, ``host``, ``worker``, ``attempts``) and, in studies of
    several generations, ``generation`` are columns too.

    Parameters
    ----------
    results : list of str, optional
        Result names to include (default: every numeric scalar result).
        Missing and failed runs hold NaN.
    """
    pd = _need("pandas")
    n = len(traj)
    columns: dict[str, Any] = {}
    for pname in traj.explored_names:
        col = np.asarray(traj.explored[pname])
        columns[pname] = col if col.ndim == 1 else list(col)
    info = traj.results
    if results is None:
        results = [r for r, d in info.items()
                   if d["kind"] == FIXED and not d.get("shape") and np.dtype(d["dtype"]).kind in "biufc"]
    for r in results:
        r = plain_result_name(r) if "$" in r else r
        if r in info and info[r]["kind"] == FIXED and info[r].get("shape"):
            raise HpcpetError(f"result {r!r} is an array of shape {tuple(info[r]['shape'])}; "
                              "to_pandas takes scalar results (use to_xarray)")
        if r in info and info[r]["kind"] != FIXED:
            values = traj.get_from_runs(r)
            columns[r] = values
            continue
        columns[r] = numeric_values(traj, r)
    status = traj.status
    columns["status"] = pd.Categorical.from_codes(status.astype(np.int8),
                                                  categories=[STATUS_NAMES[k] for k in range(3)])
    if hasattr(traj, "generation") and traj.generations > 1:
        columns.setdefault("generation", traj.generation)
    for key, values in getattr(traj, "run_info", {}).items():  # duration, start, host, worker, attempts
        if key != "output":
            columns["run_info." + key if key in columns else key] = values
    index = pd.RangeIndex(n, name="run")
    return pd.DataFrame(columns, index=index)

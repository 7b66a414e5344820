"""Quick plots of one result over the exploration (matplotlib, Agg backend).

A line over one dimension, a heat map over two, small multiples (one heat
map per value of the third dimension) over three. Dimensions are the explored
parameters (see :func:`hpcpet.analysis.to_xarray`) followed by the result's
own array dimensions; fix some with ``select`` to plot fewer.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from .analysis import to_xarray
from .errors import HpcpetError

if TYPE_CHECKING:  # pragma: no cover
    from .storage.reader import LoadedTrajectory

MAX_FACETS = 16


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise HpcpetError("plotting needs matplotlib; install it with: pip install 'hpcpet[analysis]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def parse_selection(items: list[str]) -> dict[str, str]:
    """``["x=1.5", "neuron.tau=10"]`` -> ``{"x": "1.5", "neuron.tau": "10"}``."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise HpcpetError(f"--sel takes NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def select(da, selection: Mapping[str, Any]):
    """Fix dimensions of ``da`` at the nearest coordinate values."""
    for dim, value in selection.items():
        if dim not in da.dims:
            raise HpcpetError(f"cannot select {dim!r}: dimensions are {', '.join(da.dims)}")
        coord = da[dim].values
        if coord.dtype.kind in "iufc":
            try:
                target = float(value)
            except ValueError:
                raise HpcpetError(f"{dim}={value!r}: {dim} is numeric") from None
            pos = int(np.nanargmin(np.abs(coord.astype(float) - target)))
        else:
            matches = np.flatnonzero(coord.astype(str) == str(value))
            if len(matches) == 0:
                raise HpcpetError(f"{dim} has no value {value!r} (values: {', '.join(map(str, coord[:10]))})")
            pos = int(matches[0])
        da = da.isel({dim: pos})
    return da


def _numeric_uniform(values: np.ndarray) -> bool:
    if values.dtype.kind not in "iuf" or len(values) < 2:
        return values.dtype.kind in "iuf"
    d = np.diff(values.astype(float))
    return bool(np.all(d > 0) and np.allclose(d, d[0], rtol=1e-6, atol=0))


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{v:.4g}"
    return str(v)


def _ticks(ax, which: str, values: np.ndarray) -> None:
    n = len(values)
    step = max(1, math.ceil(n / 10))
    pos = np.arange(0, n, step)
    labels = [_fmt(values[p]) for p in pos]
    if which == "x":
        ax.set_xticks(pos, labels, rotation=45 if n > 5 else 0)
    else:
        ax.set_yticks(pos, labels)


def _heatmap(ax, da, vmin, vmax, cmap="viridis"):
    """Heat map of a 2-D DataArray: first dim on x, second on y."""
    xd, yd = da.dims
    xv, yv = da[xd].values, da[yd].values
    data = np.asarray(da.values, float).T
    kw = dict(vmin=vmin, vmax=vmax, cmap=cmap, shading="nearest")
    if _numeric_uniform(xv) and _numeric_uniform(yv):
        mesh = ax.pcolormesh(xv, yv, data, **kw)
    else:  # uneven or non-numeric axes: equal cells, ticks show the values
        mesh = ax.pcolormesh(np.arange(len(xv)), np.arange(len(yv)), data, **kw)
        _ticks(ax, "x", xv)
        _ticks(ax, "y", yv)
    ax.set_xlabel(xd)
    ax.set_ylabel(yd)
    return mesh


def plot_result(traj: "LoadedTrajectory", name: str, output: str,
                selection: Mapping[str, Any] | None = None, title: str | None = None) -> dict:
    """Plot result ``name`` of ``traj`` into the image file ``output``.

    Returns
    -------
    dict
        ``kind`` (``line``, ``heatmap`` or ``facets``), ``dims``, and ``facets``
        (the values of the third dimension shown).
    """
    da = to_xarray(traj, name)
    da = select(da, selection or {})
    if da.ndim == 0:
        raise HpcpetError(f"{name}: nothing left to plot after selection (value {float(da.values):g})")
    if da.ndim > 3:
        raise HpcpetError(f"{name} has {da.ndim} dimensions ({', '.join(da.dims)}); plots show up to 3, "
                          "fix others with --sel NAME=VALUE")
    if not np.isfinite(np.asarray(da.values, float)).any():
        raise HpcpetError(f"{name} has no finite values to plot (no completed runs?)")
    plt = _pyplot()
    values = np.asarray(da.values, float)
    vmin, vmax = np.nanmin(values), np.nanmax(values)
    fixed = {d: da[d].values.item() for d in da.coords if d not in da.dims and da[d].ndim == 0}
    label = title or name + (" (" + ", ".join(f"{k}={_fmt(v)}" for k, v in fixed.items()) + ")"
                             if fixed else "")
    info: dict[str, Any] = {"dims": list(da.dims), "facets": []}
    if da.ndim == 1:
        info["kind"] = "line"
        fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
        dim = da.dims[0]
        if dim == "run" and len(traj.explored_names) >= 1 and da[traj.explored_names[0]].ndim == 1 \
                and da[traj.explored_names[0]].dtype.kind in "iuf":
            # zipped exploration: plot against the first explored parameter
            dim_values, xlabel = da[traj.explored_names[0]].values, traj.explored_names[0]
            order = np.argsort(dim_values, kind="stable")
            x, y = dim_values[order], values[order]
        else:
            x, y, xlabel = da[dim].values, values, dim
        if x.dtype.kind not in "iuf":
            ax.plot(np.arange(len(x)), y, marker="o")
            _ticks(ax, "x", x)
        else:
            ax.plot(x, y, marker="o" if len(x) <= 60 else None, markersize=4)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(name)
        ax.set_title(label)
        ax.grid(True, alpha=0.3)
    elif da.ndim == 2:
        info["kind"] = "heatmap"
        fig, ax = plt.subplots(figsize=(6.4, 4.8), constrained_layout=True)
        mesh = _heatmap(ax, da, vmin, vmax)
        fig.colorbar(mesh, ax=ax, label=name)
        ax.set_title(label)
    else:
        info["kind"] = "facets"
        fdim = da.dims[2]
        n = da.sizes[fdim]
        picks = np.unique(np.linspace(0, n - 1, min(n, MAX_FACETS)).round().astype(int))
        ncols = min(4, len(picks))
        nrows = math.ceil(len(picks) / ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols + 1, 2.9 * nrows + 0.6),
                                 squeeze=False, constrained_layout=True, sharex=True, sharey=True)
        mesh = None
        for ax, p in zip(axes.flat, picks):
            sub = da.isel({fdim: int(p)})
            mesh = _heatmap(ax, sub, vmin, vmax)
            ax.set_title(f"{fdim} = {_fmt(da[fdim].values[p])}", fontsize=9)
            info["facets"].append(da[fdim].values[p].item())
        for ax in list(axes.flat)[len(picks):]:
            ax.set_visible(False)
        fig.colorbar(mesh, ax=axes, label=name, shrink=0.9)
        shown = "" if len(picks) == n else f" ({len(picks)} of {n} values of {fdim})"
        fig.suptitle(label + shown)
    try:
        fig.savefig(output, dpi=110)
    except (OSError, ValueError) as exc:
        raise HpcpetError(f"cannot write {output}: {exc}") from None
    finally:
        plt.close(fig)
    return info

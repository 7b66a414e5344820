"""The header of a results file: versions, parameters, exploration, explored values, globals.

Written once, when a study's file is created; consolidation copies it
unchanged into each new version of the file (only root attributes change).
"""
from __future__ import annotations

import datetime as _dt
import platform
from typing import Any

import h5py
import numpy as np

from .._version import __version__
from ..batch import PENDING
from ..trajectory import Trajectory
from . import layout as L
from .explorations import h5able, mark, read_exploration, write_exploration

#: top-level groups copied unchanged from one version of a results file to the next
COPIED = (L.PARAMETERS, L.EXPLORATION, L.EXPLORED, "experiment")


def now() -> str:
    """The current local time as ISO 8601 text."""
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def write_value(group: h5py.Group, path: str, value: Any, comment: str = "") -> None:
    """Store one parameter default or global result (a number, array or text) at ``path``."""
    if isinstance(value, str) and ("\x00" in value or not _encodable(value)):  # exactly, as bytes
        ds = group.create_dataset(path, data=np.void(value.encode("utf-8", "surrogatepass")))
        ds.attrs["python_type"] = "str"
    elif isinstance(value, str):
        ds = group.create_dataset(path, data=value, dtype=h5py.string_dtype())
    elif isinstance(value, (bytes, np.bytes_)):
        ds = group.create_dataset(path, data=np.void(bytes(value)))
        ds.attrs["python_type"] = "bytes"
    elif value is None:
        ds = group.create_dataset(path, data=h5py.Empty("f8"))
        ds.attrs["python_type"] = "None"
    elif type(value).__module__.startswith("pandas") and type(value).__name__ in ("DataFrame", "Series"):
        import pickle  # labels, index and dtypes kept exactly, as for per-run pandas results

        ds = group.create_dataset(path, data=np.void(pickle.dumps(value, protocol=4)))
        ds.attrs["python_type"] = "pickle"
    else:
        arr = np.asarray(value)
        if arr.dtype.kind == "O":
            raise TypeError(f"cannot store a value of type {type(value).__name__}")
        ds = group.create_dataset(path, data=h5able(arr))
        mark(ds, arr)
        if isinstance(value, (list, tuple)):
            ds.attrs["python_type"] = type(value).__name__
    if comment:
        ds.attrs["comment"] = comment


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:  # lone surrogates
        return False


def read_value(ds: h5py.Dataset) -> Any:
    """A value stored by :func:`write_value`, as it was given."""
    kind = ds.attrs.get("python_type")
    kind = kind.decode() if isinstance(kind, bytes) else kind
    if kind == "None":
        return None
    v = ds[()]
    if kind == "bytes":
        return v.tobytes()
    if kind == "str":
        return v.tobytes().decode("utf-8", "surrogatepass")
    if kind == "pickle":
        import pickle

        return pickle.loads(v.tobytes())
    if ds.attrs.get("text") is not None:
        v = np.char.decode(v, "utf-8", "surrogatepass")
        v = v.tolist() if kind in ("list", "tuple") and isinstance(v, np.ndarray) else v
        return tuple(v) if kind == "tuple" else v
    if isinstance(v, bytes):
        return v.decode("utf-8", "surrogatepass")
    if kind in ("list", "tuple"):
        out = v.tolist()
        return tuple(out) if kind == "tuple" else out
    if isinstance(v, np.ndarray) and v.dtype.kind == "O":
        return np.array([x.decode() if isinstance(x, bytes) else x for x in v.ravel()]).reshape(v.shape)
    return v


def write_header(h5: h5py.File, traj: Trajectory, set_size: int, metadata: dict,
                 source: str | None) -> None:
    """Everything a new results file holds before its first run."""
    expl = traj.exploration
    n = len(expl)
    a = h5.attrs
    a[L.FORMAT_ATTR] = L.FORMAT_VERSION
    a["hpcpet_version"] = __version__
    a["name"] = traj.name
    a["comment"] = traj.comment
    a["n_runs"] = n
    a["set_size"] = set_size
    a["created"] = now()
    a["numpy_version"] = np.__version__
    a["h5py_version"] = h5py.__version__
    a["hdf5_version"] = h5py.version.hdf5_version
    a["python_version"] = platform.python_version()
    a["exploration_fingerprint"] = expl.fingerprint()
    a[L.SEGMENTS_ATTR] = 0
    for k, v in metadata.items():
        a[k] = v
    if source is not None:
        h5.create_dataset(L.EXPERIMENT_SOURCE, data=source, dtype=h5py.string_dtype())
    params = h5.create_group(L.PARAMETERS)
    for p in traj.parameters.values():
        write_value(params, L.name_to_path(p.name), p.default, p.comment)
    write_exploration(h5, expl)
    h5.create_dataset(L.STATUS, data=np.full(n, PENDING, np.uint8), chunks=(max(1, min(n, 65536)),))
    h5.create_group(L.RESULTS)
    glob = h5.create_group(L.GLOBALS)
    for name, (value, comment) in traj.global_results.items():
        write_value(glob, L.name_to_path(name), value, comment)


def read_trajectory(h5: h5py.File, exploration=None) -> Trajectory:
    """A frozen trajectory with the parameters stored in an open results file and its exploration
    (``exploration``: the study's whole exploration, e.g. grown since the file was written)."""
    def text(v: Any) -> str:
        return v.decode() if isinstance(v, bytes) else str(v)

    traj = Trajectory(name=text(h5.attrs.get("name", "trajectory")), comment=text(h5.attrs.get("comment", "")))
    params: dict[str, Any] = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            params[name.replace("/", ".")] = (read_value(obj), text(obj.attrs.get("comment", "")))
    h5[L.PARAMETERS].visititems(visit)
    for name, (value, comment) in params.items():
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value[()]
        traj.add_parameter(name, value, comment)
    traj.explore(exploration if exploration is not None else read_exploration(h5))
    traj.freeze()
    return traj

"""Read the leaves of a pypet 0.7 trajectory file as pypet itself loads them (with PyTables).

Invariant: every value returned is the value pypet's ``HDF5StorageService``
would load for that node (same Python type where it records one: int, float,
bool, str, tuple, list, numpy scalar or array, pandas DataFrame/Series), or
the node is reported as unreadable, never altered. The rules mirror pypet's
``_prm_load_into_dict`` and ``_all_recall_native_type``: a leaf's children
carry ``SRVC_STORE`` (``ARRAY``, ``CARRAY``, ``EARRAY``, ``VLARRAY``,
``TABLE``, ``DICT``, ``FRAME``, ``SERIES``, ``NESTED_GROUP``) and the
original type in ``SRVC_DATA_`` / ``SRVC_COLUMN_<col>_`` attributes.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..errors import HpcpetError

_ARRAYS = ("ARRAY", "CARRAY", "EARRAY", "VLARRAY")
_PANDAS = ("FRAME", "SERIES")
_PY = {"bool": bool, "int": int, "float": float, "complex": complex, "str": str, "bytes": bytes,
       "bool_": np.bool_}


class Unreadable(Exception):
    """A node of a pypet leaf that hpcpet cannot read faithfully (message: why)."""


def open_pypet(path: str):
    """The pypet file ``path`` opened read-only with PyTables (``tables.File``)."""
    try:
        import tables
    except ImportError:
        raise HpcpetError("import-pypet reads pypet files with PyTables: pip install 'hpcpet[pypet]'") from None
    try:
        with warnings.catch_warnings():  # attributes PyTables cannot map (in non-pypet files)
            warnings.simplefilter("ignore", tables.DataTypeWarning)
            return tables.open_file(path, "r")
    except (OSError, tables.HDF5ExtError, ValueError) as exc:
        raise HpcpetError(f"cannot read {path} as HDF5: {str(exc).splitlines()[0]}") from None


def attr(node, key: str, default: Any = None) -> Any:
    """Attribute ``key`` of a PyTables node, as a plain Python value."""
    attrs = node._v_attrs
    if key not in attrs._v_attrnames:
        return default
    v = attrs[key]
    if isinstance(v, (bytes, np.bytes_)):
        return bytes(v).decode("utf-8")
    if isinstance(v, np.generic):
        return v.item()
    return v


def is_leaf(node) -> bool:
    """Whether ``node`` is a pypet parameter or result (a group marked ``SRVC_LEAF``)."""
    return bool(attr(node, "SRVC_LEAF", False))


def _type(typestr: str):
    if typestr in _PY:
        return _PY[typestr]
    t = getattr(np, typestr, None)
    if isinstance(t, type) and issubclass(t, np.generic):
        return t
    raise Unreadable(f"unknown stored type {typestr!r}")


def _decode(x: Any) -> Any:
    return bytes(x).decode("utf-8") if isinstance(x, (bytes, np.bytes_)) else x


def native(data: Any, node, prefix: str) -> Any:
    """``data`` as pypet recalls it from the type attributes ``prefix``SCALAR_TYPE / COLL_TYPE."""
    typestr = attr(node, prefix + "SCALAR_TYPE")
    coll = attr(node, prefix + "COLL_TYPE")
    if coll == "COLL_SCALAR":
        if isinstance(data, np.ndarray):
            data = np.array([data])[0]
        if typestr is not None:
            expected = _type(typestr)
            if type(data).__name__ != typestr or type(data) is not expected:
                data = _decode(data) if typestr == "str" else expected(data)
        return data
    if coll in ("COLL_LIST", "COLL_TUPLE"):
        data = list(data)
        if data and typestr is not None:
            conv = _decode if typestr == "str" else _type(typestr)
            data = [conv(x) for x in data]
        return tuple(data) if coll == "COLL_TUPLE" else data
    if coll == "COLL_EMPTY_DICT":
        return {}
    if isinstance(data, np.ndarray) and typestr == "str":
        data = np.char.decode(data, "utf-8") if data.dtype.kind == "S" else data
    if coll == "COLL_MATRIX":
        raise Unreadable("a numpy matrix")
    return data


def _read_table(table) -> dict[str, list]:
    if attr(table, "SPLIT_TABLE"):
        raise Unreadable("a split table")
    out = {}
    for col in table.colnames:
        values = list(table.col(col))
        prefix = f"SRVC_COLUMN_{col}_"
        out[col] = [native(v, table, prefix) for v in values]
    return out


def read_leaf(group, store) -> tuple[dict[str, Any], dict[str, str]]:
    """The items of pypet leaf ``group`` (load name -> value) and the unreadable ones (name -> why).

    ``store``: a callable giving a pandas object for a node path (pypet stores
    DataFrames and Series through pandas' HDFStore), or None if pandas is missing.
    """
    items: dict[str, Any] = {}
    bad: dict[str, str] = {}
    _read_into(group, store, "", items, bad)
    return items, bad


def _read_into(group, store, prefix: str, items: dict, bad: dict) -> None:
    for node in group._f_iter_nodes():
        name = f"{prefix}.{node._v_name}" if prefix else node._v_name
        kind = attr(node, "SRVC_STORE")
        try:
            if kind == "NESTED_GROUP":
                _read_into(node, store, name, items, bad)
                continue
            if kind == "DICT":
                items[name] = {k: v[0] for k, v in _read_table(node).items()}
            elif kind == "TABLE":
                items[name] = _read_table(node)
            elif kind in _ARRAYS:
                items[name] = native(node.read(), node, "SRVC_DATA_")
            elif kind in _PANDAS:
                if store is None:
                    raise Unreadable("a pandas object, and pandas is not installed")
                items[name] = store(node._v_pathname)
            else:
                raise Unreadable(f"stored as {kind or 'an unknown node'}")
        except Unreadable as exc:
            bad[name] = str(exc)

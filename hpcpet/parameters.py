"""Parameters: a named default value with a comment, and the type every value of it must have.

A parameter's type is fixed by its default (``bool``, ``int``, ``float``,
``complex``, ``str``, an array of one of these, or ``None`` for "any"):
explored values and presets are checked against it here, so that a run
never sees a value of another type than the one declared. The only
conversion is widening: ints become floats (or complex) where the parameter
is declared float (or complex).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import HpcpetError
from .naming import check_name

_SCALARS = (bool, int, float, complex, str, np.generic)
#: numpy dtype kind -> the type name used in messages and :attr:`Parameter.type`
TYPE_OF_KIND = {"b": "bool", "i": "int", "u": "int", "f": "float", "c": "complex", "U": "str", "S": "bytes"}
#: type -> the types its values may be given as (widened on the way)
WIDENS_FROM = {"float": ("int",), "complex": ("int", "float")}


def check_value(name: str, value: Any) -> Any:
    """Return ``value`` normalised for storage, or raise if its type is unsupported.

    Supported: bool, int, float, complex, str, numpy scalars and numpy arrays
    (lists and tuples of numbers become numpy arrays).
    """
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, (list, tuple)):
        try:
            arr = np.asarray(value)
        except ValueError:  # inhomogeneous shapes
            raise HpcpetError(f"parameter {name!r}: nested lists of different lengths are not supported") from None
        if arr.dtype.kind in "US" and not all(isinstance(v, (str, bytes)) for v in np.ravel(np.asarray(value, object))):
            raise HpcpetError(f"parameter {name!r}: a list that mixes text and numbers is not supported")
        value = arr
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufcUS":
            raise HpcpetError(f"parameter {name!r}: arrays of dtype {value.dtype} are not supported")
        return value
    raise HpcpetError(
        f"parameter {name!r}: type {type(value).__name__} is not supported "
        "(use bool, int, float, complex, str, numpy scalars or arrays)"
    )


def type_of(value: Any) -> str:
    """The type name of a parameter value: bool, int, float, complex, str, bytes, or none."""
    if value is None:
        return "none"
    kind = value.dtype.kind if isinstance(value, (np.ndarray, np.generic)) else np.asarray(value).dtype.kind
    return TYPE_OF_KIND.get(kind, type(value).__name__)


def flatten(name: str, value: dict) -> dict[str, Any]:
    """A nested dict as dotted names: ``flatten("n", {"a": 1, "b": {"c": 2}})`` -> ``{"n.a": 1, "n.b.c": 2}``."""
    out: dict[str, Any] = {}
    for key, sub in value.items():
        if not isinstance(key, str):
            raise HpcpetError(f"parameter {name!r}: dict keys must be str, got {key!r}")
        full = f"{name}.{key}"
        if isinstance(sub, dict):
            if not sub:
                raise HpcpetError(f"parameter {full!r}: an empty dict declares no parameter")
            out.update(flatten(full, sub))
        else:
            out[full] = sub
    return out


@dataclass
class Parameter:
    """A parameter of a trajectory.

    Attributes
    ----------
    name : str
        Dotted name, e.g. ``neuron.tau``.
    default : Any
        The value runs see unless the parameter is explored (None: no value;
        such a parameter takes explored values of any type).
    comment : str
        Free text stored with the parameter.
    """

    name: str
    default: Any
    comment: str = ""

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.default is not None:
            self.default = check_value(self.name, self.default)

    @property
    def type(self) -> str:
        """Type name of the default: bool, int, float, complex, str, bytes or none (any type)."""
        return type_of(self.default)

    @property
    def ndim(self) -> int:
        """Dimensions of the default (0 for scalars)."""
        return int(np.ndim(self.default)) if self.default is not None else 0

    def describe(self) -> str:
        """``float``, ``int array of 2 dims``, ... (for messages)."""
        return self.type if self.ndim == 0 else f"{self.type} array of {self.ndim} dims"

    def check_values(self, values: np.ndarray) -> np.ndarray:
        """Explored values (one row per run) checked against the type, widened where allowed.

        Raises an error naming the parameter, the first value of the wrong
        type and the declared type.
        """
        if self.default is None:
            return values
        got = TYPE_OF_KIND.get(values.dtype.kind, str(values.dtype))
        want = self.type
        if values.ndim - 1 != self.ndim:
            shape = "a scalar" if values.ndim == 1 else f"an array of {values.ndim - 1} dims"
            raise HpcpetError(f"parameter {self.name!r} is {self.describe()}; explored value "
                              f"{_show(values[0])} is {shape}")
        if got == want:
            return values
        if got in WIDENS_FROM.get(want, ()):
            target = self.default.dtype if isinstance(self.default, (np.ndarray, np.generic)) else \
                np.dtype(float if want == "float" else complex)
            return values.astype(target)
        bad = _first_bad(values, want)
        raise HpcpetError(f"parameter {self.name!r} is {self.describe()}; explored value {_show(bad)} "
                          f"is {got}")

    def parse(self, value: Any) -> Any:
        """A preset value for this parameter: text is parsed as the parameter's type.

        Raises an error naming the parameter and the value when it is not of
        (or does not parse as) the declared type.
        """
        want = self.type
        if isinstance(value, str) and want != "str":
            value = _parse_text(self, value)
        if self.default is None:  # a parameter of any type
            return None if value is None else check_value(self.name, value)
        if value is None:
            raise HpcpetError(f"preset {self.name}=None: parameter {self.name!r} is {self.describe()}")
        value = check_value(self.name, value)
        col = np.asarray(value)[None]
        got = TYPE_OF_KIND.get(col.dtype.kind, str(col.dtype))
        if col.ndim - 1 != self.ndim or (got != want and got not in WIDENS_FROM.get(want, ())):
            raise HpcpetError(f"preset {self.name}={_show(value)}: parameter {self.name!r} is "
                              f"{self.describe()}, the value is {got if col.ndim == 1 else f'{got} array'}")
        if got == want:
            return value
        if isinstance(self.default, (np.ndarray, np.generic)):
            return np.asarray(value, self.default.dtype) if self.ndim else self.default.dtype.type(value)
        return float(value) if want == "float" else complex(value)


def _parse_text(param: Parameter, text: str) -> Any:
    want, raw = param.type, text.strip()
    if param.ndim == 0 and want in ("bool", "int", "float", "complex"):
        if want == "bool":
            low = raw.lower()
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no", "off"):
                return False
        else:
            try:
                return {"int": int, "float": float, "complex": complex}[want](raw)
            except ValueError:
                pass
        raise HpcpetError(f"preset {param.name}={text}: cannot read {text!r} as {param.describe()}")
    try:
        return ast.literal_eval(raw)  # arrays as lists, and values of parameters of any type
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        if want == "none":
            return text
        raise HpcpetError(f"preset {param.name}={text}: cannot read {text!r} as {param.describe()}") from None


def _first_bad(values: np.ndarray, want: str) -> Any:
    """The first value that shows why ``values`` is not of type ``want`` (a non-integral float for int)."""
    flat = values.reshape(-1)
    if want == "int" and values.dtype.kind == "f":
        off = np.flatnonzero(flat != np.round(flat))
        if len(off):
            return flat[off[0]]
    return flat[0]


def _show(value: Any) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

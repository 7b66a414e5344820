"""Parameters: a named default value with a comment."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import HpcpetError
from .naming import check_name

_SCALARS = (bool, int, float, complex, str, np.generic)


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


@dataclass
class Parameter:
    """A parameter of a trajectory.

    Attributes
    ----------
    name : str
        Dotted name, e.g. ``neuron.tau``.
    default : Any
        The value runs see unless the parameter is explored.
    comment : str
        Free text stored with the parameter.
    """

    name: str
    default: Any
    comment: str = ""

    def __post_init__(self) -> None:
        check_name(self.name)
        self.default = check_value(self.name, self.default)

"""Names of parameters and results, and of the buckets (``$set``) that hold runs.

A name is a dotted path such as ``neuron.tau``: each part starts with a letter
or underscore and holds letters, digits and underscores. Result names added
during a run may contain the wildcards ``$`` (the run) and ``$set`` (its
bucket); both are optional and are removed to give the *plain* name
(``some_group.$set.$.z`` -> ``some_group.z``), under which results are stored
as columns and loaded.
"""
from __future__ import annotations

import keyword
import re

from .errors import InvalidNameError

RUN_WILDCARD = "$"
SET_WILDCARD = "$set"
_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Names hpcpet itself uses inside a run's results; users cannot take them.
RESERVED = frozenset({"return"})


def check_part(part: str, name: str) -> None:
    """Raise if one dotted component of ``name`` is not a valid identifier."""
    if not _PART.match(part) or keyword.iskeyword(part):
        raise InvalidNameError(
            f"invalid name {name!r}: each dotted part must be a Python identifier "
            f"(letters, digits, underscores, not starting with a digit), got {part!r}"
        )
    if part.startswith("__"):
        raise InvalidNameError(f"invalid name {name!r}: parts starting with '__' are reserved")


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid dotted parameter name (no wildcards)."""
    if not isinstance(name, str) or not name:
        raise InvalidNameError(f"invalid name {name!r}: names are non-empty strings")
    for part in name.split("."):
        check_part(part, name)
    return name


def plain_result_name(name: str) -> str:
    """Strip the ``$``/``$set`` wildcards from a result name and validate the rest.

    >>> plain_result_name("some_group.$set.$.z")
    'some_group.z'
    """
    if not isinstance(name, str) or not name:
        raise InvalidNameError(f"invalid result name {name!r}: names are non-empty strings")
    parts = [p for p in name.split(".") if p not in (RUN_WILDCARD, SET_WILDCARD)]
    if not parts:
        raise InvalidNameError(f"invalid result name {name!r}: it has no part besides wildcards")
    for part in parts:
        if "$" in part:
            raise InvalidNameError(
                f"invalid result name {name!r}: only '$' and '$set' are wildcards, got {part!r}"
            )
        check_part(part, name)
    return ".".join(parts)


def set_name(bucket: int) -> str:
    """Name of the HDF5 group of bucket number ``bucket`` (``run_set_00000``)."""
    return f"run_set_{bucket:05d}"


def block_name(block: int) -> str:
    """Name of the HDF5 group that holds up to ``set_size`` buckets."""
    return f"block_{block:05d}"


def run_name(index: int) -> str:
    """Conventional name of run ``index`` (``run_00000042``)."""
    return f"run_{index:08d}"

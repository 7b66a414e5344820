"""Growing a finished or interrupted study: add pending runs to its file (``hpcpet.expand``).

The new runs form their own generation; ``resume`` then runs them, on any backend.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from .errors import HpcpetError
from .exploration import Exploration


def expand(path: str, points: Exploration | Mapping[str, Sequence[Any]]) -> range:
    """Add the runs of ``points`` to the study ``path`` as a new generation of pending runs.

    Parameters
    ----------
    path : str
        A results file (format 2).
    points : Exploration or dict of equal-length lists
        Values for exactly the study's explored parameters.

    Returns
    -------
    range
        The indices of the new runs; ``python -m hpcpet resume PATH`` runs them.
    """
    from .storage.header import read_trajectory
    from .storage.snapshot import Snapshot
    from .storage.writer import Writer

    Writer.check_busy(path)
    snap = Snapshot(path)
    try:
        if snap.format != 2:
            raise HpcpetError(f"{path} has format {snap.format}; only format 2 files can grow")
        traj = read_trajectory(snap.h5, snap.exploration())
    finally:
        snap.close()
    try:
        new = traj.expand(points)  # checks names and every value's type; the file is untouched on error
    except HpcpetError as exc:
        raise HpcpetError(f"cannot expand {path}: {exc}") from None
    writer = Writer.reopen(path)
    try:
        added = writer.extend(traj.exploration)
    except BaseException:
        writer.abandon()
        raise
    writer.close()
    return added if len(added) == len(new) else new

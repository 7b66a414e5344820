"""Parts: the K-th of N contiguous slices of an exploration, run into its own file.

``K/N`` is 1-based: ``1/4`` .. ``4/4``. Run indices stay global; a part file
has the whole exploration's ``n_runs`` and records its slice in the attrs
``part`` (``"K/N"``), ``part_start`` and ``part_stop``.
"""
from __future__ import annotations

import numpy as np

from .errors import HpcpetError

PART_ATTRS = ("part", "part_start", "part_stop")


def parse_part(text: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)`` with ``1 <= K <= N``."""
    try:
        k, n = (int(s) for s in text.split("/"))
    except ValueError:
        raise HpcpetError(f"--part takes K/N (e.g. 2/8), got {text!r}") from None
    if n < 1 or not 1 <= k <= n:
        raise HpcpetError(f"--part {text}: need 1 <= K <= N (K is 1-based)")
    return k, n


def part_range(k: int, n: int, n_runs: int) -> tuple[int, int]:
    """First and one-past-last run of part ``k`` of ``n`` (1-based) of ``n_runs`` runs."""
    return (k - 1) * n_runs // n, k * n_runs // n


def part_metadata(k: int, n: int, n_runs: int) -> dict:
    """The file attributes that mark a part file."""
    lo, hi = part_range(k, n, n_runs)
    return {"part": f"{k}/{n}", "part_start": lo, "part_stop": hi}


def compact_ranges(indices: np.ndarray, limit: int = 20) -> str:
    """Sorted run indices as ``0-9, 15, 20-29`` (at most ``limit`` ranges, then ``...``)."""
    idx = np.asarray(indices, np.int64)
    if len(idx) == 0:
        return ""
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(idx)]])
    parts = [str(idx[s]) if e - s == 1 else f"{idx[s]}-{idx[e - 1]}"
             for s, e in zip(starts[:limit], ends[:limit])]
    if len(starts) > limit:
        parts.append(f"... ({len(starts) - limit} more ranges)")
    return ", ".join(parts)

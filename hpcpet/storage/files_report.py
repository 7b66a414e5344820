"""What is next to a results file: its live writer, and files a killed writer left behind.

Read-only: ``info`` names leftovers, the next writer removes them.
"""
from __future__ import annotations

import os

from . import layout as L
from .guard import describe, is_live, read_guard


def writer_line(path: str) -> str:
    """``pid 12 on node3 since ...`` if a live writer adds runs to ``path``, else ''."""
    doc = read_guard(path)
    if is_live(doc):
        return f"{describe(doc)} (showing the runs committed so far)"
    return ""


def leftovers(path: str) -> list[str]:
    """One line per thing a killed writer left next to ``path`` (temporary files, a stale guard)."""
    folder = L.folder(path)
    out = []
    try:
        names = sorted(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return out
    doc = read_guard(path)
    if doc is not None and not is_live(doc):
        out.append(f"the writer {describe(doc)} was killed; its committed runs are kept, "
                   f"'python -m hpcpet resume {path}' completes the study")
    tmp = [n for n in names if L.is_temporary(n)]
    if tmp and not is_live(doc):
        size = sum(os.path.getsize(os.path.join(folder, n)) for n in tmp if os.path.exists(os.path.join(folder, n)))
        out.append(f"{len(tmp)} unfinished temporary file(s) in {folder} ({size} bytes, never read; "
                   "removed by the next run or resume)")
    return out

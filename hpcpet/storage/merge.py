"""Merging part files (``run --part K/N``) of one exploration into one file equal to an unsplit run.

The merge reads each part through a snapshot and hands its runs to a new
:class:`~hpcpet.storage.writer.Writer` as batches, so the output is written by
the writer's own code (same widening rule, same crash safety) and nothing here
knows the layout of results.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from ..batch import DONE, FAILED, PENDING, BatchResult
from ..errors import FileFormatError, HpcpetError
from ..parts import PART_ATTRS, compact_ranges
from . import layout as L
from .snapshot import Snapshot
from .writer import Writer

#: runs handed to the writer per batch
CHUNK = 1 << 16


@dataclass
class Part:
    """One input file and the runs it is responsible for."""

    path: str
    snap: Snapshot
    start: int
    stop: int

    @property
    def label(self) -> str:
        """The part as the user named it (``K/N``) or ``whole file``."""
        return self.snap.attrs.get("part") or "whole file"


@dataclass
class MergeSummary:
    """What :func:`merge` did."""

    path: str
    n_runs: int
    done: int
    failed: int
    pending: int
    parts: int

    def __str__(self) -> str:
        return (f"{self.path}: {self.done}/{self.n_runs} runs done, {self.failed} failed, "
                f"{self.pending} pending (merged from {self.parts} files)")


def _open_parts(paths: list[str]) -> list[Part]:
    parts: list[Part] = []
    try:
        for p in paths:
            snap = Snapshot(p)
            if snap.format != L.FORMAT_VERSION:
                snap.close()
                raise FileFormatError(f"{p} has format {snap.format}; merge reads format {L.FORMAT_VERSION} files")
            n = snap.n_runs
            parts.append(Part(p, snap, int(snap.attrs.get("part_start", 0)), int(snap.attrs.get("part_stop", n))))
    except BaseException:
        for part in parts:
            part.snap.close()
        raise
    return parts


def check_parts(parts: list[Part]) -> None:
    """Raise unless all parts come from one exploration and do not overlap."""
    first = parts[0].snap.attrs
    for key in ("exploration_fingerprint", "n_runs", "set_size"):
        for part in parts[1:]:
            a = part.snap.attrs
            if key not in a or a[key] != first[key]:
                raise HpcpetError(
                    f"{part.path} is not a part of the same exploration as {parts[0].path}: "
                    f"{key} {a.get(key)!r} != {first[key]!r}")
    ordered = sorted(parts, key=lambda p: (p.start, p.stop))
    for a, b in zip(ordered, ordered[1:]):
        if b.start < a.stop:
            raise HpcpetError(f"{a.path} (part {a.label}, runs {a.start}-{a.stop - 1}) and {b.path} "
                              f"(part {b.label}, runs {b.start}-{b.stop - 1}) overlap "
                              f"in runs {b.start}-{min(a.stop, b.stop) - 1}")


def merge(paths: list[str], output: str, *, overwrite: bool = False,
          allow_missing: bool = False, drop_duplicates: bool = False) -> MergeSummary:
    """Merge part files of one exploration into ``output``.

    Files of *different* explorations of the same parameters (no part files)
    are merged one after the other instead (:func:`union`).

    Parameters
    ----------
    paths : list of str
        Files written by ``run --part K/N`` (a whole, unsplit file counts as
        one part covering every run).
    output : str
        The merged file to create.
    overwrite : bool
        Replace ``output`` if it exists.
    allow_missing : bool
        Write the merged file even if some runs are in no part or still
        pending in theirs (they stay pending; ``resume`` can do them).
    drop_duplicates : bool
        Union merge, leaving out runs whose explored values repeat an earlier run.
    """
    if not paths:
        raise HpcpetError("merge needs at least one part file")
    if os.path.exists(output) and not overwrite:
        raise HpcpetError(f"{output} exists; pass --overwrite to replace it")
    if any(os.path.abspath(p) == os.path.abspath(output) for p in paths):
        raise HpcpetError(f"{output} is also an input; choose another output file")
    parts = _open_parts(paths)
    fingerprints = {p.snap.attrs.get("exploration_fingerprint") for p in parts}
    if drop_duplicates or (len(fingerprints) > 1 and not any(p.snap.attrs.get("part") for p in parts)):
        for p in parts:
            p.snap.close()
        return union(paths, output, overwrite=overwrite, drop_duplicates=drop_duplicates)
    try:
        check_parts(parts)
        n = parts[0].snap.n_runs
        status = np.full(n, PENDING, np.uint8)
        covered = np.zeros(n, bool)
        for p in parts:
            status[p.start:p.stop] = p.snap.status()[p.start:p.stop]
            covered[p.start:p.stop] = True
        pending = status == PENDING
        if pending.any() and not allow_missing:
            lines = []
            uncovered = np.flatnonzero(~covered)
            if len(uncovered):
                lines.append(f"{len(uncovered)} runs are in no part: {compact_ranges(uncovered)}")
            unfinished = np.flatnonzero(covered & pending)
            if len(unfinished):
                owners = sorted({p.path for p in parts if pending[p.start:p.stop].any()})
                lines.append(f"{len(unfinished)} runs are still pending in "
                             f"{', '.join(owners)}: {compact_ranges(unfinished)}")
            raise HpcpetError(f"{int(pending.sum())} of {n} runs are missing; " + "; ".join(lines)
                              + " (run or resume the missing parts, or pass --allow-missing)")
        ordered = sorted(parts, key=lambda p: p.start)
        writer = Writer.create_like(output, parts[0].snap, overwrite=overwrite, drop=PART_ATTRS,
                                    attrs={"merged_from": json.dumps([os.path.abspath(p.path) for p in ordered])})
        try:
            for p in ordered:
                feed(writer, p.snap, np.arange(p.start, p.stop))
        except BaseException:
            writer.abandon()
            raise
        writer.close()
        c = writer.counts()
        return MergeSummary(output, n, c["done"], c["failed"], c["pending"], len(parts))
    finally:
        for p in parts:
            p.snap.close()


def feed(writer: Writer, snap: Snapshot, runs: np.ndarray, dest: int | None = None) -> None:
    """Hand the finished runs ``runs`` (sorted) of ``snap`` to ``writer``.

    They keep their indices, or with ``dest`` become runs ``dest, dest + 1, ...`` in order.
    """
    status = snap.status()
    errors = snap.errors()
    results = {name: snap.rows(name, t) for name, t in snap.result_types().items()}
    info = {name: snap.rows(name, t, L.INFO) for name, t in snap.result_types(L.INFO).items()}
    comments = snap.comments()
    options = snap.result_options()
    runs = np.asarray(runs, np.int64)
    target = runs if dest is None else dest + np.arange(len(runs), dtype=np.int64)
    handled = status[runs] != PENDING
    # contiguous stretches of target runs, at most CHUNK long: one batch each
    breaks = np.flatnonzero((np.diff(target) != 1) | (np.diff(runs) < 1)) + 1
    for part in np.split(np.arange(len(runs)), breaks):
        for lo in range(0, len(part), CHUNK):
            pos = part[lo:lo + CHUNK]
            pos = pos[handled[pos]]
            if len(pos) == 0:
                continue
            # split again where skipped (pending) runs leave a gap in the targets
            gaps = np.flatnonzero(np.diff(target[pos]) != 1) + 1
            for chunk in np.split(pos, gaps):
                src, a = runs[chunk], int(target[chunk[0]])
                st = status[src].copy()
                cols = {name: rows.to_column(src, st == DONE) for name, rows in results.items()}
                inf = {name: rows.info_array(src) for name, rows in info.items()}
                errs = {a + j: errors[int(i)] for j, i in enumerate(src) if st[j] == FAILED and int(i) in errors}
                writer.write(BatchResult(a, a + len(src), st, cols, errs, comments, 0.0, inf, options))


def union(paths: list[str], output: str, *, overwrite: bool = False,
          drop_duplicates: bool = False) -> MergeSummary:
    """Merge studies of *different* explorations of the same parameters: the runs of each input in turn.

    Each input's generations are kept, numbered after the previous input's;
    with ``drop_duplicates``, a run whose explored values repeat an earlier
    run (of any input) is left out.
    """
    from ..exploration import Exploration, Segment

    snaps = _open_parts(paths)
    try:
        first = snaps[0].snap
        names = json.loads(first.h5[L.EXPLORATION].attrs["names"])
        for p in snaps[1:]:
            other = json.loads(p.snap.h5[L.EXPLORATION].attrs["names"])
            if sorted(other) != sorted(names):
                raise HpcpetError(f"{p.path} explores {', '.join(other)}, {parts_name(snaps[0])} explores "
                                  f"{', '.join(names)}; only studies of the same parameters merge")
            if p.snap.attrs.get("part"):
                raise HpcpetError(f"{p.path} is a part file; merge the parts of its exploration first")
        seen: set = set()
        segments, plan = [], []
        gen0 = 0
        for p in snaps:
            expl = p.snap.exploration()
            keep = np.arange(len(expl))
            if drop_duplicates:
                cols = [p.snap.explored(n) for n in names]
                rows = [tuple(_key(c[i]) for c in cols) for i in range(len(expl))]
                mask = np.zeros(len(expl), bool)
                for i, r in enumerate(rows):
                    if r not in seen:
                        seen.add(r)
                        mask[i] = True
                keep = np.flatnonzero(mask)
            gens = p.snap.generation()
            if len(keep) == len(expl):
                segments += [s.with_generation(s.generation + gen0) for s in expl.segments]
            else:
                for g in np.unique(gens[keep]):
                    sel = keep[gens[keep] == g]
                    segments.append(Segment("zip", {n: p.snap.explored(n)[sel] for n in names},
                                            generation=int(g) + gen0))
            plan.append((p, keep))
            gen0 += int(gens.max()) + 1 if len(gens) else 0
        expl = Exploration.from_segments(segments)
        writer = Writer.create_like(output, first, overwrite=overwrite, drop=PART_ATTRS, exploration=expl,
                                    attrs={"merged_from": json.dumps([os.path.abspath(p.path) for p in snaps])})
        try:
            dest = 0
            for p, keep in plan:
                feed(writer, p.snap, keep, dest)
                dest += len(keep)
        except BaseException:
            writer.abandon()
            raise
        writer.close()
        c = writer.counts()
        return MergeSummary(output, len(expl), c["done"], c["failed"], c["pending"], len(snaps))
    finally:
        for p in snaps:
            p.snap.close()


def parts_name(p: Part) -> str:
    return p.path


def _key(v):
    return v.tobytes() if isinstance(v, np.ndarray) else v

"""Compaction: several segments merged into one, so that a long study keeps few files.

Invariant: the merged segment holds exactly what its inputs hold (a later
input wins a run that occurs twice); staged rows stay where they are in the
stage file. The writer publishes the merged segment before it deletes the
inputs (see :mod:`hpcpet.storage.writer`).
"""
from __future__ import annotations

import h5py
import numpy as np

from ..kinds import FIXED
from ..widening import ResultType
from . import layout as L
from .rows import Rows, assemble, assemble_fixed, attr_text, read_type
from .runlength import blocks_of, gather
from .segments import SegmentData, SegmentFile
from .stage import STAGED


def merge_segments(segs: list[SegmentFile], types: dict[str, ResultType],
                   info_types: dict[str, ResultType]) -> SegmentData:
    """One segment's content from several (a later one wins a run).

    ``types``, ``info_types``: the writer's types of results and run-info
    columns (every name the segments hold).
    """
    indices = [s.index for s in segs]  # read once: every result below needs them
    index = np.sort(np.concatenate(indices))
    if len(index) > 1 and (np.diff(index) == 0).any():  # a run in two segments (retry): once
        index = np.unique(index)
    rows_of = [np.searchsorted(index, i) for i in indices]  # where each segment's rows go
    status = np.zeros(len(index), np.uint8)
    for s, at in zip(segs, rows_of):
        status[at] = s.status
    data = SegmentData(index, status)
    for root, kinds, target in ((L.RESULTS, types, data.results), (L.INFO, info_types, data.info)):
        names = sorted({n for s in segs if root in s.h5
                        for n in (s.result_names() if root == L.RESULTS else s.info_names())})
        for name in names:
            p = L.name_to_path(name)
            groups = [(s, at, s.h5[root][p]) for s, at in zip(segs, rows_of) if root in s.h5 and p in s.h5[root]]
            staged = {attr_text(g, STAGED) for _, _, g in groups}
            if len(staged) == 1 and None not in staged:  # rows in one stage file: still there
                target[name] = _merge_staged(index, [(at, g) for _, at, g in groups])
                data.stages.extend(staged)
                continue
            if root == L.INFO and kinds[name].kind == FIXED:
                runs = gather(len(index), [(blocks_of(at), g) for _, at, g in groups])
                if runs is not None:  # runs of equal or evenly spaced values stay runs
                    target[name] = Rows.from_runs(runs, kinds[name])
                    continue
            sources = ((at, Rows.read(g)) for _, at, g in groups)
            if kinds[name].kind == FIXED:  # one input in memory at a time, beside the merged rows
                target[name] = assemble_fixed(len(index), sources, kinds[name])
            else:
                target[name] = assemble(len(index), list(sources), kinds[name])
    grown = [s for s in segs if L.EXPLORED in s.h5]
    if grown:  # the merged segments added generations: keep them, in order
        from .explorations import read_pieces
        from .explorations import read_column

        pieces = [p for s in grown for p in read_pieces(s.h5)]
        names = pieces[0].names
        cols = {n: np.concatenate([read_column(s.h5[L.EXPLORED][L.name_to_path(n)]) for s in grown])
                for n in names}
        data.extension = (pieces, cols, int(grown[0].h5.attrs["first_run"]), int(grown[-1].h5.attrs["n_runs"]))
    for s in segs:
        data.errors.update(s.errors())
        data.comments.update(s.comments())
        data.options.update(s.result_options())
        data.attrs.update(s.set_attrs())
        if L.GLOBALS in s.h5:
            from .header import read_value

            def visit(name, obj, s=s):
                if isinstance(obj, h5py.Dataset):
                    c = obj.attrs.get("comment", "")
                    data.globals[name.replace("/", ".")] = (read_value(obj), c.decode() if isinstance(c, bytes) else c)
            s.h5[L.GLOBALS].visititems(visit)
    return data


def _merge_staged(index: np.ndarray, groups: list) -> Rows:
    """The record of a staged result over the merged ``index`` (its rows stay in the stage file)."""
    has = np.zeros(len(index), bool)
    for pos, g in groups:  # pos: where each of the group's rows goes in ``index``
        has[pos] = g[L.PRESENT][()] if L.PRESENT in g else True
    last = groups[-1][1]
    where = {k: last.attrs[k] for k in last.attrs if k.startswith("stage") or k == STAGED}
    return Rows(read_type(last), len(index), present=None if has.all() else has, staged=where)


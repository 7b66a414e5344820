"""Consolidation: a study's results file and its live segments become one new results file.

Invariant: the new file is built under a temporary name (or, for a study
with heavy results, in the writer's stage file, whose committed rows are
never touched) and renamed over the results file in one step, so a kill
at any byte leaves either the old file with its segments or the new file.
Fixed-shape columns are streamed one segment at a time.
"""
from __future__ import annotations

from typing import Any

import h5py
import numpy as np

from ..kinds import FIXED, STRING
from ..widening import ResultType
from . import layout as L
from .files import publish, remove
from .header import COPIED, write_value
from .rows import Rows, write_fixed
from .runlength import RUN_VALUES, gather
from .snapshot import Snapshot
from .stage import Stage

#: HDF5 chunk cache of the consolidated file: a compressed chunk that segments fill in parts
#: stays in memory until it is complete instead of being compressed again for every part
CHUNK_CACHE = 32 << 20


def consolidate(path: str, attrs: dict[str, Any], stage: Stage | None = None) -> None:
    """Replace ``path`` by one file holding it and its live segments (atomically).

    ``stage``: the writer's stage file, completed in place and renamed over
    ``path`` when its columns hold every staged run's rows in the final type
    (otherwise a new file is written and the staged rows copied).
    """
    snap = Snapshot(path)
    types = snap.result_types()
    in_place = stage is not None and all(types.get(name) == c[1] for name, c in stage.columns.items())
    tmp = stage.path if in_place else L.temporary(path, "consolidated")
    if stage is not None:
        stage.close()
    try:
        n = snap.n_runs
        with h5py.File(tmp, "r+" if in_place else "w", locking=False, rdcc_nbytes=CHUNK_CACHE,
                       rdcc_nslots=CHUNK_CACHE // 4096 * 10 + 1) as out:
            copy_header(snap, out)
            status = snap.status()
            out.create_dataset(L.STATUS, data=status, chunks=(max(1, min(n, 65536)),))
            errors = snap.errors()
            if errors:
                keys = sorted(errors)
                out.create_dataset(L.ERROR_INDEX, data=np.asarray(keys, np.int64))
                Rows.from_list(ResultType(STRING, "|u1"), [errors[k] for k in keys]).write(out, L.ERROR_TEXT, 4096)
            res = out.require_group(L.RESULTS)
            comments = snap.comments()
            from .compression import parse

            default = snap.attrs.get("compression", "none")
            options = snap.result_options()
            placed: dict = {}  # segment -> where its rows go, worked out once for all results
            for name, rtype in types.items():
                spec = options.get(name, {}).get("compression", default)
                where = L.name_to_path(name)
                if rtype.kind == FIXED:  # streamed: one segment in memory at a time
                    write_fixed(res, where, n, rtype, snap.sources(name, placed=placed), snap.set_size,
                                comments.get(name, ""), compression=parse(spec),
                                staged_here=stage.name if in_place and name in stage.columns else None)
                else:
                    snap.rows(name, rtype).write(res, where, snap.set_size, comments.get(name, ""),
                                                 compression=parse(spec))
                if spec not in (None, "", "none"):
                    res[where].attrs["compression"] = spec
            info_types = snap.result_types(L.INFO)
            if info_types:
                info = out.create_group(L.INFO)
                for name, rtype in info_types.items():  # as runs, else shuffle + deflate 1 packs them
                    if rtype.kind == FIXED:
                        sources = snap.sources(name, L.INFO, placed)
                        runs = gather(n, [(None if w is None else w.blocks(), g) for w, g in sources])
                        if runs is not None:  # host, worker, start times of short runs...: a few numbers a batch
                            Rows.from_runs(runs, rtype).write(info, name, snap.set_size)
                            continue
                        write_fixed(info, name, n, rtype, sources, snap.set_size, compression=parse("gzip:1"),
                                    fill=_first_value(sources))
                    else:
                        snap.rows(name, rtype, L.INFO).write(info, name, snap.set_size, compression=parse("gzip:1"))
            a = out.attrs
            for k, v in snap.attrs.items():
                a[k] = v
            for k, v in attrs.items():
                a[k] = v
            a[L.SEGMENTS_ATTR] = snap.last
        snap.close()
        publish(tmp, path)
    except BaseException:
        snap.close()
        if not in_place:  # a stage file stays: the segments' staged rows are in it
            remove(tmp)
        raise


def _first_value(sources: list) -> Any:
    """The first stored row of a fixed column (the fill value that most of a run-info column holds)."""
    for _, g in sources:
        ds = g[RUN_VALUES] if RUN_VALUES in g else g[L.DATA]
        if len(ds):
            return ds[0]
    return None


def copy_header(snap: Snapshot, out: h5py.File, exploration=None) -> None:
    """Copy parameters, exploration, explored values, source and globals of ``snap`` into ``out``.

    ``exploration``: write this one instead of the snapshot's.
    """
    from .header import read_value

    src = snap.h5
    anew = snap.grown or exploration is not None
    for name in COPIED:
        if name in src and not (anew and name in (L.EXPLORATION, L.EXPLORED)):
            src.copy(src[name], out, name)
    if anew:  # generations were added (or another exploration): the whole exploration, written anew
        from .explorations import write_exploration

        write_exploration(out, exploration if exploration is not None else snap.exploration())
    glob = out.create_group(L.GLOBALS)
    groups = snap.globals_groups()
    if L.GLOBALS in src:
        for key in src[L.GLOBALS]:
            src.copy(src[L.GLOBALS][key], glob, key)
        groups = groups[1:]
    for g in groups:  # globals added in segments (post-processing) replace older ones
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                if name in glob:
                    del glob[name]
                c = obj.attrs.get("comment", "")
                write_value(glob, name, read_value(obj), c.decode() if isinstance(c, bytes) else c)
        g.visititems(visit)

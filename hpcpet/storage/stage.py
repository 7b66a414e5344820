"""Stage files: heavy per-run arrays written once, in place, into what becomes the results file.

A study whose runs store big fixed-shape arrays (a voltage trace per run)
would otherwise write every byte twice: into a segment at a checkpoint, then
into the consolidated file at close. Instead the writer keeps one *stage
file* ``OUT.segments/stage-SEQ.h5`` holding, for each such result, the
dataset ``results/<path>/data`` of every run, contiguous and allocated when
it is created. A checkpoint writes a batch's rows at their runs' rows,
fsyncs the stage file, and only then publishes the segment that commits them;
that segment's result group holds no data, only where the rows are
(``staged``: the stage file's name, ``stage_offset``: the byte offset of
row 0, ``stage_rows``). At close the stage file itself is completed (header,
status, the other results) and renamed over the results file, so the heavy
data is written to disk once.

Invariants:

- A run's row is written at most once per stage file (the writer takes each
  run once), so a committed row is never rewritten.
- HDF5 never moves or overwrites the raw data of a contiguous dataset, so a
  kill while the stage file is completed at close, which may leave its HDF5
  metadata torn, leaves every committed row intact. Readers and the next
  writer therefore read staged rows by byte offset (:func:`read_staged`),
  never through the stage file's HDF5 structure.
- A stage file no live segment references is stale (removed by the next writer).
"""
from __future__ import annotations

import json
import os
import re

import h5py
import numpy as np

from ..widening import ResultType
from . import layout as L
from .files import start_writeback
from .rows import places, plan_runs, spans

#: results whose runs store at least this many bytes each (fixed shape, uncompressed) are staged
STAGE_MIN_ROW_BYTES = 4096
#: attributes of a segment's result group whose rows are in a stage file
STAGED, OFFSET, ROWS = "staged", "stage_offset", "stage_rows"
#: root attribute of a segment: JSON list of the stage files it references
STAGES = "stages"
_STAGE_RE = re.compile(r"^stage-(\d{8})\.h5$")


def stage_name(seq: int) -> str:
    """File name of the stage file a writer creates at checkpoint ``seq``."""
    return f"stage-{seq:08d}.h5"


def is_stage_name(name: str) -> bool:
    return bool(_STAGE_RE.match(name))


def worth_staging(rtype: ResultType, compression: dict) -> bool:
    """Whether rows of ``rtype`` stored with ``compression`` go to a stage file."""
    if rtype.kind != "fixed" or compression or not rtype.shape:
        return False
    row = np.dtype(rtype.dtype).itemsize * int(np.prod(rtype.shape, dtype=np.int64))
    return row >= STAGE_MIN_ROW_BYTES


class Stage:
    """A writer's stage file (see the module docstring): one per writer, created on first use."""

    def __init__(self, results_path: str, seq: int):
        self.name = stage_name(seq)
        self.path = os.path.join(L.folder(results_path), self.name)
        self.h5 = h5py.File(self.path, "w", locking=False)
        self._fd = os.open(self.path, os.O_RDONLY)  # for fsync and starting writeback
        #: result name -> (dataset, its type, byte offset of row 0)
        self.columns: dict[str, tuple[h5py.Dataset, ResultType, int]] = {}
        self.dirty = False

    def add(self, name: str, rtype: ResultType, n_runs: int) -> None:
        """Allocate the rows of result ``name`` for ``n_runs`` runs (nothing is written to them)."""
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
        dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
        ds = self.h5.require_group(L.result_path(name)).create_dataset(
            L.DATA, (n_runs,) + tuple(rtype.shape), np.dtype(rtype.dtype), dcpl=dcpl)
        self.columns[name] = (ds, rtype, int(ds.id.get_offset()))

    def fits(self, name: str, rtype: ResultType, stop: int) -> bool:
        """Whether rows of ``rtype`` for runs below ``stop`` can go into this stage's column ``name``."""
        col = self.columns.get(name)
        return col is not None and col[1] == rtype and stop <= len(col[0])

    def put(self, name: str, start: int, block: np.ndarray, rows: np.ndarray) -> None:
        """Write ``block[k]`` at run ``start + k`` for every k where ``rows`` is True.

        The disk starts writing the rows at once (:func:`~hpcpet.storage.files.start_writeback`),
        so the fsync of the next checkpoint waits for little.
        """
        ds, _, offset = self.columns[name]
        row = block[:1].nbytes
        for lo, hi in spans(np.flatnonzero(rows)):
            ds[start + lo:start + hi] = block[lo:hi]
            start_writeback(self._fd, offset + (start + lo) * row, (hi - lo) * row)
            self.dirty = True

    def read(self, name: str, runs: np.ndarray) -> np.ndarray:
        """The rows of ``runs`` written so far (a writer's own view of runs not yet committed)."""
        ds, rtype, _ = self.columns[name]
        out = np.empty((len(runs),) + tuple(rtype.shape), np.dtype(rtype.dtype))
        for a, b, where in places(*plan_runs(np.asarray(runs))):
            out[where] = ds[a:b]
        return out

    def attrs(self, name: str) -> dict:
        """What a segment records for its rows of ``name``."""
        ds, _, offset = self.columns[name]
        return {STAGED: self.name, OFFSET: offset, ROWS: len(ds)}

    def sync(self) -> None:
        """Make every row written so far durable (before a segment that commits them is published)."""
        if self.dirty:
            self.h5.flush()
            os.fsync(self._fd)
            self.dirty = False

    def close(self) -> None:
        if self.h5.id.valid:
            self.h5.close()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_staged(g: h5py.Group, rtype: ResultType) -> np.ndarray:
    """The rows of a segment's staged result group ``g``, in the segment's row order, by byte offset."""
    a = g.attrs
    name = a[STAGED].decode() if isinstance(a[STAGED], bytes) else str(a[STAGED])
    path = os.path.join(os.path.dirname(os.path.abspath(g.file.filename)), name)
    shape = tuple(rtype.shape or ())
    dtype = np.dtype(rtype.dtype)
    row = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
    index = g.file[L.RUN_INDEX][()]
    out = np.empty((len(index),) + shape, dtype)
    if not len(index):
        return out
    offset = int(a[OFFSET])
    fd = os.open(path, os.O_RDONLY)
    try:
        flat = out.reshape(len(index), -1).view(np.uint8)
        for lo, hi, where in places(*plan_runs(index)):
            want = (hi - lo) * row
            raw = os.pread(fd, want, offset + lo * row)
            if len(raw) < want:  # a row never written (the run failed or did not add it): zeros
                raw = raw + bytes(want - len(raw))
            flat[where] = np.frombuffer(raw, np.uint8).reshape(hi - lo, row)
    finally:
        os.close(fd)
    return out


def referenced(segment: h5py.File) -> list[str]:
    """Names of the stage files a segment's rows are in."""
    raw = segment.attrs.get(STAGES)
    return json.loads(raw) if raw is not None else []

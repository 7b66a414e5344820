"""The single writer: creates a study's results file, commits runs in segments, consolidates.

Invariants (docs/format.md, docs/reliability.md):

- Committed bytes are never rewritten. The results file is published once at
  creation and replaced as a whole (temporary name, fsync, rename) only at
  close; in between, each checkpoint writes the runs it commits into a new
  segment file, published the same way. A kill at any byte therefore leaves
  the last published file and segments intact: a run is committed exactly
  when the segment that holds it has its final name.
- Only this class writes results; merge, import and post-processing go
  through its public methods.
- One writer per file, enforced by :class:`~hpcpet.storage.guard.Guard`,
  not by HDF5 file locks. Readers never open a file the writer has open.
- The writer's own read view (:meth:`Writer.view`, the ``study`` of a
  growing study's ``next_runs``) shows the runs it took but has not
  committed yet from memory; showing them commits nothing (they are
  committed by the next checkpoint, like any other run). Between views it
  keeps the results file open read-only, and what it read of the live
  segment files: they never change while this writer holds the guard (a
  compaction forgets the files it removes; :meth:`Writer.close` closes
  everything first).
"""
from __future__ import annotations

import json
import os
import time
from typing import Any

import h5py
import numpy as np

from ..batch import DONE, FAILED, PENDING, BatchResult
from ..columns import Column, type_of
from ..errors import FileFormatError, HpcpetError
from ..kinds import FIXED
from ..trajectory import Trajectory
from ..widening import Refused, ResultType, widen
from . import layout as L
from .files import first_line, open_h5, publish, remove
from .grid import Grid, grid_chunk_rows
from .guard import Guard
from .compaction import merge_segments
from .consolidation import consolidate, copy_header
from .header import now, write_header
from .info_columns import gather_info
from .rows import Rows, absent
from .runlength import Runs
from .segments import MemorySegment, SegmentData, SegmentFile, live_segments, stale_files, write_segment
from .snapshot import LiveSnapshot, Snapshot
from .stage import Stage, worth_staging

#: segments of one level merged into one of the next level (keeps the folder small in long studies)
FANOUT = 8
#: segments holding more runs than this are left as they are: there are few of them, and
#: merging them would only rewrite a lot of data (consolidation reads them once at close)
COMPACT_MAX_RUNS = 200_000
#: ... or more bytes than this (a merge holds its inputs in memory)
COMPACT_MAX_BYTES = 16 << 20
#: between two generations of a growing study, results held above this many bytes are committed;
#: fewer wait for the next regular checkpoint (a checkpoint per small generation costs more than
#: its runs), and more would make the writer's memory and the segments a compaction merges large
#: (512 kB let the SCOOP master's RSS grow 13 MB in the 200-generation memory test)
GENERATION_CHECKPOINT_BYTES = 256 << 10
#: ... with a writer thread (pool, MPI) up to this many bytes wait until
#: :data:`GENERATION_CHECKPOINT_SECONDS` have passed since the last checkpoint: a checkpoint costs
#: ~20 ms besides its bytes, and quick generations then share one (memory test, master RSS
#: growth: 2-4 MB). The commit is waited for at the next boundary: this bounds the longest turnaround
GENERATION_CHECKPOINT_MAX_BYTES = 1 << 20
GENERATION_CHECKPOINT_SECONDS = 0.5


class DiskFullError(HpcpetError):
    """Too little free disk space to write results safely."""


def _space_text(free: float, need: float) -> str:
    return (f"disk nearly full: only {free / (1 << 20):.1f} MB free, hpcpet needs "
            f"{need / (1 << 20):.0f} MB (HPCPET_MIN_FREE_MB)")


def _min_free() -> float:
    return float(os.environ.get("HPCPET_MIN_FREE_MB", "32")) * (1 << 20)


class Writer:
    """Owns a study's results file while runs are added to it.

    Use :meth:`create` for a new study and :meth:`reopen` to add to one.
    """

    def __init__(self, path: str, guard: Guard, snapshot: Snapshot, checkpoint_seconds: float | None = None):
        self.path = os.fspath(path)
        self.guard = guard
        self.n_runs = snapshot.n_runs
        self.set_size = snapshot.set_size
        self.status = snapshot.status()
        self.attrs: dict[str, Any] = dict(snapshot.attrs)
        self.types: dict[str, ResultType] = snapshot.result_types()
        self.info_types: dict[str, ResultType] = snapshot.result_types(L.INFO)
        self.comments: dict[str, str] = snapshot.comments()
        #: result name -> storage options given with add_result (compression)
        self.options: dict[str, dict] = snapshot.result_options()
        self.seq = snapshot.last
        self._live = [(s.first, s.last, s.level, s.path) for s in snapshot.segments]
        self._runs = {s.path: s.n for s in snapshot.segments}  # runs per live segment
        #: bytes a live segment's grids hold uncompressed (compaction would decompress them)
        self._grid_bytes = {s.path: s.grid_bytes for s in snapshot.segments}
        self._pieces = len(snapshot.pieces())  # exploration segments the study has
        self._extension: tuple | None = None  # (new exploration segments, exploration, first new run)
        self._exploration = None  # the whole exploration last given to extend (its segments checked)
        # view(): files kept open read-only, runs taken since the last checkpoint shown from memory
        self._base: h5py.File | None = None
        self._header: tuple | None = None  # the results file's exploration attributes
        self._files: dict[str, SegmentFile] = {}
        self._memory: list[MemorySegment] = []
        self._viewed = 0  # batches of _pending already in _memory
        #: runs this file is responsible for: its part's slice (see hpcpet.parts), else all
        self.part = (int(self.attrs.get("part_start", 0)), int(self.attrs.get("part_stop", self.n_runs)))
        if checkpoint_seconds is None:  # HPCPET_CHECKPOINT_SECONDS, default 1
            checkpoint_seconds = float(os.environ.get("HPCPET_CHECKPOINT_SECONDS", "1"))
        self.checkpoint_seconds = checkpoint_seconds
        #: results held before they are committed (HPCPET_CHECKPOINT_MB, default 8): the writer's memory bound
        self.checkpoint_bytes = float(os.environ.get("HPCPET_CHECKPOINT_MB", "8")) * (1 << 20)
        self._pending_bytes = 0
        self._pending: list[BatchResult] = []
        self._staged: list[dict[str, np.ndarray]] = []  # per pending batch: its rows written to the stage
        self._seen = np.zeros(self.n_runs, bool)  # runs taken by this writer
        self._new_attrs: dict[str, Any] = {}
        self._globals: dict[str, tuple] = {}
        self._last_checkpoint = time.monotonic()
        self._space_checked = -1e9
        #: heavy fixed results are written in place into this file (see hpcpet.storage.stage)
        self._stage: Stage | None = None
        self._unstaged: set[str] = set()  # results that left the stage (their type changed, the study grew)
        self.disk_full = False
        self.closed = False

    # ------------------------------------------------------------------ open
    @classmethod
    def create(cls, path: str, traj: Trajectory, *, set_size: int = 1000, overwrite: bool = False,
               metadata: dict | None = None, source: str | None = None) -> "Writer":
        """Create a new results file for ``traj`` (which must be frozen)."""
        path = os.fspath(path)
        cls.check_target(path, overwrite=overwrite, set_size=set_size)
        return cls._new(path, lambda h5: write_header(h5, traj, set_size, metadata or {}, source))

    @classmethod
    def create_like(cls, path: str, template: Snapshot, *, overwrite: bool = False,
                    drop: tuple = (), attrs: dict | None = None, exploration=None) -> "Writer":
        """Create a new results file with the header of ``template`` and no runs done (merge, import).

        ``exploration``: another exploration of the same parameters instead of the template's.
        """
        path = os.fspath(path)
        cls.check_target(path, overwrite=overwrite, set_size=template.set_size)

        def header(h5: h5py.File) -> None:
            copy_header(template, h5, exploration)
            n = template.n_runs if exploration is None else len(exploration)
            h5.create_dataset(L.STATUS, data=np.full(n, PENDING, np.uint8), chunks=(max(1, min(n, 65536)),))
            h5.create_group(L.RESULTS)
            skip = set(drop) | {"started", "ended", "complete", "resumed", "resume_count", "merged_from"}
            for k, v in template.attrs.items():
                if k not in skip:
                    h5.attrs[k] = v
            h5.attrs[L.SEGMENTS_ATTR] = 0
            h5.attrs["created"] = now()
            if exploration is not None:
                h5.attrs["n_runs"] = n
                h5.attrs["exploration_fingerprint"] = exploration.fingerprint()
                h5.attrs["exploration_segments"] = json.dumps(exploration.describe(), default=str)
            for k, v in (attrs or {}).items():
                h5.attrs[k] = v
        return cls._new(path, header)

    @classmethod
    def _new(cls, path: str, header) -> "Writer":
        """Take the guard, publish the results file that ``header(h5)`` fills, return its writer."""
        guard = Guard(path).acquire()
        try:
            for p in stale_files(path, None):  # a new study: nothing of an earlier one stays
                remove(p)
            tmp = L.temporary(path, "header")
            try:
                with h5py.File(tmp, "w", locking=False) as h5:
                    header(h5)
                publish(tmp, path)
            except BaseException as exc:
                remove(tmp)
                if isinstance(exc, (OSError, RuntimeError)):
                    raise HpcpetError(f"cannot write {path}: {first_line(exc)}") from None
                raise
            snap = Snapshot(path)
            try:
                return cls(path, guard, snap)
            finally:
                snap.close()
        except BaseException:
            guard.release()
            _remove_folder(path)
            raise

    @staticmethod
    def check_target(path: str, *, overwrite: bool = False, set_size: int = 1000) -> None:
        """Raise a one-line :class:`HpcpetError` if a new results file cannot be created at ``path``.

        Checks the set size, an existing file (without ``overwrite``, or being
        written by another live process), the output folder and free disk space.
        """
        if set_size < 1:
            raise HpcpetError(f"set size must be >= 1, got {set_size}")
        if os.path.isdir(path):
            raise HpcpetError(f"{path} is a folder, not a results file")
        if os.path.exists(path) and not overwrite:
            raise HpcpetError(f"{path} exists; pass --overwrite (overwrite=True) to replace it, "
                              "or use 'resume' to complete it")
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise HpcpetError(f"output folder does not exist: {folder}")
        if not os.access(folder, os.W_OK):
            raise HpcpetError(f"output folder is not writable: {folder}")
        st = os.statvfs(folder)
        if st.f_bavail * st.f_frsize < _min_free():
            raise DiskFullError(f"{_space_text(st.f_bavail * st.f_frsize, _min_free())} in {folder}")
        Writer.check_busy(path)

    @staticmethod
    def check_busy(path: str) -> None:
        """Raise :class:`~hpcpet.storage.guard.WriterBusyError` if another live process writes ``path``."""
        from .guard import WriterBusyError, describe, is_live, read_guard

        doc = read_guard(path)
        if is_live(doc) and doc.get("pid") != os.getpid():  # never pull a file from under its writer
            raise WriterBusyError(f"{path} is being written by {describe(doc)}; wait for that job to end")

    @classmethod
    def reopen(cls, path: str) -> "Writer":
        """Open an existing results file to add runs to it (resume, expand, merge, post-processing)."""
        path = os.fspath(path)
        if not os.path.exists(path):
            raise HpcpetError(f"file not found: {path}")
        snap = Snapshot(path)
        try:
            if snap.format != L.FORMAT_VERSION:
                raise FileFormatError(f"{path} has format {snap.format}; this hpcpet adds runs only to "
                                      f"format {L.FORMAT_VERSION} files (hpcpet.load still reads it)")
        except BaseException:
            snap.close()
            raise
        snap.close()
        guard = Guard(path).acquire()
        try:
            snap = Snapshot(path)  # again, now that no other writer can change it
            try:
                writer = cls(path, guard, snap)
            finally:
                snap.close()
            for p in stale_files(path, writer.attrs_base()):
                remove(p)
            return writer
        except BaseException:
            guard.release()
            raise

    def attrs_base(self) -> int:
        """The checkpoint number the results file itself contains."""
        return int(self.attrs.get(L.SEGMENTS_ATTR, 0))

    # ------------------------------------------------------------------ runs
    def todo_mask(self, retry_failed: bool = False) -> np.ndarray:
        """Bool per run: still to do (pending, and failed if ``retry_failed``)."""
        mask = self.status == PENDING
        if retry_failed:
            mask |= self.status == FAILED
        lo, hi = self.part  # a part file only does its own slice
        mask[:lo] = False
        mask[hi:] = False
        return mask

    def todo(self, retry_failed: bool = False) -> np.ndarray:
        """Indices of the runs still to do (pending, and failed if ``retry_failed``)."""
        return np.flatnonzero(self.todo_mask(retry_failed))

    def counts(self) -> dict[str, int]:
        """Runs done, failed and pending as committed so far."""
        c = np.bincount(self.status, minlength=3)
        return {"done": int(c[DONE]), "failed": int(c[FAILED]), "pending": int(c[PENDING])}

    def set_attrs(self, **attrs: Any) -> None:
        """Root attributes to record (committed with the next checkpoint)."""
        self._new_attrs.update(attrs)
        self.attrs.update(attrs)

    def extend(self, exploration) -> range:
        """Add the runs of ``exploration``'s new segments (a grown copy of the study's) as pending runs.

        They are committed with the next checkpoint; returns their indices.
        """
        from ..exploration import Exploration

        if self.part != (0, self.n_runs):
            raise HpcpetError(f"{self.path} is a part file (--part); a part cannot grow")
        if not self._known(exploration):
            known = Exploration.from_segments(exploration.segments[:self._pieces])
            if len(known) != self.n_runs or known.fingerprint() != self.attrs.get("exploration_fingerprint"):
                raise HpcpetError(f"the exploration to add to {self.path} does not start with the study's "
                                  "exploration (other parameters or values)")
        new = list(exploration.segments[self._pieces:])
        lo, hi = self.n_runs, len(exploration)
        if not new:
            return range(lo, lo)
        first = self._extension[2] if self._extension else lo
        pieces = (self._extension[0] if self._extension else []) + new
        self._extension = (pieces, exploration, first)
        self._exploration = exploration
        self._pieces = len(exploration.segments)
        grow = hi - lo
        self.status = np.concatenate([self.status, np.zeros(grow, np.uint8)])
        self._seen = np.concatenate([self._seen, np.zeros(grow, bool)])
        self.n_runs = hi
        self.part = (0, hi)
        self.set_attrs(exploration_fingerprint=exploration.fingerprint(),
                       exploration_segments=json.dumps(exploration.describe(), default=str))
        return range(lo, hi)

    def _known(self, exploration) -> bool:
        """Whether ``exploration`` starts with the very segments of the exploration last given to :meth:`extend`."""
        last = self._exploration
        return last is not None and len(last.segments) == self._pieces <= len(exploration.segments) and \
            all(a is b for a, b in zip(last.segments, exploration.segments))

    def add_global(self, name: str, value: Any, comment: str = "") -> None:
        """A result stored once for the whole study (post-processing); committed at the next checkpoint."""
        from ..naming import check_name

        check_name(name)
        pandas = type(value).__module__.startswith("pandas") and type(value).__name__ in ("DataFrame", "Series")
        if not isinstance(value, (str, bytes, np.bytes_)) and value is not None and not pandas:
            try:
                kind = np.asarray(value).dtype.kind
            except (ValueError, TypeError):
                kind = "O"
            if kind == "O":
                raise HpcpetError(f"global result {name!r}: cannot store a value of type {type(value).__name__} "
                                  "(numbers, arrays, text, bytes or None)")
        self._globals[name] = (value, comment)

    def check_space(self) -> None:
        """Refuse to write when the disk is nearly full (checked at most once a second).

        Raises :class:`DiskFullError`; everything committed stays intact.
        """
        t = time.monotonic()
        if t - self._space_checked < 1.0:
            return
        self._space_checked = t
        try:
            st = os.statvfs(os.path.dirname(os.path.abspath(self.path)))
        except OSError:
            return
        free = st.f_bavail * st.f_frsize
        if free < _min_free():
            self.disk_full = True
            raise DiskFullError(
                f"{_space_text(free, _min_free())} next to {self.path}; runs saved so far are intact: "
                f"free space, then: python -m hpcpet resume {self.path}")

    def _fail(self, result: BatchResult, rows: np.ndarray, text: str) -> None:
        for k in rows:
            if result.status[k] == DONE:
                result.status[k] = FAILED
                result.errors[result.start + int(k)] = text

    def _admit(self, result: BatchResult) -> None:
        """Fail the runs whose values cannot join their result (name clash, type, refused value)."""
        for name in list(result.columns):
            col = result.columns[name]
            for k, why in col.refused.items():
                self._fail(result, [k], f"ResultTypeError: result {name!r}: {why}")
            has = result.status == DONE
            if col.present is not None:
                has = has & col.present
            if not has.any():
                del result.columns[name]
                continue
            if name not in self.types:
                other = next((o for o in self.types if o.startswith(name + ".") or name.startswith(o + ".")), None)
                if other is not None:
                    self._fail(result, np.flatnonzero(has),
                               f"HpcpetError: result {name!r} clashes with result {other!r}: a name is "
                               "a group or a leaf, not both")
                    del result.columns[name]
                    continue
            sub = Column(col.kind, col.data, has)
            try:
                self.types[name] = widen(self.types.get(name), type_of(sub))
            except Refused as exc:
                self._fail(result, np.flatnonzero(has), f"ResultTypeError: result {name!r}: {exc}")
                del result.columns[name]

    def write(self, result: BatchResult) -> None:
        """Take one batch's results; they are committed at the next checkpoint.

        A run that this writer already took (a batch that came back twice, e.g.
        a late SCOOP copy) is ignored: the first copy wins.
        """
        self.check_space()
        seen = self._seen[result.start:result.stop]
        handled = result.status != PENDING
        if (seen & handled).any():
            result.status = np.where(seen, PENDING, result.status).astype(np.uint8)
            handled = result.status != PENDING
        seen |= handled
        self._admit(result)
        for name, comment in result.comments.items():
            if comment and not self.comments.get(name):
                self.comments[name] = comment
        for name, opts in result.options.items():
            if opts and self.options.get(name) != opts:
                from .compression import parse

                try:
                    parse(opts.get("compression"))
                except HpcpetError as exc:  # a bad spec fails the runs that asked for it
                    col = result.columns.pop(name, None)
                    if col is not None:
                        self._fail(result, np.flatnonzero(result.status == DONE), f"HpcpetError: result {name!r}: {exc}")
                    continue
                self.options[name] = opts
        staged = self._stage_columns(result)
        self._pending.append(result)
        self._staged.append(staged)
        self._pending_bytes += _nbytes(result)
        if (time.monotonic() - self._last_checkpoint >= self.checkpoint_seconds
                or self._pending_bytes >= self.checkpoint_bytes):
            self.checkpoint()

    # ------------------------------------------------------------------ own view
    def between_generations(self, wait: bool = False) -> None:
        """A generation of a growing study ended: commit now if it left much in memory.

        Below :data:`GENERATION_CHECKPOINT_BYTES` (or ``HPCPET_CHECKPOINT_MB``
        if smaller) nothing is written: the runs are committed by the next
        regular checkpoint, and :meth:`view` shows them meanwhile. With
        ``wait`` (a writer thread commits), below
        :data:`GENERATION_CHECKPOINT_MAX_BYTES` the commit also waits until
        :data:`GENERATION_CHECKPOINT_SECONDS` passed since the last
        checkpoint. Segments are not compacted here (the next regular
        checkpoint does it).
        """
        held = self._pending_bytes
        if held < min(self.checkpoint_bytes, GENERATION_CHECKPOINT_BYTES):
            return
        if wait and held < min(self.checkpoint_bytes, GENERATION_CHECKPOINT_MAX_BYTES) and \
                time.monotonic() - self._last_checkpoint < GENERATION_CHECKPOINT_SECONDS:
            return
        self.checkpoint(compact=False)

    def view(self, exploration) -> LiveSnapshot:
        """A read view of the study as this writer holds it, committed or not (``next_runs``'s study).

        Every run written so far shows, the ones not committed yet from
        memory: nothing is written, and what an earlier view read of the
        committed files is not read again (the results file stays open).
        ``exploration`` is the study's whole exploration, as given to
        :meth:`extend` (or the file's). The view is valid until the writer's
        next call; closing it closes the segment files it opened, not the results file.
        """
        if self._globals:  # results stored once (post-processing) are shown from their segment
            self.checkpoint()
        if len(exploration) != self.n_runs:
            raise HpcpetError(f"the study view needs the exploration of {self.path} "
                              f"({self.n_runs} runs, got {len(exploration)})")
        fresh = self._pending[self._viewed:]
        if fresh:
            self._memory.append(self._memory_segment(fresh, self._staged[self._viewed:]))
            self._viewed = len(self._pending)
        status = self.status.copy()
        for m in self._memory:
            status[m.index] = m.status
        if self._base is None:
            self._base = open_h5(self.path, "r")
        files = [self._files[p] if p in self._files else self._files.setdefault(p, SegmentFile(p))
                 for _, _, _, p in self._live]
        view = LiveSnapshot(self.path, self._base, [*files, *self._memory], attrs=self.attrs,
                            exploration=exploration, status=status, last=self.seq, header=self._header)
        self._header = view.exploration_header()  # the results file's: the same until close
        return view

    def _memory_segment(self, batches: list[BatchResult], staged: list[dict]) -> MemorySegment:
        """The runs of ``batches`` as a source of :meth:`view` (their rows are made on first use)."""
        keeps = [b.status != PENDING for b in batches]
        index = np.concatenate([np.arange(b.start, b.stop)[k] for b, k in zip(batches, keeps)])
        status = np.concatenate([b.status[k] for b, k in zip(batches, keeps)])
        return MemorySegment(lambda: self._data_of(batches, staged), index.astype(np.int64), status.astype(np.uint8))

    def _data_of(self, batches: list[BatchResult], staged: list[dict]) -> SegmentData:
        """What a checkpoint of only ``batches`` would write (see :meth:`_segment_data`), staged
        rows read back from the stage file."""
        pending, was = self._pending, self._staged
        self._pending, self._staged = batches, staged
        try:
            data = self._segment_data()
        finally:
            self._pending, self._staged = pending, was
        for name, rows in data.results.items():
            if rows.staged is not None:
                rows.data, rows.staged = self._stage.read(name, data.index), None
        return data

    def _forget_view(self, paths=None) -> None:
        """Close the files kept open for :meth:`view` (those of ``paths``; all, with the results file, if None)."""
        for p in list(self._files) if paths is None else paths:
            f = self._files.pop(p, None)
            if f is not None:
                f.close()
        if paths is None:
            if self._base is not None and self._base.id.valid:
                self._base.close()
            self._base = None
            self._memory.clear()
            self._viewed = 0

    # ------------------------------------------------------------------ durability
    def _segment_data(self) -> SegmentData:
        batches = self._pending
        keeps = [b.status != PENDING for b in batches]
        index = np.concatenate([np.arange(b.start, b.stop)[k] for b, k in zip(batches, keeps)]) \
            if batches else np.zeros(0, np.int64)
        status = np.concatenate([b.status[k] for b, k in zip(batches, keeps)]) if batches else np.zeros(0, np.uint8)
        seg = SegmentData(index.astype(np.int64), status.astype(np.uint8))
        for name in sorted({n for s in self._staged for n in s}):
            seg.results[name] = self._staged_rows(name, keeps)
            seg.stages.append(self._stage.name)
        names = sorted({n for b in batches for n in b.columns})
        if set(names) & set(seg.results):  # _stage_columns prevents it; never drop rows silently
            raise RuntimeError(f"hpcpet bug: rows of {sorted(set(names) & set(seg.results))} both staged and not")
        for name in names:
            rtype = self.types[name]
            parts = []
            for b, k in zip(batches, keeps):
                col = b.columns.get(name)
                done = k & (b.status == DONE)
                if col is None:
                    parts.append(absent(rtype, int(k.sum())))
                else:
                    parts.append(Rows.from_column(col, rtype, k).masked(done[k]))
            seg.results[name] = Rows.concat(parts, rtype)
            seg.results[name].grid = self._grid(name, rtype, seg.index)
        info_names = sorted({n for b in batches for n in b.info})
        counts = [len(b) if k.all() else int(np.count_nonzero(k)) for b, k in zip(batches, keeps)] \
            if info_names else []
        for name in info_names:
            col = gather_info(name, batches, keeps, counts)
            spaced = isinstance(col, Runs)
            try:
                rtype = widen(self.info_types.get(name), ResultType(FIXED, "<f8", ()) if spaced else type_of(col))
            except Refused:
                continue  # run info is a convenience: never fail runs for it
            self.info_types[name] = rtype
            seg.info[name] = Rows(rtype, col.n, runs=col) if spaced and rtype.dtype == "<f8" else \
                Rows.from_column(Column(FIXED, col.expand()) if spaced else col, rtype, np.ones(len(seg.index), bool))
        for b in batches:
            seg.errors.update({i: t for i, t in b.errors.items()
                               if b.status[i - b.start] == FAILED})
        seg.comments = {n: c for n, c in self.comments.items() if c}
        seg.options = dict(self.options)
        seg.globals = dict(self._globals)
        seg.attrs = dict(self._new_attrs)
        if self._extension is not None:
            pieces, expl, first = self._extension
            seg.extension = (pieces, expl, first, self.n_runs)
        return seg

    def _stage_columns(self, result: BatchResult) -> dict[str, np.ndarray]:
        """Write the batch's heavy columns into the stage file now (they are not held in memory).

        Returns result name -> bool per run of the batch: the run's row was
        written; the columns are taken out of ``result``.
        """
        staged = {}
        for name in list(result.columns):
            rtype = self.types[name]
            # one segment holds a result's rows either staged or not: switching commits the earlier ones
            if not self._stages(name, rtype, result.stop):
                if any(name in s for s in self._staged):
                    self.checkpoint(compact=False)
                continue
            if any(name in b.columns for b in self._pending):
                self.checkpoint(compact=False)
            col = result.columns.pop(name)
            has = result.status == DONE
            if col.present is not None:
                has = has & col.present
            self._stage.put(name, result.start, np.asarray(col.data).astype(rtype.dtype, copy=False), has)
            staged[name] = has
        return staged

    def _stages(self, name: str, rtype: ResultType, stop: int) -> bool:
        """Whether rows of ``name`` (runs below ``stop``) go to the stage file (created on first use)."""
        if name in self._unstaged or self.part != (0, self.n_runs):
            return False
        from .compression import parse

        spec = self.options.get(name, {}).get("compression", self.attrs.get("compression", "none"))
        if not worth_staging(rtype, parse(spec)):
            return False
        if self._stage is None:
            self._stage = Stage(self.path, self.seq + 1)
        if name not in self._stage.columns:
            self._stage.add(name, rtype, self.n_runs)
        if self._stage.fits(name, rtype, stop):
            return True
        self._unstaged.add(name)  # from now on in segments; consolidation copies the staged rows
        return False

    def _grid(self, name: str, rtype: ResultType, index: np.ndarray) -> Grid | None:
        """How a segment stores the rows of ``name`` compressed in run space (None: as ``data``)."""
        from .compression import parse

        kw = parse(self.options.get(name, {}).get("compression", self.attrs.get("compression", "none")))
        c = grid_chunk_rows(rtype.kind, rtype.shape, rtype.dtype, kw, self.n_runs, self.set_size)
        return None if c is None or not len(index) else Grid(index, c, kw)

    def _staged_rows(self, name: str, keeps: list[np.ndarray]) -> Rows:
        """A segment's record of the staged rows of ``name`` of the pending batches."""
        present = [(s[name] & k)[k] if name in s else np.zeros(int(np.count_nonzero(k)), bool)
                   for s, k in zip(self._staged, keeps)]
        has = np.concatenate(present) if present else np.zeros(0, bool)
        rtype = self._stage.columns[name][1]
        return Rows(rtype, len(has), present=None if has.all() else has, staged=self._stage.attrs(name))

    def checkpoint(self, compact: bool = True) -> None:
        """Commit everything received so far in one new segment (nothing if there is nothing new).

        ``compact``: merge segments when enough have accumulated (not worth it right before close).
        """
        self._last_checkpoint = time.monotonic()
        self.guard.start_heartbeat()  # first checkpoint: workers have started (no thread before a fork)
        if not (self._pending or self._globals or self._new_attrs or self._extension):
            return
        seg = self._segment_data()
        if self._stage is not None:
            self._stage.sync()  # staged rows are durable before the segment that commits them
        self.seq += 1
        seg_path = write_segment(self.path, self.seq, self.seq, seg, self.set_size)
        self._live.append((self.seq, self.seq, 0, seg_path))
        self._runs[seg_path] = len(seg.index)
        self._grid_bytes[seg_path] = seg.grid_bytes()
        self.status[seg.index] = seg.status
        self._pending.clear()
        self._staged.clear()
        self._memory.clear()  # their runs are in the segment now
        self._viewed = 0
        self._pending_bytes = 0
        self._globals.clear()
        self._new_attrs.clear()
        self._extension = None
        self.guard.touch()
        if compact:
            self._compact()
        from .status import record_checkpoint  # OUT.segments/status.json, for `hpcpet status`

        record_checkpoint(self)

    def _compact(self) -> None:
        """Merge the newest :data:`FANOUT` segments when they share a level (a binary counter)."""
        while len(self._live) >= FANOUT and len({s[2] for s in self._live[-FANOUT:]}) == 1:
            group = self._live[-FANOUT:]
            if sum(self._runs.get(p, 0) for _, _, _, p in group) > COMPACT_MAX_RUNS or \
                    sum(_size(p) + self._grid_bytes.get(p, 0) for _, _, _, p in group) > COMPACT_MAX_BYTES:
                break
            level = group[0][2] + 1
            first, last = group[0][0], group[-1][1]
            segs = [SegmentFile(p) for _, _, _, p in group]
            try:
                data = merge_segments(segs, self.types, self.info_types)
                path = write_segment(self.path, first, last, data, self.set_size, level)
            finally:
                for s in segs:
                    s.close()
            self._forget_view([p for _, _, _, p in group])
            for _, _, _, p in group:
                remove(p)
                self._runs.pop(p, None)
                self._grid_bytes.pop(p, None)
            self._live[-FANOUT:] = [(first, last, level, path)]
            self._runs[path] = len(data.index)

    def close(self) -> None:
        """Commit what is left and consolidate the study into one results file."""
        if self.closed:
            return
        self.closed = True
        self._forget_view()
        try:
            if self.disk_full:  # keep what is committed; write nothing more
                return
            self.checkpoint(compact=False)
            lo, hi = self.part
            complete = bool((self.status[lo:hi] == DONE).all())
            stage = self._stage
            if stage is not None and (self._unstaged & set(stage.columns)
                                      or any(len(c[0]) != self.n_runs for c in stage.columns.values())):
                stage = None  # a staged result changed type or the study grew: build a new file
            consolidate(self.path, {"ended": now(), "complete": complete}, stage)
        finally:
            if self._stage is not None:
                self._stage.close()
            if not self.disk_full:
                remove(os.path.join(L.folder(self.path), L.STATUS_FILE))
            self.guard.release()
            _remove_folder(self.path)

    def abandon(self) -> None:
        """Give up without writing anything more; committed segments stay for resume."""
        self.closed = True
        if self._stage is not None:
            self._stage.close()
        self._forget_view()
        self.guard.release()
        _remove_folder(self.path)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _nbytes(result: BatchResult) -> int:
    """About how much memory a batch's results take."""
    total = 0  # results only: run info (a few tens of bytes a run) rides along
    for col in result.columns.values():
        if isinstance(col.data, np.ndarray):
            total += col.data.nbytes
        else:
            total += sum(getattr(v, "nbytes", None) or len(v) if v is not None else 0 for v in col.data)
    return total


def _remove_folder(path: str) -> None:
    """Remove the segment folder of ``path`` if only finished or temporary files of this process remain."""
    folder = L.folder(path)
    try:
        base = -1
        if os.path.exists(path):
            try:
                with h5py.File(path, "r", locking=False) as h5:
                    base = int(h5.attrs.get(L.SEGMENTS_ATTR, 0))
            except Exception:
                return
        if live_segments(path, base):
            return
        for name in os.listdir(folder):
            p = os.path.join(folder, name)
            if name == L.GUARD:
                return  # another writer took it
            remove(p)
        os.rmdir(folder)
    except OSError:
        pass

"""The single writer: creates the results file and appends batches to ``$set`` buckets.

Crash safety comes from ordering: a bucket's data is written and flushed
before its runs are marked done in ``runs/status``, and status is flushed
after that. A run whose status says done therefore has its results on disk.
Results of runs not yet marked are re-run by ``resume``.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import time
from typing import Any

import h5py
import numpy as np

from . import column_index
from . import layout as L
from ._version import __version__
from .columns import FIXED, RAGGED, STRING, BucketColumn, Column
from .batch import DONE, FAILED, PENDING, BatchResult
from .errors import FileFormatError, HpcpetError
from .trajectory import Trajectory


class DiskFullError(HpcpetError):
    """Too little free disk space to write results safely."""


def now() -> str:
    """The current local time as ISO 8601 text."""
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


#: metadata cache of a file open for writing: large, so that HDF5 has no
#: reason to write (evict) metadata between two checkpoints (docs/reliability.md)
MDC_BYTES = (16 << 20, 32 << 20, 128 << 20)  # min, initial, max (HDF5 allows <= 128 MB)


def _big_metadata_cache(h5: h5py.File) -> None:
    cfg = h5.id.get_mdc_config()
    cfg.set_initial_size = True
    cfg.min_size, cfg.initial_size, cfg.max_size = MDC_BYTES
    h5.id.set_mdc_config(cfg)


def fsync(h5: h5py.File) -> None:
    """Push what HDF5 wrote to the disk (ordering survives power loss, not only kill -9)."""
    try:
        os.fsync(h5.id.get_vfd_handle())
    except (OSError, ValueError, TypeError):  # a driver without a file descriptor
        pass


def open_h5(path: str, mode: str) -> h5py.File:
    """Open an HDF5 file, turning the usual failures into one-line errors.

    Files opened for writing never reuse freed space (``fs_strategy="none"``,
    set at creation) and get a large metadata cache; see docs/reliability.md.
    """
    try:
        if mode == "w":
            h5 = h5py.File(path, mode, fs_strategy="none")
        else:
            h5 = h5py.File(path, mode)
        if mode != "r":
            _big_metadata_cache(h5)
        return h5
    except FileNotFoundError:
        raise HpcpetError(f"file not found: {path}") from None
    except PermissionError:
        raise HpcpetError(f"permission denied: {path}") from None
    except BlockingIOError:
        raise HpcpetError(f"{path} is open for writing by another process (HDF5 file lock)") from None
    except OSError as exc:
        text = str(exc)
        if "lock" in text.lower():
            if "errno = 37" in text or "errno = 524" in text or "not supported" in text.lower():
                raise HpcpetError(
                    f"{path}: file locking is not supported on this file system; "
                    "set HDF5_USE_FILE_LOCKING=FALSE") from None
            raise HpcpetError(f"{path} is open for writing by another process (HDF5 file lock)") from None
        if "signature" in text.lower() or "truncated" in text.lower() or "file format" in text.lower():
            raise FileFormatError(f"{path} is not a readable HDF5 file ({text.splitlines()[0]})") from None
        raise HpcpetError(f"cannot open {path}: {text.splitlines()[0] if text else exc}") from None


def _space_text(free: float, need: float) -> str:
    return (f"disk nearly full: only {free / (1 << 20):.1f} MB free, hpcpet needs "
            f"{need / (1 << 20):.0f} MB (HPCPET_MIN_FREE_MB)")


def _first_line(exc: BaseException) -> str:
    """The useful part of an HDF5 error: errno text if there is one, else its first line."""
    import re

    text = str(exc)
    m = re.search(r"errno = (\d+), error message = '([^']*)'", text)
    if m:
        return f"{m.group(2)} (errno {m.group(1)})"
    return (text.splitlines() or [type(exc).__name__])[0]


def _write_value(group: h5py.Group, path: str, value: Any, comment: str = "") -> None:
    if isinstance(value, str):
        ds = group.create_dataset(path, data=value, dtype=h5py.string_dtype())
    else:
        ds = group.create_dataset(path, data=_h5able(np.asarray(value)))
    if comment:
        ds.attrs["comment"] = comment


class _Bucket:
    """In-memory rows of one bucket until they are written."""

    def __init__(self, start: int, stop: int, todo: int):
        self.start, self.stop = start, stop
        self.status = np.zeros(stop - start, np.uint8)
        self.columns: dict[str, BucketColumn] = {}
        self.remaining = todo
        self.dirty = False
        self.on_disk = False  # its group may exist in the file (False: create it without looking)
        self.names: list[str] | None = None  # result names recorded in the group's "results" attr

    def column(self, name: str) -> BucketColumn:
        col = self.columns.get(name)
        if col is None:
            col = self.columns[name] = BucketColumn(self.stop - self.start)
        return col


class Writer:
    """Owns the only open write handle on a results file.

    Use :meth:`create` for a new exploration and :meth:`reopen` to resume one.
    """

    def __init__(self, h5: h5py.File, checkpoint_seconds: float | None = None):
        self.h5 = h5
        self.path = h5.filename
        self.n_runs = int(h5.attrs["n_runs"])
        self.set_size = int(h5.attrs["set_size"])
        self.status = h5[L.STATUS][()]
        #: runs this file is responsible for: its part's slice (see hpcpet.parts), else all
        self.part = (int(h5.attrs.get("part_start", 0)), int(h5.attrs.get("part_stop", self.n_runs)))
        if checkpoint_seconds is None:  # HPCPET_CHECKPOINT_SECONDS, default 1
            checkpoint_seconds = float(os.environ.get("HPCPET_CHECKPOINT_SECONDS", "1"))
        self.checkpoint_seconds = checkpoint_seconds
        self._buckets: dict[int, _Bucket] = {}
        self._staged: list[tuple[int, np.ndarray]] = []
        self._errors: dict[int, str] = {}
        self._info: dict[str, dict] = self._read_info()
        self._names: set[str] = set(self._info)  # every result name taken so far
        self._todo_mask: np.ndarray | None = None
        self._pending_comments: dict[str, str] = {}
        self._last_checkpoint = time.monotonic()
        self._space_checked = -1e9
        self.disk_full = False
        #: runs marked done that reopen found damaged (by a crash) and set back to pending
        self.damaged = 0
        #: result name -> bucket -> (byte offset of its dataset or -1, dtype), for column_index
        self._offsets: dict[str, dict[int, tuple[int, str]]] = {}
        self._created = False  # True when this writer created the file (it knows every bucket)

    # ------------------------------------------------------------------ open
    @classmethod
    def create(cls, path: str, traj: Trajectory, *, set_size: int = 1000, overwrite: bool = False,
               metadata: dict | None = None, source: str | None = None) -> "Writer":
        """Create a new results file for ``traj`` (which must be frozen)."""
        cls.check_target(path, overwrite=overwrite, set_size=set_size)
        # the header goes to a temporary file that replaces ``path`` once complete, so that
        # ``path`` is never a half-written header (kill -9, full disk)
        folder = os.path.dirname(os.path.abspath(path))
        tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
        h5 = open_h5(tmp, "w")
        try:
            cls._write_header(h5, traj, set_size, metadata or {}, source)
            h5.flush()
            fsync(h5)
            os.replace(tmp, path)
        except BaseException as exc:
            try:
                h5.close()
            except Exception:
                pass
            if os.path.exists(tmp):
                os.unlink(tmp)
            if isinstance(exc, (OSError, RuntimeError)):
                raise HpcpetError(f"cannot write {path}: {_first_line(exc)}") from None
            raise
        writer = cls(h5)
        writer.path = path
        writer._created = True  # every bucket of this file passes through this writer
        return writer

    @staticmethod
    def check_target(path: str, *, overwrite: bool = False, set_size: int = 1000) -> None:
        """Raise a one-line :class:`HpcpetError` if a new results file cannot be created at ``path``.

        Checks the set size, an existing file (without ``overwrite``, or held
        by another writer), the output folder and free disk space.
        """
        if set_size < 1:
            raise HpcpetError(f"set size must be >= 1, got {set_size}")
        if os.path.exists(path) and not overwrite:
            raise HpcpetError(f"{path} exists; pass --overwrite (overwrite=True) to replace it, "
                              "or use 'resume' to complete it")
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise HpcpetError(f"output folder does not exist: {folder}")
        if not os.access(folder, os.W_OK):
            raise HpcpetError(f"output folder is not writable: {folder}")
        st = os.statvfs(folder)
        need = float(os.environ.get("HPCPET_MIN_FREE_MB", "32")) * (1 << 20)
        if st.f_bavail * st.f_frsize < need:
            raise DiskFullError(f"{_space_text(st.f_bavail * st.f_frsize, need)} in {folder}")
        if os.path.exists(path):  # --overwrite: never pull a file from under another writer
            try:
                open_h5(path, "r+").close()
            except HpcpetError as exc:
                if "another process" in str(exc) or "locking" in str(exc):
                    raise

    @staticmethod
    def _write_header(h5: h5py.File, traj: Trajectory, set_size: int, metadata: dict,
                      source: str | None) -> None:
        expl = traj.exploration
        n = len(expl)
        a = h5.attrs
        a[L.FORMAT_ATTR] = L.FORMAT_VERSION
        a["hpcpet_version"] = __version__
        a["name"] = traj.name
        a["comment"] = traj.comment
        a["n_runs"] = n
        a["set_size"] = set_size
        a["created"] = now()
        a["numpy_version"] = np.__version__
        a["h5py_version"] = h5py.__version__
        a["hdf5_version"] = h5py.version.hdf5_version
        a["python_version"] = platform.python_version()
        a["exploration_fingerprint"] = expl.fingerprint()
        for k, v in metadata.items():
            a[k] = v
        if source is not None:
            h5.create_dataset(L.EXPERIMENT_SOURCE, data=source, dtype=h5py.string_dtype())
        params = h5.create_group(L.PARAMETERS)
        for p in traj.parameters.values():
            _write_value(params, L.name_to_path(p.name), p.default, p.comment)
        g = h5.create_group(L.EXPLORATION)
        g.attrs["kind"] = expl.kind
        g.attrs["names"] = json.dumps(expl.names)
        g.attrs["shape"] = json.dumps(list(expl.shape))
        for name, axis in expl.axes.items():
            g.create_dataset("axes/" + L.name_to_path(name), data=_h5able(axis))
        explored = h5.create_group(L.EXPLORED)
        step = 1 << 20
        for name, axis in expl.axes.items():
            dtype = _h5able(axis[:1]).dtype
            ds = explored.create_dataset(L.name_to_path(name), shape=(n,) + axis.shape[1:], dtype=dtype,
                                         chunks=(min(n, 65536),) + axis.shape[1:],
                                         compression="gzip", compression_opts=1, shuffle=True)
            for lo in range(0, n, step):
                ds[lo:lo + step] = _h5able(expl.column(name, lo, lo + step))
        h5.create_dataset(L.STATUS, shape=(n,), dtype=np.uint8, chunks=(min(n, 65536),),
                          fillvalue=PENDING)
        h5.create_dataset(L.ERROR_INDEX, shape=(0,), maxshape=(None,), dtype=np.int64, chunks=(256,))
        h5.create_dataset(L.ERROR_TEXT, shape=(0,), maxshape=(None,), dtype=h5py.string_dtype(),
                          chunks=(256,))
        h5.create_group(L.RESULTS)
        h5.create_group(L.RESULT_INFO)
        glob = h5.create_group(L.GLOBALS)
        for name, (value, comment) in traj.global_results.items():
            _write_value(glob, L.name_to_path(name), value, comment)

    @classmethod
    def reopen(cls, path: str) -> "Writer":
        """Open an existing results file to complete it."""
        if not os.path.exists(path):
            raise HpcpetError(f"file not found: {path}")
        h5 = open_h5(path, "r+")
        if L.FORMAT_ATTR not in h5.attrs:
            h5.close()
            raise FileFormatError(f"{path} is not an hpcpet results file")
        from . import verify

        found = verify.check(h5)  # runs marked done must read back (a crash inside a flush)
        damaged = 0
        if not found.clean:
            h5.close()
            damaged = verify.repair(path, found)
            h5 = open_h5(path, "r+")
        column_index.drop(h5)  # it describes the file as it was; rebuilt at close
        writer = cls(h5)
        writer.damaged = damaged
        return writer

    def _read_info(self) -> dict[str, dict]:
        info = {}
        def visit(name, obj):
            if isinstance(obj, h5py.Group) and "kind" in obj.attrs:
                info[name.replace("/", ".")] = {k: obj.attrs[k] for k in obj.attrs}
        self.h5[L.RESULT_INFO].visititems(visit)
        return info

    # ------------------------------------------------------------------ runs
    def todo_mask(self, retry_failed: bool = False) -> np.ndarray:
        """Bool per run: still to do (pending, and failed if ``retry_failed``)."""
        mask = self.status == PENDING
        if retry_failed:
            mask |= self.status == FAILED
        lo, hi = self.part  # a part file only does its own slice
        mask[:lo] = False
        mask[hi:] = False
        self._todo_mask = mask
        return mask

    def todo(self, retry_failed: bool = False) -> np.ndarray:
        """Indices of the runs still to do (pending, and failed if ``retry_failed``)."""
        return np.flatnonzero(self.todo_mask(retry_failed))

    def _bucket(self, b: int) -> _Bucket:
        bucket = self._buckets.get(b)
        if bucket is not None:
            return bucket
        start, stop = L.bucket_range(b, self.set_size, self.n_runs)
        if self._todo_mask is None:
            self.todo_mask()
        bucket = _Bucket(start, stop, int(self._todo_mask[start:stop].sum()))
        bucket.status[:] = self.status[start:stop]
        path = L.bucket_path(b, self.set_size, self.n_runs)
        # only done rows are loaded, so look in the file only if some are done (cheap at 10^4 buckets)
        if (bucket.status == DONE).any() and path in self.h5:  # written earlier (resume, checkpoint)
            self._load_bucket(bucket, self.h5[path])
            bucket.on_disk = True
        self._buckets[b] = bucket
        return bucket

    def _load_bucket(self, bucket: _Bucket, group: h5py.Group) -> None:
        done = bucket.status == DONE
        for name in self._info:
            path = L.name_to_path(name)
            if path not in group:
                continue
            ds = group[path]
            present = done.copy()
            if path + L.PRESENT_SUFFIX in group:
                present &= group[path + L.PRESENT_SUFFIX][()]
            kind = self._info[name]["kind"]
            data = ds[()]
            if kind == STRING:
                data = [s.decode() if isinstance(s, bytes) else s for s in data]
            elif ds.dtype.kind == "O":
                shapes = group[path + L.SHAPE_SUFFIX][()] if path + L.SHAPE_SUFFIX in group else None
                data = [r.reshape(L.row_shape(shapes[i])) if shapes is not None else r for i, r in enumerate(data)]
                kind = RAGGED
            bucket.column(name).put(0, Column(kind, data, present), slice(None))

    def check_space(self) -> None:
        """Refuse to write when the disk is nearly full (HDF5 fails badly on ENOSPC).

        Checked at most once a second; the reserve is ``HPCPET_MIN_FREE_MB``
        (default 32). Raises :class:`DiskFullError`; the file keeps its last
        checkpoint.
        """
        t = time.monotonic()
        if t - self._space_checked < 1.0:
            return
        self._space_checked = t
        need = float(os.environ.get("HPCPET_MIN_FREE_MB", "32")) * (1 << 20)
        try:
            st = os.statvfs(os.path.dirname(os.path.abspath(self.path)))
        except OSError:
            return
        free = st.f_bavail * st.f_frsize
        if free < need:
            self.disk_full = True
            raise DiskFullError(
                f"{_space_text(free, need)} next to {self.path}; runs saved so far are intact: "
                f"free space, then: python -m hpcpet resume {self.path}")

    def _reject_clashes(self, result: BatchResult) -> None:
        """Fail the runs that add a result whose name clashes with another one (``a`` and ``a.b``)."""
        names = self._names
        for name in list(result.columns):
            if name in names:
                continue
            other = next((o for o in names if o.startswith(name + ".") or name.startswith(o + ".")), None)
            if other is None:
                names.add(name)
                continue
            col = result.columns.pop(name)
            has = result.status == DONE
            if col.present is not None:
                has &= col.present
            for k in np.flatnonzero(has):
                result.status[k] = FAILED
                result.errors[result.start + int(k)] = (
                    f"HpcpetError: result {name!r} clashes with result {other!r}: a name is a group "
                    "or a leaf, not both")

    def write(self, result: BatchResult) -> None:
        """Take one batch's results; buckets that become complete are written."""
        self.check_space()
        self._reject_clashes(result)
        ss = self.set_size
        for b in range(result.start // ss, (result.stop - 1) // ss + 1):
            bucket = self._bucket(b)
            s, e = max(bucket.start, result.start), min(bucket.stop, result.stop)
            rows = slice(s - result.start, e - result.start)
            st = result.status[rows]
            for name, col in result.columns.items():
                ok = st == DONE
                if col.present is not None:
                    ok &= col.present[rows]
                if ok.any():
                    masked = Column(col.kind, col.data, _full_mask(col, rows, ok))
                    bucket.column(name).put(s - bucket.start, masked, rows)
            handled = st != PENDING
            bucket.status[s - bucket.start:e - bucket.start][handled] = st[handled]
            bucket.remaining -= int(handled.sum())
            bucket.dirty = True
            if bucket.remaining <= 0:
                self._write_bucket(b, bucket)
                del self._buckets[b]
        self._errors.update(result.errors)
        for name, comment in result.comments.items():
            info = self._info.get(name)
            if info is not None and not info.get("comment"):
                self._set_info(name, comment=comment)
            elif info is None:
                self._pending_comments[name] = comment
        if time.monotonic() - self._last_checkpoint >= self.checkpoint_seconds:
            self.checkpoint()

    def _write_bucket(self, b: int, bucket: _Bucket) -> None:
        path = L.bucket_path(b, self.set_size, self.n_runs)
        fresh = not bucket.on_disk
        if fresh:
            try:
                group = _create_group(self.h5, path)
            except ValueError:  # left by a partial checkpoint before a crash
                group, fresh = self.h5[path], False
        else:
            group = self.h5[path]
        bucket.on_disk = True
        done = bucket.status == DONE
        for name, bcol in bucket.columns.items():
            col = bcol.rows()
            dpath = L.name_to_path(name)
            if col.kind == FIXED:
                data = _h5able(col.data)
            elif col.kind == STRING:
                data = np.array(col.data, dtype=h5py.string_dtype())
            else:
                base = np.result_type(*[r.dtype for r in col.data])
                data = np.empty(len(col.data), dtype=h5py.vlen_dtype(base))
                data[:] = [np.ascontiguousarray(r, base).ravel() for r in col.data]
                if any(r.ndim != 1 for r in col.data):
                    ndim = max(r.ndim for r in col.data)
                    shapes = np.array([list(r.shape) + [-1] * (ndim - r.ndim) for r in col.data], np.int64)
                    _put(group, dpath + L.SHAPE_SUFFIX, shapes, fresh)
            offset = _put(group, dpath, data, fresh)
            present_needed = col.present is not None and not col.present[done].all()
            if col.kind == FIXED:  # for the column index written at close
                self._offsets.setdefault(name, {})[b] = (
                    -1 if offset is None or present_needed else offset, data.dtype.str)
            if present_needed:
                _put(group, dpath + L.PRESENT_SUFFIX, col.present, fresh)
            elif not fresh and dpath + L.PRESENT_SUFFIX in group:
                del group[dpath + L.PRESENT_SUFFIX]
            self._update_info(name, col)
        names = sorted(bucket.columns)
        if names != bucket.names:  # what verify.py expects to find in this bucket
            _set_text_attr(group, L.BUCKET_RESULTS_ATTR, json.dumps(names), fresh)
            bucket.names = names
        self._staged.append((bucket.start, bucket.status.copy()))
        bucket.dirty = False

    def _update_info(self, name: str, col: Column) -> None:
        info = self._info.get(name)
        if col.kind == FIXED:
            dtype, shape = str(col.data.dtype), json.dumps(list(col.data.shape[1:]))
        else:
            dtype, shape = ("str" if col.kind == STRING else str(col.data[0].dtype)), "null"
        if info is None:
            self._set_info(name, kind=col.kind, dtype=dtype, shape=shape,
                           comment=self._pending_comments.pop(name, ""))
        elif info["kind"] != col.kind or info["shape"] != shape or info["dtype"] != dtype:
            kind = col.kind if info["kind"] == col.kind else RAGGED
            if kind == FIXED and info["shape"] == shape:
                dtype = str(np.result_type(np.dtype(info["dtype"]), np.dtype(dtype)))
            elif kind == FIXED:
                kind = RAGGED
            self._set_info(name, kind=kind, dtype=dtype, shape=shape if kind == FIXED else "null")

    def _set_info(self, name: str, **attrs) -> None:
        g = self.h5.require_group(L.RESULT_INFO + "/" + L.name_to_path(name))
        for k, v in attrs.items():
            g.attrs[k] = v
        self._info.setdefault(name, {}).update(attrs)

    # ------------------------------------------------------------------ durability
    def checkpoint(self) -> None:
        """Make everything received so far durable: data and errors first, then run status."""
        for b, bucket in list(self._buckets.items()):
            if bucket.dirty:
                self._write_bucket(b, bucket)
        if self._errors:
            idx_ds, txt_ds = self.h5[L.ERROR_INDEX], self.h5[L.ERROR_TEXT]
            keys = sorted(self._errors)
            n0 = len(idx_ds)
            idx_ds.resize((n0 + len(keys),))
            txt_ds.resize((n0 + len(keys),))
            idx_ds[n0:] = keys
            txt_ds[n0:] = [self._errors[k] for k in keys]
            self._errors.clear()
        self.h5.flush()
        if self._staged:
            fsync(self.h5)  # data on disk before any status that points to it
            lo = min(s for s, _ in self._staged)
            hi = max(s + len(st) for s, st in self._staged)
            for s, st in self._staged:
                self.status[s:s + len(st)] = st
            self.h5[L.STATUS][lo:hi] = self.status[lo:hi]
            self._staged.clear()
            self.h5.flush()
        self._last_checkpoint = time.monotonic()
        from .status import record_checkpoint  # side file <out>.status.json for `hpcpet status`

        record_checkpoint(self)

    def close(self) -> None:
        """Checkpoint, record the end time and close the file."""
        if not self.h5.id.valid:
            return
        if self.disk_full:  # keep the last checkpoint; write nothing more
            self.h5.close()
            return
        self.checkpoint()
        self.h5.attrs["ended"] = now()
        lo, hi = self.part
        self.h5.attrs["complete"] = bool((self.status[lo:hi] == DONE).all())
        column_index.build(self.h5, self._info, self.n_runs, self.set_size, self._offsets,
                           scan=not self._created)
        self.h5.close()
        column_index.stamp(self.path)
        from .status import remove_sidecar

        remove_sidecar(self.path)

    def counts(self) -> dict[str, int]:
        """Runs done, failed and pending as recorded so far."""
        return {"done": int((self.status == DONE).sum()), "failed": int((self.status == FAILED).sum()),
                "pending": int((self.status == PENDING).sum())}


def _full_mask(col: Column, rows: slice, ok: np.ndarray) -> np.ndarray:
    mask = np.zeros(len(col.data), bool)
    mask[rows] = ok
    return mask


def _h5able(arr: np.ndarray) -> np.ndarray:
    """Numpy unicode arrays become UTF-8 strings HDF5 can store."""
    if arr.dtype.kind == "U":
        return np.array(arr.tolist(), dtype=h5py.string_dtype()) if arr.ndim else arr.astype(object)
    return arr


def _put(group: h5py.Group, path: str, data: np.ndarray, fresh: bool = False) -> int | None:
    """Store ``data`` at ``path``; return the byte offset of its data in the file if it has one.

    Heap references of done rows are never overwritten in place.

    A fixed-size dataset is overwritten in place (rows already done get the
    same bytes again). A variable-length one is replaced by a new dataset:
    rewriting its rows in place would point done rows (and, with only new
    rows written, the pending ones that readers also read) at heap objects
    that a crash may leave unwritten. Freed space is not reused
    (``fs_strategy="none"``), but relinking the name inside a flush is not
    atomic either: a crash then can damage the bucket, which ``resume``
    detects and repairs (hpcpet.verify). ``fresh``: the group was just created.
    """
    if not fresh and path in group:
        ds = group[path]
        if ds.shape == data.shape and ds.dtype == data.dtype and data.dtype.kind != "O":
            ds[...] = data
            return ds.id.get_offset()
        del group[path]
    if data.dtype.kind in "biufc" and data.flags.c_contiguous:
        return _create_numeric(group, path, data)
    group.create_dataset(path, data=data)
    return None


_LCPL = h5py.h5p.create(h5py.h5p.LINK_CREATE)
_LCPL.set_create_intermediate_group(True)


def _create_group(h5: h5py.File, path: str) -> h5py.Group:
    """``h5.create_group(path)`` (intermediate groups included) through h5py's low-level API."""
    return h5py.Group(h5py.h5g.create(h5.id, path.encode(), lcpl=_LCPL))


_SCALAR = h5py.h5s.create(h5py.h5s.SCALAR)


def _set_text_attr(group: h5py.Group, name: str, text: str, fresh: bool) -> None:
    """``group.attrs[name] = np.bytes_(text)``; on a ``fresh`` group through the low-level API (3x cheaper)."""
    value = np.asarray(np.bytes_(text))
    if not fresh:
        group.attrs[name] = value[()]
        return
    attr = h5py.h5a.create(group.id, name.encode(), h5py.h5t.py_create(value.dtype), _SCALAR)
    attr.write(value)


def _create_numeric(group: h5py.Group, path: str, data: np.ndarray) -> int | None:
    """``group.create_dataset(path, data=data)`` through h5py's low-level API (3x cheaper).

    Returns the byte offset of the data in the file (None if empty).
    """
    space = h5py.h5s.create_simple(data.shape)
    dset = h5py.h5d.create(group.id, path.encode(), h5py.h5t.py_create(data.dtype, logical=True), space,
                           lcpl=_LCPL)
    if not data.size:
        return None
    dset.write(h5py.h5s.ALL, h5py.h5s.ALL, data)
    return dset.get_offset()

"""Live status of a results file: runs done, failed and remaining, rate and ETA.

While a run is writing, the writer holds the HDF5 file lock, so another
process cannot open the file normally. At each checkpoint the writer
therefore also replaces a small side file ``<results>.status.json``
(atomically, by rename) with its counts and a few recent (time, runs handled)
samples; :func:`read_status` uses it while the file is locked, and the file
itself once it is closed.
"""
from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

SUFFIX = ".status.json"
SAMPLES = 30  # recent checkpoints kept for the rate


def sidecar_path(path: str) -> str:
    """The status side file of results file ``path``."""
    return path + SUFFIX


def record_checkpoint(writer) -> None:
    """Write the side file for ``writer`` (called by ``Writer.checkpoint``); never raises."""
    try:
        now = time.time()
        counts = writer.counts()
        state = writer.__dict__.setdefault("_status_state", {"opened": now, "samples": []})
        handled = counts["done"] + counts["failed"]
        samples = state["samples"]
        samples.append([now, handled])
        del samples[:-SAMPLES]
        first = state.setdefault("first", [now, handled])
        doc = {"path": os.path.abspath(writer.path), "n_runs": writer.n_runs, **counts,
               "pid": os.getpid(), "host": socket.gethostname(), "opened": state["opened"],
               "updated": now, "first": first, "samples": samples}
        target = sidecar_path(writer.path)
        tmp = f"{target}.{os.getpid()}.tmp"
        with open(tmp, "w") as fh:
            json.dump(doc, fh)
        os.replace(tmp, target)
    except Exception:  # status is a convenience: it must never break a run
        pass


def remove_sidecar(path: str) -> None:
    """Delete the side file once the writer has closed the file (which then speaks for itself)."""
    try:
        os.remove(sidecar_path(path))
    except OSError:
        pass


def read_sidecar(path: str) -> dict | None:
    """The side file of results file ``path``, or None."""
    for _ in range(5):
        try:
            with open(sidecar_path(path)) as fh:
                return json.load(fh)
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            time.sleep(0.05)
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Status:
    """What :func:`read_status` found."""

    path: str
    n_runs: int
    done: int
    failed: int
    state: str  # "running", "complete", "incomplete"
    rate: float | None = None  # runs per second, recent
    started: str | None = None
    ended: str | None = None
    updated: float | None = None
    source: str = "file"  # "file", "sidecar" or "file-unlocked"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def remaining(self) -> int:
        """Runs neither done nor failed."""
        return self.n_runs - self.done - self.failed

    @property
    def eta(self) -> float | None:
        """Seconds until all runs are handled at the current rate (None if unknown)."""
        if self.state != "running" or not self.rate:
            return None
        return self.remaining / self.rate

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for ``--json``."""
        return {"path": self.path, "state": self.state, "n_runs": self.n_runs, "done": self.done,
                "failed": self.failed, "remaining": self.remaining, "rate": self.rate,
                "eta_seconds": self.eta, "started": self.started, "ended": self.ended,
                "source": self.source}


def _rate(doc: dict) -> float | None:
    samples = doc.get("samples") or []
    if len(samples) >= 2:
        (t0, n0), (t1, n1) = samples[0], samples[-1]
        if t1 > t0:
            return (n1 - n0) / (t1 - t0)
    return None


def _from_h5(path: str, locking: bool) -> dict:
    import h5py
    import numpy as np

    from . import layout as L

    kw = {} if locking else {"locking": False}
    with h5py.File(path, "r", **kw) as h5:
        if L.FORMAT_ATTR not in h5.attrs:
            from .errors import FileFormatError

            raise FileFormatError(f"{path} is not an hpcpet results file")
        a = h5.attrs
        counts = np.bincount(h5[L.STATUS][()], minlength=3)
        dec = lambda v: v.decode() if isinstance(v, bytes) else (str(v) if v is not None else None)  # noqa: E731
        return {"n_runs": int(a["n_runs"]), "done": int(counts[1]), "failed": int(counts[2]),
                "started": dec(a.get("started")), "ended": dec(a.get("ended")),
                "complete": bool(a.get("complete", False))}


def _locked_error(exc: BaseException) -> bool:
    return isinstance(exc, BlockingIOError) or "lock" in str(exc).lower()


def read_status(path: str, retries: int = 10) -> Status:
    """Status of results file ``path``, whether or not a run is writing it.

    Never takes the write lock or writes to the file, so it does not disturb
    a running writer.
    """
    from .errors import HpcpetError

    if not os.path.exists(path):
        raise HpcpetError(f"file not found: {path}")
    doc = read_sidecar(path)
    same_host = doc is not None and doc.get("host") == socket.gethostname()
    try:
        info = _from_h5(path, locking=True)
    except OSError as exc:
        if not _locked_error(exc):
            raise HpcpetError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
        info = None
    if info is not None:  # nobody holds the write lock
        running = (doc is not None and same_host and info["ended"] is None
                   and _pid_alive(int(doc["pid"])) and doc.get("updated", 0) > time.time() - 600)
        state = "running" if running else ("complete" if info["done"] == info["n_runs"] else "incomplete")
        st = Status(os.path.abspath(path), info["n_runs"], info["done"], info["failed"], state,
                    started=info["started"], ended=info["ended"], source="file")
        if doc is not None:
            st.rate = _rate(doc)
            st.updated = doc.get("updated")
        return st
    # a writer has the file open
    if doc is not None:
        return Status(os.path.abspath(path), int(doc["n_runs"]), int(doc["done"]), int(doc["failed"]),
                      "running", rate=_rate(doc), updated=doc.get("updated"), source="sidecar",
                      extra={"pid": doc.get("pid"), "host": doc.get("host")})
    last: BaseException | None = None
    for _ in range(retries):  # no checkpoint yet: read without the lock, tolerating a torn read
        try:
            info = _from_h5(path, locking=False)
            return Status(os.path.abspath(path), info["n_runs"], info["done"], info["failed"],
                          "running", started=info["started"], source="file-unlocked")
        except Exception as exc:  # a read racing the writer can fail in many ways
            last = exc
            time.sleep(0.1)
    raise HpcpetError(f"{path} is being written and could not be read ({last})")


def _fmt_seconds(s: float | None) -> str:
    if s is None or s != s or s == float("inf"):
        return "?"
    s = int(round(s))
    return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}"


def format_status(st: Status) -> str:
    """Human-readable lines for ``python -m hpcpet status``."""
    n = max(st.n_runs, 1)
    lines = [f"file:       {st.path}",
             f"state:      {st.state}" + (f" (pid {st.extra['pid']} on {st.extra['host']})"
                                          if st.extra.get("pid") else ""),
             f"runs:       {st.n_runs} total",
             f"completed:  {st.done} ({100 * st.done / n:.1f}%)",
             f"failed:     {st.failed}",
             f"remaining:  {st.remaining}"]
    if st.rate is not None:
        lines.append(f"rate:       {st.rate:,.1f} runs/s" + ("" if st.state == "running" else " (last session)"))
    if st.state == "running":
        lines.append(f"eta:        {_fmt_seconds(st.eta)}")
    if st.updated is not None and st.state == "running":
        lines.append(f"updated:    {time.time() - st.updated:.0f} s ago")
    if st.started:
        lines.append(f"started:    {st.started}")
    if st.ended:
        lines.append(f"ended:      {st.ended}")
    return "\n".join(lines)

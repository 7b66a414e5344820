"""Live status of a results file: runs done, failed and remaining, rate and ETA.

The counts always come from the study itself (results file plus committed
segments, read without locks). For the rate, the writer also replaces, at each
checkpoint, a small file ``OUT.segments/status.json`` (atomically, by rename)
with a few recent (time, runs handled) samples; it goes away with the folder
when the study is closed.
"""
from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import layout as L

SAMPLES = 30  # recent checkpoints kept for the rate


def sidecar_path(path: str) -> str:
    """The status side file of results file ``path``."""
    return os.path.join(L.folder(path), L.STATUS_FILE)


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
        tmp = L.temporary(writer.path, L.STATUS_FILE)
        with open(tmp, "w") as fh:
            json.dump(doc, fh)
        os.replace(tmp, target)
    except Exception:  # status is a convenience: it must never break a run
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


def read_status(path: str) -> Status:
    """Status of the study ``path``, whether or not a writer is adding runs to it.

    Reads the committed state without locks and never writes, so it does not
    disturb a running writer.
    """
    from .guard import describe, is_live, read_guard
    from .snapshot import Snapshot

    snap = Snapshot(path)
    try:
        if snap.format != L.FORMAT_VERSION:
            import h5py  # noqa: F401  (format 1: the status dataset is all there is)

            st = snap.h5["runs/status"][()]
            a = snap.h5.attrs
            n, started, ended = int(a["n_runs"]), a.get("started"), a.get("ended")
        else:
            st = snap.status()
            n, started, ended = snap.n_runs, snap.attrs.get("started"), snap.attrs.get("ended")
    finally:
        snap.close()
    dec = lambda v: v.decode() if isinstance(v, bytes) else (str(v) if v is not None else None)  # noqa: E731
    counts = np.bincount(st, minlength=3)
    guard = read_guard(path)
    running = is_live(guard)
    done, failed = int(counts[1]), int(counts[2])
    state = "running" if running else ("complete" if done == n else "incomplete")
    out = Status(os.path.abspath(path), n, done, failed, state, started=dec(started),
                 ended=None if running else dec(ended), source="file")
    if running:
        out.extra = {"pid": guard.get("pid"), "host": guard.get("host"), "writer": describe(guard)}
    doc = read_sidecar(path)
    if doc is not None:
        out.rate = _rate(doc)
        out.updated = doc.get("updated")
    return out


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

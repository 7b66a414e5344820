"""The writer's guard: at most one writer per results file, without relying on file locks.

Invariant: while a writer works on ``OUT`` the file ``OUT.segments/writer.json``
exists (created with ``O_EXCL``) and names its host and process; the writer
touches it at least every :data:`HEARTBEAT` seconds. A guard is stale when its
process is gone (same host) or it has not been touched for :data:`STALE`
seconds (another host); a stale guard is taken over, a live one refuses.
HDF5's own file locking plays no part, so this holds with
``HDF5_USE_FILE_LOCKING=FALSE`` and on file systems without locks.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time

from ..errors import HpcpetError
from . import layout as L

HEARTBEAT = 10.0
STALE = 120.0


class WriterBusyError(HpcpetError):
    """Another live process writes the file."""


def _proc_start(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    now = _proc_start(pid)
    return not (start and now and now != start)


def read_guard(path: str) -> dict | None:
    """The guard of results file ``path`` (None if there is none or it is unreadable)."""
    try:
        with open(os.path.join(L.folder(path), L.GUARD)) as fh:
            doc = json.load(fh)
        doc["touched"] = os.path.getmtime(os.path.join(L.folder(path), L.GUARD))
        return doc
    except (OSError, ValueError):
        return None


def is_live(doc: dict | None) -> bool:
    """Whether a guard belongs to a writer that still works."""
    if doc is None:
        return False
    if doc.get("host") == socket.gethostname():
        return _alive(int(doc.get("pid", -1)), doc.get("start", ""))
    return time.time() - float(doc.get("touched", 0)) < STALE


def describe(doc: dict) -> str:
    """``pid 123 on node17 since 08:12:01``."""
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(doc.get("since", 0))))
    return f"pid {doc.get('pid')} on {doc.get('host')} since {since}"


class Guard:
    """The guard of one results file, held by this process; see the module docstring."""

    def __init__(self, path: str):
        self.path = os.fspath(path)
        self.file = os.path.join(L.folder(path), L.GUARD)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> "Guard":
        """Take the guard or raise :class:`WriterBusyError` naming the live writer."""
        os.makedirs(L.folder(self.path), exist_ok=True)
        doc = {"pid": os.getpid(), "host": socket.gethostname(), "start": _proc_start(os.getpid()),
               "since": time.time()}
        for _ in range(3):
            try:
                fd = os.open(self.file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                old = read_guard(self.path)
                if old is not None and old.get("pid") == os.getpid() and old.get("host") == doc["host"]:
                    return self  # this process holds it already (resume after run in one process)
                if is_live(old):
                    raise WriterBusyError(
                        f"{self.path} is being written by {describe(old)}; wait for that job to end"
                        f" (if it is dead on another host, delete {self.file})") from None
                try:
                    os.unlink(self.file)  # stale: its writer was killed
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(fd, "w") as fh:
                json.dump(doc, fh)
            return self
        raise WriterBusyError(f"{self.path}: could not take the writer guard {self.file}")

    def touch(self) -> None:
        """Show that the writer is alive (called at checkpoints and by the heartbeat thread)."""
        try:
            os.utime(self.file)
        except OSError:
            pass

    def start_heartbeat(self) -> None:
        """Touch the guard every :data:`HEARTBEAT` seconds from a daemon thread."""
        if self._thread is None:
            def beat():
                while not self._stop.wait(HEARTBEAT):
                    self.touch()
            self._thread = threading.Thread(target=beat, name="hpcpet-guard", daemon=True)
            self._thread.start()

    def release(self) -> None:
        """Give the guard up (the folder itself is removed by the writer)."""
        self._stop.set()
        try:
            os.unlink(self.file)
        except FileNotFoundError:
            pass

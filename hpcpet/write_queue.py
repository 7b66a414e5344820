"""A bounded hand-off of batch results from the dispatching thread to one writing thread.

Under the pool and MPI backends the master's main thread dispatches: it takes
each finished batch's results and hands the worker its next batch. With a
:class:`WriteQueue` it then only queues the results, and a second thread
writes them, so no worker waits for its next batch while results are written.

Invariants:

- one thread writes: only the queue's thread calls ``write``, one result at a
  time, in the order they were put (and the functions given to
  :meth:`WriteQueue.call`, in their place in that order); once :meth:`WriteQueue.drain` or
  :meth:`WriteQueue.close` has returned, every result put has been written
  (unless writing failed), ``first`` has returned, and the caller may use the
  writer itself again;
- memory and what a kill can lose are bounded: the results put and not yet
  taken by the thread are at most :data:`MAX_BATCHES` and hold at most
  ``limit`` bytes (:func:`result_bytes`), or a single result when one is
  larger. :meth:`WriteQueue.put` blocks until there is room: the dispatcher
  then receives nothing, so the workers wait in their sends (back-pressure).
  Besides the queue, the master holds the result being written and the one
  it is trying to put;
- the first exception of ``write`` stops the thread; it is raised, as it was
  raised, by the next :meth:`WriteQueue.put` or :meth:`WriteQueue.drain` in
  the dispatching thread (or returned once by :meth:`WriteQueue.close`).
  Results queued behind it are dropped, as a failed write drops them today:
  committed runs stay intact and ``resume`` redoes the rest.
"""
from __future__ import annotations

import os
import threading
from collections import deque
from typing import Callable

import numpy as np

from .batch import BatchResult

#: default bound of the queue in MB (HPCPET_WRITE_QUEUE_MB)
DEFAULT_MB = 32.0
#: most batch results waiting in the queue (runs received but not yet committed: a kill loses them)
MAX_BATCHES = 4


def limit_bytes() -> int:
    """The queue's bound in bytes: ``HPCPET_WRITE_QUEUE_MB`` (default :data:`DEFAULT_MB`)."""
    return int(float(os.environ.get("HPCPET_WRITE_QUEUE_MB", DEFAULT_MB)) * (1 << 20))


def enabled() -> bool:
    """Whether to write in a thread where the backend allows it (``HPCPET_WRITE_THREAD``, default 1)."""
    return os.environ.get("HPCPET_WRITE_THREAD", "1").strip().lower() not in ("0", "false", "no")


def _data_bytes(data) -> int:
    if isinstance(data, np.ndarray):
        return data.nbytes
    return sum(v.nbytes if isinstance(v, np.ndarray) else len(v) for v in data if v is not None)


def result_bytes(result: BatchResult) -> int:
    """About how much memory a batch result holds: its result columns and run info."""
    return sum(_data_bytes(col.data) for col in result.columns.values()) + \
        sum(_data_bytes(a) for a in result.info.values() if isinstance(a, np.ndarray))


class WriteQueue:
    """Calls ``write(result)`` in a thread of its own for every result :meth:`put` in it.

    Parameters
    ----------
    write : callable
        Writes one result (the only code that touches the writer meanwhile).
    limit : int
        Bytes of results that may wait for ``write``; see the module's invariants.
    first : callable, optional
        Called in the thread before anything is written (e.g. to create the file); its
        exception is the writer's error. :attr:`first_done` is set once it returned or raised.
    on_error : callable, optional
        Called in the thread when ``write`` or ``first`` raised (e.g. to wake the dispatcher,
        which may be waiting for results that take long).
    """

    def __init__(self, write: Callable[[BatchResult], None], limit: int,
                 first: Callable[[], None] | None = None, on_error: Callable[[], None] | None = None):
        self._write = write
        self._first = first
        self._on_error = on_error
        #: set once ``first`` has returned or raised (at once without ``first``)
        self.first_done = threading.Event()
        self.limit = limit
        self._items: deque = deque()  # (result, bytes) not yet taken by the thread
        self._bytes = 0  # of _items
        self._busy = False  # the thread is in write()
        self._closing = False
        self._error: BaseException | None = None
        self._reported = False
        self._cond = threading.Condition()
        #: most bytes that ever waited in the queue at once
        self.peak = 0
        #: times :meth:`put` had to wait for room
        self.waits = 0
        self._thread = threading.Thread(target=self._loop, name="hpcpet-writer", daemon=True)
        self._thread.start()

    @property
    def held(self) -> int:
        """Bytes of results waiting in the queue now."""
        return self._bytes

    def put(self, result: BatchResult) -> None:
        """Queue ``result``; wait while the queue is full. Raises the writer's error."""
        size = result_bytes(result)
        with self._cond:
            self._raise()
            if self._full(size):
                self.waits += 1
                while self._full(size) and self._error is None:
                    self._cond.wait()
                self._raise()
            self._items.append((result, size))
            self._bytes += size
            self.peak = max(self.peak, self._bytes)
            self._cond.notify_all()

    def call(self, fn: Callable[[], None]) -> None:
        """Have the thread call ``fn()`` after the results put so far and before later ones.

        ``fn`` counts as a write: its exception is the writer's error. It holds
        no bytes but counts as one of the :data:`MAX_BATCHES` items.
        """
        with self._cond:
            self._raise()
            self._items.append((fn, 0))
            self._cond.notify_all()

    def drain(self) -> None:
        """Wait until ``first`` has run and every result put is written. Raises the writer's error."""
        self.first_done.wait()
        with self._cond:
            while (self._items or self._busy) and self._error is None:
                self._cond.wait()
            self._raise()

    def close(self, last: Callable[[], None] | None = None) -> BaseException | None:
        """Write what is queued, stop the thread; return the writer's error if not raised yet.

        ``last``: called in the thread after everything queued, unless writing failed
        (the writer's close: so that one thread makes every write of the file).
        """
        with self._cond:
            if last is not None and self._error is None:
                self._items.append((last, 0))
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        if self._error is not None and not self._reported:
            self._reported = True
            return self._error
        return None

    def _full(self, size: int) -> bool:
        return bool(self._items) and (self._bytes + size > self.limit or len(self._items) >= MAX_BATCHES)

    def _raise(self) -> None:
        if self._error is not None and not self._reported:
            self._reported = True
            raise self._error

    def _loop(self) -> None:
        try:
            if self._first is not None:
                self._first()
        except BaseException as exc:  # handed to the dispatching thread
            self._fail(exc)
            return
        finally:
            self.first_done.set()
        while True:
            with self._cond:
                while not self._items and not self._closing:
                    self._cond.wait()
                if not self._items:
                    return
                result, size = self._items.popleft()
                self._bytes -= size
                self._busy = True
                self._cond.notify_all()
            try:
                if isinstance(result, BatchResult):
                    self._write(result)
                else:  # a function given to call()
                    result()
            except BaseException as exc:  # handed to the dispatching thread
                self._fail(exc)
                return
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def _fail(self, exc: BaseException) -> None:
        with self._cond:
            self._error = exc
            self._busy = False
            self._items.clear()
            self._bytes = 0
            self._cond.notify_all()
        if self._on_error is not None:
            self._on_error()

"""Progress output: a bar on a terminal, a plain line every few percent in a batch log."""
from __future__ import annotations

import os
import sys
import time
from typing import TextIO


def _fmt_seconds(s: float) -> str:
    if s != s or s == float("inf"):
        return "?"
    s = int(s)
    return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}"


def _terminal_columns(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 0


class Progress:
    """Reports runs done out of ``total``.

    Parameters
    ----------
    total : int
        Runs to do in this session.
    mode : str
        ``"auto"`` (bar on a TTY, log lines otherwise), ``"bar"``, ``"log"`` or ``"quiet"``.
    stream : file, optional
        Where to write (default stderr).
    every_percent : float
        In log mode, print a line each time this many percent more are done
        (and at least every ``every_seconds``), but lines at least
        ``min_seconds`` apart, so that a short job prints just its last line.
    """

    def __init__(self, total: int, mode: str = "auto", stream: TextIO | None = None,
                 every_percent: float = 5.0, every_seconds: float = 60.0, label: str = "runs",
                 min_seconds: float = 1.0):
        self.total, self.done, self.failed = total, 0, 0
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "bar" if self.stream.isatty() else "log"
        self.mode = mode
        self.every = max(1, int(total * every_percent / 100))
        self.every_seconds = every_seconds
        self.min_seconds = min(min_seconds, every_seconds)
        self.label = label
        self.t0 = time.monotonic()
        self._next = self.every
        self._last_line = self.t0
        self._printed = -1  # runs done at the last log line
        self._bar = None
        if mode == "bar":
            try:
                from tqdm import tqdm

                sized = _terminal_columns(self.stream) > 0  # a pty may report 0 columns
                self._bar = tqdm(total=total, unit=" runs", unit_scale=True, file=self.stream,
                                 smoothing=0.1, dynamic_ncols=sized, ncols=None if sized else 80,
                                 nrows=None if sized else 24)
            except ImportError:
                self.mode = "log"

    def update(self, done: int, failed: int = 0) -> None:
        """Count ``done`` more runs, ``failed`` of which raised."""
        self.done += done
        self.failed += failed
        if self._bar is not None:
            self._bar.update(done)
            if failed:
                self._bar.set_postfix(failed=self.failed, refresh=False)
        elif self.mode == "log":
            now = time.monotonic()
            since = now - self._last_line
            if (self.done >= self._next and since >= self.min_seconds) or since >= self.every_seconds:
                self._line(now)
                self._next = (self.done // self.every + 1) * self.every
                self._last_line = now

    def grow(self, more: int) -> None:
        """``more`` runs were added to the total (a new generation)."""
        self.total += more
        self.every = max(1, int(self.total * 5 / 100))
        if self._bar is not None:
            self._bar.total = self.total
            self._bar.refresh()

    def _line(self, now: float) -> None:
        elapsed = now - self.t0
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        pct = 100.0 * self.done / self.total if self.total else 100.0
        failed = f", {self.failed} failed" if self.failed else ""
        print(f"[hpcpet] {self.done}/{self.total} {self.label} ({pct:.0f}%{failed}) "
              f"{rate:,.{0 if rate >= 100 else 1}f} runs/s, elapsed {_fmt_seconds(elapsed)}, eta {_fmt_seconds(eta)}",
              file=self.stream, flush=True)
        self._printed = self.done

    def close(self) -> None:
        """Finish the bar or print a last line."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.mode == "log" and self.done != self._printed:
            self._line(time.monotonic())
        self.mode = "quiet"

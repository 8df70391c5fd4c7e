"""A progress bar for long backtests, on a terminal only.

One line on stderr, redrawn in place at most every ``interval_s`` of wall time::

    backtest [############--------]  61%  1,234,567/2,000,000 events
        sim 2026-12-03 14:27:19 UTC  84,210 ev/s               (one line on screen)

The total is the recordings' line count (a close upper bound of the events replayed). Wall
time only paces the redraws; nothing here reaches the backtest's results. Off (a no-op) when
the stream is not a terminal, so logs and pipes stay clean.

Runs in: the backtest's thread.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from typing import TextIO

__all__ = ["Progress"]

_WIDTH = 20


class Progress:
    """``update(done, sim_time)`` often (cheap), ``finish()`` once. ``enabled=None``: on when
    ``stream`` is a terminal."""

    def __init__(self, total: int, *, stream: TextIO | None = None, enabled: bool | None = None,
                 interval_s: float = 0.25) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.total = max(0, int(total))
        self.interval_s = interval_s
        self._t0 = time.monotonic()
        self._last = 0.0
        self._drawn = False

    def update(self, done: int, sim_time: float, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval_s:
            return
        self._last = now
        self.stream.write("\r" + self.line(done, sim_time, now - self._t0))
        self.stream.flush()
        self._drawn = True

    def finish(self, done: int, sim_time: float) -> None:
        if not self.enabled:
            return
        self.update(done, sim_time, force=True)
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()

    def line(self, done: int, sim_time: float, elapsed_s: float) -> str:
        """The bar's text (no carriage return)."""
        frac = min(1.0, done / self.total) if self.total else 1.0
        filled = round(frac * _WIDTH)
        bar = "#" * filled + "-" * (_WIDTH - filled)
        sim = dt.datetime.fromtimestamp(sim_time, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        rate = done / elapsed_s if elapsed_s > 0 else 0.0
        return (f"backtest [{bar}] {frac * 100:3.0f}%  {done:,}/{self.total:,} events  "
                f"sim {sim}  {rate:,.0f} ev/s")

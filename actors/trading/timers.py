"""Component timers: ``ctx.call_later(delay_s, fn)`` and ``ctx.every(interval_s, fn)``.

Callbacks never run in the timer thread: at the deadline the timer *posts* the callback to the
component's inbox, so it runs in the component's own thread, in order with its events, never
at the same time as a handler. Repeating timers are fixed-rate: deadlines are
``start + k * interval`` whatever the callback costs (a 50 ms callback does not stretch a
100 ms period). A tick whose previous callback has not run yet (the component is busy), or
whose deadline already passed when the timer thread got to it, is skipped and counted in
``missed`` instead of bursting. ``cancel_all()`` runs before ``on_stop``.

The clock is the hub's (:mod:`.clock`): live it is the wall clock, in a backtest the replay's.

Runs in: ``call_later``/``every``/``cancel`` in any thread (the component's, usually); the
scheduling in the clock's thread; ``fn`` in the component's thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from .clock import Clock

__all__ = ["ComponentTimers", "Timer"]

log = logging.getLogger(__name__)


class Timer:
    """One scheduled callback (``every`` or ``call_later``). ``cancel()`` is idempotent."""

    def __init__(self, owner: ComponentTimers, fn: Callable[[], object], interval: float | None
                 ) -> None:
        self._owner = owner
        self.fn = fn
        self.interval = interval
        self.fired = 0  # callbacks run
        self.missed = 0  # ticks skipped (component busy, or the deadline had passed)
        self.cancelled = False
        self._pending = False  # a callback is posted and has not run yet
        self._handle: Any = None
        self._start = 0.0
        self._k = 0

    @property
    def active(self) -> bool:
        return not self.cancelled and (self.interval is not None or not self.fired)

    def cancel(self) -> None:
        self.cancelled = True
        handle = self._handle
        if handle is not None:
            handle.cancel()
        self._owner._forget(self)

    def __repr__(self) -> str:
        kind = f"every {self.interval:g}s" if self.interval is not None else "once"
        flags = " cancelled" if self.cancelled else ""
        return f"<Timer {kind} fired={self.fired} missed={self.missed}{flags}>"


class ComponentTimers:
    """The timers of one component: ``post(fn)`` runs ``fn`` in the component's thread."""

    def __init__(self, clock: Clock, post: Callable[[Callable[[], None]], object]) -> None:
        self.clock = clock
        self._post = post
        self._lock = threading.Lock()
        self._timers: set[Timer] = set()
        self._closed = False

    def call_later(self, delay_s: float, fn: Callable[[], object]) -> Timer:
        """Run ``fn()`` once, ``delay_s`` seconds from now, in the component's thread."""
        _check(delay_s, fn, "delay_s", allow_zero=True)
        timer = Timer(self, fn, None)
        self._add(timer)
        timer._handle = self.clock.call_later(float(delay_s), lambda: self._due(timer))
        return timer

    def every(self, interval_s: float, fn: Callable[[], object]) -> Timer:
        """Run ``fn()`` every ``interval_s`` seconds (fixed rate; the first after one interval)."""
        _check(interval_s, fn, "interval_s", allow_zero=False)
        timer = Timer(self, fn, float(interval_s))
        self._add(timer)
        timer._start = self.clock.monotonic()
        self._schedule_next(timer)
        return timer

    def cancel_all(self) -> int:
        """Cancel every timer (before ``on_stop``); later ones are refused. Returns how many."""
        with self._lock:
            self._closed = True
            timers = list(self._timers)
        for t in timers:
            t.cancel()
        return len(timers)

    @property
    def timers(self) -> list[Timer]:
        with self._lock:
            return list(self._timers)

    # -- internals ---------------------------------------------------------------------------

    def _add(self, timer: Timer) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the component is stopping: no new timers")
            self._timers.add(timer)

    def _forget(self, timer: Timer) -> None:
        with self._lock:
            self._timers.discard(timer)

    def _schedule_next(self, timer: Timer) -> None:
        """The next deadline start + k*interval after now; deadlines already past count as
        missed (the clock's thread was late: never a burst to catch up)."""
        assert timer.interval is not None
        now = self.clock.monotonic()
        timer._k += 1
        due = timer._start + timer._k * timer.interval
        if due < now:
            late = int((now - due) // timer.interval) + 1
            timer.missed += late
            timer._k += late
            due = timer._start + timer._k * timer.interval
        timer._handle = self.clock.call_later(due - now, lambda: self._due(timer))

    def _due(self, timer: Timer) -> None:
        """A deadline came. Runs in: the clock's thread."""
        if timer.cancelled:
            return
        if timer._pending:
            timer.missed += 1  # the last callback has not run yet: skip, do not queue up
        else:
            timer._pending = True
            try:
                self._post(lambda: self._run(timer))
            except Exception as exc:  # the component is gone
                log.debug("timer not posted: %s", exc)
                timer.cancelled = True
                self._forget(timer)
                return
        if timer.interval is not None:
            self._schedule_next(timer)

    def _run(self, timer: Timer) -> None:
        """Runs in: the component's thread."""
        timer._pending = False
        if timer.cancelled:
            return
        timer.fired += 1
        if timer.interval is None:
            self._forget(timer)
        timer.fn()


def _check(seconds: float, fn: object, name: str, *, allow_zero: bool) -> None:
    if not callable(fn):
        raise TypeError(f"fn must be callable, not {type(fn).__name__}")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise TypeError(f"{name} must be a number of seconds, not {seconds!r}")
    if seconds < 0 or (seconds == 0 and not allow_zero) or seconds != seconds:
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, not {seconds!r}")

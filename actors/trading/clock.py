"""The hub's clock: what ``ctx.now()`` reads and what component timers run on.

Live, :class:`LiveClock` reads the wall clock and schedules on the hub's timer thread. A
backtest replaces it with :class:`SimClock`, whose time moves only when the replay says so:
``advance_to(t)`` runs every call due at or before ``t`` in deadline order (ties in the order
they were scheduled), each seeing ``time()`` equal to its own deadline, so a timer due at T
fires before the first event after T, and the same inputs always give the same order.

Runs in: ``time``/``monotonic``/``call_later`` in any thread. LiveClock callbacks run in the
hub's timer thread (they should only post work elsewhere); SimClock callbacks run in the thread
that calls ``advance_to``.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["Cancellable", "Clock", "LiveClock", "SimClock"]


class Cancellable(Protocol):
    """A scheduled call; ``cancel()`` stops it if it has not run yet."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """``time()`` in Unix seconds, ``monotonic()`` for deadlines, ``call_later`` to schedule."""

    def time(self) -> float: ...

    def monotonic(self) -> float: ...

    def call_later(self, delay: float, fn: Callable[[], object]) -> Cancellable: ...


class LiveClock:
    """Wall time; calls scheduled on a :class:`~upbit_hub.actors.timers.TimerService`."""

    def __init__(self, call_later: Callable[[float, Callable[[], object]], Cancellable]) -> None:
        self._call_later = call_later

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def call_later(self, delay: float, fn: Callable[[], object]) -> Cancellable:
        return self._call_later(delay, fn)


class _SimHandle:
    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class SimClock:
    """Simulated time starting at ``start`` (Unix seconds). See the module docstring."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._heap: list[tuple[float, int, _SimHandle, Callable[[], object]]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()

    def time(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now

    def call_later(self, delay: float, fn: Callable[[], object]) -> Cancellable:
        handle = _SimHandle()
        with self._lock:
            heapq.heappush(self._heap, (self._now + max(0.0, delay), next(self._seq), handle, fn))
        return handle

    def next_due(self) -> float | None:
        """The earliest pending deadline (cancelled calls skipped), or None."""
        with self._lock:
            while self._heap and self._heap[0][2].cancelled:
                heapq.heappop(self._heap)
            return self._heap[0][0] if self._heap else None

    def advance_to(self, t: float) -> int:
        """Run every call due at or before ``t`` (also those they schedule), then set the time
        to ``t`` (never backwards). Returns how many calls ran. Runs in: the caller's thread."""
        ran = 0
        while True:
            with self._lock:
                if not self._heap or self._heap[0][0] > t:
                    break
                due, _, handle, fn = heapq.heappop(self._heap)
                if handle.cancelled:
                    continue
                self._now = max(self._now, due)
            fn()
            ran += 1
        self._now = max(self._now, t)
        return ran

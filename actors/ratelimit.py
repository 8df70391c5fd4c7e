"""Sliding-window rate limiters: per-connection message budgets and the process-wide
connect budget.

Upbit allows 5 messages/s and 100 messages/min per connection and 5 connects/s per IP (or per
account for authenticated connects). The hub stays under those with margins taken from the
settings (default 4/s, 90/min, 4 connects/s).

Runs in: any thread; every method takes an internal lock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence


class RateLimiter:
    """Several sliding windows at once, e.g. ``[(4, 1.0), (90, 60.0)]``.

    ``delay()`` says how long to wait before the next event is allowed; ``record()`` books one.
    ``acquire()`` blocks (interruptibly) until allowed and books it.
    """

    def __init__(
        self,
        windows: Sequence[tuple[float, float]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not windows:
            raise ValueError("at least one (count, seconds) window is needed")
        self._windows = [(max(1, int(count)), float(seconds)) for count, seconds in windows]
        self._clock = clock
        self._stamps: deque[float] = deque()
        self._horizon = max(seconds for _, seconds in self._windows)
        self._lock = threading.Lock()

    def _trim(self, now: float) -> None:
        while self._stamps and now - self._stamps[0] >= self._horizon:
            self._stamps.popleft()

    def delay(self) -> float:
        """Seconds until one more event fits every window (0.0 when it fits now)."""
        with self._lock:
            return self._delay_locked(self._clock())

    def _delay_locked(self, now: float) -> float:
        self._trim(now)
        wait = 0.0
        n = len(self._stamps)
        for count, seconds in self._windows:
            if n >= count:
                # the event that must leave the window is the count-th most recent one
                oldest_in_window = self._stamps[n - count]
                wait = max(wait, oldest_in_window + seconds - now)
        return max(0.0, wait)

    def record(self) -> None:
        """Book one event now."""
        with self._lock:
            now = self._clock()
            self._trim(now)
            self._stamps.append(now)

    def try_acquire(self) -> bool:
        """Book one event if it fits now; return whether it did."""
        with self._lock:
            now = self._clock()
            if self._delay_locked(now) > 0:
                return False
            self._stamps.append(now)
            return True

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Block until an event fits, then book it. Returns False if ``stop`` was set first."""
        while True:
            with self._lock:
                now = self._clock()
                wait = self._delay_locked(now)
                if wait <= 0:
                    self._stamps.append(now)
                    return True
            if stop is not None:
                if stop.wait(wait):
                    return False
            else:
                time.sleep(wait)

    def count_within(self, seconds: float) -> int:
        """Events booked in the last ``seconds`` (for status and tests)."""
        with self._lock:
            now = self._clock()
            return sum(1 for s in self._stamps if now - s < seconds)


def paced_limiter(
    per_second: float, clock: Callable[[], float] = time.monotonic
) -> RateLimiter:
    """At most ``per_second`` events per sliding second, and two events at least
    ``1/per_second`` apart (no bursts)."""
    return RateLimiter([(per_second, 1.0), (1, 1.0 / per_second)], clock=clock)


_connect_lock = threading.Lock()
_connect_limiters: dict[str, RateLimiter] = {}


def process_connect_limiter(per_second: float = 4.0, scope: str = "ip") -> RateLimiter:
    """The connect limiter of ``scope``, shared by every connection of this process.

    Upbit counts unauthenticated connects per IP and connects carrying a JWT per account
    (protocol.md 7.1), so the public endpoint uses scope ``"ip"`` and the private one
    ``"account"``. The first caller's rate wins; later calls return the same limiter.

    Connects are paced, not only counted: besides ``per_second`` per sliding second, two
    connects are at least ``1/per_second`` apart. A plain sliding window lets a retry loop
    spend the whole second's budget in its first 0.3 s and then sit out the rest of the
    second; after a refused upgrade that left the hub down up to ~0.75 s after the server
    was back. Paced, the wait after the server recovers is at most one pace step.
    """
    with _connect_lock:
        limiter = _connect_limiters.get(scope)
        if limiter is None:
            limiter = _connect_limiters[scope] = paced_limiter(per_second)
        return limiter

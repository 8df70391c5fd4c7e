"""Upbit's rate limits as the emulator enforces them (protocol.md 7).

Pure bookkeeping: every method takes ``now`` (monotonic seconds) so tests drive time by hand.
Runs in: the emulator loop thread (the objects are not locked).

Choices (Upbit documents the limits, not the exact windows):

- Windows are **sliding** (the last 1 s / 60 s), stricter than per-clock-second buckets, so a
  client that passes here passes on Upbit.
- WebSocket connects: 5/s per client IP (``websocket-connect``); over -> HTTP 429 on the
  upgrade.
- WebSocket messages: 5/s and 100/min per connection. Excess -> ``Too Many Requests`` error
  frame and close; a second offence from the same IP within 60 s -> ``I'm a teapot`` and that IP's
  upgrades are refused (HTTP 418) for ``teapot_seconds``.
- REST: 10/s per IP for the quotation groups, 30/s (``default``) and 8/s (``order``) per
  access key. Over -> 429 ``Too many API requests.``; another request of that group and scope
  while the window is still full -> 418, blocked for ``block_seconds``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

__all__ = [
    "QUOTATION_GROUPS",
    "REST_GROUP_LIMITS",
    "OffenceTracker",
    "RestDecision",
    "RestLimiter",
    "SlidingWindow",
    "WindowedCounter",
]

#: requests per second of each REST group (header names as the live service spells them)
REST_GROUP_LIMITS: dict[str, int] = {
    "market": 10,
    "ticker": 10,
    "orderbook": 10,
    "candles": 10,
    "crix-trades": 10,
    "default": 30,
    "order": 8,
}
#: groups limited per IP; the others are limited per account (access key)
QUOTATION_GROUPS: frozenset[str] = frozenset({"market", "ticker", "orderbook", "candles",
                                              "crix-trades"})


class SlidingWindow:
    """At most ``limit`` events in any ``period`` seconds."""

    def __init__(self, limit: int, period: float = 1.0) -> None:
        self.limit = limit
        self.period = period
        self._times: deque[float] = deque()

    def _expire(self, now: float) -> None:
        times = self._times
        while times and times[0] <= now - self.period:
            times.popleft()

    def remaining(self, now: float) -> int:
        """Events still allowed right now."""
        self._expire(now)
        return max(0, self.limit - len(self._times))

    def hit(self, now: float) -> bool:
        """Record an event if allowed; return whether it was."""
        self._expire(now)
        if len(self._times) >= self.limit:
            return False
        self._times.append(now)
        return True


class WindowedCounter:
    """Several sliding windows that must all allow an event (e.g. 5/s and 100/min)."""

    def __init__(self, *limits: tuple[int, float]) -> None:
        self._windows = [SlidingWindow(n, p) for n, p in limits]

    def hit(self, now: float) -> bool:
        """Record the event in every window when all allow it; return whether they did."""
        if any(w.remaining(now) <= 0 for w in self._windows):
            return False
        for w in self._windows:
            w.hit(now)
        return True

    def remaining(self, now: float) -> int:
        """Events allowed right now (the tightest window)."""
        return min(w.remaining(now) for w in self._windows)


class OffenceTracker:
    """Remembers rate-limit offences per key (an IP) and blocks repeat offenders."""

    def __init__(self, repeat_window: float = 60.0, block_seconds: float = 60.0) -> None:
        self.repeat_window = repeat_window
        self.block_seconds = block_seconds
        self._last: dict[str, float] = {}
        self._blocked_until: dict[str, float] = {}

    def offend(self, key: str, now: float) -> bool:
        """Record an offence; True when it repeats one within the window (key now blocked)."""
        last = self._last.get(key)
        self._last[key] = now
        if last is not None and now - last < self.repeat_window:
            self._blocked_until[key] = now + self.block_seconds
            return True
        return False

    def blocked_for(self, key: str, now: float) -> float:
        """Seconds ``key`` stays blocked (0 when not blocked)."""
        return max(0.0, self._blocked_until.get(key, 0.0) - now)


@dataclass(frozen=True)
class RestDecision:
    """Outcome of one REST request against its group's limit.

    ``status`` is 200 (go ahead), 429 (over the limit) or 418 (blocked); ``remaining`` is the
    ``sec=`` value of ``Remaining-Req``; ``blocked_for`` is seconds left of a 418 block.
    """

    status: int
    group: str
    per_minute: int
    remaining: int
    blocked_for: float = 0.0

    @property
    def header(self) -> str:
        """The ``Remaining-Req`` header value, e.g. ``group=ticker; min=600; sec=9``."""
        return f"group={self.group}; min={self.per_minute}; sec={self.remaining}"


class RestLimiter:
    """Per-group, per-scope REST limits with 429 then 418 escalation."""

    def __init__(
        self, limits: dict[str, int] | None = None, *, block_seconds: float = 10.0
    ) -> None:
        self.limits = dict(REST_GROUP_LIMITS if limits is None else limits)
        self.block_seconds = block_seconds
        self._windows: dict[tuple[str, str], SlidingWindow] = {}
        self._throttled: set[tuple[str, str]] = set()
        self._blocked_until: dict[tuple[str, str], float] = {}

    def check(self, group: str, scope: str, now: float) -> RestDecision:
        """Count one request of ``group`` from ``scope`` (an IP or an access key)."""
        limit = self.limits.get(group, 10)
        key = (group, scope)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = SlidingWindow(limit, 1.0)
        per_minute = limit * 60
        until = self._blocked_until.get(key, 0.0)
        if until > now:
            return RestDecision(418, group, per_minute, 0, until - now)
        if window.hit(now):
            self._throttled.discard(key)
            return RestDecision(200, group, per_minute, window.remaining(now))
        if key in self._throttled:  # kept going after a 429
            self._blocked_until[key] = now + self.block_seconds
            self._throttled.discard(key)
            return RestDecision(418, group, per_minute, 0, self.block_seconds)
        self._throttled.add(key)
        return RestDecision(429, group, per_minute, 0)

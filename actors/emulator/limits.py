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
- REST (``trading_rules.REST_GROUP_LIMITS``): 10/s per IP for the quotation groups; per access
  key 30/s (``default``), 12/s (``order``), 8/s (``order-test``) and 1 per 2 s
  (``order-cancel-all``). Over -> 429 ``Too many API requests.``; another request of that group
  and scope while the window is still full -> 418, blocked for ``block_seconds``; each further
  block of that group and scope doubles (up to ``max_block_seconds``) until the scope has stayed
  clean for ``offence_memory_s`` after its last block ended.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from upbit_hub.actors.protocol.trading_rules import QUOTATION_GROUPS as _RULES_QUOTATION_GROUPS
from upbit_hub.actors.protocol.trading_rules import REST_GROUP_LIMITS as _RULES_LIMITS

__all__ = [
    "QUOTATION_GROUPS",
    "REST_GROUP_LIMITS",
    "LimitSpec",
    "OffenceTracker",
    "RestDecision",
    "RestLimiter",
    "SlidingWindow",
    "WindowedCounter",
    "normalise_limits",
]

#: (requests, window seconds) of each REST group, header names as the live service spells them
REST_GROUP_LIMITS: dict[str, tuple[int, float]] = dict(_RULES_LIMITS)
#: groups limited per IP; the others are limited per account (access key)
QUOTATION_GROUPS: frozenset[str] = _RULES_QUOTATION_GROUPS

#: a limit as configured: requests per second, or (requests, window seconds)
LimitSpec = int | tuple[int, float]


def normalise_limits(limits: Mapping[str, LimitSpec] | None) -> dict[str, tuple[int, float]]:
    """Upbit's limits with ``limits`` laid over them; a bare int means "per 1 s".

    >>> normalise_limits({"order": 8})["order"], normalise_limits(None)["order-cancel-all"]
    ((8, 1.0), (1, 2.0))
    """
    out = dict(REST_GROUP_LIMITS)
    for group, spec in (limits or {}).items():
        if isinstance(spec, int):
            n, period = spec, 1.0
        else:
            n, period = int(spec[0]), float(spec[1])
        if n < 1 or period <= 0:
            raise ValueError(f"rest limit of {group!r} must be >= 1 request per > 0 s, "
                             f"e.g. 12 or (1, 2.0); got {spec!r}")
        out[group] = (n, period)
    return out


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
    """Per-group, per-scope REST limits with 429 then 418 escalation and a growing ban.

    ``limits``: group -> requests per second or (requests, window seconds), laid over Upbit's.
    """

    def __init__(
        self,
        limits: Mapping[str, LimitSpec] | None = None,
        *,
        block_seconds: float = 10.0,
        max_block_seconds: float = 600.0,
        offence_memory_s: float = 600.0,
    ) -> None:
        self.limits: dict[str, tuple[int, float]] = normalise_limits(limits)
        self.block_seconds = block_seconds
        self.max_block_seconds = max(max_block_seconds, block_seconds)
        self.offence_memory_s = offence_memory_s
        self._windows: dict[tuple[str, str], SlidingWindow] = {}
        self._throttled: set[tuple[str, str]] = set()
        self._blocked_until: dict[tuple[str, str], float] = {}
        self._blocks: dict[tuple[str, str], int] = {}  # blocks in a row (for the doubling)

    def limit(self, group: str) -> tuple[int, float]:
        """(requests, window seconds) of ``group`` (10 per second for an unknown group)."""
        return self.limits.get(group, (10, 1.0))

    def per_minute(self, group: str) -> int:
        """The ``min=`` value of ``Remaining-Req`` (constant: requests per 60 s)."""
        n, period = self.limit(group)
        return int(n * 60 / period)

    def _block(self, key: tuple[str, str], now: float) -> float:
        last_end = self._blocked_until.get(key)
        repeat = last_end is not None and now - last_end < self.offence_memory_s
        count = self._blocks.get(key, 0) + 1 if repeat else 1
        self._blocks[key] = count
        seconds = min(self.block_seconds * 2 ** (count - 1), self.max_block_seconds)
        self._blocked_until[key] = now + seconds
        return seconds

    def check(self, group: str, scope: str, now: float) -> RestDecision:
        """Count one request of ``group`` from ``scope`` (an IP or an access key)."""
        limit, period = self.limit(group)
        key = (group, scope)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = SlidingWindow(limit, period)
        per_minute = self.per_minute(group)
        until = self._blocked_until.get(key, 0.0)
        if until > now:
            return RestDecision(418, group, per_minute, 0, until - now)
        if window.hit(now):
            self._throttled.discard(key)
            return RestDecision(200, group, per_minute, window.remaining(now))
        if key in self._throttled:  # kept going after a 429
            self._throttled.discard(key)
            seconds = self._block(key, now)
            return RestDecision(418, group, per_minute, 0, seconds)
        self._throttled.add(key)
        return RestDecision(429, group, per_minute, 0)

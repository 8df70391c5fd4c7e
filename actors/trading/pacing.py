"""Per rate-limit-group pacing of REST calls: never more than Upbit allows, as Upbit sees it.

Upbit counts exchange calls per group and pocket (protocol.md 7.2): ``order`` 12/s,
``default`` 30/s, ``order-test`` 8/s, ``order-cancel-all`` 1 per 2 s. Over the limit it answers
429; continuing gets 418 and a ban. A :class:`GroupPacer` says, per group, how long to wait
before the next call may be sent:

- calls are spaced at least ``period/limit`` apart (no bursts), and at most ``limit`` are sent
  in any ``period + margin_s``: calls sent evenly can still arrive bunched (network jitter),
  and the margin keeps Upbit's sliding window within the limit even then, at ~95 % of it;
- ``Remaining-Req: group=order; min=720; sec=0`` (no calls left this second) holds the group
  until the window rolls, unless the pacer's own calls already explain it;
- 429 pauses the group, 1 s at first, doubling on repeats until a clean second passed;
- 418 halts every group for the ban the body names (``Blocked for 10 seconds``), else 60 s
  (doubled for each repeat with no duration given).

::

    >>> clock = iter([0.0, 0.0, 0.0]).__next__
    >>> pacer = GroupPacer({"order": (12, 1.0)}, clock=clock)
    >>> pacer.delay("order"); pacer.record("order"); round(pacer.delay("order"), 4)
    0.0
    0.0833

The caller sends a call when ``delay(group) <= 0``, then calls ``record(group)`` and, with the
answer, ``on_response(group, status, remaining, body)``. Deterministic with an injected clock.

Runs in: the order actor's thread (no locks inside; pure except for reading the clock).
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from upbit_hub.actors.protocol.trading_rules import REST_GROUP_LIMITS

if TYPE_CHECKING:
    from upbit_hub.config.settings import TradingSettings

__all__ = ["DEFAULT_BAN_S", "PACED_GROUPS", "GroupPacer", "ban_seconds", "limits_from_settings"]

#: The exchange groups the order actor paces.
PACED_GROUPS: Final = ("order", "default", "order-cancel-all", "order-test")
#: A 418 whose body names no duration halts for this long (doubling on repeats).
DEFAULT_BAN_S: Final = 60.0
_FIRST_PAUSE_S: Final = 1.0
_MAX_PAUSE_S: Final = 60.0
_MAX_BAN_S: Final = 3600.0
_REPEAT_BAN_S: Final = 600.0  # a 418 this soon after the last ban ended counts as a repeat
_EPS: Final = 1e-9  # float noise: a wait this small is no wait
_BAN = re.compile(
    r"(\d+(?:\.\d+)?)\s*(seconds?|secs?|s|초|minutes?|mins?|분)(?![a-z])", re.IGNORECASE
)


def ban_seconds(body: str) -> float | None:
    """The ban duration a 418 body names: ``"Blocked for 10 seconds"`` -> 10.0, ``"5 min"``
    -> 300.0, ``"차단 30초"`` -> 30.0; None when it names none. Runs in: any thread."""
    m = _BAN.search(body or "")
    if m is None:
        return None
    value = float(m.group(1))
    return value * 60.0 if m.group(2).lower().startswith(("m", "분")) else value


def _rate(per_s: float, group: str) -> tuple[int, float]:
    """A calls-per-second setting as (calls, period), never above Upbit's limit."""
    up_n, up_period = REST_GROUP_LIMITS[group]
    if per_s >= 1:
        n, period = int(per_s), 1.0
    else:
        n, period = 1, 1.0 / per_s
    return (n, period) if n / period <= up_n / up_period else (up_n, up_period)


def limits_from_settings(s: TradingSettings | None = None) -> dict[str, tuple[int, float]]:
    """The paced groups' (calls, period): ``order`` from ``order_rate_per_s`` (12),
    ``default`` from ``default_rate_per_s`` (25), ``order-cancel-all`` 1 per 2 s,
    ``order-test`` 8/s; a setting above Upbit's limit is held to the limit.

    >>> limits_from_settings()["order"], limits_from_settings()["order-cancel-all"]
    ((12, 1.0), (1, 2.0))

    Runs in: any thread.
    """
    order = 12.0 if s is None else s.order_rate_per_s
    default = 25.0 if s is None else s.default_rate_per_s
    return {
        "order": _rate(order, "order"),
        "default": _rate(default, "default"),
        "order-cancel-all": REST_GROUP_LIMITS["order-cancel-all"],
        "order-test": REST_GROUP_LIMITS["order-test"],
    }


@dataclass(slots=True)
class _Group:
    limit: int
    period: float
    sent: deque[float] = field(default_factory=deque)
    paused_until: float = 0.0
    pause_s: float = 0.0  # the last 429 pause (0: none since the last clean second)
    held_until: float = 0.0  # Remaining-Req sec=0
    remaining: int | None = None
    n429: int = 0
    n418: int = 0


class GroupPacer:
    """Pacing for several rate-limit groups: ``limits`` maps group -> (calls, period s),
    e.g. :func:`limits_from_settings`. ``margin_s``: the extra time the sliding window spans
    so that calls arriving bunched by up to that much still fit Upbit's window.
    """

    def __init__(
        self,
        limits: Mapping[str, tuple[int, float]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        margin_s: float = 0.05,
    ) -> None:
        limits = limits_from_settings() if limits is None else limits
        if not limits:
            raise ValueError("at least one group is needed, e.g. {'order': (12, 1.0)}")
        self._groups: dict[str, _Group] = {}
        for name, (n, period) in limits.items():
            if int(n) < 1 or not period > 0:
                raise ValueError(f"group {name!r}: need calls >= 1 and period > 0, got {n}, "
                                 f"{period}")  # fmt: skip
            self._groups[name] = _Group(int(n), float(period))
        if not margin_s >= 0:
            raise ValueError(f"margin_s must be >= 0, got {margin_s}")
        self.margin_s = float(margin_s)
        self._clock = clock
        self._halted_until = 0.0
        self._ban_s = 0.0  # the last 418 ban (doubles when a body names no duration)
        self._last_ban_body = ""

    def _group(self, group: str) -> _Group:
        g = self._groups.get(group)
        if g is None:
            raise ValueError(f"unknown rate-limit group {group!r}; one of {sorted(self._groups)}")
        return g

    def _window(self, g: _Group) -> float:
        return g.period + self.margin_s

    def _trim(self, g: _Group, now: float) -> None:
        horizon = max(self._window(g), 1.0)  # status() reports the last second
        while g.sent and now - g.sent[0] >= horizon:
            g.sent.popleft()

    # -- asking ----------------------------------------------------------------------------

    def delay(self, group: str) -> float:
        """Seconds until one more call of ``group`` may be sent: 0.0 now, ``math.inf`` while
        a 418 ban halts every group (:meth:`status` says until when). Runs in: the order
        actor's thread."""
        g, now = self._group(group), self._clock()
        if now < self._halted_until:
            return math.inf
        self._trim(g, now)
        wait = max(g.paused_until, g.held_until) - now
        if g.sent:
            wait = max(wait, g.sent[-1] + g.period / g.limit - now)
            if len(g.sent) >= g.limit:
                wait = max(wait, g.sent[-g.limit] + self._window(g) - now)
        return wait if wait > _EPS else 0.0

    def halted_for(self) -> float:
        """Seconds left of a 418 ban (0.0 when none). Runs in: the order actor's thread."""
        return max(0.0, self._halted_until - self._clock())

    # -- booking ---------------------------------------------------------------------------

    def record(self, group: str) -> None:
        """One call of ``group`` was sent now. Runs in: the order actor's thread."""
        g, now = self._group(group), self._clock()
        self._trim(g, now)
        g.sent.append(now)

    def on_response(self, group: str, status: int, remaining: int | None, body: str = "") -> None:
        """Learn from an answer: ``status`` (HTTP; 0 for none), ``remaining`` (the ``sec=``
        of ``Remaining-Req``; None when absent) and, for a 418, its body.

        Runs in: the order actor's thread.
        """
        g, now = self._group(group), self._clock()
        g.remaining = remaining
        if status == 418:
            g.n418 += 1
            self._last_ban_body = (body or "")[:200]
            named = ban_seconds(body)
            if named is None and now < self._halted_until:
                return  # a call sent before the ban: the ban already covers it
            if named is None:  # banned again soon after the last ban: twice as long
                repeat = self._ban_s > 0 and now < self._halted_until + _REPEAT_BAN_S
                named = min(self._ban_s * 2, _MAX_BAN_S) if repeat else DEFAULT_BAN_S
            self._ban_s = max(named, 0.0)
            self._halted_until = max(self._halted_until, now + named)
            return
        if status == 429:
            g.n429 += 1
            if now >= g.paused_until:  # 429s of calls sent before the pause do not escalate
                clean = now >= g.paused_until + 1.0
                g.pause_s = _FIRST_PAUSE_S if clean or not g.pause_s else min(
                    g.pause_s * 2, _MAX_PAUSE_S)  # fmt: skip
                g.paused_until = now + g.pause_s
            return  # the pause covers it; a 429's sec=0 says nothing more
        if remaining is not None and remaining <= 0:
            self._trim(g, now)
            if len(g.sent) < g.limit:  # someone else (another key of the pocket) used it up
                g.held_until = max(g.held_until, now + g.period)

    # -- reporting -------------------------------------------------------------------------

    def status(self) -> dict[str, dict[str, Any]]:
        """Per group: ``limit``, ``period_s``, ``sent_last_s`` (calls sent in the last second),
        ``paused_until`` (429), ``held_until`` (``sec=0``), ``halted_until`` (418; clock values,
        None when not), ``remaining`` (the last ``sec=``), ``n429`` and ``n418`` (counts), and
        ``last_ban`` (the start of the last 418 body). Runs in: the order actor's thread.
        """
        now = self._clock()
        halted = self._halted_until if now < self._halted_until else None
        out: dict[str, dict[str, Any]] = {}
        for name, g in self._groups.items():
            self._trim(g, now)
            out[name] = {
                "limit": g.limit,
                "period_s": g.period,
                "sent_last_s": sum(1 for t in g.sent if now - t < 1.0),
                "paused_until": g.paused_until if now < g.paused_until else None,
                "held_until": g.held_until if now < g.held_until else None,
                "halted_until": halted,
                "remaining": g.remaining,
                "n429": g.n429,
                "n418": g.n418,
                "last_ban": self._last_ban_body,
            }
        return out

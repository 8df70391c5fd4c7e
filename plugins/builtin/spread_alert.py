"""``spread-alert``: warn when a market's best-ask/best-bid spread gets too wide.

Config (``[components.params]``)::

    [[components]]
    plugin = "spread-alert"
    id = "spreads"
    [components.params]
    symbols = ["KRW-BTC", "KRW-ETH"]
    max_spread_bps = 15.0      # alert above this (basis points of the mid price)
    clear_spread_bps = 10.0    # back to normal only below this (default 80 % of max)
    cooldown_s = 30.0          # at most one warning per market per this many seconds

Hysteresis: a market enters the alert state when its spread goes above ``max_spread_bps``
(one WARNING through ``ctx.logger``) and leaves it only when the spread falls below
``clear_spread_bps`` (one INFO line), so a spread hovering around the threshold logs once,
not on every book. A market that keeps flapping across both levels still warns at most once
per ``cooldown_s``; the next warning says how many alerts were not logged meanwhile. Counters
per market: books seen, alerts (every entry into the alert state), warnings logged, widest
spread seen.

Spread in basis points: ``(ask - bid) / ((ask + bid) / 2) * 10_000``; e.g. ask 100,010,000 and
bid 100,000,000 give about 1.0 bps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

import msgspec

from upbit_hub.actors.protocol.events import OrderbookEvent
from upbit_hub.plugins.sdk import Component, Context

__all__ = ["MarketSpread", "SpreadAlert", "SpreadAlertConfig", "spread_bps"]

MarketCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2,6}-[A-Z0-9]{1,20}$")]


class SpreadAlertConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[components.params]`` of spread-alert."""

    symbols: Annotated[list[MarketCode], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: ["KRW-BTC", "KRW-ETH"]
    )
    max_spread_bps: Annotated[float, msgspec.Meta(gt=0.0, le=10_000.0)] = 15.0
    clear_spread_bps: Annotated[float, msgspec.Meta(ge=0.0, le=10_000.0)] | None = None
    cooldown_s: Annotated[float, msgspec.Meta(ge=0.0, le=86_400.0)] = 30.0

    def __post_init__(self) -> None:
        if self.clear_spread_bps is not None and self.clear_spread_bps > self.max_spread_bps:
            raise ValueError(
                f"clear_spread_bps ({self.clear_spread_bps}) must not exceed max_spread_bps "
                f"({self.max_spread_bps})"
            )

    @property
    def clear_bps(self) -> float:
        """The level below which an alert clears. Runs in: any thread."""
        return self.max_spread_bps * 0.8 if self.clear_spread_bps is None else self.clear_spread_bps


@dataclass(slots=True)
class MarketSpread:
    """Counters of one market (component thread writes, anyone reads)."""

    books: int = 0
    alerts: int = 0
    warnings: int = 0
    suppressed: int = 0
    alerting: bool = False
    warned: bool = False
    last_warning: float | None = None
    last_bps: float | None = None
    widest_bps: float = 0.0


def spread_bps(ev: OrderbookEvent) -> float | None:
    """The best-level spread of ``ev`` in basis points of the mid, or None when one side is
    empty (no units, or a zero price). Runs in: any thread."""
    units = ev.orderbook_units
    if not units:
        return None
    ask, bid = units[0].ask_price, units[0].bid_price
    if not ask or not bid or ask <= 0 or bid <= 0:
        return None
    mid = (ask + bid) / 2
    return float((ask - bid) / mid * Decimal(10_000))


class SpreadAlert(Component):
    """Logs a warning when a spread widens past the limit; see the module docstring."""

    name = "spread-alert"
    Config = SpreadAlertConfig

    def __init__(
        self, config: SpreadAlertConfig, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(config)
        self.markets: dict[str, MarketSpread] = {}
        self.logger: Any = None
        self._clock = clock

    def on_start(self, ctx: Context) -> None:
        """Subscribe to the best level of each market's order book."""
        self.logger = ctx.logger
        ctx.subscribe_orderbook(self.config.symbols, depth=1)

    def on_orderbook(self, ev: OrderbookEvent) -> None:
        """Update the market's counters; log on entering and on leaving the alert state."""
        bps = spread_bps(ev)
        if bps is None or ev.code is None:
            return
        m = self.markets.get(ev.code)
        if m is None:
            m = self.markets[ev.code] = MarketSpread()
        m.books += 1
        m.last_bps = bps
        m.widest_bps = max(m.widest_bps, bps)
        cfg: SpreadAlertConfig = self.config
        if not m.alerting and bps > cfg.max_spread_bps:
            m.alerting = True
            m.alerts += 1
            now = self._clock()
            m.warned = m.last_warning is None or now - m.last_warning >= cfg.cooldown_s
            if not m.warned:
                m.suppressed += 1
                return
            m.last_warning = now
            m.warnings += 1
            more = f"; {m.suppressed} more since the last warning" if m.suppressed else ""
            m.suppressed = 0
            if self.logger is not None:
                self.logger.warning(
                    "%s spread %.2f bps is above %.2f bps (alert #%d%s)",
                    ev.code, bps, cfg.max_spread_bps, m.alerts, more,
                )  # fmt: skip
        elif m.alerting and bps < cfg.clear_bps:
            m.alerting = False
            if m.warned and self.logger is not None:
                self.logger.info("%s spread back to %.2f bps (below %.2f)",
                                 ev.code, bps, cfg.clear_bps)  # fmt: skip

    @property
    def alerts(self) -> int:
        """Alerts raised so far, all markets. Runs in: any thread."""
        return sum(m.alerts for m in list(self.markets.values()))

    def status_lines(self) -> list[str]:
        """One compact line: each market's spread, ``!`` when alerting. Runs in: status thread."""
        parts = [
            f"{code} {m.last_bps:.1f}bps{'!' if m.alerting else ''}"
            for code, m in sorted(dict(self.markets).items())
            if m.last_bps is not None
        ]
        if not parts:
            return []
        return [f"spreads (max {self.config.max_spread_bps:g} bps, {self.alerts} alert(s)): "
                + "  ".join(parts)]  # fmt: skip

"""``ticker-board``: a live board of the configured markets (price, change %, 24 h volume).

Config (``[components.params]``)::

    [[components]]
    plugin = "ticker-board"
    id = "board"
    [components.params]
    symbols = ["KRW-BTC", "KRW-ETH", "KRW-XRP"]
    refresh_s = 5.0           # at most one board line per this many seconds

How it shares the terminal with the status view of ``upbit-hub run``: the board never writes
to stdout itself. It offers its table through ``status_lines()``, which the status view shows
under the component table when stdout is a terminal, and it logs one compact line (INFO,
logger ``upbit_hub.component.<id>``) at most every ``refresh_s``, which is what you see when
the output is not a terminal::

    KRW-BTC 109,847,000 +0.62% vol 1,234.5 | KRW-ETH 3,456,000 -1.20% vol 9,876.0

Handlers only replace one entry of a dict, so a board is cheap even for many markets.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Annotated, Any

import msgspec

from upbit_hub.actors.protocol.events import TickerEvent
from upbit_hub.plugins.sdk import Component, Context

__all__ = ["TickerBoard", "TickerBoardConfig", "format_board", "format_line"]

MarketCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2,6}-[A-Z0-9]{1,20}$")]


class TickerBoardConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[components.params]`` of ticker-board."""

    symbols: Annotated[list[MarketCode], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: ["KRW-BTC", "KRW-ETH", "KRW-XRP", "KRW-SOL"]
    )
    refresh_s: Annotated[float, msgspec.Meta(ge=0.1, le=3600.0)] = 5.0


class TickerBoard(Component):
    """Keeps the latest ticker per market; see the module docstring."""

    name = "ticker-board"
    Config = TickerBoardConfig

    def __init__(self, config: TickerBoardConfig) -> None:
        super().__init__(config)
        self.latest: dict[str, TickerEvent] = {}
        self.lines_logged = 0
        self._next_log = 0.0
        self._logger: Any = None

    def on_start(self, ctx: Context) -> None:
        """Subscribe to the tickers of the configured markets."""
        self._logger = ctx.logger
        self._next_log = time.monotonic() + self.config.refresh_s
        ctx.subscribe_ticker(self.config.symbols)

    def on_ticker(self, ev: TickerEvent) -> None:
        """Remember the newest ticker; log the compact board line when it is due."""
        if ev.code is not None:
            self.latest[ev.code] = ev
        now = time.monotonic()
        if now >= self._next_log and self._logger is not None:
            self._next_log = now + self.config.refresh_s
            self.lines_logged += 1
            self._logger.info("%s", format_line(self._rows()))

    def status_lines(self) -> list[str]:
        """The board as an aligned table. Runs in: the status view's thread."""
        return format_board(self._rows())

    def _rows(self) -> list[tuple[str, TickerEvent | None]]:
        latest = dict(self.latest)
        return [(code, latest.get(code)) for code in self.config.symbols]


def _price(value: Decimal | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.4f}".rstrip("0").rstrip(".") if value else "0"


def _pct(ev: TickerEvent) -> str:
    rate = ev.signed_change_rate
    return "-" if rate is None else f"{rate * 100:+.2f}%"


def _volume(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def format_line(rows: list[tuple[str, TickerEvent | None]]) -> str:
    """``KRW-BTC 109,847,000 +0.62% vol 1,234.5 | ...`` (markets with no data yet: ``-``).

    Runs in: any thread.
    """
    parts = []
    for code, ev in rows:
        if ev is None:
            parts.append(f"{code} -")
        else:
            vol = _volume(ev.acc_trade_volume_24h)
            parts.append(f"{code} {_price(ev.trade_price)} {_pct(ev)} vol {vol}")
    return " | ".join(parts)


def format_board(rows: list[tuple[str, TickerEvent | None]]) -> list[str]:
    """The board as table lines: MARKET, PRICE, CHANGE, VOLUME 24H. Runs in: any thread."""
    table = [("MARKET", "PRICE", "CHANGE", "VOLUME 24H")]
    for code, ev in rows:
        if ev is None:
            table.append((code, "-", "-", "-"))
        else:
            table.append((code, _price(ev.trade_price), _pct(ev),
                          _volume(ev.acc_trade_volume_24h)))  # fmt: skip
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    return [
        "  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:],
                                                                        strict=True)])
        for r in table
    ]

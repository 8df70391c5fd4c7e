"""ReplayState: what the replay has shown so far, for the ``get_*`` snapshots of a backtest.

Live, ``ctx.get_ticker_snapshot`` and friends ask Upbit over REST. In a backtest they answer
from the replayed state at the current simulated time, never from the future:

==============================  ============================================================
``get_ticker_snapshot``          the latest replayed ticker of each market
``get_orderbook_snapshot``       the latest replayed order book (sliced to ``depth``)
``get_recent_trades``            replayed trades, newest first (the last 500 per market),
                                 ``stream_type="BACKFILL"`` as REST marks them
``get_candles``                  replayed ``candle.<unit>m`` events, newest first
``get_accounts``                 the simulated exchange's balances (REST ``Account`` rows)
``get_open_orders``              the simulated exchange's open orders (REST ``Order`` rows)
==============================  ============================================================

A snapshot of something the recording has not shown yet (no ticker of that market so far, no
candles of that interval at all) raises :class:`BacktestError` saying what to record, instead
of inventing an answer.

Runs in: the backtest's thread (the engine updates it per event; components read it).
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict, deque
from collections.abc import Sequence
from typing import Any

import msgspec

from upbit_hub.actors.emulator.exchange_json import accounts_json, order_json
from upbit_hub.actors.protocol.errors import BacktestError
from upbit_hub.actors.protocol.rest_types import BACKFILL, decode_accounts, decode_order

__all__ = ["ReplayState"]

_TRADES_KEPT = 500
_CANDLES_KEPT = 400
_encode = msgspec.json.Encoder().encode
_replace = msgspec.structs.replace


class ReplayState:
    """The latest replayed market data, plus the simulated account (see the module docstring).

    ``books`` is the backtest's :class:`~.books.LatestBooks`, ``venue`` its
    :class:`~upbit_hub.actors.trading.venue_sim.SimVenue`, ``clock`` the simulated clock.
    """

    def __init__(self, books: Any, venue: Any, clock: Any) -> None:
        self.books = books
        self.venue = venue
        self.clock = clock
        self.tickers: dict[str, Any] = {}
        self.trades: dict[str, deque[Any]] = {}
        self.candles: dict[tuple[str, str], OrderedDict[str, Any]] = {}
        self.last_price: dict[str, Any] = {}  # code -> last trade price (ticker or trade)

    # -- fed by the engine ---------------------------------------------------------------------

    def on_ticker(self, ev: Any) -> None:
        self.tickers[ev.code] = ev
        if ev.trade_price:
            self.last_price[ev.code] = ev.trade_price

    def on_trade(self, ev: Any) -> None:
        kept = self.trades.get(ev.code)
        if kept is None:
            kept = self.trades[ev.code] = deque(maxlen=_TRADES_KEPT)
        kept.append(ev)
        if ev.trade_price:
            self.last_price[ev.code] = ev.trade_price

    def on_candle(self, ev: Any) -> None:
        key = (ev.code, ev.type)
        kept = self.candles.get(key)
        if kept is None:
            kept = self.candles[key] = OrderedDict()
        stamp = ev.candle_date_time_utc or ""
        kept[stamp] = ev  # the open candle so far replaces its earlier versions
        kept.move_to_end(stamp)
        if len(kept) > _CANDLES_KEPT:
            kept.popitem(last=False)

    # -- snapshots -------------------------------------------------------------------------------

    def ticker_snapshot(self, codes: Sequence[str]) -> list[Any]:
        out = []
        for code in codes:
            ev = self.tickers.get(code)
            if ev is None:
                raise self._not_yet("ticker", code, "ticker")
            out.append(_replace(ev, stream_type="SNAPSHOT"))
        return out

    def orderbook_snapshot(self, codes: Sequence[str], depth: int | None = None) -> list[Any]:
        out = []
        for code in codes:
            ev = self.books.event(code)
            if ev is None:
                raise self._not_yet("order book", code, "orderbook")
            units = ev.orderbook_units or ()
            if depth is not None and len(units) > depth:
                units = units[:depth]
                ev = _replace(ev, orderbook_units=units,
                              total_ask_size=sum((u.ask_size or 0) for u in units),
                              total_bid_size=sum((u.bid_size or 0) for u in units))
            out.append(_replace(ev, stream_type="SNAPSHOT"))
        return out

    def recent_trades(self, code: str, count: int = 100, cursor: int | None = None) -> list[Any]:
        kept = self.trades.get(code, ())
        out = []
        for ev in reversed(kept):
            if cursor is not None and (ev.sequential_id or 0) >= cursor:
                continue
            out.append(_replace(ev, stream_type=BACKFILL))
            if len(out) >= count:
                break
        return out

    def candles_snapshot(self, code: str, unit: int = 1, count: int = 200) -> list[Any]:
        kept = self.candles.get((code, f"candle.{unit}m"))
        if kept is None:
            raise BacktestError(
                f"get_candles({code!r}, unit={unit}) would reach the network: the recording "
                f"holds no candle.{unit}m of {code} so far (a backtest answers from the "
                f"recording only); record candles (recorder types = [\"candle\"], "
                f"candle_interval = \"{unit}m\") or build them from trades")
        return [_replace(ev, stream_type="SNAPSHOT") for ev in list(kept.values())[::-1][:count]]

    def accounts(self) -> list[Any]:
        with self.venue.locked() as ex:
            return decode_accounts(_encode(accounts_json(ex.balances())))

    def open_orders(self, market: str | None = None) -> list[Any]:
        with self.venue.locked() as ex:
            orders = ex.orders(market=market, states=("wait", "watch"))
            return [decode_order(_encode(order_json(o))) for o in orders]

    def _not_yet(self, what: str, code: str, kind: str) -> BacktestError:
        at = dt.datetime.fromtimestamp(self.clock.time(), dt.UTC).isoformat(timespec="seconds")
        return BacktestError(
            f"no {what} of {code} has been replayed yet (simulated time {at}); in a backtest "
            f"the snapshot answers from the recording, never from the network: record "
            f"{kind} events of {code} (recorder types) or ask after the first one arrived")

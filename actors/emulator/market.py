"""The emulator's market simulator: a seeded, deterministic stream of Upbit public events.

:class:`MarketSimulator` keeps, per market, a 40-level order book on Upbit's stepped KRW tick
grid, day statistics, 52-week extremes, candles of all nine WebSocket units and bounded REST
histories. :meth:`MarketSimulator.advance` moves simulated time forward in fixed 10 ms steps
(so the output does not depend on how the caller slices time) and returns every message that
happened, as DEFAULT-keyed dicts in Upbit wire order, without ``stream_type``::

    {"type": "trade", "code": "KRW-BTC", "timestamp": 1751854855959,
     "trade_date": "2025-07-07", "trade_time": "02:20:55", "trade_timestamp": 1751854855934,
     "trade_price": Decimal("148956000"), "trade_volume": Decimal("0.06026520"), ...,
     "sequential_id": 17518548559340000, ...}

Rate control: ``rate`` is the target number of messages per second of all types together
(trade, ticker, orderbook, candle.*). Every activity (a trade, or a change of resting orders)
is charged up front for all the messages it will cause: a trade costs its trade and ticker
messages, plus one orderbook message if the book had no pending change and one candle message
per candle unit that had no pending update. Activity is generated only while the credit
(``rate`` x elapsed time minus charges) is positive, so the message count follows ``rate``
within one activity's cost, and ``rate = 0`` stops everything once pending updates are out.

Runs in: the emulator loop thread only. Nothing here blocks, sleeps or does I/O.
"""

from __future__ import annotations

import bisect
import logging
import random
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from decimal import Decimal
from typing import Final

from upbit_hub.actors.emulator.market_catalog import (
    DEFAULT_MARKETS,
    market_info,
)
from upbit_hub.actors.emulator.market_catalog import (
    supported_levels as _catalog_levels,
)
from upbit_hub.actors.emulator.market_state import CANDLE_UNITS, MarketState
from upbit_hub.actors.emulator.market_units import fmt_times

__all__ = ["DEFAULT_MARKETS", "MarketSimulator"]

log = logging.getLogger(__name__)

STEP_MS: Final[int] = 10
MAX_BACKLOG_MS: Final[int] = 60_000  # a longer gap in now_ms is skipped, not simulated
WARMUP_MS: Final[int] = 60_000
WARMUP_RATE: Final[float] = 150.0
P_TRADE: Final[float] = 0.65
_CANDLE_INDEX: Final[dict[str, int]] = {t: i for i, (t, _) in enumerate(CANDLE_UNITS)}
_MINUTE_UNITS: Final[dict[int, int]] = {
    length // 60_000: i for i, (_, length) in enumerate(CANDLE_UNITS) if length >= 60_000
}


class MarketSimulator:
    """Seeded market simulator. Runs in: the emulator loop thread only.

    ``markets`` are ``QUOTE-BASE`` codes (``KRW-BTC``); ``seed`` fixes every random choice;
    ``rate`` is the target total messages/s (settable at run time; 0 pauses trading);
    ``start_ms`` is the simulated start time (default: the wall clock). A minute of history
    is simulated before ``start_ms`` so snapshots and REST histories exist from the start.
    ``warnings``: codes with ``market_event.warning``; ``delisting_dates``: code -> the
    ticker's ``delisting_date`` (``YYYY-MM-DD``; ``market_state`` ACTIVE until that KST day).
    """

    def __init__(
        self,
        markets: Sequence[str] = DEFAULT_MARKETS,
        *,
        seed: int = 7,
        rate: float = 100.0,
        start_ms: int | None = None,
        warnings: Collection[str] = (),
        delisting_dates: Mapping[str, str] | None = None,
    ) -> None:
        codes = tuple(dict.fromkeys(markets))
        if not codes:
            raise ValueError("MarketSimulator needs at least one market code, e.g. 'KRW-BTC'")
        if rate < 0:
            raise ValueError(f"rate must be >= 0 messages/s, got {rate!r}")
        if start_ms is None:
            start_ms = int(time.time() * 1000)
        self.markets: tuple[str, ...] = codes
        self.seed = seed
        self._rng = random.Random(f"upbit-hub-emulator:{seed}:scheduler")
        self._state: dict[str, MarketState] = {}
        t0 = start_ms - WARMUP_MS
        t0 -= t0 % STEP_MS
        for code in codes:
            self._state[code] = MarketState(market_info(code), seed, t0)
        self.warnings: frozenset[str] = frozenset(warnings)  # market_event.warning true
        if unknown := (self.warnings | set(delisting_dates or {})) - set(codes):
            raise ValueError(f"warnings/delisting_dates name markets not simulated: "
                             f"{sorted(unknown)}; simulated: {', '.join(codes)}")
        for code, date in (delisting_dates or {}).items():
            self._state[code].set_delisting_date(date)
        self._list = [self._state[c] for c in codes]
        weights = [3.0 if s.info.busy else 1.0 for s in self._list]
        total = sum(weights)
        acc = 0.0
        self._cum: list[float] = []
        for w in weights:
            acc += w / total
            self._cum.append(acc)
        self._credit = 0.0
        self._rate = float(rate)
        self._last_ms = -1
        self._k = 0
        self._listeners: list[Callable[[dict], None]] = []
        self._t = t0
        self._warming = False
        # warm-up: one trade per market, then a minute at a modest rate, output discarded
        for i, st in enumerate(self._list):
            self._do_trade(st, t0 + i, [])
        self._rate = WARMUP_RATE
        self._warming = True
        self._run(start_ms, [])
        self._warming = False
        self._rate = float(rate)
        self._credit = min(self._credit, 0.0)
        for st in self._list:  # warm-up changes are history: the first step starts clean
            st.book_dirty = False
            st.candle_dirty = [False] * len(CANDLE_UNITS)

    # ---- rate ------------------------------------------------------------------------------
    @property
    def rate(self) -> float:
        """Target total messages per second of all types; 0 pauses trading."""
        return self._rate

    @rate.setter
    def rate(self, value: float) -> None:
        if value < 0:
            raise ValueError(f"rate must be >= 0 messages/s, got {value!r}")
        self._rate = float(value)
        if value == 0:
            self._credit = min(self._credit, 0.0)

    @property
    def now_ms(self) -> int:
        """Simulated time reached so far (start of the next 10 ms step)."""
        return self._t

    # ---- stepping --------------------------------------------------------------------------
    def advance(self, now_ms: int) -> list[dict]:
        """Everything that happened since the previous call, in time order.

        Simulates whole 10 ms steps up to ``now_ms``; a gap longer than 60 s is skipped (the
        market simply jumps). Deterministic for a given seed, start_ms and sequence of
        ``now_ms`` values. Runs in: the emulator loop thread.
        """
        out: list[dict] = []
        if now_ms - self._t > MAX_BACKLOG_MS:
            skip = now_ms - MAX_BACKLOG_MS
            self._t = skip - skip % STEP_MS
        self._run(now_ms, out)
        return out

    def _run(self, now_ms: int, out: list[dict]) -> None:
        t = self._t
        while t + STEP_MS <= now_ms:
            self._step(t, out)
            t += STEP_MS
        self._t = t

    def _step(self, t0: int, out: list[dict]) -> None:
        """One 10 ms step: activities at ms in [t0, t0+10), then grid emissions at t0+10."""
        t1 = t0 + STEP_MS
        credit = self._credit + self._rate * (STEP_MS / 1000.0)
        if credit > 0:
            rng = self._rng
            cum = self._cum
            plan: list[tuple[MarketState, bool]] = []
            last = len(cum) - 1
            while credit > 0:
                st = self._list[min(bisect.bisect_left(cum, rng.random()), last)]
                is_trade = rng.random() < P_TRADE
                if is_trade:
                    cost = 2
                    dirty = st.candle_dirty
                    for i in range(len(dirty)):
                        if not dirty[i]:
                            cost += 1
                            dirty[i] = True  # reserved; set again by the trade itself
                else:
                    cost = 0
                if not st.book_dirty:
                    cost += 1
                    st.book_dirty = True
                credit -= cost
                plan.append((st, is_trade))
            stamps = sorted(t0 + int(rng.random() * STEP_MS) for _ in plan)
            for (st, is_trade), ts in zip(plan, stamps, strict=True):
                if is_trade:
                    self._do_trade(st, ts, out)
                else:
                    st.quote(ts)
        self._credit = credit
        if self._warming:  # history before start_ms: nobody receives these messages
            for st in self._list:
                st.book_dirty = False
                st.candle_dirty = [False] * len(CANDLE_UNITS)
            return
        for st in self._list:
            if st.book_dirty and t1 % st.info.book_interval_ms == 0:
                st.book_dirty = False
                out.append(st.orderbook_dict())
        if t1 % 1000 == 0:
            for st in self._list:
                dirty = st.candle_dirty
                for i in range(len(dirty)):
                    if dirty[i]:
                        dirty[i] = False
                        c = st.candle_dict(i)
                        if c is not None:
                            out.append(c)

    def _do_trade(self, st: MarketState, ts: int, out: list[dict]) -> None:
        if ts == self._last_ms:
            self._k += 1
        else:
            self._last_ms, self._k = ts, 0
        trade, ticker = st.trade(ts, ts * 10_000 + self._k, 3 + (ts * 7 + self._k) % 40)
        out.append(trade)
        out.append(ticker)
        for cb in self._listeners:
            try:
                cb(trade)
            except Exception:
                log.exception("trade listener %r failed; it stays registered", cb)

    # ---- queries ---------------------------------------------------------------------------
    def add_trade_listener(self, cb: Callable[[dict], None]) -> None:
        """Call ``cb(trade_dict)`` for every future trade, synchronously inside ``advance``.

        Runs in: the emulator loop thread. A listener that raises is logged and kept.
        """
        self._listeners.append(cb)

    def _get(self, code: str) -> MarketState | None:
        return self._state.get(code)

    def snapshot(self, type_: str, code: str) -> dict | None:
        """Current state as a SNAPSHOT frame carries it (no ``stream_type``); None if unknown.

        Candles: the current bucket, or the most recent existing candle when the current
        bucket has no trades yet. Runs in: the emulator loop thread.
        """
        st = self._state.get(code)
        if st is None:
            return None
        if type_ == "ticker":
            return st.last_ticker
        if type_ == "trade":
            return st.last_trade
        if type_ == "orderbook":
            return st.orderbook_dict()
        i = _CANDLE_INDEX.get(type_)
        if i is None:
            return None
        return st.candle_dict(i)

    def book(self, code: str) -> list[tuple[Decimal, Decimal, Decimal, Decimal]]:
        """Current 30 levels as ``(ask_price, bid_price, ask_size, bid_size)``, best first.

        Raises KeyError for an unknown code. Runs in: the emulator loop thread.
        """
        st = self._state.get(code)
        if st is None:
            raise KeyError(f"unknown market {code!r}; known: {', '.join(self.markets)}")
        return [
            (u["ask_price"], u["bid_price"], u["ask_size"], u["bid_size"])
            for u in st.orderbook_dict()["orderbook_units"]
        ]

    def supported_levels(self, code: str) -> tuple[int, ...]:
        """Orderbook grouping levels of ``code`` (``(0, 10000, 100000, 1000000)`` for KRW-BTC)."""
        return _catalog_levels(code)

    def trades(self, code: str, count: int, cursor: int | None = None) -> list[dict]:
        """REST ``/v1/trades/ticks`` items, newest first, older than ``cursor`` (a
        ``sequential_id``); at most ``count`` (clamped to 1..500); [] for an unknown code.

        Runs in: the emulator loop thread.
        """
        st = self._state.get(code)
        if st is None:
            return []
        count = max(1, min(int(count), 500))
        sids = st.trade_sids
        end = len(sids) if cursor is None else bisect.bisect_left(sids, cursor)
        hist = st.trade_history
        out = []
        for i in range(end - 1, max(end - count, 0) - 1, -1):
            t = hist[i]
            signed = t["change_price"] if t["change"] != "FALL" else -t["change_price"]
            out.append(
                {
                    "market": code,
                    "trade_date_utc": t["trade_date"],
                    "trade_time_utc": t["trade_time"],
                    "timestamp": t["trade_timestamp"],
                    "trade_price": t["trade_price"],
                    "trade_volume": t["trade_volume"],
                    "prev_closing_price": t["prev_closing_price"],
                    "change_price": signed,
                    "ask_bid": t["ask_bid"],
                    "sequential_id": t["sequential_id"],
                }
            )
        return out

    def candles_minutes(
        self, code: str, unit: int, count: int, to_ms: int | None = None
    ) -> list[dict]:
        """REST ``/v1/candles/minutes/{unit}`` items, newest first, buckets starting before
        ``to_ms`` (exclusive; default: now, current bucket included), at most ``count``
        (clamped to 1..200). Gaps where no trade happened. [] for an unknown code.

        Raises ValueError for a unit other than 1, 3, 5, 10, 15, 30, 60, 240.
        Runs in: the emulator loop thread.
        """
        i = _MINUTE_UNITS.get(unit)
        if i is None:
            raise ValueError(f"candle unit must be one of {sorted(_MINUTE_UNITS)}, got {unit!r}")
        st = self._state.get(code)
        if st is None:
            return []
        count = max(1, min(int(count), 200))
        states = list(st.minute_history[i])
        if st.candles[i] is not None:
            states.append(st.candles[i])
        out = []
        for c in reversed(states):
            if to_ms is not None and c[0] >= to_ms:
                continue
            d = st.candle_dict(i, c)
            assert d is not None
            out.append(
                {
                    "market": code,
                    "candle_date_time_utc": d["candle_date_time_utc"],
                    "candle_date_time_kst": d["candle_date_time_kst"],
                    "opening_price": d["opening_price"],
                    "high_price": d["high_price"],
                    "low_price": d["low_price"],
                    "trade_price": d["trade_price"],
                    "timestamp": d["timestamp"],
                    "candle_acc_trade_price": d["candle_acc_trade_price"],
                    "candle_acc_trade_volume": d["candle_acc_trade_volume"],
                    "unit": unit,
                }
            )
            if len(out) >= count:
                break
        return out

    def ticker_rest(self, code: str) -> dict:
        """REST ``/v1/ticker`` item (``market`` instead of ``code``, KST date/time, no
        market_state / stream_type). Raises KeyError for an unknown code.

        Runs in: the emulator loop thread.
        """
        st = self._state.get(code)
        if st is None or st.last_ticker is None:
            raise KeyError(f"unknown market {code!r}")
        t = st.last_ticker
        _, _, kdate, ktime = fmt_times(t["trade_timestamp"] + 9 * 3_600_000)
        return {
            "market": code,
            "trade_date": t["trade_date"],
            "trade_time": t["trade_time"],
            "trade_date_kst": kdate,
            "trade_time_kst": ktime,
            "trade_timestamp": t["trade_timestamp"],
            "opening_price": t["opening_price"],
            "high_price": t["high_price"],
            "low_price": t["low_price"],
            "trade_price": t["trade_price"],
            "prev_closing_price": t["prev_closing_price"],
            "change": t["change"],
            "change_price": t["change_price"],
            "change_rate": t["change_rate"],
            "signed_change_price": t["signed_change_price"],
            "signed_change_rate": t["signed_change_rate"],
            "trade_volume": t["trade_volume"],
            "acc_trade_price": t["acc_trade_price"],
            "acc_trade_price_24h": t["acc_trade_price_24h"],
            "acc_trade_volume": t["acc_trade_volume"],
            "acc_trade_volume_24h": t["acc_trade_volume_24h"],
            "highest_52_week_price": t["highest_52_week_price"],
            "highest_52_week_date": t["highest_52_week_date"],
            "lowest_52_week_price": t["lowest_52_week_price"],
            "lowest_52_week_date": t["lowest_52_week_date"],
            "timestamp": t["timestamp"],
        }

    def orderbook_rest(self, code: str, count: int = 30, level: int = 0) -> dict | None:
        """REST ``/v1/orderbook`` item: ``count`` levels (clamped to 1..30) grouped by
        ``level``; units keyed ``bid_price, bid_size, ask_price, ask_size``; totals over the
        returned units; same ``timestamp`` as the WebSocket book. None for an unsupported
        level; KeyError for an unknown code. Runs in: the emulator loop thread.
        """
        from upbit_hub.actors.emulator.render import group_book  # avoid an import cycle

        st = self._state.get(code)
        if st is None:
            raise KeyError(f"unknown market {code!r}")
        count = max(1, min(int(count), 30))
        ob = st.orderbook_dict()
        grouped = group_book(ob, count, level)
        if grouped is None:
            return None
        units, ta, tb = grouped
        return {
            "market": code,
            "timestamp": ob["timestamp"],
            "total_ask_size": ta,
            "total_bid_size": tb,
            "orderbook_units": [
                {
                    "bid_price": u["bid_price"],
                    "bid_size": u["bid_size"],
                    "ask_price": u["ask_price"],
                    "ask_size": u["ask_size"],
                }
                for u in units
            ],
            "level": level,
        }

"""State of one simulated market: its order book, day statistics, candles and trade history.

Prices and sizes are ints in 1e-8 units (``market_catalog.SCALE``) and become Decimals only
when a message dict is built, through small caches, so a trade costs a few microseconds.

Runs in: the emulator loop thread only (called by :class:`~.market.MarketSimulator`).
"""

from __future__ import annotations

import math
import random
from decimal import Context, Decimal
from typing import Final

from upbit_hub.actors.emulator.market_catalog import (
    SCALE,
    MarketInfo,
    delisting_start_ms,
    tick_down,
    tick_up,
)
from upbit_hub.actors.emulator.market_units import candle_times, dec8, dec_norm, fmt_times

__all__ = ["CANDLE_UNITS", "DAY_MS", "MarketState", "dec8", "fmt_times"]

DAY_MS: Final[int] = 86_400_000
BOOK_LEVELS: Final[int] = 40  # kept internally; 30 are published
PUBLISHED_LEVELS: Final[int] = 30
#: (type, bucket length ms) for every WebSocket candle type, in fields.CANDLE_TYPES order.
CANDLE_UNITS: Final[tuple[tuple[str, int], ...]] = (
    ("candle.1s", 1_000),
    ("candle.1m", 60_000),
    ("candle.3m", 180_000),
    ("candle.5m", 300_000),
    ("candle.10m", 600_000),
    ("candle.15m", 900_000),
    ("candle.30m", 1_800_000),
    ("candle.60m", 3_600_000),
    ("candle.240m", 14_400_000),
)
MINUTE_HISTORY: Final[int] = 400  # closed candles kept per minute unit for REST
TRADE_HISTORY: Final[int] = 20_000

_CTX: Final = Context(prec=60)
_ZERO: Final = Decimal(0)
_RATE_Q: Final = Decimal("1E-10")
VOL_PER_SQRT_MS: Final[float] = 0.06 / math.sqrt(DAY_MS)  # about 6 % daily volatility
REVERT_PER_MS: Final[float] = math.log(2) / (6 * 3_600_000)  # half-life 6 h toward start
_EMPTY: Final = (0, 0)  # zero slot padding a thin side


class MarketState:
    """Book, statistics and candles of one market. Runs in: the emulator loop thread."""

    def __init__(self, info: MarketInfo, seed: int, start_ms: int) -> None:
        self.info = info
        self.code = info.code
        self.rng = random.Random(f"upbit-hub-emulator:{seed}:{info.code}")
        rng = self.rng
        self._prices: dict[int, Decimal] = {}
        self._rates: dict[int, tuple[Decimal, Decimal]] = {}
        p0 = self._on_tick(int(info.start_price * (1 + rng.uniform(-0.02, 0.02))))
        self.ref_price = p0
        self.fair = float(p0)
        self.fair_ts = start_ms
        # book: [price, size] lists, asks ascending, bids descending
        self.asks: list[list[int]] = []
        self.bids: list[list[int]] = []
        p = p0
        for _ in range(BOOK_LEVELS):
            self.bids.append([p, self.fresh_size(p)])
            p -= tick_down(info, p) * (1 + (rng.random() < 0.3))
        p = p0 + tick_up(info, p0)
        for _ in range(BOOK_LEVELS):
            self.asks.append([p, self.fresh_size(p)])
            p += tick_up(info, p) * (1 + (rng.random() < 0.3))
        self.book_ts = start_ms
        self.book_dirty = False
        self._book_cache: dict | None = None
        # day statistics (synthetic past of the current UTC day)
        self.day = start_ms // DAY_MS
        frac = (start_ms % DAY_MS) / DAY_MS
        self.prev_close = self._on_tick(int(p0 * (1 + rng.uniform(-0.03, 0.03))))
        self.open = self.prev_close
        self.high = self._on_tick(int(max(self.open, p0) * (1 + rng.uniform(0, 0.01))))
        self.low = self._on_tick(int(min(self.open, p0) * (1 - rng.uniform(0, 0.01))))
        self.last = p0
        daily_vol = info.notional * 1_000_000 * SCALE // p0  # 1e-8 base units
        self.acc_vol = int(daily_vol * frac)
        self.acc_ask = int(self.acc_vol * rng.uniform(0.4, 0.6))
        self.acc_bid = self.acc_vol - self.acc_ask
        self.acc_amt = self.acc_vol * p0 // SCALE  # 1e-8 quote units
        self.yday_vol = int(daily_vol * rng.uniform(0.8, 1.2))
        self.yday_amt = self.yday_vol * self.prev_close // SCALE
        day0 = start_ms - start_ms % DAY_MS
        self.h52 = self._on_tick(int(p0 * rng.uniform(1.15, 1.5)))
        self.h52_date = fmt_times(day0 - rng.randrange(20, 300) * DAY_MS)[0]
        self.l52 = self._on_tick(int(p0 * rng.uniform(0.45, 0.75)))
        self.l52_date = fmt_times(day0 - rng.randrange(20, 300) * DAY_MS)[0]
        # candles: per unit [bucket_ms, o, h, l, c, vol, amt, last_ts] or None
        self.candles: list[list[int] | None] = [None] * len(CANDLE_UNITS)
        self.candle_dirty = [False] * len(CANDLE_UNITS)
        self.minute_history: list[list[list[int]]] = [[] for _ in CANDLE_UNITS]
        self.trade_history: list[dict] = []
        self.trade_sids: list[int] = []
        self.last_trade: dict | None = None
        self.last_ticker: dict | None = None
        self.delisting_date: str | None = None
        self._delist_ms: int | None = None

    def set_delisting_date(self, date: str) -> None:
        """Name ``date`` (``YYYY-MM-DD``) as the ticker's ``delisting_date``; ``market_state``
        turns DELISTED when that day starts (KST). Raises ValueError for another format."""
        self._delist_ms = delisting_start_ms(self.code, date)
        self.delisting_date = date

    # ---- helpers ---------------------------------------------------------------------------
    def _on_tick(self, price: int) -> int:
        tick = tick_down(self.info, price + 1)
        return max(tick, price - price % tick)

    def price_dec(self, units: int) -> Decimal:
        """Cached Decimal of a price in 1e-8 units."""
        d = self._prices.get(units)
        if d is None:
            if len(self._prices) > 50_000:
                self._prices.clear()
            d = self._prices[units] = dec_norm(units)
        return d

    def fresh_size(self, price: int) -> int:
        """A resting order size (1e-8 base units) worth a few typical trades."""
        r = self.rng.random()
        return max(1, int(self.info.notional * SCALE // price * (0.3 + 8.0 * r * r)))

    def _change(self, price: int) -> tuple[str, Decimal, Decimal, Decimal, Decimal]:
        diff = price - self.prev_close
        cached = self._rates.get(price)
        if cached is None:
            if diff:
                rate = (Decimal(abs(diff)) / Decimal(self.prev_close)).quantize(
                    _RATE_Q, context=_CTX
                )
            else:
                rate = _ZERO
            cached = self._rates[price] = (rate, -rate)
        if diff > 0:
            cp = self.price_dec(diff)
            return "RISE", cp, cp, cached[0], cached[0]
        if diff < 0:
            cp = self.price_dec(-diff)
            return "FALL", cp, -cp, cached[0], cached[1]
        return "EVEN", _ZERO, _ZERO, _ZERO, _ZERO

    def _roll_day(self, day: int) -> None:
        self.day = day
        self.prev_close = self.last
        self.open = self.high = self.low = self.last
        self.yday_vol, self.yday_amt = self.acc_vol, self.acc_amt
        self.acc_vol = self.acc_ask = self.acc_bid = self.acc_amt = 0
        self._rates.clear()

    # ---- activity --------------------------------------------------------------------------
    def _drift(self, ts: int) -> float:
        """Move the hidden fair price (geometric random walk, slow pull to the start price)."""
        dt = ts - self.fair_ts
        if dt > 0:
            self.fair_ts = ts
            f = self.fair
            f *= 1.0 + VOL_PER_SQRT_MS * math.sqrt(dt) * self.rng.gauss(0.0, 1.0)
            f += (self.ref_price - f) * min(1.0, REVERT_PER_MS * dt)
            self.fair = f
        return self.fair

    def quote(self, ts: int) -> None:
        """Move resting orders toward the fair price, or change a level's size."""
        rng = self.rng
        info = self.info
        fair = self._drift(ts)
        asks, bids = self.asks, self.bids
        best_a, best_b = asks[0][0], bids[0][0]
        if fair > best_a + tick_up(info, best_a) and len(asks) > 2:
            del asks[0]  # sellers step back: the price rises without a trade
            self._append_far(asks, True)
        elif fair < best_b - tick_down(info, best_b) and len(bids) > 2:
            del bids[0]
            self._append_far(bids, False)
        elif best_a - best_b > tick_up(info, best_b) and rng.random() < 0.7:
            # new best orders close to the fair price, on the side farther from it; the gap
            # to the old best is filled so the ladder stays compact (1-2 ticks apart)
            if fair - best_b > best_a - fair:
                p = min(self._on_tick(int(fair)), best_a - tick_down(info, best_a))
                if p > best_b:
                    self._improve(bids, False, p, best_b)
            else:
                p = self._on_tick(int(fair))
                p = max(p + tick_up(info, p), best_b + tick_up(info, best_b))
                if p < best_a:
                    self._improve(asks, True, p, best_a)
        else:
            side = asks if rng.random() < 0.5 else bids
            lvl = side[int(rng.random() * min(10, len(side)))]
            lvl[1] = self.fresh_size(lvl[0])
        self.book_ts = ts
        self._book_cache = None

    def _improve(self, side: list[list[int]], is_ask: bool, p: int, old_best: int) -> None:
        """Put new levels from ``p`` toward ``old_best`` at the front of ``side``."""
        new: list[list[int]] = []
        info = self.info
        while len(new) < 8 and (p < old_best if is_ask else p > old_best):
            new.append([p, self.fresh_size(p)])
            step = 1 + (self.rng.random() < 0.3)
            for _ in range(step):
                p = p + tick_up(info, p) if is_ask else p - tick_down(info, p)
        side[:0] = new
        del side[BOOK_LEVELS:]

    def _append_far(self, side: list[list[int]], is_ask: bool) -> None:
        last = side[-1][0]
        step = 1 + (self.rng.random() < 0.3)
        if is_ask:
            p = last + tick_up(self.info, last) * step
        else:
            p = last - tick_down(self.info, last) * step
            if p <= 0:
                return  # no price below zero: the bid side just gets thinner
        side.append([p, self.fresh_size(p)])

    def trade(self, ts: int, sid: int, msg_delay: int) -> tuple[dict, dict]:
        """Fill one taker order against the best level; return (trade dict, ticker dict)."""
        rng = self.rng
        fair = self._drift(ts)
        is_bid = rng.random() < (0.65 if 2 * fair > self.asks[0][0] + self.bids[0][0] else 0.35)
        side = self.asks if is_bid else self.bids
        lvl = side[0]
        price = lvl[0]
        r = rng.random()
        vol = max(1, int(self.info.notional * SCALE // price * (0.02 + 4.0 * r * r * r)))
        if vol >= lvl[1]:
            vol = lvl[1] or 1
            del side[0]
            self._append_far(side, is_bid)
        else:
            lvl[1] -= vol
        self.book_ts = ts
        self._book_cache = None
        if ts // DAY_MS != self.day:
            self._roll_day(ts // DAY_MS)
        self.last = price
        self.acc_vol += vol
        self.acc_amt += price * vol // SCALE
        if is_bid:
            self.acc_bid += vol
        else:
            self.acc_ask += vol
        if price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        date, clock, date_c, clock_c = fmt_times(ts)
        if price > self.h52:
            self.h52, self.h52_date = price, date
        elif price < self.l52:
            self.l52, self.l52_date = price, date
        dp = self.price_dec(price)
        dv = dec8(vol)
        change, cp, scp, cr, scr = self._change(price)
        pcp = self.price_dec(self.prev_close)
        ask_bid = "BID" if is_bid else "ASK"
        a0, b0 = self.asks[0], self.bids[0]
        trade = {
            "type": "trade",
            "code": self.code,
            "timestamp": ts + msg_delay,
            "trade_date": date,
            "trade_time": clock,
            "trade_timestamp": ts,
            "trade_price": dp,
            "trade_volume": dv,
            "ask_bid": ask_bid,
            "prev_closing_price": pcp,
            "change": change,
            "change_price": cp,
            "sequential_id": sid,
            "best_ask_price": self.price_dec(a0[0]),
            "best_ask_size": dec8(a0[1]),
            "best_bid_price": self.price_dec(b0[0]),
            "best_bid_size": dec8(b0[1]),
        }
        frac_left = DAY_MS - ts % DAY_MS
        ticker = {
            "type": "ticker",
            "code": self.code,
            "opening_price": self.price_dec(self.open),
            "high_price": self.price_dec(self.high),
            "low_price": self.price_dec(self.low),
            "trade_price": dp,
            "prev_closing_price": pcp,
            "acc_trade_price": dec_norm(self.acc_amt),
            "change": change,
            "change_price": cp,
            "signed_change_price": scp,
            "change_rate": cr,
            "signed_change_rate": scr,
            "ask_bid": ask_bid,
            "trade_volume": dv,
            "acc_trade_volume": dec8(self.acc_vol),
            "trade_date": date_c,
            "trade_time": clock_c,
            "trade_timestamp": ts,
            "acc_ask_volume": dec8(self.acc_ask),
            "acc_bid_volume": dec8(self.acc_bid),
            "highest_52_week_price": self.price_dec(self.h52),
            "highest_52_week_date": self.h52_date,
            "lowest_52_week_price": self.price_dec(self.l52),
            "lowest_52_week_date": self.l52_date,
            "market_state": "ACTIVE" if self._delist_ms is None or ts < self._delist_ms
            else "DELISTED",
            "delisting_date": self.delisting_date,
            "timestamp": ts + msg_delay + 1,
            "acc_trade_price_24h": dec_norm(self.acc_amt + self.yday_amt * frac_left // DAY_MS),
            "acc_trade_volume_24h": dec8(self.acc_vol + self.yday_vol * frac_left // DAY_MS),
        }
        self.last_trade, self.last_ticker = trade, ticker
        self._candles_on_trade(ts, price, vol)
        hist = self.trade_history
        hist.append(trade)
        self.trade_sids.append(sid)
        if len(hist) > 2 * TRADE_HISTORY:
            del hist[:-TRADE_HISTORY]
            del self.trade_sids[:-TRADE_HISTORY]
        return trade, ticker

    def _candles_on_trade(self, ts: int, price: int, vol: int) -> None:
        amt = price * vol // SCALE
        candles = self.candles
        for i, (_, length) in enumerate(CANDLE_UNITS):
            bucket = ts - ts % length
            c = candles[i]
            if c is None or c[0] != bucket:
                if c is not None and i > 0:
                    hist = self.minute_history[i]
                    hist.append(c)
                    if len(hist) > MINUTE_HISTORY:
                        del hist[0]
                candles[i] = [bucket, price, price, price, price, vol, amt, ts]
            else:
                if price > c[2]:
                    c[2] = price
                elif price < c[3]:
                    c[3] = price
                c[4] = price
                c[5] += vol
                c[6] += amt
                c[7] = ts
            self.candle_dirty[i] = True

    # ---- message dicts ---------------------------------------------------------------------
    def candle_dict(self, i: int, c: list[int] | None = None) -> dict | None:
        """DEFAULT candle dict of unit ``i`` (current candle, or the given state)."""
        if c is None:
            c = self.candles[i]
            if c is None:
                return None
        utc, kst = candle_times(c[0])
        return {
            "type": CANDLE_UNITS[i][0],
            "code": self.code,
            "candle_date_time_utc": utc,
            "candle_date_time_kst": kst,
            "opening_price": self.price_dec(c[1]),
            "high_price": self.price_dec(c[2]),
            "low_price": self.price_dec(c[3]),
            "trade_price": self.price_dec(c[4]),
            "candle_acc_trade_volume": dec8(c[5]),
            "candle_acc_trade_price": dec_norm(c[6]),
            "timestamp": c[7],
        }

    def orderbook_dict(self) -> dict:
        """DEFAULT orderbook dict of the current 30 levels (cached until the book changes)."""
        ob = self._book_cache
        if ob is not None:
            return ob
        units = []
        ta = tb = 0
        pd = self.price_dec
        asks, bids = self.asks, self.bids
        for i in range(PUBLISHED_LEVELS):
            a = asks[i] if i < len(asks) else _EMPTY
            b = bids[i] if i < len(bids) else _EMPTY
            ta += a[1]
            tb += b[1]
            units.append(
                {
                    "ask_price": pd(a[0]),
                    "bid_price": pd(b[0]),
                    "ask_size": dec8(a[1]),
                    "bid_size": dec8(b[1]),
                }
            )
        ob = self._book_cache = {
            "type": "orderbook",
            "code": self.code,
            "timestamp": self.book_ts,
            "total_ask_size": dec8(ta),
            "total_bid_size": dec8(tb),
            "orderbook_units": units,
            "level": 0,
        }
        return ob

"""One market's replayed state: the latest event of each type, the trade tape, minute candles.

:class:`ReplayState` is what :class:`~upbit_hub.actors.emulator.replay.ReplayMarket` keeps per
market while a recording plays: it takes each replayed event as a DEFAULT-keyed dict (Upbit's
field names, Decimal numbers, no ``stream_type``) and answers the snapshot and REST views from
what has been replayed so far::

    st = ReplayState("KRW-BTC")
    st.take(trade_dict)               # also the tape (/v1/trades/ticks) and minute candles
    st.latest["trade"]                # the SNAPSHOT a new subscriber gets
    st.trades(50, cursor=None)        # REST items, newest first
    st.ticker_rest()                  # REST /v1/ticker item, or None before the first ticker

The tape is kept in ``sequential_id`` order and a ``sequential_id`` seen before is not taped
twice (so a REST backfill never doubles a trade); minute candles are built from the replayed
trades (buckets on UTC minute boundaries), whatever the recording had of candles. Fields the
recording lacks are left out of the REST items rather than invented.

Runs in: the emulator loop thread only (plain objects, nothing shared).
"""

from __future__ import annotations

import bisect
from typing import Any, Final

from upbit_hub.actors.emulator.market_units import candle_times, fmt_times

__all__ = ["MINUTE_UNITS", "TAPE_SIZE", "ReplayState"]

#: Trades kept per market for ``/v1/trades/ticks`` (the simulator keeps 20,000 too).
TAPE_SIZE: Final[int] = 20_000
#: The REST minute-candle units.
MINUTE_UNITS: Final[tuple[int, ...]] = (1, 3, 5, 10, 15, 30, 60, 240)
_CANDLES_KEPT: Final[int] = 400  # per unit, as the simulator keeps
_KST_MS: Final[int] = 9 * 3_600_000

_TICKER_REST_KEYS: Final = (
    "trade_date", "trade_time", "trade_date_kst", "trade_time_kst", "trade_timestamp",
    "opening_price", "high_price", "low_price", "trade_price", "prev_closing_price", "change",
    "change_price", "change_rate", "signed_change_price", "signed_change_rate", "trade_volume",
    "acc_trade_price", "acc_trade_price_24h", "acc_trade_volume", "acc_trade_volume_24h",
    "highest_52_week_price", "highest_52_week_date", "lowest_52_week_price",
    "lowest_52_week_date", "timestamp",
)


class ReplayState:
    """The replayed state of one market (see the module docstring). Runs in: the loop thread."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.latest: dict[str, dict] = {}  # type ("ticker", "candle.1m", ...) -> last dict
        self._tape: list[dict] = []
        self._sids: list[int] = []
        # unit -> bucket start ms -> [open, high, low, close, volume, price*volume, last ts]
        self._candles: dict[int, dict[int, list[Any]]] = {u: {} for u in MINUTE_UNITS}

    # -- feeding -------------------------------------------------------------------------
    def take(self, obj: dict) -> bool:
        """Make ``obj`` the latest of its type; tape a trade. False for a trade whose
        ``sequential_id`` was replayed before (a duplicate in the recording)."""
        kind = obj["type"]
        if kind == "trade":
            if not self._tape_trade(obj):
                return False
            self._candle_trade(obj)
        self.latest[kind] = obj
        return True

    def _tape_trade(self, obj: dict) -> bool:
        sid = obj.get("sequential_id")
        if sid is None:
            return True  # served, but there is no cursor to page it by
        sids = self._sids
        if not sids or sid > sids[-1]:
            sids.append(sid)
            self._tape.append(obj)
        else:
            i = bisect.bisect_left(sids, sid)
            if i < len(sids) and sids[i] == sid:
                return False
            sids.insert(i, sid)
            self._tape.insert(i, obj)
        if len(sids) > 2 * TAPE_SIZE:
            del sids[:-TAPE_SIZE]
            del self._tape[:-TAPE_SIZE]
        return True

    def _candle_trade(self, obj: dict) -> None:
        ts, price, volume = obj.get("trade_timestamp"), obj.get("trade_price"), \
            obj.get("trade_volume")  # fmt: skip
        if ts is None or price is None or volume is None:
            return
        for unit, buckets in self._candles.items():
            length = unit * 60_000
            start = ts - ts % length
            c = buckets.get(start)
            if c is None:
                buckets[start] = [price, price, price, price, volume, price * volume, ts]
                if len(buckets) > _CANDLES_KEPT:
                    del buckets[min(buckets)]
                continue
            c[1] = max(c[1], price)
            c[2] = min(c[2], price)
            c[3] = price
            c[4] += volume
            c[5] += price * volume
            c[6] = max(c[6], ts)

    # -- REST views --------------------------------------------------------------------------
    def trades(self, count: int, cursor: int | None = None) -> list[dict]:
        """``/v1/trades/ticks`` items, newest first, older than ``cursor`` (a
        ``sequential_id``), at most ``count`` (clamped to 1..500)."""
        count = max(1, min(int(count), 500))
        end = len(self._sids) if cursor is None else bisect.bisect_left(self._sids, cursor)
        return [_trade_item(self.code, self._tape[i])
                for i in range(end - 1, max(end - count, 0) - 1, -1)]  # fmt: skip

    def ticker_rest(self) -> dict | None:
        """The ``/v1/ticker`` item of the latest replayed ticker (the latest trade's fields
        when the recording has no tickers); None before the first of either."""
        t = self.latest.get("ticker") or self.latest.get("trade")
        if t is None:
            return None
        ts = t.get("trade_timestamp")
        extra: dict[str, Any] = {}
        if ts is not None:
            _, _, kdate, ktime = fmt_times(ts + _KST_MS)
            extra = {"trade_date_kst": kdate, "trade_time_kst": ktime}
        out: dict[str, Any] = {"market": self.code}
        for key in _TICKER_REST_KEYS:
            value = extra.get(key, t.get(key))
            if value is not None:
                out[key] = value
        return out

    def candles_minutes(self, unit: int, count: int, to_ms: int | None = None) -> list[dict]:
        """``/v1/candles/minutes/{unit}`` items built from the replayed trades, newest first,
        buckets starting before ``to_ms`` (exclusive), at most ``count`` (1..200)."""
        count = max(1, min(int(count), 200))
        buckets = self._candles[unit]
        out: list[dict] = []
        for start in sorted(buckets, reverse=True):
            if to_ms is not None and start >= to_ms:
                continue
            o, h, lo, c, vol, acc, ts = buckets[start]
            utc, kst = candle_times(start)
            out.append({
                "market": self.code, "candle_date_time_utc": utc, "candle_date_time_kst": kst,
                "opening_price": o, "high_price": h, "low_price": lo, "trade_price": c,
                "timestamp": ts, "candle_acc_trade_price": acc,
                "candle_acc_trade_volume": vol, "unit": unit,
            })  # fmt: skip
            if len(out) >= count:
                break
        return out


def _trade_item(code: str, t: dict) -> dict:
    change = t.get("change_price")
    if change is not None and t.get("change") == "FALL":
        change = -change
    item = {
        "market": code,
        "trade_date_utc": t.get("trade_date"),
        "trade_time_utc": t.get("trade_time"),
        "timestamp": t.get("trade_timestamp", t.get("timestamp")),
        "trade_price": t.get("trade_price"),
        "trade_volume": t.get("trade_volume"),
        "prev_closing_price": t.get("prev_closing_price"),
        "change_price": change,
        "ask_bid": t.get("ask_bid"),
        "sequential_id": t.get("sequential_id"),
    }
    return {k: v for k, v in item.items() if v is not None}

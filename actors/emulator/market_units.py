"""Unit conversions and time spellings of the market simulator (pure, memoised).

Prices and sizes inside the simulator are ints in 1e-8 units (``market_catalog.SCALE``); these
turn them into Decimals and millisecond timestamps into Upbit's date/time strings.

Runs in: any thread (the emulator loop thread in practice).
"""

from __future__ import annotations

import time
from decimal import Context, Decimal
from typing import Final

from upbit_hub.actors.emulator.market_catalog import SCALE

__all__ = ["candle_times", "dec8", "dec_norm", "fmt_times"]

_CTX: Final = Context(prec=60)


def dec8(units: int) -> Decimal:
    """1e-8 units -> Decimal with scale 8 (``120000000`` -> ``Decimal('1.20000000')``)."""
    return Decimal(units).scaleb(-8, _CTX)


def dec_norm(units: int) -> Decimal:
    """1e-8 units -> Decimal without trailing zeros (``1500000000`` -> ``Decimal('15')``)."""
    if units % SCALE == 0:
        return Decimal(units // SCALE)
    return Decimal(units).scaleb(-8, _CTX).normalize(_CTX)


_time_memo: dict[int, tuple[str, str, str, str]] = {}


def fmt_times(ms: int) -> tuple[str, str, str, str]:
    """``(yyyy-MM-dd, HH:mm:ss, yyyyMMdd, HHmmss)`` in UTC for a ms timestamp (memoised)."""
    sec = ms // 1000
    hit = _time_memo.get(sec)
    if hit is None:
        if len(_time_memo) > 4096:
            _time_memo.clear()
        t = time.gmtime(sec)
        d = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
        c = f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
        hit = (d, c, d.replace("-", ""), c.replace(":", ""))
        _time_memo[sec] = hit
    return hit


def candle_times(bucket_ms: int) -> tuple[str, str]:
    """``yyyy-MM-dd'T'HH:mm:ss`` of a bucket start in UTC and in KST (UTC+9)."""
    d, c, _, _ = fmt_times(bucket_ms)
    dk, ck, _, _ = fmt_times(bucket_ms + 9 * 3_600_000)
    return f"{d}T{c}", f"{dk}T{ck}"

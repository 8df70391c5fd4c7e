"""Backtest throughput: replayed events/s against a bare loop that only reads the recording.

A synthetic recording (KRW-BTC and KRW-ETH: order books of 15 levels, trades and tickers in
the mix a ``run --sim`` recording has, a random walk, written with the recorder's own line
format) is read twice in the same process, alternating, best of ``--repeat``:

- ``bare``: ``for ev in read_recording(path): n += 1`` (the recorder's reader, nothing else);
- ``backtest``: ``Backtest(...).run()`` with a trivial strategy subscribed to every replayed
  type and market (it counts), the whole driver included: SimClock, book source, matching
  engine ticks, the order manager, routing; the report is not written.

Goal: ``backtest_ratio`` (backtest events/s / bare events/s) >= 0.5.

Usage: ``python bench/bench_backtest.py [--quick | --smoke] [--events N] [--repeat R]``.
Prints a table, then one ``key=value`` line.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import _common as C

from upbit_hub.actors.backtest import Backtest, BacktestConfig, ComponentSpec
from upbit_hub.actors.backtest.recording import encode_record
from upbit_hub.actors.protocol.events import (
    OrderbookEvent,
    OrderbookUnit,
    TickerEvent,
    TradeEvent,
)
from upbit_hub.config.settings import Settings
from upbit_hub.plugins import Component
from upbit_hub.plugins.builtin.recorder import read_recording

MARKETS = {"KRW-BTC": (150_000_000, 1000), "KRW-ETH": (5_000_000, 1000)}


class Counter(Component):
    """The trivial strategy: subscribes to everything, counts."""

    def on_start(self, ctx):
        self.n = 0
        markets = list(MARKETS)
        ctx.subscribe_ticker(markets)
        ctx.subscribe_trade(markets)
        ctx.subscribe_orderbook(markets)

    def on_ticker(self, ev):
        self.n += 1

    def on_trade(self, ev):
        self.n += 1

    def on_orderbook(self, ev):
        self.n += 1


def write_recording(path: Path, n: int, seed: int = 5) -> None:
    """``n`` events, ~10 per simulated second: 22 % books, 39 % trades, 39 % tickers."""
    rng = random.Random(seed)
    mids = {code: Decimal(p) for code, (p, _) in MARKETS.items()}
    t = 1_796_313_795.0
    sid = 17_963_137_950_000_000
    with open(path, "wb") as fh:
        for i in range(n):
            code = "KRW-BTC" if i % 3 else "KRW-ETH"
            tick = Decimal(MARKETS[code][1])
            mids[code] += tick * rng.choice((-1, 0, 1))
            mid = mids[code]
            t += rng.uniform(0.05, 0.15)
            ms = int(t * 1000)
            r = rng.random()
            if r < 0.22:
                units = tuple(
                    OrderbookUnit(ask_price=mid + tick * (k + 1), bid_price=mid - tick * (k + 1),
                                  ask_size=Decimal(rng.randint(1, 900_000)) / 10**7,
                                  bid_size=Decimal(rng.randint(1, 900_000)) / 10**7)
                    for k in range(15))  # fmt: skip
                ev = OrderbookEvent(type="orderbook", code=code, timestamp=ms,
                                    total_ask_size=sum(u.ask_size for u in units),
                                    total_bid_size=sum(u.bid_size for u in units),
                                    orderbook_units=units, stream_type="REALTIME", level=Decimal(0))
            elif r < 0.61:
                sid += 1
                ev = TradeEvent(type="trade", code=code, timestamp=ms, trade_timestamp=ms,
                                trade_price=mid,
                                trade_volume=Decimal(rng.randint(1, 10**6)) / 10**8,
                                ask_bid=rng.choice(("ASK", "BID")), sequential_id=sid,
                                best_ask_price=mid + tick, best_bid_price=mid - tick,
                                stream_type="REALTIME")  # fmt: skip
            else:
                ev = TickerEvent(type="ticker", code=code, trade_price=mid, opening_price=mid,
                                 high_price=mid + tick * 10, low_price=mid - tick * 10,
                                 prev_closing_price=mid, change="EVEN", timestamp=ms,
                                 trade_timestamp=ms, acc_trade_volume=Decimal("123.45"),
                                 stream_type="REALTIME")  # fmt: skip
            fh.write(encode_record(ev, t))


def bare(path: Path) -> tuple[int, float]:
    t0 = time.perf_counter()
    n = 0
    for _ev in read_recording(path):
        n += 1
    return n, time.perf_counter() - t0


def backtest(path: Path) -> tuple[int, float, int]:
    cfg = BacktestConfig(settings=Settings(), recordings=(path,),
                         balances={"KRW": Decimal(10_000_000)})
    spec = ComponentSpec("counter", Counter, None, "counter")
    t0 = time.perf_counter()
    result = Backtest(cfg, [spec]).run()
    took = time.perf_counter() - t0
    return result.events, took, result.components[0]["handled"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="a smaller recording")
    mode.add_argument("--smoke", action="store_true", help="the smallest run")
    ap.add_argument("--events", type=int, default=0, help="events in the recording")
    ap.add_argument("--repeat", type=int, default=0, help="runs of each, best taken")
    args = ap.parse_args(argv)
    n = args.events or (5_000 if args.smoke else 60_000 if args.quick else 200_000)
    repeat = args.repeat or (1 if args.smoke else 3)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.jsonl"
        write_recording(path, n)
        bare_best = bt_best = float("inf")
        events = handled = 0
        for _ in range(repeat):
            count, took = bare(path)
            bare_best = min(bare_best, took)
            events, took, handled = backtest(path)
            bt_best = min(bt_best, took)
        assert events == count == n, (events, count, n)
        assert handled == n, f"the strategy got {handled} of {n} events"
    bare_eps, bt_eps = n / bare_best, n / bt_best
    ratio = bt_eps / bare_eps
    print(C.table(("loop", "events", "best s", "events/s"),
                  [("bare read_recording", n, bare_best, bare_eps),
                   ("backtest, trivial strategy", n, bt_best, bt_eps)]))
    print(f"ratio backtest / bare = {ratio:.3f} (goal >= 0.5)")
    print(C.key_line({"backtest_ratio": ratio, "backtest_eps": bt_eps, "bare_eps": bare_eps,
                      "events": n}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

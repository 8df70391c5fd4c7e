"""Benchmark: upbit_hub.actors.protocol.decode against json.loads on the same frames.

Usage: ``python bench/bench_decode.py [--quick]``

For ticker, trade and orderbook (30 levels), in SIMPLE and DEFAULT, a varied set of frames
(different codes, prices, sizes, Java-style number spellings such as ``1.16539E8`` and
``7.9276E-4``) is decoded by:

- ``decode``          the library (frozen Structs, Decimal prices/sizes, exact ints);
- ``json.loads``      plain dicts with float numbers (the baseline the brief names);
- ``json.loads+Dec``  dicts with ``parse_float=Decimal``: the cheapest stdlib way to get the
                      same exactness, shown for context;
- ``float structs``   diagnostic: msgspec into Structs of the same shape with ``float`` instead
                      of Decimal (what decode would cost without exact numbers).

Rounds are interleaved and the best round of each is kept (machines are noisy); ratios are
taken within one run. The last line is ``key=value ...``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from decimal import Decimal
from typing import Any

import msgspec

from upbit_hub.actors.protocol import decode
from upbit_hub.actors.protocol import fields as F

QUOTES = ("KRW", "BTC", "USDT")
BASES = ("BTC", "ETH", "XRP", "SOL", "DOGE", "ADA", "TRX", "AVAX", "LINK", "SUI", "ONDO", "SHIB")


def java_number(value: float, rng: random.Random) -> str:
    """Spell a number the ways Upbit's Java backend does: 1.16539E8, 7.9276E-4, 0.00077720."""
    style = rng.random()
    if value != 0 and (abs(value) >= 1e7 or abs(value) < 1e-3) and style < 0.5:
        mantissa, exponent = f"{value:.6E}".split("E")
        mantissa = mantissa.rstrip("0").rstrip(".")
        if "." not in mantissa:
            mantissa += ".0"
        return f"{mantissa}E{int(exponent)}"
    if style < 0.75:
        return f"{value:.8f}"  # trailing zeros kept
    return repr(float(value))


def dumps(obj: object) -> str:
    """json.dumps that writes pre-spelled numbers (from :func:`num`) as bare JSON numbers."""
    text = json.dumps(obj, separators=(",", ":"))
    return text.replace('"#num:', "").replace('#"', "")


def num(value: float, rng: random.Random) -> str:
    """A placeholder string that :func:`dumps` turns into a Java-spelled JSON number.

    Values are rounded like Upbit's: prices to a price-dependent tick, the rest to 8 places.
    """
    tick = 1000 if value >= 1e6 else 1 if value >= 1e3 else 1e-4 if value >= 1 else 1e-8
    value = round(round(value / tick) * tick, 8)
    return "#num:" + java_number(value, rng) + "#"


def ticker(rng: random.Random, code: str) -> dict:
    price = rng.uniform(100, 2e8)
    fields = {
        "type": "ticker", "code": code, "opening_price": num(price * 0.99, rng),
        "high_price": num(price * 1.02, rng), "low_price": num(price * 0.97, rng),
        "trade_price": num(price, rng), "prev_closing_price": num(price * 0.995, rng),
        "acc_trade_price": num(rng.uniform(1e6, 1e11), rng), "change": "RISE",
        "change_price": num(price * 0.005, rng), "signed_change_price": num(price * 0.005, rng),
        "change_rate": num(rng.uniform(0, 0.1), rng),
        "signed_change_rate": num(rng.uniform(0, 0.1), rng), "ask_bid": rng.choice(["ASK", "BID"]),
        "trade_volume": num(rng.uniform(1e-5, 3), rng),
        "acc_trade_volume": num(rng.uniform(1, 1e4), rng), "trade_date": "20250707",
        "trade_time": "022055", "trade_timestamp": 1751854855934 + rng.randrange(10**6),
        "acc_ask_volume": num(rng.uniform(1, 1e4), rng),
        "acc_bid_volume": num(rng.uniform(1, 1e4), rng),
        "highest_52_week_price": num(price * 1.5, rng), "highest_52_week_date": "2025-01-20",
        "lowest_52_week_price": num(price * 0.5, rng), "lowest_52_week_date": "2024-08-05",
        "market_state": "ACTIVE", "delisting_date": None,
        "timestamp": 1751854855963 + rng.randrange(10**6),
        "acc_trade_price_24h": num(rng.uniform(1e6, 1e12), rng),
        "acc_trade_volume_24h": num(rng.uniform(1, 1e5), rng), "stream_type": "REALTIME",
    }
    return fields


def trade(rng: random.Random, code: str) -> dict:
    price = rng.uniform(100, 2e8)
    ts = 1751854855934 + rng.randrange(10**6)
    return {
        "type": "trade", "code": code, "timestamp": ts + 25, "trade_date": "2025-07-07",
        "trade_time": "02:20:55", "trade_timestamp": ts, "trade_price": num(price, rng),
        "trade_volume": num(rng.uniform(1e-5, 3), rng), "ask_bid": rng.choice(["ASK", "BID"]),
        "prev_closing_price": num(price * 0.99, rng), "change": "RISE",
        "change_price": num(price * 0.01, rng), "sequential_id": ts * 10000 + rng.randrange(10),
        "best_ask_price": num(price + 1000, rng), "best_ask_size": num(rng.uniform(0, 1), rng),
        "best_bid_price": num(price, rng), "best_bid_size": num(rng.uniform(0, 1), rng),
        "stream_type": "REALTIME",
    }


def orderbook(rng: random.Random, code: str, levels: int = 30) -> dict:
    mid = rng.uniform(100, 2e8)
    tick = max(mid * 1e-5, 0.01)
    units = [
        {
            "ask_price": num(mid + (i + 1) * tick, rng),
            "bid_price": num(mid - (i + 1) * tick, rng),
            "ask_size": num(rng.uniform(1e-5, 2), rng),
            "bid_size": num(rng.uniform(1e-5, 2), rng),
        }
        for i in range(levels)
    ]
    return {
        "type": "orderbook", "code": code, "timestamp": 1751854855995 + rng.randrange(10**6),
        "total_ask_size": num(rng.uniform(1, 50), rng),
        "total_bid_size": num(rng.uniform(1, 50), rng),
        "orderbook_units": units, "stream_type": "REALTIME", "level": 0,
    }


MAKERS = {"ticker": (ticker, F.TICKER_FIELDS), "trade": (trade, F.TRADE_FIELDS),
          "orderbook": (orderbook, F.ORDERBOOK_FIELDS)}


def frames(kind: str, fmt: str, count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    make, table = MAKERS[kind]
    out = []
    for _ in range(count):
        code = f"{rng.choice(QUOTES)}-{rng.choice(BASES)}"
        obj = make(rng, code)
        if fmt == "SIMPLE":
            obj = F.to_simple(obj, table)
        out.append(dumps(obj).encode())
    return out


def float_struct_decoder(kind: str, fmt: str) -> msgspec.json.Decoder:
    """Diagnostic: a Struct of the same fields with float numbers, for the given format."""
    py = {"str": str, "dec": float, "int": int, "bool": bool, "any": Any}

    def struct(name: str, table: tuple[F.Field, ...]) -> type:
        spec = []
        for default, _simple, k in table:
            if k in F.NESTED_FIELDS:
                typ: Any = list[struct(name + "Item", F.NESTED_FIELDS[k])]
            else:
                typ = py[k]
            spec.append((default, typ | None, None))
        rename = {d: (s if fmt == "SIMPLE" else d) for d, s, _ in table}
        return msgspec.defstruct(name, spec, rename=rename)

    return msgspec.json.Decoder(struct(f"Float{kind}{fmt}", MAKERS[kind][1]))


def best_rate(fn, batch: list[bytes], rounds: int) -> list[float]:
    """Per-round events/s of ``fn`` over ``batch``."""
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for frame in batch:
            fn(frame)
        rates.append(len(batch) / (time.perf_counter() - start))
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames and rounds")
    args = parser.parse_args(argv)
    count, rounds = (300, 5) if args.quick else (2000, 15)

    def loads_decimal(frame: bytes) -> object:
        return json.loads(frame, parse_float=Decimal)

    results: dict[str, float] = {}
    print(f"python {sys.version.split()[0]}, {count} frames x {rounds} rounds per case")
    print(f"{'case':<27}{'decode ev/s':>12}{'json.loads':>12}{'+Decimal':>12}"
          f"{'vs json':>9}{'vs json+Dec':>12}{'float structs':>15}")
    for seed, kind in enumerate(("ticker", "trade", "orderbook")):
        for fmt in ("SIMPLE", "DEFAULT"):
            batch = frames(kind, fmt, count, seed=seed)
            check = decode(batch[0])[0]
            assert type(check).__name__.lower().startswith(kind), check
            size = sum(map(len, batch)) / len(batch)
            floats = float_struct_decoder(kind, fmt).decode
            cases = {
                "decode": decode, "json": json.loads, "json_dec": loads_decimal, "float": floats
            }
            rates: dict[str, list[float]] = {name: [] for name in cases}
            for _ in range(rounds):  # interleave so drift hits every contender alike
                for name, fn in cases.items():
                    rates[name] += best_rate(fn, batch, 1)
            best = {name: max(values) for name, values in rates.items()}
            vs_json = best["decode"] / best["json"]
            vs_dec = best["decode"] / best["json_dec"]
            label = f"{kind} {fmt} ({size:.0f} B)"
            print(f"{label:<27}{best['decode']:>12,.0f}{best['json']:>12,.0f}"
                  f"{best['json_dec']:>12,.0f}{vs_json:>8.2f}x{vs_dec:>11.2f}x"
                  f"{best['float'] / best['json']:>14.2f}x")
            results[f"decode_vs_json_{kind}_{fmt.lower()}"] = vs_json
            results[f"decode_vs_jsondec_{kind}_{fmt.lower()}"] = vs_dec
            results[f"decode_eps_{kind}_{fmt.lower()}"] = best["decode"]
            results[f"floatstruct_vs_json_{kind}_{fmt.lower()}"] = best["float"] / best["json"]
    print(" ".join(
        f"{k}={v:.0f}" if k.startswith("decode_eps") else f"{k}={v:.2f}"
        for k, v in results.items()
    ))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Wire bytes per event of the emulator's frames: DEFAULT vs SIMPLE, raw vs permessage-deflate.

A realistic varied stream (ticker + trade + orderbook of the default markets, from the seeded
market simulator, rendered with Upbit's Java number spelling) is measured as

- DEFAULT raw, SIMPLE raw;
- DEFAULT+deflate, SIMPLE+deflate with context takeover: exactly RFC 7692 permessage-deflate,
  one ``zlib.compressobj(level, DEFLATED, -15)`` per connection, ``Z_SYNC_FLUSH`` per message,
  minus the trailing ``00 00 ff ff``;
- the same without context takeover (a fresh compressor per message).

Ratios are against DEFAULT raw measured in the same run. It also reports how fast the
simulator produces events (``advance``) and how long rendering takes, since the emulator must
reach 20,000 msg/s. Final line: ``key=value ...``.

Usage: ``python bench/bench_bandwidth.py [--quick]``. Runs in: the main thread.
"""

from __future__ import annotations

import argparse
import time
import zlib

from upbit_hub.actors.emulator.market import MarketSimulator
from upbit_hub.actors.emulator.render import render

T0 = 1_751_854_855_000
TYPES = ("ticker", "trade", "orderbook")


def deflate_sizes(frames: list[bytes], level: int = zlib.Z_DEFAULT_COMPRESSION) -> tuple[int, int]:
    """(bytes with context takeover, bytes without) for one connection carrying ``frames``."""
    ctx = zlib.compressobj(level, zlib.DEFLATED, -15)
    with_ctx = 0
    without = 0
    for f in frames:
        data = ctx.compress(f) + ctx.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(b"\x00\x00\xff\xff")
        with_ctx += len(data) - 4
        fresh = zlib.compressobj(level, zlib.DEFLATED, -15)
        one = fresh.compress(f) + fresh.flush(zlib.Z_SYNC_FLUSH)
        without += len(one) - 4
    return with_ctx, without


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer frames (about 2,000)")
    args = ap.parse_args()
    seconds = 2 if args.quick else 8

    sim = MarketSimulator(seed=7, rate=1000, start_ms=T0)
    events = [e for e in sim.advance(sim.now_ms + seconds * 1000) if e["type"] in TYPES]
    counts = {t: sum(1 for e in events if e["type"] == t) for t in TYPES}

    t = time.perf_counter()
    default = [render(e, "DEFAULT", stream_type="REALTIME") for e in events]
    render_default_us = (time.perf_counter() - t) / len(events) * 1e6
    t = time.perf_counter()
    simple = [render(e, "SIMPLE", stream_type="REALTIME") for e in events]
    render_simple_us = (time.perf_counter() - t) / len(events) * 1e6

    n = len(events)
    d_raw = sum(map(len, default))
    s_raw = sum(map(len, simple))
    d_ctx, d_noctx = deflate_sizes(default)
    s_ctx, s_noctx = deflate_sizes(simple)

    print(f"events: {n} ({', '.join(f'{k} {v}' for k, v in counts.items())})")
    print(f"{'stream':<34}{'bytes/event':>12}{'% of DEFAULT raw':>18}")
    rows = [
        ("DEFAULT raw (baseline)", d_raw),
        ("SIMPLE raw", s_raw),
        ("DEFAULT+deflate (context takeover)", d_ctx),
        ("SIMPLE+deflate (context takeover)", s_ctx),
        ("DEFAULT+deflate (no takeover)", d_noctx),
        ("SIMPLE+deflate (no takeover)", s_noctx),
    ]
    for name, total in rows:
        print(f"{name:<34}{total / n:>12.1f}{100 * total / d_raw:>17.1f}%")

    # simulator speed: events produced per wall second at a high target rate
    fast = MarketSimulator(seed=7, rate=50_000, start_ms=T0)
    sim_s = 1 if args.quick else 4
    t = time.perf_counter()
    produced = len(fast.advance(fast.now_ms + sim_s * 1000))
    advance_eps = produced / (time.perf_counter() - t)
    print(f"advance: {advance_eps:,.0f} events/s (target rate 50,000 msg/s simulated)")
    print(
        f"render: DEFAULT {render_default_us:.1f} us/event, SIMPLE {render_simple_us:.1f} us/event"
    )
    target = "met" if s_ctx <= 0.15 * d_raw else "NOT met"
    print(f"target SIMPLE+deflate <= 15% of DEFAULT raw: {target}")

    def pct(x: int) -> str:
        return f"{100 * x / d_raw:.1f}"

    print(
        f"events={n} default_raw_bpe={d_raw / n:.1f} simple_raw_pct={pct(s_raw)} "
        f"default_deflate_pct={pct(d_ctx)} simple_deflate_pct={pct(s_ctx)} "
        f"default_deflate_noctx_pct={pct(d_noctx)} simple_deflate_noctx_pct={pct(s_noctx)} "
        f"advance_eps={advance_eps:.0f} render_default_us={render_default_us:.1f} "
        f"render_simple_us={render_simple_us:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Full-market load: the hub's CPU while subscribed to ticker+trade+orderbook of 855 markets.

The emulator runs in another process (``upbit-hub emulate --markets <855 codes> --rate R``):
400 KRW, 300 BTC and 155 USDT generated codes (``KRW-X000``, ``BTC-Y000``, ``USDT-Z000``...).

1. Rate check at ``--rate 2500``: a bare reader subscribed to ticker+trade+orderbook of every
   market counts frames. The emulator's ``--rate`` counts ALL message types, candles included
   (and candles are charged even when nobody subscribes to them), so the three subscribed
   types arrive well below 2,500/s. The measured rate is printed as is.
2. Calibration: the emulator is restarted at a higher ``--rate`` chosen so that the three
   subscribed types arrive at about 2,500 msg/s (one correction step from the measurement in
   1; the exponent 0.85 comes from the measured non-linearity of the simulator's budget).
3. Baseline: a bare ``wsdeflate.open_websocket(compression=True)`` + ``recv`` + ``decode``
   loop (the socket layer the hub uses, deflate on as in the hub's defaults) on that stream;
   its process CPU over the window.
4. The hub (defaults: SIMPLE, compression on) with three components (ticker, trade,
   orderbook), each subscribed to every market; after a warm-up (snapshots), the process CPU
   (``time.process_time``, all threads) over the window, as % of one core, and the events/s
   the callbacks actually received.

Target: hub CPU < 25 % of one core.

Usage: ``python bench/bench_fullmarket.py [--quick | --smoke] [--window S] [--rate R]
[--markets N] [--profile]``. Runs in: the main thread (the hub's own threads aside).
Last line: ``key=value ...`` (``fullmarket_cpu_pct``, ``events_per_s``, ...).
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

import _common as C

from upbit_hub.actors.protocol import decode
from upbit_hub.actors.wsdeflate import open_websocket

TYPES = ("ticker", "trade", "orderbook")


def market_codes(krw: int = 400, btc: int = 300, usdt: int = 155) -> list[str]:
    """855 generated codes by default, KRW/BTC/USDT mix."""
    return ([f"KRW-X{i:03d}" for i in range(krw)] + [f"BTC-Y{i:03d}" for i in range(btc)]
            + [f"USDT-Z{i:03d}" for i in range(usdt)])


def bare_window(ws_url: str, codes: list[str], warmup: float,
                window: float) -> tuple[float, float]:
    """(frames/s, CPU % of one core) of a bare recv+decode loop over ``window`` seconds."""
    ws = open_websocket(ws_url, compression=True, timeout=30)
    try:
        ws.send(C.request(codes, types=TYPES))
        recv = ws.recv
        end = time.monotonic() + warmup
        while time.monotonic() < end:
            decode(recv())
        n = 0
        t0, c0 = time.monotonic(), time.process_time()
        deadline = t0 + window
        while True:
            decode(recv())
            n += 1
            if not n & 63 and time.monotonic() >= deadline:
                break
        wall, cpu = time.monotonic() - t0, time.process_time() - c0
    finally:
        ws.close()
    return n / wall, cpu / wall * 100


class Counts:
    """Callback counters. Runs in: each component's actor thread (one counter each)."""

    def __init__(self) -> None:
        self.n = {t: 0 for t in TYPES}

    def callback(self, kind: str) -> Any:
        n = self.n

        def cb(ev: Any) -> None:
            n[kind] += 1

        return cb


def hub_window(base_url: str, codes: list[str], warmup: float,
               window: float) -> dict[str, float]:
    """CPU % of one core and events/s of the hub process over ``window`` seconds."""
    from upbit_hub.actors import WebSocketClientProxy
    from upbit_hub.actors.hub import Hub
    from upbit_hub.config.settings import Settings

    hub = Hub(Settings().with_emulator(base_url)).start()
    counts = Counts()
    try:
        proxies = [WebSocketClientProxy(f"full-{t}", hub=hub) for t in TYPES]
        subs = {
            "ticker": lambda p: p.subscribe_ticker(codes, counts.callback("ticker")),
            "trade": lambda p: p.subscribe_trade(codes, counts.callback("trade")),
            "orderbook": lambda p: p.subscribe_orderbook(codes, counts.callback("orderbook")),
        }
        threads = [threading.Thread(target=subs[t], args=(p,))
                   for t, p in zip(TYPES, proxies, strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        if not C.wait_until(lambda: all(counts.n.values()), 30):
            raise SystemExit(f"no events of some type after 30 s: {counts.n}")
        time.sleep(warmup)  # snapshots of every market arrive first
        frames0 = _frames(hub)
        n0 = sum(counts.n.values())
        t0, c0 = time.monotonic(), time.process_time()
        time.sleep(window)  # the main thread idles; the hub's threads work
        wall, cpu = time.monotonic() - t0, time.process_time() - c0
        events = sum(counts.n.values()) - n0
        frames = _frames(hub) - frames0
        stats = [p.stats() for p in proxies]
    finally:
        hub.stop()
    return {"cpu_pct": cpu / wall * 100, "eps": events / wall, "fps": frames / wall,
            "conflated": sum(s["conflated"] for s in stats) / wall,
            "dropped": sum(s["dropped"] for s in stats)}


def _frames(hub: Any) -> int:
    return int(hub.status()["connections"]["public"]["frames"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="8 s hub window")
    ap.add_argument("--smoke", action="store_true", help="smallest run (for the smoke test)")
    ap.add_argument("--window", type=float, default=None, help="hub window, seconds")
    ap.add_argument("--rate", type=float, default=2500.0, help="target msg/s of the 3 types")
    ap.add_argument("--markets", type=int, default=None, help="855 (60 with --smoke)")
    ap.add_argument("--profile", action="store_true",
                    help="cProfile the hub's reader and component threads (inflates the CPU %%)")
    args = ap.parse_args(argv)
    window = args.window or (1.5 if args.smoke else 8.0 if args.quick else 30.0)
    check = 1.0 if args.smoke else 3.0 if args.quick else 6.0
    warmup = 0.5 if args.smoke else 1.5
    n = args.markets or (60 if args.smoke else 855)
    codes = market_codes(n * 400 // 855, n * 300 // 855, n - n * 400 // 855 - n * 300 // 855)
    target = args.rate

    proc, base = C.emulator_process(codes, target)
    try:
        at_target, _ = bare_window(_ws(base), codes, warmup, check)
    finally:
        C.stop_process(proc)
    emu_rate = min(200_000.0, target * (target / max(at_target, 1.0)) ** 0.85)
    print(f"{len(codes)} markets; emulator --rate {target:.0f}: ticker+trade+orderbook arrive "
          f"at {at_target:,.0f} msg/s (the rate counts candles too)")
    proc, base = C.emulator_process(codes, round(emu_rate))
    try:
        bare_fps, bare_cpu = bare_window(_ws(base), codes, warmup, check)
        print(f"emulator --rate {emu_rate:.0f}: {bare_fps:,.0f} msg/s of the 3 types "
              f"(aimed at {target:,.0f})")
        if args.profile:
            with C.ThreadProfiles() as prof:
                hub = hub_window(base, codes, warmup, window)
            prof.report()
        else:
            hub = hub_window(base, codes, warmup, window)
    finally:
        C.stop_process(proc)
    rows = [
        ("bare open_websocket+decode", bare_fps, bare_fps, bare_cpu, 1.0, "", ""),
        ("hub, 3 components", hub["fps"], hub["eps"], hub["cpu_pct"],
         hub["cpu_pct"] / bare_cpu, "< 25 %", "yes" if hub["cpu_pct"] < 25 else "NO"),
    ]
    print(f"windows: bare {check:g} s, hub {window:g} s")
    print(C.table(("mode", "frames/s", "events/s", "CPU % core", "CPU vs bare", "target",
                   "met"), rows))
    print(f"hub: conflated {hub['conflated']:,.0f} events/s (latest-wins), "
          f"dropped {hub['dropped']:.0f}")
    print(C.key_line({
        "fullmarket_cpu_pct": hub["cpu_pct"], "events_per_s": hub["eps"],
        "frames_per_s": hub["fps"], "bare_cpu_pct": bare_cpu, "cpu_ratio": hub["cpu_pct"]
        / bare_cpu, "emulator_rate_at_2500": at_target, "emulator_rate_used": round(emu_rate),
        "stream_rate": bare_fps, "markets": len(codes), "window_s": window,
    }))
    return 0


def _ws(base: str) -> str:
    return base.replace("http://", "ws://", 1) + "/websocket/v1"


if __name__ == "__main__":
    raise SystemExit(main())

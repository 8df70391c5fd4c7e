"""Send-to-callback latency at paced rates: the hub vs. a bare recv+decode loop.

A server process (``_common.server_process``, path ``/pace/<rate>/<seconds>``) sends varied
SIMPLE trade frames at a steady rate. Just before writing each frame it stamps
``time.time_ns()`` (CLOCK_REALTIME, shared by both processes on this machine) into the frame's
``sid`` (``sequential_id``, nanoseconds since the epoch, kept strictly increasing so the hub's
duplicate-trade filter never fires). The receiver computes ``time.time_ns() - sequential_id``:

  bare  ``websocket.create_connection(skip_utf8_validation=True)`` + ``recv()`` + ``decode``;
        latency taken after decode (the baseline, same run)
  hub   ``Hub(settings).start()``, one component subscribed with ``subscribe_trade``; latency
        taken inside the callback (the component's actor thread)

So the numbers include loopback TCP, the server's write, websocket framing, decode and, for the
hub, the reader -> inbox -> component-thread hop. Samples from the first 0.3 s of every run are
dropped (connection warm-up). Rounds alternate bare/hub per rate; percentiles are over the
pooled samples of each (mode, rate).

Targets: hub p99 < 2 ms at 1,000 msg/s and < 5 ms at 5,000 msg/s.

Usage: ``python bench/bench_latency.py [--quick | --smoke] [--rates 1000,5000] [--seconds S]
[--rounds R] [--deflate]``. Last line: ``key=value ...`` (``p99_1k_ms``, ``p99_5k_ms``, ...).
Runs in: the main thread (the hub's own threads aside); the server in another process.
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

import _common as C
import websocket

from upbit_hub.actors.protocol import decode
from upbit_hub.actors.wsdeflate import open_websocket

WARMUP_S = 0.3


def run_bare(base: str, rate: float, seconds: float, deflate: bool) -> list[int]:
    """Latencies (ns) seen by the bare loop."""
    url = f"{base}/pace/{rate}/{seconds}"
    ws = (open_websocket(url, compression=True, timeout=30) if deflate
          else websocket.create_connection(url, skip_utf8_validation=True, timeout=30))
    out: list[int] = []
    try:
        recv, now = ws.recv, time.time_ns
        ws.send(C.request(C.CODES, types=("trade",)))
        while True:
            ev = decode(recv())[0]
            t = now()
            if ev.sequential_id == C.END_SID:
                break
            out.append(t - ev.sequential_id)
    finally:
        ws.close()
    return out[int(rate * WARMUP_S):]


def run_hub(base: str, rate: float, seconds: float, deflate: bool) -> list[int]:
    """Latencies (ns) seen in a hub component's callback."""
    from upbit_hub.actors import WebSocketClientProxy
    from upbit_hub.actors.hub import Hub

    out: list[int] = []
    done = threading.Event()
    now = time.time_ns

    def on_trade(ev: Any) -> None:
        t = now()
        if ev.sequential_id == C.END_SID:
            done.set()
        else:
            out.append(t - ev.sequential_id)

    hub = Hub(C.hub_settings(f"{base}/pace/{rate}/{seconds}", compression=deflate)).start()
    try:
        proxy = WebSocketClientProxy("latency", hub=hub)
        proxy.subscribe_trade(C.CODES, on_trade)
        if not done.wait(seconds + 60):
            raise SystemExit(f"hub latency run did not finish ({len(out)} samples)")
    finally:
        hub.stop()
    return out[int(rate * WARMUP_S):]


def summary(samples: list[int]) -> dict[str, float]:
    s = sorted(samples)
    ms = 1e-6
    return {"n": len(s), "p50": C.percentile(s, 50) * ms, "p90": C.percentile(s, 90) * ms,
            "p99": C.percentile(s, 99) * ms, "max": (s[-1] * ms) if s else float("nan")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 s per run, 1 round")
    ap.add_argument("--smoke", action="store_true", help="smallest run (for the smoke test)")
    ap.add_argument("--rates", default="1000,5000")
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--deflate", action="store_true", help="permessage-deflate on both sides")
    args = ap.parse_args(argv)
    seconds = args.seconds or (0.8 if args.smoke else 2.5 if args.quick else 6.0)
    rounds = args.rounds or (1 if args.smoke or args.quick else 2)
    rates = [float(r) for r in args.rates.split(",")]

    print(f"{seconds:g} s per run, {rounds} round(s) per mode and rate, first {WARMUP_S} s "
          f"dropped; deflate {'on' if args.deflate else 'off'}; latency in ms")
    rows = []
    out: dict[str, Any] = {}
    with C.server_process() as base:
        run_bare(base, 1000, 0.5, args.deflate)  # warm-up, untimed
        run_hub(base, 1000, 0.5, args.deflate)
        for rate in rates:
            pooled: dict[str, list[int]] = {"bare": [], "hub": []}
            for _ in range(rounds):
                pooled["bare"] += run_bare(base, rate, seconds, args.deflate)
                pooled["hub"] += run_hub(base, rate, seconds, args.deflate)
            res = {m: summary(v) for m, v in pooled.items()}
            target = 2.0 if rate <= 1000 else 5.0
            for m in ("bare", "hub"):
                r = res[m]
                met = ("yes" if r["p99"] < target else "NO") if m == "hub" else ""
                rows.append((f"{m} @ {rate:,.0f}/s", r["n"], r["p50"], r["p90"], r["p99"],
                             r["max"], r["p99"] / res["bare"]["p99"],
                             f"< {target:g}" if m == "hub" else "", met))
            tag = f"{rate / 1000:g}k"
            out[f"p99_{tag}_ms"] = res["hub"]["p99"]
            out[f"p50_{tag}_ms"] = res["hub"]["p50"]
            out[f"max_{tag}_ms"] = res["hub"]["max"]
            out[f"bare_p99_{tag}_ms"] = res["bare"]["p99"]
            out[f"bare_p50_{tag}_ms"] = res["bare"]["p50"]
            out[f"p99_ratio_{tag}"] = res["hub"]["p99"] / res["bare"]["p99"]
    print(C.table(("mode @ rate", "samples", "p50", "p90", "p99", "max", "p99 vs bare",
                   "target p99", "met"), rows))
    print(C.key_line(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

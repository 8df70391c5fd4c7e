"""How many messages/s the emulator delivers to ONE subscribed WebSocket client.

The emulator runs in this process; a plain websocket-client reader (bare ``recv`` loop) runs
in a separate process, subscribed to every type of every market, and counts frames for a few
seconds. For each target market rate it prints the received rate and two ratios measured in
the same run: against the target, and against a baseline = how many events/s the market
simulator alone generates at that target (no server), so the server's share is visible.

    python bench/bench_emulator.py [--seconds 3] [--rates 1000,5000,20000,40000] [--simple]
                                   [--replay]

``--replay`` takes the simulator out of the measurement: the market's ``advance`` is replaced
by a replay of events recorded beforehand at the target rate, so the numbers show what the
server (render + fan-out + socket writes) can deliver on its own.

Last line: ``key=value ...`` (``max_rate`` = best received msgs/s).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time


def reader(url: str, request: str, seconds: float, warmup: float, out: mp.Queue) -> None:
    import websocket

    ws = websocket.create_connection(url, skip_utf8_validation=True)
    ws.send(request)
    end_warm = time.monotonic() + warmup
    while time.monotonic() < end_warm:
        ws.recv()
    n = 0
    nbytes = 0
    t0 = time.monotonic()
    deadline = t0 + seconds
    while True:
        data = ws.recv()
        n += 1
        nbytes += len(data)
        if (n & 255) == 0 and time.monotonic() >= deadline:
            break
    elapsed = time.monotonic() - t0
    ws.close()
    out.put((n / elapsed, nbytes / elapsed))


def simulator_only(rate: float, seconds: float) -> float:
    """Events/s the market simulator generates alone at ``rate`` (advancing in 10 ms steps)."""
    from upbit_hub.actors.emulator.market import MarketSimulator

    sim = MarketSimulator(rate=rate)
    now = int(time.time() * 1000)
    sim.advance(now)
    n = 0
    sim_ms = int(seconds * 1000)
    t0 = time.perf_counter()
    for step in range(1, sim_ms // 10 + 1):
        n += len(sim.advance(now + step * 10))
    cpu = time.perf_counter() - t0
    return n / max(cpu, seconds) if cpu > seconds else n / seconds


def record_events(rate: float, seconds: float = 2.0) -> list[dict]:
    """Events the simulator produces in ``seconds`` at ``rate`` (recorded once, replayed)."""
    from upbit_hub.actors.emulator.market import MarketSimulator

    sim = MarketSimulator(rate=rate)
    now = int(time.time() * 1000)
    sim.advance(now)
    out: list[dict] = []
    for step in range(1, int(seconds * 100) + 1):
        out += sim.advance(now + step * 10)
    return out


def replayer(events: list[dict], rate: float):
    """A stand-in for ``MarketSimulator.advance`` that replays ``events`` at ``rate``/s."""
    state = {"last": None, "i": 0, "credit": 0.0}

    def advance(now_ms: int) -> list[dict]:
        if state["last"] is None:
            state["last"] = now_ms
            return []
        state["credit"] += (now_ms - state["last"]) * rate / 1000.0
        state["last"] = now_ms
        n = int(state["credit"])
        state["credit"] -= n
        i = state["i"]
        batch = [events[(i + k) % len(events)] for k in range(n)]
        state["i"] = (i + n) % len(events)
        return batch

    return advance


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rates", default="1000,5000,20000,40000")
    parser.add_argument("--simple", action="store_true", help="SIMPLE format instead of DEFAULT")
    parser.add_argument("--replay", action="store_true",
                        help="replay recorded events instead of running the simulator")
    args = parser.parse_args()

    from upbit_hub.actors.emulator import Emulator
    from upbit_hub.actors.emulator.market import DEFAULT_MARKETS
    from upbit_hub.actors.protocol.fields import PUBLIC_TYPES

    fmt = "SIMPLE" if args.simple else "DEFAULT"
    req = [{"ticket": "bench"}]
    req += [{"type": t, "codes": list(DEFAULT_MARKETS), "is_only_realtime": True}
            for t in PUBLIC_TYPES]
    req.append({"format": fmt})
    request = json.dumps(req)
    ctx = mp.get_context("spawn")
    best = 0.0
    results = []
    for rate in [float(r) for r in args.rates.split(",")]:
        base = simulator_only(rate, args.seconds)
        with Emulator(rate=0 if args.replay else rate, idle_timeout=600) as emu:
            if args.replay:
                advance = replayer(record_events(rate), rate)
                emu.call(lambda core, advance=advance: setattr(core.market, "advance", advance))
            q: mp.Queue = ctx.Queue()
            p = ctx.Process(target=reader, args=(emu.ws_url, request, args.seconds,
                                                 args.warmup, q))
            p.start()
            got, bps = q.get(timeout=args.seconds + args.warmup + 60)
            p.join(10)
            dropped = emu.stats().dropped_slow
        best = max(best, got)
        results.append((rate, got))
        print(f"target={rate:>8.0f}/s  simulator_alone={base:>9.0f}/s  received={got:>9.0f}/s "
              f"({bps / 1e6:5.1f} MB/s)  vs_target={got / rate:5.2f}  "
              f"vs_simulator={got / base:5.2f}"
              f"  dropped_slow={dropped}")
    r20 = dict(results).get(20000.0)
    print(f"format={fmt} replay={int(args.replay)} max_rate={best:.0f} "
          f"rate_at_20000={r20 or 0:.0f} ratio_at_20000={(r20 or 0) / 20000:.2f}")


if __name__ == "__main__":
    main()

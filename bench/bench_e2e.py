"""End-to-end throughput: socket -> decode -> component callbacks, hub vs. a bare recv loop.

A server process (``_common.server_process``, path ``/burst/N``) sends N varied SIMPLE frames
(60 % trades with unique ``sid``, 40 % tickers, 16 KRW/BTC markets) as fast as it can once the
subscription request naming the trigger code arrives, then one end frame. Modes, interleaved
round by round, medians reported:

  a   bare loop: ``websocket.create_connection(url, skip_utf8_validation=True)`` + ``recv()`` +
      ``upbit_hub.actors.protocol.decode`` per frame (with ``--deflate on`` the bare loop uses
      ``wsdeflate.open_websocket(compression=True)``, since websocket-client cannot inflate)
  a2  diagnostic: the same loop over ``wsdeflate.open_websocket(compression=False)``, the
      socket layer the hub itself uses (read-ahead buffer), so b/a2 isolates the hub's cost
  b   the hub (``Hub(settings).start()``) with ONE component whose callbacks count events
  c   the hub with TEN components subscribed to the same codes (each event reaches 10 callbacks)

Reported: frames/s (N over the time from the server's start stamp, written just before the
burst, to the end frame's arrival: the same definition for every mode),
events delivered/s (callback calls; tickers are latest-wins per code by design, so a slow
component sees fewer tickers than were sent), client CPU us per frame, and b/a, c/a on frames/s.

Hub settings changed for the benchmark (public ``[hub]`` fields only): ``trade_queue_size`` =
N + 16, so every trade can be counted (the default 10,000 would drop the excess loudly, which
is the designed backpressure and is reported as ``dropped`` when it happens).

Usage: ``python bench/bench_e2e.py [--quick | --smoke] [--frames N] [--rounds R]
[--deflate off|on|both] [--profile]``. Last line: ``key=value ...``.
Runs in: the main thread (the hub's own threads aside); servers in another process.
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


class Counter:
    """Counts one component's callbacks. Runs in: the component's actor thread.

    The first event is the server's start frame, whose ``sequential_id`` is the server's
    ``time.time_ns()`` when it wrote the burst; the end frame has ``sid`` = END_SID.
    """

    def __init__(self) -> None:
        self.n = 0
        self.trades = 0
        self.start_ns = 0
        self.end_ns = 0
        self.cpu1 = 0.0
        self.done = threading.Event()

    def trade(self, ev: Any) -> None:
        self.n += 1
        self.trades += 1
        if self.trades == 1:
            self.start_ns = ev.sequential_id
        elif ev.sequential_id == C.END_SID:
            self.end_ns, self.cpu1 = time.time_ns(), time.process_time()
            self.done.set()

    def ticker(self, ev: Any) -> None:
        self.n += 1


def run_bare(base: str, n: int, deflate: bool, fast: bool = False) -> dict[str, float]:
    """Mode a (``fast``: a2, the hub's own socket layer). Returns frames/s, events/s, CPU."""
    url = f"{base}/burst/{n}"
    ws = (open_websocket(url, compression=deflate, timeout=60) if deflate or fast
          else websocket.create_connection(url, skip_utf8_validation=True, timeout=60))
    try:
        recv = ws.recv
        c0 = time.process_time()
        ws.send(C.request([*C.CODES, C.TRIGGER]))
        start_ns = decode(recv())[0].sequential_id
        events = 0
        for _ in range(n + 1):  # n data frames, then the end frame
            events += len(decode(recv()))
        end_ns, cpu = time.time_ns(), time.process_time() - c0
    finally:
        ws.close()
    wall = (end_ns - start_ns) / 1e9
    return {"fps": n / wall, "eps": events / wall, "cpu_us": cpu / n * 1e6, "dropped": 0}


def run_hub(base: str, n: int, deflate: bool, components: int) -> dict[str, float]:
    """Modes b and c: a fresh hub per run, ``components`` counting components."""
    from upbit_hub.actors import WebSocketClientProxy
    from upbit_hub.actors.hub import Hub

    settings = C.hub_settings(f"{base}/burst/{n}", compression=deflate,
                              trade_queue_size=n + 16)
    hub = Hub(settings).start()
    try:
        proxies = [WebSocketClientProxy(f"e2e-{i}", hub=hub) for i in range(components)]
        counters = [Counter() for _ in proxies]

        def subscribe(p: Any, c: Counter) -> None:
            p.subscribe_trade(C.CODES, c.trade)
            p.subscribe_ticker(C.CODES, c.ticker)

        threads = [threading.Thread(target=subscribe, args=pc)
                   for pc in zip(proxies, counters, strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        c0 = time.process_time()
        proxies[0].subscribe_ticker([C.TRIGGER], lambda ev: None)  # the server starts now
        for c in counters:
            if not c.done.wait(120):
                raise SystemExit(f"hub run did not finish: {[x.n for x in counters]}")
        start_ns = min(c.start_ns for c in counters)
        end_ns = max(c.end_ns for c in counters)
        cpu = max(c.cpu1 for c in counters) - c0
        stats = [p.stats() for p in proxies]
        lost = [c.trades for c in counters if c.trades != counters[0].trades]
        if lost:
            print(f"warning: components saw different trade counts: {lost}")
    finally:
        hub.stop()
    wall = (end_ns - start_ns) / 1e9
    events = sum(c.n for c in counters)
    return {"fps": n / wall, "eps": events / wall, "cpu_us": cpu / n * 1e6,
            "dropped": sum(s["dropped"] for s in stats)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20k frames, 3 rounds, no deflate")
    ap.add_argument("--smoke", action="store_true", help="smallest run (for the smoke test)")
    ap.add_argument("--frames", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--deflate", choices=("off", "on", "both"), default=None)
    ap.add_argument("--profile", action="store_true",
                    help="after the timed rounds, profile one (b) and one (c) run (cProfile)")
    args = ap.parse_args(argv)
    n = args.frames or (2_000 if args.smoke else 20_000 if args.quick else 100_000)
    rounds = args.rounds or (1 if args.smoke else 3 if args.quick else 5)
    deflate = args.deflate or ("off" if args.quick or args.smoke else "both")
    variants = {"off": [False], "on": [True], "both": [False, True]}[deflate]

    fs = C.FrameSet(C.CODES)
    sample, trades = fs.burst(min(n, 10_000))
    avg = sum(map(len, sample)) / len(sample)
    print(f"{n} frames/run ({trades / len(sample):.0%} trades, {avg:.0f} B avg SIMPLE), "
          f"{rounds} rounds interleaved; medians")
    out: dict[str, Any] = {"frames": n, "rounds": rounds}
    rows = []
    with C.server_process() as base:
        for comp in variants:
            def runners(m: int, comp: bool = comp) -> dict[str, Any]:
                r = {
                    "a": lambda: run_bare(base, m, comp),
                    "a2": lambda: run_bare(base, m, comp, fast=True),
                    "b": lambda: run_hub(base, m, comp, 1),
                    "c": lambda: run_hub(base, m, comp, 10),
                }
                if comp:  # with deflate, (a) already reads through open_websocket
                    del r["a2"]
                return r

            for fn in runners(min(n, 2000)).values():  # warm-up, untimed
                fn()
            timed = runners(n)
            res: dict[str, list[dict[str, float]]] = {m: [] for m in timed}
            for _ in range(rounds):
                for name, fn in timed.items():
                    res[name].append(fn())
            med = {m: {k: C.median(r[k] for r in rs) for k in rs[0]} for m, rs in res.items()}
            tag = " deflate" if comp else ""
            labels = {"a": "bare websocket-client+decode", "a2": "bare open_websocket+decode",
                      "b": "hub, 1 component", "c": "hub, 10 components"}
            for m in timed:
                rows.append((f"({m}) {labels[m]}{tag}", med[m]["fps"], med[m]["eps"],
                             med[m]["eps"] / med[m]["fps"] / (10 if m == "c" else 1),
                             med[m]["cpu_us"], med[m]["fps"] / med["a"]["fps"],
                             med[m]["dropped"]))
            suffix = "_deflate" if comp else ""
            out[f"e2e_1{suffix}"] = med["b"]["fps"] / med["a"]["fps"]
            out[f"e2e_10{suffix}"] = med["c"]["fps"] / med["a"]["fps"]
            if "a2" in med:
                out["e2e_1_vs_a2"] = med["b"]["fps"] / med["a2"]["fps"]
                out["e2e_10_vs_a2"] = med["c"]["fps"] / med["a2"]["fps"]
                out["fps_a2"] = med["a2"]["fps"]
            out[f"fps_a{suffix}"] = med["a"]["fps"]
            out[f"fps_b{suffix}"] = med["b"]["fps"]
            out[f"fps_c{suffix}"] = med["c"]["fps"]
            out[f"eps_c{suffix}"] = med["c"]["eps"]
            out[f"cpu_us_a{suffix}"] = med["a"]["cpu_us"]
            out[f"cpu_us_b{suffix}"] = med["b"]["cpu_us"]
            out[f"cpu_us_c{suffix}"] = med["c"]["cpu_us"]
            out[f"dropped_c{suffix}"] = int(med["c"]["dropped"])
        print(C.table(("mode", "frames/s", "events/s", "delivered/frame", "CPU us/frame",
                       "vs a", "dropped"), rows))
        print("delivered/frame < 1: tickers are latest-wins per code (conflated) by design")
        print("target: (b)/(a) >= 0.5")
        if args.profile:
            for k in (1, 10):
                print(f"=== profile of one hub run with {k} component(s), deflate "
                      f"{'on' if variants[0] else 'off'}")
                profile_hub(base, n, variants[0], k)
    print(C.key_line(out))
    return 0


def profile_hub(base: str, n: int, deflate: bool, components: int) -> None:
    """cProfile the reader thread and the component threads of one hub run (diagnostic)."""
    with C.ThreadProfiles() as prof:
        run_hub(base, n, deflate, components)
    prof.report()


if __name__ == "__main__":
    raise SystemExit(main())

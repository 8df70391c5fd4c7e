"""Memory per component: RSS growth for N hub components vs. N bare pykka actors.

Each measurement runs in a FRESH spawned process (freed memory is not always given back to
the OS, so measuring two cases in one process would flatter the second); rounds alternate
bare/hub, medians reported. A small emulator (6 KRW markets, 50 msg/s) runs in another
process (``upbit-hub emulate``).

- bare: start one warm-up ``pykka.ThreadingActor``, read VmRSS (/proc/self/status), start N
  more (each answers one ``ask`` so its thread is running), read VmRSS again.
- hub: ``Hub(Settings().with_emulator(url)).start()``, one warm-up component, then N
  components (``WebSocketClientProxy``) each subscribed to one ticker with a no-op callback
  (subscribed from a thread pool that exists before the first reading, so the ~4 requests/s
  limit coalesces them into a few requests), gc, VmRSS again.

Reported: KiB per component / per bare actor and their ratio (our overhead over pykka's own
~29 KiB/actor: mostly the thread stack pages each actor thread touches).

Usage: ``python bench/bench_memory.py [--quick | --smoke] [--n N] [--rounds R]``.
Last line: ``key=value ...`` (``mem_per_component_kib``, ``mem_per_actor_kib``, ...).
Runs in: the main thread; every measurement in a spawned child process.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing as mp
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import _common as C

MARKETS = ("KRW-BTC", "KRW-ETH", "KRW-XRP", "KRW-SOL", "KRW-DOGE", "KRW-ADA")


def _bare(n: int, base_url: str, q: Any) -> None:
    """Child process: RSS growth of ``n`` bare pykka actors. Runs in: a spawned process."""
    import pykka

    class Bare(pykka.ThreadingActor):
        use_daemon_thread = True

        def on_receive(self, message: Any) -> Any:
            return message

    refs = [Bare.start()]
    refs[0].ask("ping", timeout=10)
    pool = ThreadPoolExecutor(50)
    list(pool.map(lambda _: None, range(200)))
    gc.collect()
    before = C.rss_kib()
    more = [Bare.start() for _ in range(n)]
    for ref in more:
        ref.ask("ping", timeout=10)
    gc.collect()
    after = C.rss_kib()
    q.put((before, after))
    pykka.ActorRegistry.stop_all()


def _hub(n: int, base_url: str, q: Any) -> None:
    """Child process: RSS growth of ``n`` subscribed components. Runs in: a spawned process."""
    from upbit_hub.actors import WebSocketClientProxy
    from upbit_hub.actors.hub import Hub
    from upbit_hub.config.settings import Settings

    hub = Hub(Settings().with_emulator(base_url)).start()
    try:
        def noop(ev: Any) -> None:
            return None

        def make(i: int) -> Any:
            p = WebSocketClientProxy(f"mem-{i}", hub=hub)
            p.subscribe_ticker([MARKETS[i % len(MARKETS)]], noop)
            return p

        proxies = [make(-1)]
        pool = ThreadPoolExecutor(50)
        list(pool.map(lambda _: None, range(200)))
        time.sleep(0.5)  # let the warm-up component's first events flow
        gc.collect()
        before = C.rss_kib()
        proxies += list(pool.map(make, range(n)))
        time.sleep(0.5)
        gc.collect()
        after = C.rss_kib()
        q.put((before, after))
    finally:
        hub.stop()


def measure(kind: str, n: int, base_url: str) -> float:
    """KiB per item, measured in a fresh process."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    target = _bare if kind == "bare" else _hub
    proc = ctx.Process(target=target, args=(n, base_url, q), daemon=True)
    proc.start()
    try:
        before, after = q.get(timeout=120)
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.terminate()
    return (after - before) / n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N=100, 2 rounds")
    ap.add_argument("--smoke", action="store_true", help="smallest run (for the smoke test)")
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=None)
    args = ap.parse_args(argv)
    n = args.n or (20 if args.smoke else 100 if args.quick else 200)
    rounds = args.rounds or (1 if args.smoke else 2 if args.quick else 3)

    proc, base = C.emulator_process(MARKETS, 50)
    res: dict[str, list[float]] = {"bare": [], "hub": []}
    try:
        for _ in range(rounds):
            for kind in res:
                res[kind].append(measure(kind, n, base))
    finally:
        C.stop_process(proc)
    bare, hub = C.median(res["bare"]), C.median(res["hub"])
    print(f"N={n}, {rounds} round(s), each in a fresh process; KiB of VmRSS growth per item")
    rows = [("bare pykka actor", bare, " ".join(f"{v:.1f}" for v in res["bare"]), 1.0),
            ("hub component + ticker sub", hub, " ".join(f"{v:.1f}" for v in res["hub"]),
             hub / bare if bare > 0 else float("nan"))]
    print(C.table(("item", "KiB/item (median)", "rounds", "vs bare"), rows))
    print(C.key_line({"mem_per_component_kib": hub, "mem_per_actor_kib": bare,
                      "mem_ratio": hub / bare if bare > 0 else float("nan"), "n": n,
                      "rounds": rounds}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

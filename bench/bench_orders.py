"""Order path benchmark: submit-to-``wait`` latency and the order rate reached.

A plugin submits resting limit orders (far from the market, so nothing fills) as fast as it
likes, through the real order actor, against the emulator running in its own process (REST
over loopback). Two numbers:

- ``submit_wait_p50_ms`` / ``submit_wait_p99_ms``: from ``ctx.buy_limit`` returning to the
  component's ``on_order_update`` with state ``wait`` (journal fsync, risk checks, pacing
  queue, HTTP round trip or the private stream, whichever tells first);
- ``order_rate_fraction``: orders that reached the emulator per second while the burst ran,
  as a fraction of Upbit's order-group limit (12/s; goal >= 0.9), with the number of 429 and
  418 answers the emulator gave (goal: zero).

A first, unpaced phase measures latency one order at a time (each waits for its ``wait``),
so queueing behind the 12/s limit does not count; the second phase offers a burst and
measures the rate.

Usage: ``python bench/bench_orders.py [--smoke] [--orders N]``. Prints a table, then one
``key=value`` line.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from decimal import Decimal

import msgspec

from upbit_hub.actors.emulator.auth import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY
from upbit_hub.actors.emulator.process import EmulatorProcess
from upbit_hub.actors.hub import Hub
from upbit_hub.config.settings import Settings
from upbit_hub.plugins import Component
from upbit_hub.plugins.sdk_host import ComponentHost

LIMIT = 12.0


class Probe(Component):
    def on_start(self, ctx):
        self.ctx = ctx
        self.sent: dict[str, float] = {}
        self.waited: dict[str, float] = {}
        self.final: dict[str, str] = {}
        self.cond = threading.Condition()

    def on_order_update(self, update):
        now = time.perf_counter()
        with self.cond:
            if update.state == "wait" and update.client_id not in self.waited:
                self.waited[update.client_id] = now
            if update.final:
                self.final[update.client_id] = update.state
            self.cond.notify_all()

    def place(self, price: Decimal) -> str:
        h = self.ctx.buy_limit("KRW-BTC", price, "0.0001")
        self.sent[h.client_id] = time.perf_counter()
        return h.client_id

    def wait_for(self, pred, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(pred, timeout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="a few orders only")
    ap.add_argument("--orders", type=int, default=120, help="orders in the burst phase")
    args = ap.parse_args(argv)
    n_latency = 10 if args.smoke else 60
    n_burst = 24 if args.smoke else args.orders
    emu = EmulatorProcess(rate=50, seed=3)
    scratch = tempfile.TemporaryDirectory()
    env = {**os.environ, "UPBIT_ACCESS_KEY": DEFAULT_ACCESS_KEY,
           "UPBIT_SECRET_KEY": DEFAULT_SECRET_KEY}
    settings = Settings().with_emulator(emu.base_url)
    trading = msgspec.structs.replace(
        settings.trading, journal_path=os.path.join(scratch.name, "journal.jsonl"),
        max_open_orders=10_000, max_open_orders_per_market=10_000, orders_per_minute=100_000,
        max_queue_delay_s=60.0, price_band_pct=None,
    )  # fmt: skip
    hub = Hub(msgspec.structs.replace(settings, trading=trading), environ=env).start()
    host = ComponentHost(hub)
    try:
        host.start_component("probe", Probe)
        probe = host.component("probe")
        bids = [r[1] for r in emu.book("KRW-BTC") if r[1] > 0]
        price = (Decimal(str(max(bids))) * Decimal("0.8") // 1000) * 1000

        def run(fn):
            return probe.ctx.proxy.run_in_component(fn, timeout=30)

        warm = run(lambda: probe.place(price))  # the desk starts: journal, balances, stream
        assert probe.wait_for(lambda: warm in probe.waited, 30), "the desk did not come up"
        lat: list[float] = []
        for _ in range(n_latency):
            time.sleep(1.5 / LIMIT)  # stay under the group pacing: latency, not queueing
            cid = run(lambda: probe.place(price))
            assert probe.wait_for(lambda c=cid: c in probe.waited, 30)
            lat.append((probe.waited[cid] - probe.sent[cid]) * 1000)

        start_log = len(emu.rest_log())
        ids = run(lambda: [probe.place(price) for _ in range(n_burst)])
        assert probe.wait_for(lambda: all(c in probe.waited or c in probe.final for c in ids),
                              120)  # fmt: skip
        log = emu.rest_log()[start_log:]
        posts = sorted(r.at for r in log if r.method == "POST" and r.path == "/v1/orders")
        span = posts[-1] - posts[0] if len(posts) > 1 else 0.0
        rate = (len(posts) - 1) / span if span > 0 else 0.0
        n429 = sum(1 for r in log if r.status == 429)
        n418 = sum(1 for r in log if r.status == 418)
        run(lambda: probe.ctx.cancel_all())
    finally:
        host.stop()
        hub.stop()
        emu.stop()
        scratch.cleanup()
    p50 = statistics.median(lat)
    p99 = sorted(lat)[min(len(lat) - 1, int(len(lat) * 0.99))]
    fraction = rate / LIMIT
    print(f"{'submit -> wait latency':32s} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   "
          f"({len(lat)} orders, one at a time)")
    print(f"{'burst order rate':32s} {rate:7.2f} /s = {fraction:.3f} of Upbit's {LIMIT:g}/s "
          f"({len(posts)} orders; goal >= 0.9)   429: {n429}   418: {n418}")
    print(f"submit_wait_p50_ms={p50:.3f} submit_wait_p99_ms={p99:.3f} order_rate={rate:.3f} "
          f"order_rate_fraction={fraction:.3f} n429={n429} n418={n418} orders={len(posts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

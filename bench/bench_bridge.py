"""NATS bridge benchmark: CPU per event and added latency, against the in-process path.

A real ``nats-server -js`` (the pip binary, in its own process with a temporary store) and,
in this process, the bridge's :class:`~upbit_hub.actors.broker.publisher.Publisher` on its
loop thread. Synthetic trades of many markets are offered in bursts every 10 ms at
``--rate`` events/s (the hub's reader hands events over in bursts like these).

- ``bridge_cpu_us``: process CPU per event while the bridge publishes (batching on) every
  offered event and gets each acknowledged (the server's CPU is not counted: another
  process). ``inproc_cpu_us``: the same events through a component inbox to a trivial
  callback in a component actor (the in-process path), in the same run. Goal: bridge <= 50 us.
- ``lat_*_ms``: hub receipt (``offer``) to the handler of a component fed by the remote
  source (:class:`~upbit_hub.actors.broker.source.RemoteHub`, durable push consumer, ack after
  the handler), p50/p99, with batching on (5 ms) and off. Here the remote runs in this same
  process, so it shares the GIL with the publisher: an upper bound of what another machine
  sees. Goals: p99 <= 15 ms batching on, <= 5 ms off.

Usage: ``python bench/bench_bridge.py [--smoke | --quick] [--events N] [--rate R]``. Prints a table,
then one ``key=value`` line.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

import msgspec

from upbit_hub.actors.broker.connect import LinkState, connect
from upbit_hub.actors.broker.loop import LoopThread
from upbit_hub.actors.broker.publisher import Publisher
from upbit_hub.actors.broker.source import RemoteHub
from upbit_hub.actors.broker.stream import StreamSpec, ensure_stream
from upbit_hub.actors.component import ComponentProxyActor
from upbit_hub.actors.inbox import ComponentInbox, SubEntry
from upbit_hub.actors.protocol.events import TradeEvent
from upbit_hub.config.settings import BridgeSettings, Settings
from upbit_hub.plugins import Component
from upbit_hub.plugins.sdk_host import ComponentHost

TICK_S = 0.01


def start_server(store: str) -> tuple[subprocess.Popen[bytes], str]:
    binary = str(Path(sys.executable).with_name("nats-server"))
    if not Path(binary).exists():
        binary = shutil.which("nats-server") or "nats-server"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([binary, "-js", "-sd", store, "-a", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                if c.makefile("rb").readline().startswith(b"INFO"):
                    break
        except OSError:
            time.sleep(0.01)
    return proc, f"nats://127.0.0.1:{port}"


def make_events(n: int, markets: int, sid0: int) -> list[TradeEvent]:
    codes = [f"KRW-M{i:03d}" for i in range(markets)]
    return [TradeEvent(type="trade", code=codes[i % markets], timestamp=1_787_728_554_853 + i,
                       trade_price=Decimal("109847000.0"), trade_volume=Decimal("0.00509799"),
                       ask_bid="ASK", sequential_id=sid0 + i, stream_type="REALTIME",
                       trade_date="2026-08-26", trade_time="07:15:54",
                       trade_timestamp=1_787_728_554_797 + i,
                       prev_closing_price=Decimal("109165000.0"), change="RISE",
                       change_price=Decimal("682000.0"), best_ask_price=Decimal("109867000"),
                       best_ask_size=Decimal("0.0099545"), best_bid_price=Decimal("109847000"),
                       best_bid_size=Decimal("0.1583673")) for i in range(n)]  # fmt: skip


def paced(events: list, rate: float, sink) -> None:
    """Hand ``events`` to ``sink`` in bursts every 10 ms at ``rate`` per second."""
    per_tick = max(1, int(rate * TICK_S))
    t0 = time.perf_counter()
    for k in range(0, len(events), per_tick):
        for ev in events[k:k + per_tick]:
            sink(ev)
        due = t0 + (k // per_tick + 1) * TICK_S
        left = due - time.perf_counter()
        if left > 0:
            time.sleep(left)


def inproc_cpu(events: list, rate: float) -> float:
    """CPU per event of inbox -> component actor -> trivial callback."""
    done = threading.Event()
    count = [0]
    n = len(events)

    def cb(ev) -> None:
        count[0] += 1
        if count[0] == n:
            done.set()

    inbox = ComponentInbox("bench#1", "bench", capacity=n + 1)
    ref = ComponentProxyActor.start(inbox, None)
    inbox.actor_ref = ref
    codes = sorted({e.code for e in events})
    inbox.table.add(1, [(("trade", c), SubEntry(1, cb)) for c in codes])

    def sink(ev) -> None:
        if inbox.put(ev):
            inbox.wake()

    c0 = time.process_time()
    paced(events, rate, sink)
    done.wait(60)
    cpu = time.process_time() - c0
    ref.stop()
    return cpu / n * 1e6


def bridge_cpu(url: str, events: list, rate: float, batch_ms: float) -> tuple[float, dict]:
    """CPU per event of offer -> publish -> ack (batching ``batch_ms``)."""
    loop = LoopThread("bench-nats").start()
    pub = Publisher(loop, stream="BENCH", account="bench", batch_wait_s=batch_ms / 1000)
    cfg = msgspec.structs.replace(BridgeSettings(), servers=[url])

    async def setup(link):
        nc = await connect(cfg, {}, link, "bench")
        js = nc.jetstream()
        for old in await js.streams_info():  # one stream holds upbit.> at a time
            await js.delete_stream(old.config.name)
        await ensure_stream(js, StreamSpec("BENCH", 0, -1))
        await pub.start(nc, js)
        return nc

    link = LinkState()
    nc = loop.run(setup(link), 20)
    c0 = time.process_time()
    paced(events, rate, pub.offer)
    deadline = time.monotonic() + 60
    while pub.stats.acked < len(events) and time.monotonic() < deadline:
        time.sleep(0.005)
    cpu = time.process_time() - c0
    snap = pub.snapshot()

    async def close():
        await pub.close()
        link.closing = True
        await nc.close()

    loop.run(close(), 10)
    loop.stop()
    return cpu / len(events) * 1e6, snap


class Sink(Component):
    def __init__(self, config=None) -> None:
        super().__init__(config)
        self.n = 0
        self.done = threading.Event()
        self.want = 0

    def on_start(self, ctx) -> None:
        ctx.subscribe_trade(self.codes)

    def on_trade(self, ev) -> None:
        self.n += 1
        if self.n >= self.want:
            self.done.set()


def latency(url: str, events: list, rate: float, batch_ms: float, tag: str) -> list[float]:
    """Hub receipt -> remote handler (ms) for each event, with ``batch_ms`` batching."""
    loop = LoopThread("bench-nats").start()
    stream = f"LAT{tag}"
    pub = Publisher(loop, stream=stream, account="bench", batch_wait_s=batch_ms / 1000)
    cfg = msgspec.structs.replace(BridgeSettings(), servers=[url], stream=stream)

    async def setup(link):
        nc = await connect(cfg, {}, link, "bench")
        js = nc.jetstream()
        for old in await js.streams_info():  # one stream holds upbit.> at a time
            await js.delete_stream(old.config.name)
        await ensure_stream(js, StreamSpec(stream, 0, -1))
        await pub.start(nc, js)
        return nc

    link = LinkState()
    nc = loop.run(setup(link), 20)
    s = Settings()
    src = msgspec.structs.replace(s.source, enabled=True, servers=[url], stream=stream,
                                  deliver="new", max_ack_pending=len(events) + 10)
    settings = msgspec.structs.replace(s, source=src, hub=msgspec.structs.replace(
        s.hub, trade_queue_size=len(events) + 10, coalesce_ms=1))
    remote = RemoteHub(settings).start()
    host = ComponentHost(remote)
    Sink.codes = sorted({e.code for e in events})
    host.start_component("sink", Sink, None, "sink")
    sink = host.component("sink")
    sink.want = len(events)
    consumer = next(iter(remote.consumers.values()))
    while not consumer.bound_subjects:
        time.sleep(0.01)
    time.sleep(0.2)  # the push consumer is created: let it settle before measuring
    paced(events, rate, pub.offer)
    sink.done.wait(60)
    deadline = time.monotonic() + 10
    while len(consumer.latencies_ms) < len(events) and time.monotonic() < deadline:
        time.sleep(0.005)
    lats = list(consumer.latencies_ms)
    host.stop()
    remote.stop()

    async def close():
        await pub.close()
        link.closing = True
        await nc.close()

    loop.run(close(), 10)
    loop.stop()
    return lats


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * q))] if s else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="a few hundred events only")
    ap.add_argument("--quick", action="store_true", help="5,000 events")
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--rate", type=float, default=2500.0, help="events per second")
    ap.add_argument("--markets", type=int, default=855)
    args = ap.parse_args(argv)
    n = 600 if args.smoke else 5000 if args.quick else args.events
    markets = min(args.markets, 50) if args.smoke else args.markets
    store = tempfile.TemporaryDirectory(prefix="bench-nats-")
    proc, url = start_server(store.name)
    try:
        inproc = inproc_cpu(make_events(n, markets, 1_000_000), args.rate)
        bridge, snap = bridge_cpu(url, make_events(n, markets, 2_000_000), args.rate, 5.0)
        on = latency(url, make_events(n, markets, 3_000_000), args.rate, 5.0, "a")
        off = latency(url, make_events(n, markets, 4_000_000), args.rate, 0.0, "b")
    finally:
        proc.terminate()
        proc.wait(10)
        store.cleanup()
    ratio = bridge / inproc if inproc else float("nan")
    print(f"{'bridge CPU per event':34s} {bridge:8.1f} us   (goal <= 50; in-process path "
          f"{inproc:.1f} us, ratio {ratio:.2f}; {n} events at {args.rate:g}/s, "
          f"{markets} markets; dropped {snap['dropped']})")
    print(f"{'receipt -> remote handler, 5 ms':34s} p50 {statistics.median(on):7.2f} ms   "
          f"p99 {pct(on, 0.99):7.2f} ms   (goal p99 <= 15)")
    print(f"{'receipt -> remote handler, no wait':34s} p50 {statistics.median(off):7.2f} ms   "
          f"p99 {pct(off, 0.99):7.2f} ms   (goal p99 <= 5)")
    print(f"bridge_cpu_us={bridge:.2f} inproc_cpu_us={inproc:.2f} bridge_cpu_ratio={ratio:.3f} "
          f"lat_p50_ms_batch={statistics.median(on):.3f} lat_p99_ms_batch={pct(on, 0.99):.3f} "
          f"lat_p50_ms_nobatch={statistics.median(off):.3f} "
          f"lat_p99_ms_nobatch={pct(off, 0.99):.3f} events={n} dropped={snap['dropped']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

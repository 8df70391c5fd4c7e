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

``--hub`` runs the whole live path instead of synthetic events: an emulator (``upbit-hub
emulate`` in another process, 855 generated markets: 400 KRW, 300 BTC, 155 USDT, as in
``bench_fullmarket.py``), a real :class:`~upbit_hub.actors.hub.Hub` on it, the ``nats-bridge``
plugin (ticker + trade, ``all_markets = true``: the 855 codes the emulator's
``/v1/market/all`` lists), the nats-server, and the remote side IN ITS OWN PROCESS (this file
started again with ``sys.executable --remote-child URL``: a :class:`RemoteHub`, durable push
consumer, ``deliver = "all"``, feeding a component that counts the trades of every market by
unique ``sequential_id``; it answers one JSON line per command on stdin), so the remote has
its own GIL, as on another machine. The emulator's rate counts all message types, so it is
first tuned (up to three probes) until ticker + trade reach ``--rate`` (2,500/s) at the hub.
Three windows of ``--window`` s in the same run: the in-process path (the same hub with a
counting component subscribed to ticker + trade of every market), then the bridge with its
configured batching (5 ms), then the bridge with batching off (the publisher's
``batch_wait_s`` set to 0 live, what ``batch_wait_ms = 0`` configures; ``--window-off 0``
skips it). Each gives this process's CPU per event received by the hub (the remote is another
process, so it is naturally left out; its own CPU is shown), the ratio and difference to the
in-process window (what the bridge adds; goal <= 50 us) and the bridge loop thread alone
(per-thread clock). Latency: ``Upbit-Hub-Ts`` (hub receipt, stamped at ``offer``) to the
remote handler, from the remote consumer's ``latencies_ms`` over each window (both processes
read the same machine clock, so ``time.time_ns()`` deltas are valid): p50/p90/p99/max, goals
p99 <= 15 ms batching on, <= 5 ms off. Then the emulator's market is stopped, everything
drains (including trades the gap filler still holds after a silence) and the counts are
compared: trades the emulator sent, the hub's reader routed (trades the gap filler held back
or backfilled after a silence are not in that count; its counters are shown), the bridge
offered and the remote handled (unique, per market), with the bridge's counters (offered/
published/acked/dropped/resent/...) and the remote consumer's (redelivered, duplicates, gaps,
lost). It exits 1 if anything was dropped or is missing or a market's count differs. About
75 s; ``--hub --smoke`` (60 markets, 600/s, 1.5 s windows) about 20 s. The machine is shared
by four processes (emulator, hub, nats-server, remote): on a loaded or small machine a starved
emulator goes silent, the gap filler holds trades and the remote falls behind, and the
latencies show it (the header prints the load average). Machines are noisy: read the ratios.

Usage: ``python bench/bench_bridge.py [--smoke | --quick] [--events N] [--rate R]``, or
``python bench/bench_bridge.py --hub [--smoke] [--window S] [--window-off S] [--rate R]
[--markets N]``. Prints a table, then one ``key=value`` line.
"""

from __future__ import annotations

import argparse
import os
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
from typing import ClassVar

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


# -- --hub: the whole live path ---------------------------------------------------------------

class TradeTally(Component):
    """Remote component: counts trades per market (unique sequential ids) and duplicates."""

    codes: ClassVar[list[str]] = []

    def __init__(self, config=None) -> None:
        super().__init__(config)
        self.n = 0
        self.sids: dict[str, set[int]] = {}
        self.ident: int | None = None

    def on_start(self, ctx) -> None:
        ctx.subscribe_trade(self.codes)

    def on_trade(self, ev) -> None:
        if self.ident is None:
            self.ident = threading.get_ident()
        self.n += 1
        got = self.sids.get(ev.code)
        if got is None:
            got = self.sids[ev.code] = set()
        got.add(ev.sequential_id)

    def unique(self) -> int:
        return sum(len(v) for v in list(self.sids.values()))


class LocalCounter(Component):
    """In-process baseline component: ticker + trade of every market, counted."""

    codes: ClassVar[list[str]] = []

    def __init__(self, config=None) -> None:
        super().__init__(config)
        self.n = 0

    def on_start(self, ctx) -> None:
        ctx.subscribe_ticker(self.codes)
        ctx.subscribe_trade(self.codes)

    def on_ticker(self, ev) -> None:
        self.n += 1

    def on_trade(self, ev) -> None:
        self.n += 1


def thread_cpu(idents) -> float:
    """CPU seconds of the given threads (Linux per-thread clocks); gone threads count 0."""
    total = 0.0
    for ident in idents:
        if ident is None:
            continue
        try:
            total += time.clock_gettime(time.pthread_getcpuclockid(ident))
        except (OSError, ProcessLookupError):
            pass
    return total


def hub_events(hub) -> dict[str, int]:
    """ticker/trade events the hub's Upbit connections received (all connections)."""
    out = {"ticker": 0, "trade": 0}
    for conn in hub.status()["connections"].values():
        for kind, n in (conn.get("events_by_type") or {}).items():
            if kind in out:
                out[kind] += int(n)
    return out


def hub_gapfill(hub) -> dict[str, int]:
    """The trade gap filler's counters (all connections): trades it holds back after a
    silence or reconnect and releases later are not in :func:`hub_events`."""
    out = {"gaps": 0, "backfilled": 0, "duplicates": 0, "unfilled": 0, "held_markets": 0}
    for conn in hub.status()["connections"].values():
        for kind, n in (conn.get("gapfill") or {}).items():
            if kind in out:
                out[kind] += int(n)
    return out


def emu_call(base: str, method: str, path: str) -> dict:
    import json
    import urllib.request

    req = urllib.request.Request(base + path, method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def emu_trades_sent(base: str) -> int:
    """Trade frames the emulator sent so far (all connections)."""
    stats = emu_call(base, "GET", "/_emulator/stats?requests=0")
    return int((stats.get("frames_sent") or {}).get("trade", 0))


def wait_until(pred, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return bool(pred())


def reset_streams(url: str) -> None:
    import asyncio

    import nats

    async def run() -> None:
        nc = await nats.connect(url)
        js = nc.jetstream()
        for old in await js.streams_info():  # one stream holds upbit.> at a time
            await js.delete_stream(old.config.name)
        await nc.close()

    asyncio.run(run())


def settle_rate(base: str, hub, target: float, rate: float, probe_s: float) -> float:
    """Set the emulator's ``rate`` (it counts ALL message types, candles and order books
    included, and not linearly) so that ticker+trade arrive at about ``target``/s at the hub:
    up to three probes, each correction a secant step in log-log. Returns the rate set.
    """
    import math

    seen: list[tuple[float, float]] = []
    measured = 0.0
    for _ in range(3):
        emu_call(base, "POST", f"/_emulator/faults/rate?value={rate:.0f}")
        time.sleep(0.5)
        e0, t0 = sum(hub_events(hub).values()), time.monotonic()
        time.sleep(probe_s)
        measured = (sum(hub_events(hub).values()) - e0) / (time.monotonic() - t0)
        print(f"  emulator rate {rate:.0f}: {measured:,.0f} ticker+trade/s at the hub")
        seen.append((rate, max(measured, 1.0)))
        if abs(measured - target) < 0.05 * target:
            break
        slope = 1.5  # measured: d log(ticker+trade) / d log(rate) at 855 markets
        if len(seen) >= 2:
            (r1, m1), (r2, m2) = seen[-2], seen[-1]
            if r1 != r2 and m1 != m2:
                slope = min(3.0, max(0.5, math.log(m2 / m1) / math.log(r2 / r1)))
        rate = min(200_000.0, rate * (target / max(measured, 1.0)) ** (1 / slope))
    else:  # three probes and still off: apply the last correction unmeasured
        emu_call(base, "POST", f"/_emulator/faults/rate?value={rate:.0f}")
        time.sleep(0.5)
    return rate


# -- the remote side of --hub, in its own process ---------------------------------------------

REMOTE_TAG = "@@remote "  # prefix of the child's replies on stdout (anything else is skipped)


def remote_child(url: str, codes: list[str]) -> int:
    """``--remote-child URL --codes A,B,...``: a :class:`RemoteHub` (durable push consumer,
    ``deliver = "all"``) and a :class:`TradeTally` in THIS process, commanded one line at a
    time on stdin; each reply is one JSON line on stdout after :data:`REMOTE_TAG`:

    - ``count``: trades handled and unique;
    - ``mark``: start a latency window (clears the consumer's ``latencies_ms``, notes CPU);
    - ``lat``: the window so far: samples, p50/p90/p99/max (ms, ``Upbit-Hub-Ts`` = hub
      receipt to the handler; both processes read the same machine clock), process CPU;
    - ``final``: per-market unique trade counts and the consumer's counters; then it stops.
    """
    import json

    def reply(obj: dict) -> None:
        sys.stdout.write(REMOTE_TAG + json.dumps(obj) + "\n")
        sys.stdout.flush()

    TradeTally.codes = codes
    s = Settings()
    src = msgspec.structs.replace(s.source, enabled=True, servers=[url], deliver="all",
                                  max_ack_pending=200_000)
    rsettings = msgspec.structs.replace(s, source=src, hub=msgspec.structs.replace(
        s.hub, trade_queue_size=200_000, coalesce_ms=1))
    remote = RemoteHub(rsettings).start()
    rhost = ComponentHost(remote)
    rhost.start_component("tally", TradeTally, None, "tally")
    tally = rhost.component("tally")
    consumer = next(iter(remote.consumers.values()))
    reply({"ready": True})
    c0 = time.process_time()
    try:
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "count":
                reply({"n": tally.n, "unique": tally.unique()})
            elif cmd == "mark":
                consumer.latencies_ms.clear()
                c0 = time.process_time()
                reply({"ok": True})
            elif cmd == "lat":
                lats = sorted(consumer.latencies_ms)
                reply({"count": len(lats), "cpu_s": time.process_time() - c0,
                       "p50": statistics.median(lats) if lats else None,
                       "p90": pct(lats, 0.90) if lats else None,
                       "p99": pct(lats, 0.99) if lats else None,
                       "max": lats[-1] if lats else None})
            elif cmd == "final":
                snap = consumer.snapshot()
                reply({"n": tally.n, "unique": tally.unique(),
                       "per_market": {c: len(v) for c, v in list(tally.sids.items())},
                       **{k: snap.get(k, 0) for k in ("received", "acked", "redelivered",
                                                      "duplicates", "gaps", "lost",
                                                      "reordered", "rebinds",
                                                      "pending")}})
                break
            elif cmd:
                reply({"error": f"unknown command {cmd!r}"})
    finally:
        rhost.stop()
        remote.stop()
    return 0


class RemoteProc:
    """The parent's handle on :func:`remote_child` (``sys.executable`` this file)."""

    def __init__(self, url: str, codes: list[str]) -> None:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--remote-child", url,
               "--codes", ",".join(codes)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        if not self._read().get("ready"):
            raise SystemExit("the remote process did not start")

    def _read(self) -> dict:
        import json

        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(REMOTE_TAG):
                return json.loads(line[len(REMOTE_TAG):])
        raise SystemExit(f"the remote process ended (rc {self.proc.wait()})")

    def ask(self, cmd: str) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self._read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()  # EOF: the child stops its RemoteHub and exits
                self.proc.wait(15)
            except Exception:
                self.proc.kill()
                self.proc.wait(5)


def hub_mode(args) -> int:
    """``--hub``: emulator -> Hub -> nats-bridge -> nats-server -> RemoteHub -> component."""
    import _common as C
    from bench_fullmarket import market_codes

    from upbit_hub.actors.hub import Hub
    from upbit_hub.plugins.builtin.nats_bridge import NatsBridge, NatsBridgeConfig

    smoke = args.smoke
    n = min(args.markets, 60) if smoke else args.markets
    codes = market_codes(n * 400 // 855, n * 300 // 855, n - n * 400 // 855 - n * 300 // 855)
    window = args.window or (1.5 if smoke else 15.0)
    window_off = window if args.window_off is None else args.window_off
    probe = 0.8 if smoke else 2.5
    target = min(args.rate, 600.0) if smoke else args.rate
    TradeTally.codes = LocalCounter.codes = codes
    store = tempfile.TemporaryDirectory(prefix="bench-nats-")
    proc, url = start_server(store.name)
    emu, base = C.emulator_process(codes, target * 4.0)
    t_start, load0 = time.monotonic(), os.getloadavg()[0]
    stops: list = []  # what to stop, should anything fail midway
    try:
        # 1. in-process baseline (and the rate calibration): Hub + a counting component
        settings = Settings().with_emulator(base)
        hub = Hub(settings).start()
        stops.append(hub.stop)
        host = ComponentHost(hub)
        stops.append(host.stop)
        host.start_component("local", LocalCounter, None, "local")
        local = host.component("local")
        if not wait_until(lambda: local.n > 0, 60):
            raise SystemExit("no events at the in-process component after 60 s")
        time.sleep(1.0 if smoke else 3.0)  # the snapshots of every market come first
        rate = settle_rate(base, hub, target, target * 4.0, probe)
        ev0, c0, t0 = sum(hub_events(hub).values()), time.process_time(), time.monotonic()
        time.sleep(window)
        base_events = sum(hub_events(hub).values()) - ev0
        base_cpu, base_wall = time.process_time() - c0, time.monotonic() - t0
        base_handled = local.n
        while stops:
            stops.pop()()
        inproc_us = base_cpu / max(base_events, 1) * 1e6

        # 2. the bridge: Hub + nats-bridge (all markets) -> nats-server -> RemoteHub + tally
        reset_streams(url)
        emu0 = emu_trades_sent(base)  # the baseline's hub got trades too
        hub = Hub(settings).start()
        stops.append(hub.stop)
        bhost = ComponentHost(hub)
        stops.append(bhost.stop)
        cfg = NatsBridgeConfig(servers=[url], types=["ticker", "trade"], symbols=[],
                               all_markets=True, max_age_s=0, max_bytes=-1)
        report = bhost.start_component("bridge", NatsBridge, cfg, "nats-bridge")
        if report.state != "running":
            raise SystemExit(f"bridge failed: {report.error}")
        bridge = bhost.component("bridge")
        pub = bridge.publisher
        remote = RemoteProc(url, codes)  # its own process: its own GIL, as on another machine
        stops.append(remote.stop)
        if not wait_until(lambda: remote.ask("count")["n"] > 0, 60, 0.1):
            raise SystemExit("no trades at the remote component after 60 s")

        def offered_trades() -> int:  # the bridge's own per-market counters
            with pub._lock:
                return sum(v for (t, _), v in pub._seqs.items() if t == "trade")

        # warm-up: the snapshots are through and the remote has caught up
        wait_until(lambda: remote.ask("count")["unique"] >= offered_trades() * 0.98, 20, 0.1)
        st = pub.stats

        def measure(secs: float) -> dict:
            """One window: this process's CPU, the bridge loop thread's, the remote's lags."""
            gaps0 = hub_gapfill(hub)["gaps"]
            remote.ask("mark")
            off0, c0, b0 = st.offered, time.process_time(), thread_cpu((bridge.loop.ident,))
            t0 = time.monotonic()
            backlog = 0  # the bridge's spill + in flight: lag that builds up before the server
            while time.monotonic() - t0 < secs:
                time.sleep(min(0.1, max(0.0, secs - (time.monotonic() - t0))))
                backlog = max(backlog, pub.pending())
            out = {"wall": time.monotonic() - t0, "cpu": time.process_time() - c0,
                   "bcpu": thread_cpu((bridge.loop.ident,)) - b0, "events": st.offered - off0,
                   "backlog": backlog}
            out["lat"] = remote.ask("lat")
            out["gaps"] = hub_gapfill(hub)["gaps"] - gaps0
            return out

        batch_ms = pub.batch_wait_s * 1000
        win_on = measure(window)
        # batching off, live: the publisher reads batch_wait_s at every wake-up (what
        # ``batch_wait_ms = 0`` configures)
        pub.batch_wait_s = 0.0
        time.sleep(0.5)
        win_off = measure(window_off) if window_off > 0 else None

        # 3. stop the market, let everything drain, and compare the counts
        emu_call(base, "POST", "/_emulator/faults/rate?value=0")
        last = [-1, time.monotonic()]

        def quiet() -> bool:
            if st.offered != last[0]:
                last[0], last[1] = st.offered, time.monotonic()
            return time.monotonic() - last[1] > 1.0

        wait_until(quiet, 20)
        # trades the gap filler still holds (after a silence) come out after their backfill
        # or max_hold_s: wait for them, so that the emulator's count can match
        if not wait_until(lambda: hub_gapfill(hub)["held_markets"] == 0, 5, 0.2):
            print("  the gap filler still holds trades after 5 s")
        last[0] = -1
        wait_until(quiet, 20)
        loop_ok = bridge.loop.run(pub.flush(20.0), 25.0)
        want = offered_trades()
        wait_until(lambda: remote.ask("count")["unique"] >= want, 30, 0.1)
        emu_trades = emu_trades_sent(base) - emu0
        hub_ev = hub_events(hub)
        gap = hub_gapfill(hub)
        with pub._lock:
            per_market = dict(pub._seqs)
        rfinal = remote.ask("final")
        rcounts = rfinal["per_market"]
        per_market_ok = sum(1 for c in codes if rcounts.get(c, 0) ==
                            per_market.get(("trade", c), 0))
        snap = bridge.stats()
        remote_unique, remote_n = rfinal["unique"], rfinal["n"]
        while stops:
            stops.pop()()
    finally:
        for stop in reversed(stops):
            try:
                stop()
            except Exception:
                pass
        C.stop_process(emu)
        proc.terminate()
        proc.wait(10)
        store.cleanup()

    def cpu_line(w: dict) -> tuple[float, float, float, float]:
        ev = max(w["events"], 1)
        us = w["cpu"] / ev * 1e6
        return us, us - inproc_us, w["bcpu"] / ev * 1e6, w["lat"]["cpu_s"] / ev * 1e6

    def nan(v) -> float:
        return float("nan") if v is None else float(v)

    bridge_run_us, added_us, loop_us, remote_us = cpu_line(win_on)
    ratio = bridge_run_us / inproc_us if inproc_us else float("nan")
    events, wall = win_on["events"], win_on["wall"]
    lon = win_on["lat"]
    p50, p99 = nan(lon["p50"]), nan(lon["p99"])
    loff = win_off["lat"] if win_off else {"count": 0, "p50": None, "p90": None, "p99": None,
                                           "max": None}
    p50_off, p99_off = nan(loff["p50"]), nan(loff["p99"])
    lost = want - remote_unique
    print("latencies: remote in its own process (RemoteHub + tally, another GIL)")
    print(f"{len(codes)} markets, ticker+trade; emulator rate {rate:.0f} (all types) -> "
          f"{base_events / base_wall:,.0f} ticker+trade/s at the hub in the in-process window "
          f"(aimed at {target:,.0f}); "
          f"windows {window:g} s (+ {window_off:g} s batching off); "
          f"total {time.monotonic() - t_start:.0f} s; load average {load0:.1f} -> "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other processes count too)")
    print(f"{'in-process: hub + counting component':44s} {inproc_us:7.1f} us/event   "
          f"({base_events} events in {base_wall:.1f} s; {base_handled} handled)")
    print(f"{'bridge: hub + nats-bridge (hub process)':44s} {bridge_run_us:7.1f} us/event   "
          f"({events} events in {wall:.1f} s, {events / wall:,.0f}/s; ratio {ratio:.2f} vs "
          f"in-process; batch_wait {batch_ms:g} ms)")
    print(f"{'bridge: added over the in-process path':44s} {added_us:7.1f} us/event   "
          f"(goal <= 50; bridge loop thread alone {loop_us:.1f} us/event; remote process "
          f"{remote_us:.1f} us/event, not counted)")
    if win_off:
        off_us, off_added, off_loop, _ = cpu_line(win_off)
        print(f"{'bridge, batching off: added':44s} {off_added:7.1f} us/event   "
              f"({off_us:.1f} us/event in the hub process; loop thread {off_loop:.1f}; "
              f"{win_off['events']} events in {win_off['wall']:.1f} s)")
    print(f"{'hub receipt -> remote handler, ' + f'{batch_ms:g} ms batch':44s} p50 {p50:7.2f} ms"
          f"   p99 {p99:7.2f} ms   (goal p99 <= 15; p90 {nan(lon['p90']):.2f}, max "
          f"{nan(lon['max']):.2f}; {lon['count']} trades; bridge backlog max "
          f"{win_on['backlog']}; gap-filler gaps {win_on['gaps']})")
    if win_off:
        print(f"{'hub receipt -> remote handler, batching off':44s} p50 {p50_off:7.2f} ms"
              f"   p99 {p99_off:7.2f} ms   (goal p99 <= 5; p90 {nan(loff['p90']):.2f}, max "
              f"{nan(loff['max']):.2f}; {loff['count']} trades; bridge backlog max "
              f"{win_off['backlog']}; gap-filler gaps {win_off['gaps']})")
    print(f"bridge: offered {snap['offered']} published {snap['published']} acked "
          f"{snap['acked']} dropped {snap['dropped']} pending {snap['pending']} resent "
          f"{snap['resent']} timeouts {snap['timeouts']} errors {snap['errors']} gap_markers "
          f"{snap['gap_markers']} batches {snap['batches']} reconnects {snap['reconnects']} "
          f"(flushed: {loop_ok})")
    print(f"trades: emulator sent {emu_trades}, hub received {hub_ev['trade']} (routed by the "
          f"reader; the gap filler's held/backfilled trades are not in it: gaps {gap['gaps']} "
          f"backfilled {gap['backfilled']} duplicates {gap['duplicates']} unfilled "
          f"{gap['unfilled']}, still held: {gap['held_markets']} markets), bridge offered "
          f"{want}, remote handled {remote_n} "
          f"({remote_unique} unique; missing {lost}); "
          f"markets whose count matches the bridge's: {per_market_ok}/{len(codes)}; remote "
          f"consumer: redelivered {rfinal['redelivered']} duplicates {rfinal['duplicates']} "
          f"gaps {rfinal['gaps']} lost {rfinal['lost']} reordered {rfinal['reordered']} "
          f"rebinds {rfinal['rebinds']}")
    print(f"hub_bridge_cpu_us={bridge_run_us:.2f} hub_inproc_cpu_us={inproc_us:.2f} "
          f"hub_added_cpu_us={added_us:.2f} hub_cpu_ratio={ratio:.3f} "
          f"hub_loop_cpu_us={loop_us:.2f} hub_lat_p50_ms={p50:.3f} hub_lat_p99_ms={p99:.3f} "
          f"hub_lat_p50_ms_nobatch={p50_off:.3f} hub_lat_p99_ms_nobatch={p99_off:.3f} "
          f"events_per_s={events / wall:.0f} markets={len(codes)} offered={snap['offered']} "
          f"published={snap['published']} acked={snap['acked']} dropped={snap['dropped']} "
          f"emulator_trades={emu_trades} hub_trades={hub_ev['trade']} bridge_trades={want} "
          f"remote_trades={remote_unique} missing={lost} markets_matched={per_market_ok} "
          f"emulator_minus_bridge={emu_trades - want}")
    return 1 if snap["dropped"] or lost or per_market_ok != len(codes) else 0


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
    ap.add_argument("--hub", action="store_true",
                    help="the whole live path: emulator -> Hub -> nats-bridge -> RemoteHub")
    ap.add_argument("--window", type=float, default=None, help="--hub: seconds measured")
    ap.add_argument("--window-off", type=float, default=None,
                    help="--hub: seconds measured with batching off (0 = skip; default --window)")
    ap.add_argument("--remote-child", metavar="URL", help=argparse.SUPPRESS)
    ap.add_argument("--codes", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.remote_child:
        return remote_child(args.remote_child, [c for c in args.codes.split(",") if c])
    if args.hub:
        return hub_mode(args)
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

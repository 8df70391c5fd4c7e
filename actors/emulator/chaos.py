"""Chaos runs: the emulator misbehaves at random while components come and go, then every
component's log is checked against the emulator's ground truth.

Faults (random, every ``fault_every`` seconds on average): drops with and without a close
frame, stalls, refused connections, malformed frames, error frames, REST 429 windows. Load:
steady components (every trade of every market; books; the account's orders and balances), a
trader placing crossing orders over REST, and churn components subscribing and leaving at
random. Accounting (:class:`ChaosReport`):

- every trade exactly once and in order, for the steady trade component (``lost``,
  ``duplicated``, ``out_of_order``); ``trades_made`` counts the trades the emulator made
  while faults ran (from 1 s after the start until they were cleared) and ``trades_unchecked``
  those of them outside the window checked (first to last trade the component received): a
  bar on how many were checked that follows what the emulator produced, which a starved CPU
  lowers (a few hundred instead of a few thousand);
- every private order state change (the exchange's own history) delivered at least once and in
  order per order;
- the public subscription set at the emulator equals the union of live wishes after the run;
- no growth of actors, threads or registry entries once churn components are cleaned up;
- ``live_fraction``: the share of samples (every 10 ms), taken while the emulator was serving
  (not refusing or stalling, plus 0.3 s after either ends: a client can only find out by
  trying again or hearing data), in which the public socket was up with its request sent. It
  depends on the reconnect backoff cap (``reconnect_max_s``, 0.25 s here) and the connect
  pace (4/s, one every 0.25 s): after a refusal the hub comes back at its next attempt, so a
  larger cap costs up to that much per refusal.

Used by ``tests/test_chaos.py`` (a short run in CI) and ``bench/chaos.py`` (long runs).

Runs in: the caller's thread, plus the helper threads it starts and joins.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import pairwise
from typing import Any

from .process import EmulatorProcess, LocalEmulator

log = logging.getLogger(__name__)

MARKETS = ("KRW-BTC", "KRW-ETH", "KRW-XRP")
FAULTS = ("drop", "drop_close", "stall", "refuse", "malformed", "error", "rest_429")


@dataclass
class ChaosReport:
    """What a chaos run measured. ``ok`` says whether every promise held."""

    duration_s: float = 0.0
    faults: Counter[str] = field(default_factory=Counter)
    trades_expected: int = 0
    trades_received: int = 0
    trades_made: int = 0
    trades_unchecked: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    backfilled: int = 0
    private_expected: int = 0
    private_missing: int = 0
    private_out_of_order: int = 0
    orders_placed: int = 0
    churn_joins: int = 0
    churn_errors: int = 0
    wire_matches: bool = False
    actors_growth: int = 0
    threads_growth: int = 0
    registry_growth: int = 0
    live_fraction: float = 0.0
    serving_samples: int = 0
    reconnects: int = 0
    problems: list[str] = field(default_factory=list)
    lost_sample: list[tuple[str, int]] = field(default_factory=list)  # (code, sequential_id)
    fault_log: list[tuple[int, str]] = field(default_factory=list)  # (unix ms, fault)
    gapfill: dict[str, int] = field(default_factory=dict)
    down_samples: list[tuple[int, str]] = field(default_factory=list)  # (unix ms, state)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        keys = ("duration_s", "trades_made", "trades_unchecked", "trades_expected",
                "trades_received", "lost", "duplicated",
                "out_of_order", "backfilled", "private_expected", "private_missing",
                "private_out_of_order", "orders_placed", "churn_joins", "reconnects",
                "live_fraction", "actors_growth", "threads_growth", "registry_growth")
        parts = [f"{k}={getattr(self, k):.5g}" if isinstance(getattr(self, k), float)
                 else f"{k}={getattr(self, k)}" for k in keys]
        parts.append("faults=" + ",".join(f"{k}:{v}" for k, v in sorted(self.faults.items())))
        return " ".join(parts)


class _Tape:
    """Trades per market as a component received them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sids: dict[str, list[int]] = defaultdict(list)
        self.backfilled = 0

    def __call__(self, ev: Any) -> None:
        with self.lock:
            self.sids[ev.code].append(ev.sequential_id)
            if ev.stream_type == "BACKFILL":
                self.backfilled += 1


def run_chaos(
    duration_s: float = 45.0,
    *,
    seed: int = 1,
    markets: tuple[str, ...] = MARKETS,
    rate: float = 300.0,
    fault_every: float = 3.0,
    faults: tuple[str, ...] = FAULTS,
    min_live_fraction: float = 0.999,
    reconnect_max_s: float = 0.25,
    emulator_process: bool = True,
) -> ChaosReport:
    """Run one chaos session and return its report (see the module docstring).

    ``emulator_process`` (default) runs the emulator in its own process, as Upbit runs on
    other machines; in-process, its handshakes and fan-out compete with the hub for the GIL
    and every reconnect measures slower than the hub is.
    """
    import msgspec
    import pykka

    from upbit_hub.actors import WebSocketClientProxy
    from upbit_hub.actors.hub import Hub
    from upbit_hub.actors.messages import GetStatus
    from upbit_hub.config.settings import Settings

    from .auth import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY

    rng = random.Random(seed)
    report = ChaosReport()
    balances = {"KRW": Decimal("1e13"), "BTC": Decimal("1000"), "ETH": Decimal("10000"),
                "XRP": Decimal("1e8")}
    emu_options = dict(markets=markets, rate=rate, seed=seed, idle_timeout=10.0,
                       up_period=0.5, error_close_delay=0.05, teapot_seconds=5.0,
                       rest_block_seconds=1.0, balances=balances)
    base_actors = len(pykka.ActorRegistry.get_all())
    base_threads = threading.active_count()  # before the emulator: it is stopped at the end
    emu = EmulatorProcess(**emu_options) if emulator_process else LocalEmulator(**emu_options)

    settings = Settings().with_emulator(emu.base_url)
    settings = msgspec.structs.replace(
        settings,
        hub=msgspec.structs.replace(
            settings.hub, ping_interval_s=1.0, stale_after_s=1.5, reconnect_min_s=0.05,
            reconnect_max_s=reconnect_max_s, stable_after_s=1.0, coalesce_ms=20,
            request_timeout_s=10.0),
        private=msgspec.structs.replace(
            settings.private, rest_fallback_after_s=2.0, poll_interval_s=0.5),
    )
    environ = {"UPBIT_ACCESS_KEY": DEFAULT_ACCESS_KEY, "UPBIT_SECRET_KEY": DEFAULT_SECRET_KEY}
    hub = Hub(settings, environ=environ).start()
    stop = threading.Event()
    not_serving: list[tuple[float, float]] = []  # (start, end) monotonic windows
    threads: list[threading.Thread] = []
    try:
        tape = _Tape()
        steady = WebSocketClientProxy("chaos-tape", hub=hub)
        steady.subscribe_trade(list(markets), tape)
        books = WebSocketClientProxy("chaos-books", hub=hub)
        books.subscribe_orderbook(list(markets), lambda ev: None, depth=15)
        books.subscribe_ticker(list(markets), lambda ev: None)
        ledger_lock = threading.Lock()
        ledger: list[tuple[str, str, str | None]] = []

        def on_private(ev: Any) -> None:
            if ev.type == "myOrder":
                with ledger_lock:
                    ledger.append((ev.uuid, ev.state, ev.trade_uuid))

        accounts = WebSocketClientProxy("chaos-ledger", hub=hub)
        accounts.subscribe_my_order(on_private)
        accounts.subscribe_my_asset(on_private)

        def fault_loop() -> None:
            while not stop.wait(rng.uniform(0.5, 1.5) * fault_every):
                kind = rng.choice(faults)
                report.faults[kind] += 1
                report.fault_log.append((int(time.time() * 1000), kind))
                now = time.monotonic()
                try:
                    if kind == "drop":
                        emu.fault("drop_all", close_frame=False)
                    elif kind == "drop_close":
                        emu.fault("drop_all", close_frame=True)
                    elif kind == "stall":
                        secs = rng.uniform(0.5, 2.5)
                        not_serving.append((now, now + secs + 0.3))
                        emu.fault("stall", secs)
                    elif kind == "refuse":
                        secs = rng.uniform(0.3, 1.5)
                        not_serving.append((now, now + secs + 0.3))
                        emu.fault("refuse_connections", secs,
                                  status=rng.choice((503, 429)))
                        emu.fault("drop_all", close_frame=False)
                    elif kind == "malformed":
                        emu.fault("send_malformed")
                    elif kind == "error":
                        emu.fault("send_error", "INTERNAL_ERROR", "chaos")
                    elif kind == "rest_429":
                        emu.fault("rest_throttle", rng.uniform(0.3, 1.0))
                except Exception:  # the emulator is shared; a fault must not end the run
                    log.exception("chaos: fault %s failed", kind)

        def trader() -> None:
            sides = ("bid", "ask")
            while not stop.wait(rng.uniform(0.5, 1.5)):
                market = rng.choice(markets)
                side = rng.choice(sides)
                try:
                    book = emu.book(market)
                    level = book[1]
                    price = level[0] if side == "bid" else level[1]
                    size = (level[2] if side == "bid" else level[3]) / 2
                    volume = max(size, Decimal("10000") / price).quantize(Decimal("0.00000001"))
                    hub.rest.place_order(market, side, volume=str(volume), price=str(price))
                    report.orders_placed += 1
                except Exception as exc:  # 429 windows, mostly: try again later
                    log.info("chaos: order not placed: %s", exc)

        churners: list[Any] = []

        def churn() -> None:
            while not stop.wait(rng.uniform(0.2, 0.6)):
                try:
                    if churners and (len(churners) >= 8 or rng.random() < 0.4):
                        churners.pop(rng.randrange(len(churners))).cleanup()
                        continue
                    proxy = WebSocketClientProxy(f"churn-{report.churn_joins}", hub=hub)
                    churners.append(proxy)
                    report.churn_joins += 1
                    kind = rng.choice(("ticker", "trade", "orderbook", "candle"))
                    codes = rng.sample(list(markets), rng.randint(1, len(markets)))
                    getattr(proxy, f"subscribe_{kind}")(codes, lambda ev: None)
                except Exception as exc:
                    report.churn_errors += 1
                    log.info("chaos: churn step failed: %s", exc)

        live = Counter()

        public_conn = hub.connections["public"]

        def sampler() -> None:
            while not stop.wait(0.01):
                now = time.monotonic()
                if any(a <= now <= b for a, b in not_serving):
                    continue
                try:
                    status = public_conn.ask(GetStatus(), timeout=2.0)
                except Exception:  # the hub is stopping
                    return
                live["serving"] += 1
                if status.get("state") == "connected" and status.get("wire"):
                    live["live"] += 1
                else:
                    report.down_samples.append((int(time.time() * 1000), status.get("state")))

        for target in (fault_loop, trader, churn, sampler):
            t = threading.Thread(target=target, name=f"chaos-{target.__name__}", daemon=True)
            t.start()
            threads.append(t)
        started = time.monotonic()
        started_ms = int(time.time() * 1000)
        stop.wait(duration_s)
        stop.set()
        for t in threads:
            t.join(10)
        report.duration_s = time.monotonic() - started
        emu.fault("clear")
        cleared_ms = int(time.time() * 1000)
        for proxy in churners:
            proxy.cleanup()
        churners.clear()

        # quiesce: streams resume, gaps fill, the private ledger catches up
        _settle(hub, tape, markets, cleared_ms, 20.0)
        _account_trades(report, tape, emu.trades(), (started_ms + 1000, cleared_ms))
        history = [(h["uuid"], h["state"], h.get("trade_uuid"))
                   for h in emu.order_history()]
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline:
            with ledger_lock:
                if set(history) <= set(ledger):
                    break
            time.sleep(0.1)
        with ledger_lock:
            _account_private(report, history, list(ledger))
        report.live_fraction = live["live"] / max(1, live["serving"])
        report.serving_samples = live["serving"]
        status = hub.status()
        report.reconnects = status["connections"]["public"]["sessions"] - 1
        report.gapfill = dict(status["connections"]["public"].get("gapfill", {}))
        expected_wire = {("trade", c) for c in markets} | {("orderbook", c) for c in markets} \
            | {("ticker", c) for c in markets}
        public = [c for c in emu.connections() if c.endpoint == "public"]
        got_wire = {(s[0], code.split(".")[0]) for c in public for s in c.subscriptions
                    for code in s[1]}
        report.wire_matches = len(public) == 1 and got_wire == expected_wire
        report.registry_growth = status["registry"]["components"] - 3
        for proxy in (steady, books, accounts):
            proxy.cleanup()
    finally:
        stop.set()
        hub.stop()
        emu.stop()
    time.sleep(0.2)  # let daemon helper threads of stopped actors finish (bounded)
    report.actors_growth = len(pykka.ActorRegistry.get_all()) - base_actors
    report.threads_growth = threading.active_count() - base_threads
    _judge(report, min_live_fraction)
    return report


def _settle(hub: Any, tape: _Tape, markets: tuple[str, ...], cleared_ms: int,
            timeout: float) -> None:
    """Wait until live trades made after the faults ended reached the tape for every market
    and no market is held for backfill: everything before them must be accounted for."""
    after = (cleared_ms + 1000) * 10_000  # sequential_id = trade_timestamp * 10000 + k
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = hub.status()["connections"]["public"]
        with tape.lock:
            fresh = all(any(sid > after for sid in tape.sids.get(c, ())[-50:]) for c in markets)
        if fresh and not status.get("gapfill", {}).get("held_markets"):
            return
        time.sleep(0.1)
    log.warning("chaos: streams did not settle within %.0fs", timeout)


def _account_trades(report: ChaosReport, tape: _Tape, truth: dict[str, list[int]],
                    span: tuple[int, int]) -> None:
    """``span``: (from, to) unix ms; the trades the emulator made then must all be checked."""
    low, high = span[0] * 10_000, (span[1] + 1) * 10_000  # sequential_id = ms * 10000 + k
    checked: set[int] = set()
    with tape.lock:
        received = {code: list(sids) for code, sids in tape.sids.items()}
        report.backfilled = tape.backfilled
    for code, sids in received.items():
        report.trades_received += len(sids)
        report.duplicated += len(sids) - len(set(sids))
        known = truth.get(code, [])
        if len(sids) < 2:
            continue
        index = {sid: i for i, sid in enumerate(known)}
        # window: from the first live trade (the snapshot may predate the listener) to the last
        inside = [s for s in sids[1:] if s in index]
        if not inside:
            continue
        first, last = index[inside[0]], index[inside[-1]]
        expected = known[first:last + 1]
        checked.update(expected)
        report.trades_expected += len(expected)
        missing = set(expected) - set(inside)
        report.lost += len(missing)
        report.lost_sample.extend((code, sid) for sid in sorted(missing)[:50])
        positions = [index[s] for s in inside]
        report.out_of_order += sum(1 for a, b in pairwise(positions) if b <= a)
    made = [sid for sids in truth.values() for sid in sids if low <= sid < high]
    report.trades_made = len(made)
    report.trades_unchecked = sum(1 for sid in made if sid not in checked)


def _account_private(report: ChaosReport, history: list[tuple], ledger: list[tuple]) -> None:
    report.private_expected = len(history)
    seen = set(ledger)
    report.private_missing = sum(1 for h in history if h not in seen)
    by_order: dict[str, list[str]] = defaultdict(list)
    for uuid, state, _ in ledger:
        by_order[uuid].append(state)
    rank = {"wait": 0, "watch": 0, "trade": 1, "done": 2, "cancel": 2, "prevented": 2}
    for states in by_order.values():
        ranks = [rank.get(s, 1) for s in states]
        if ranks != sorted(ranks):
            report.private_out_of_order += 1


def _judge(report: ChaosReport, min_live_fraction: float) -> None:
    p = report.problems
    if report.lost:
        p.append(f"{report.lost} trades lost")
    if report.duplicated:
        p.append(f"{report.duplicated} trades delivered twice")
    if report.out_of_order:
        p.append(f"{report.out_of_order} trades out of order")
    if report.trades_expected == 0:
        p.append("no trades were checked")
    if report.trades_unchecked:
        p.append(f"{report.trades_unchecked} of the {report.trades_made} trades made during "
                 "the run were outside the window checked")
    if report.private_missing:
        p.append(f"{report.private_missing} private state changes missing")
    if report.private_out_of_order:
        p.append(f"{report.private_out_of_order} orders with states out of order")
    if not report.wire_matches:
        p.append("the subscription set at the emulator is not the union of live wishes")
    if report.actors_growth > 0 or report.threads_growth > 0 or report.registry_growth:
        p.append(f"growth: actors {report.actors_growth}, threads {report.threads_growth}, "
                 f"registry {report.registry_growth}")
    if report.live_fraction < min_live_fraction:
        p.append(f"live fraction {report.live_fraction:.5f} < {min_live_fraction}")

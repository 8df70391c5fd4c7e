"""The backtest driver: recorded events through unchanged components, on a simulated clock.

Everything runs in ONE thread, in an order fixed by the inputs alone::

    for each recorded event (merged by recv_ts):
        advance the SimClock to its time, one deadline at a time: whatever falls due first
            (component timers, order calls arriving at the exchange after the latency, the
            order manager's own wake-ups) runs at its own time, then the queue is drained
        order book?  feed LatestBooks, let resting orders fill (exchange.on_market_tick),
                     tell the manager the top of book
        deliver the event to the subscribed components (routing as live, books sliced)
        drain: the FIFO queue (order updates, timer callbacks, myOrder/myAsset events for
               subscribers), then the manager's due calls, sent to the SimVenue at now +
               latency; repeat until nothing is left

The same :class:`~upbit_hub.actors.trading.manager.OrderManager` as live (its risk rules,
pacing by a :class:`~upbit_hub.actors.trading.pacing.GroupPacer` on the simulated clock, the
``[trading]`` limits of the settings; no journal) and the same ``Context`` run; only the clock
(:class:`~upbit_hub.actors.trading.clock.SimClock`) and the exchange (the emulator's
:class:`~upbit_hub.actors.emulator.exchange.Exchange` behind a
:class:`~upbit_hub.actors.trading.venue_sim.SimVenue`) are simulated. Recorded myOrder/myAsset
events are not replayed: the simulated exchange makes its own.

A call reaches the exchange ``latency_s`` after the manager hands it out; its answer and the
exchange's events come back at that same moment. ``speed`` (``None``: as fast as possible)
only sleeps between events so that simulated time runs ``speed`` times the wall clock; it
never changes the order of anything. After the last event the components are stopped (timers
cancelled, ``on_stop``) and the calls they make then still reach the exchange (``stop_grace_s``
of simulated time).

Runs in: the caller's thread (``Backtest.run``), start to finish.
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import partial
from itertools import chain
from typing import Any

from upbit_hub.actors.protocol.errors import BacktestError

from .books import LatestBooks
from .gateway import DirectGateway
from .host import ComponentSpec, SyncHost, specs_from_settings
from .ledger import Equity, Ledger
from .progress import Progress
from .proxy import BacktestHub, BacktestProxy, Router
from .recording import PRIVATE_TYPES, merged, scan
from .report import new_digest
from .state import ReplayState
from .values import BacktestConfig, BacktestResult, ReplayClock

__all__ = ["Backtest", "BacktestConfig", "BacktestResult"]

log = logging.getLogger(__name__)

_TRACEBACKS = 3


class Backtest:
    """One run (see the module docstring). ``components``: specs to run instead of the
    settings' ``[[components]]``; ``progress``: a :class:`~.progress.Progress` or None."""

    def __init__(self, config: BacktestConfig, components: Sequence[ComponentSpec] | None = None,
                 *, progress: Callable[[int], Progress] | None = None) -> None:
        self.config = config
        self._specs = components
        self._make_progress = progress
        self._queue: deque[tuple[Any, Callable[[], Any]]] = deque()
        self._private: list[Any] = []
        self._dirty = False
        self._wake_at: float | None = None
        self._book_wanted: set[str] = set()
        self._seen: set[tuple[str, str]] = set()  # (type, code) replayed so far
        self._logged_errors = 0

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> BacktestResult:
        """Replay, then stop the components; raises :class:`BacktestError` when there is
        nothing to replay or every component failed to start."""
        from upbit_hub.actors.emulator.exchange import Exchange
        from upbit_hub.actors.trading.manager import OrderManager
        from upbit_hub.actors.trading.pacing import GroupPacer, limits_from_settings
        from upbit_hub.actors.trading.venue_sim import SimVenue

        cfg = self.config
        balances = cfg.start_balances()
        coins = [f"KRW-{c}" for c, amount in balances.items() if c != "KRW" and amount > 0]
        digest = new_digest(cfg.settings, cfg.params())
        info = scan(cfg.recordings, digest, count_lines=self._make_progress is not None,
                    markets=coins)  # fmt: skip
        skipped: dict[str, int] = {}
        stream = merged(info.groups, start=cfg.start, end=cfg.end, skip=PRIVATE_TYPES,
                        skipped=skipped)  # fmt: skip
        first = next(stream, None)
        if first is None:
            files = ", ".join(map(str, info.files))
            raise BacktestError(f"nothing to replay: no market events in {files}"
                                + (" between --start and --end" if cfg.start or cfg.end else ""))
        self.clock = clock = ReplayClock(first[0])
        self.books = books = LatestBooks()
        self.exchange = Exchange(
            books, balances=balances, seed=cfg.seed, clock=lambda: round(clock.time() * 1000),
            maker_fee_rate=cfg.maker_fee_rate, taker_fee_rate=cfg.taker_fee_rate,
            split_probability=cfg.split_probability,
        )  # fmt: skip
        self.venue = SimVenue(self.exchange, on_event=self._private.append)
        self.state = state = ReplayState(books, self.venue, clock)
        self.gateway = DirectGateway(clock, rng=random.Random(cfg.seed), on_change=self._touch)
        trading = cfg.settings.trading
        self.hub = hub = BacktestHub(cfg.settings, clock, self.gateway, state)
        self.manager = m = OrderManager(
            trading, clock=clock, pacer=GroupPacer(limits_from_settings(trading),
                                                   clock=clock.monotonic),
            deliver=self._deliver, journal=None, market_problem=hub.market_problem,
            needs_book=self._book_wanted.add,
        )  # fmt: skip
        self.gateway.manager = m
        self.ledger = Ledger(on_fill=self._before_fill)
        self.equity = Equity(self.exchange.balances, self._price, self.ledger.pnl, balances)
        self._awaiting = [mk for mk in coins if mk in info.found]  # priced before the start
        self.router = router = Router(self._callback_error)
        self.host = host = SyncHost(lambda cid: BacktestProxy(cid, hub, router, self._post),
                                    clock)  # fmt: skip
        m.start()
        self._dirty = True
        specs = self._specs if self._specs is not None else specs_from_settings(cfg.settings)
        host.start(specs)
        self._settle()
        if host.all_failed:
            problems = "; ".join(f"{c.id}: {c.error}" for c in host.components)
            raise BacktestError(f"every component failed to start ({problems})")
        progress = self._make_progress(info.lines) if self._make_progress else None
        events, interrupted = 0, False
        try:
            events = self._loop(chain((first,), stream), progress)
        except KeyboardInterrupt:
            interrupted = True
            events = self._events
            log.warning("backtest interrupted at event %d: stopping the components", events)
        if progress is not None:
            progress.finish(events, clock.time())
        end = clock.time()
        host.stop()
        self._advance(end + max(cfg.stop_grace_s, 2 * cfg.latency_s))
        host.close()
        self._settle()
        self.equity.sample(clock.time())
        self._warn_unfed()
        unrealized, _missing = self.equity.unrealized()
        return BacktestResult(
            config=cfg, info=info, digest=digest, ledger=self.ledger, points=self.equity.points,
            events=events, skipped=skipped, sim_start=first[0], sim_end=clock.time(),
            start_balances=balances,
            end_balances={c: (b.balance, b.locked) for c, b in self.exchange.balances().items()},
            realized=self.ledger.pnl.total("KRW"), unrealized=unrealized,
            max_drawdown=self.equity.max_drawdown, max_drawdown_pct=self.equity.max_drawdown_pct,
            unpriced=sorted(self.equity.unpriced), components=[c.report() for c in host.components],
            manager=m.status(), interrupted=interrupted,
        )  # fmt: skip

    def _loop(self, stream: Any, progress: Progress | None) -> int:
        """The per-event loop (the hot path: keep it flat)."""
        clock, books, m, venue, state = self.clock, self.books, self.manager, self.venue, \
            self.state  # fmt: skip
        routes = self.router.routes
        deliver = self.router.deliver
        seen = self._seen
        interval = self.config.equity_interval_s
        speed = self.config.speed
        wall0, sim0 = time.monotonic(), clock.time()
        last_sample = -1e300
        self._events = n = 0
        for ts, ev in stream:
            if speed is not None:
                wait = (ts - sim0) / speed - (time.monotonic() - wall0)
                if wait > 0.001:
                    time.sleep(wait)
            if ts >= clock.earliest:
                self._advance(ts)
            elif ts > clock.time():
                clock.move_to(ts)
            kind = ev.type
            code = ev.code
            key = (kind, code)
            if key not in seen:
                self._first_of(key)
            if kind == "orderbook":
                books.update(ev)
                bid, ask = books.top(code)
                m.on_book(code, bid, ask)
                venue.market_data(None, round(clock.time() * 1000))
                if self._private:
                    self._drain_private()
                if code in self._book_wanted:
                    self._book_wanted.discard(code)
                    self._dirty = True
            elif kind == "trade":
                state.on_trade(ev)
            elif kind == "ticker":
                state.on_ticker(ev)
            else:
                state.on_candle(ev)
            subs = routes.get(key)
            if subs:
                for sub in tuple(subs):
                    deliver(sub, ev)
            if self._queue or self._dirty:
                self._settle()
            n += 1
            self._events = n
            if ts - last_sample >= interval:
                last_sample = ts
                self._sample()
            if progress is not None and not n & 1023:
                progress.update(n, clock.time())
        return n

    # -- time and the queue ---------------------------------------------------------------------

    def _advance(self, t: float) -> None:
        """Run every deadline up to ``t``, each at its own time, draining after each."""
        clock = self.clock
        while True:
            self._settle()
            due = clock.next_due()
            if due is None or due > t:
                break
            clock.advance_to(due)
        clock.advance_to(t)
        self._settle()

    def _settle(self) -> None:
        """Drain the queue and the manager until both are quiet."""
        q = self._queue
        while True:
            while q:
                proxy, fn = q.popleft()
                try:
                    fn()
                except Exception as exc:
                    proxy.errors += 1
                    self._callback_error(proxy, None, exc)
            if not self._dirty:
                return
            self._dirty = False
            for call in self.manager.due_calls():
                self.clock.call_later(self.config.latency_s, partial(self._execute, call))
            self._plan_wakeup()

    def _plan_wakeup(self) -> None:
        due = self.manager.next_wakeup()
        if due is None:
            return
        if self._wake_at is not None and self._wake_at <= due:
            return
        now = self.clock.time()
        delay = due - now
        if delay < 1e-6:
            delay = 0.001  # never a wake-up at the same instant: time must move on
        self._wake_at = now + delay
        self.clock.call_later(delay, self._wake)

    def _wake(self) -> None:
        self._wake_at = None
        self._dirty = True

    def _touch(self) -> None:
        self._dirty = True

    def _post(self, proxy: Any, fn: Callable[[], Any]) -> None:
        self._queue.append((proxy, fn))

    # -- the exchange -----------------------------------------------------------------------------

    def _execute(self, call: Any) -> None:
        """A call reaches the simulated exchange (a SimClock callback)."""
        result = self.venue.execute(call)
        self._drain_private()
        self.manager.on_result(result)
        self._dirty = True

    def _drain_private(self) -> None:
        """Exchange events: to the manager now, to subscribed components via the queue."""
        evs = self._private[:]
        self._private.clear()
        router, q = self.router, self._queue
        self.equity.changed()
        for ev in evs:
            self.manager.on_event(ev)
            for sub in router.targets(ev):
                q.append((sub.proxy, partial(router.deliver, sub, ev)))
        self._dirty = True

    def _deliver(self, component_id: str, update: Any) -> None:
        """The manager's ``deliver``: into the ledger, then to the component."""
        self.ledger.on_update(update)
        self.gateway.deliver(component_id, update)

    # -- accounting -------------------------------------------------------------------------------

    def _price(self, market: str) -> Decimal | None:
        mid = self.books.mid(market)
        return mid if mid is not None else self.state.last_price.get(market)

    def _before_fill(self, market: str) -> None:
        if not self.equity.started:
            self.equity.start(self.clock.time())

    def _sample(self) -> None:
        eq = self.equity
        if not eq.started:
            if any(self._price(mk) is None for mk in self._awaiting):
                return  # wait until the starting coins have a price
            eq.start(self.clock.time())
        eq.sample(self.clock.time())

    def _first_of(self, key: tuple[str, str]) -> None:
        """The first event of this type and market: the market becomes tradable."""
        self._seen.add(key)
        code = key[1]
        if code not in self.hub.recorded:
            self.hub.recorded.add(code)
            self.books.add_market(code)

    def _warn_unfed(self) -> None:
        for st in self.host.components:
            proxy = st.proxy
            for kind, code in sorted(getattr(proxy, "requested", ())):
                if kind not in ("myOrder", "myAsset") and (kind, code) not in self._seen:
                    log.warning("component %s subscribed to %s of %s, but the recording holds "
                                "none: record it to replay it", st.id, kind, code)

    def _callback_error(self, proxy: Any, ev: Any, exc: BaseException) -> None:
        self._logged_errors += 1
        what = f"{ev.type} {getattr(ev, 'code', '')}" if ev is not None else "a queued call"
        if self._logged_errors <= _TRACEBACKS:
            log.error("component %s: %s raised", proxy.component_id, what, exc_info=exc)
        elif self._logged_errors == _TRACEBACKS + 1:
            log.error("component callbacks keep raising (errors are counted in the summary)")

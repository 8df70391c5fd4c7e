"""The emulator's loop-side state: sockets, market tick, limits, faults and counters.

Runs in: the emulator loop thread (every method). Built inside the running loop by
:class:`~upbit_hub.actors.emulator.server.Emulator`; the WebSocket handler (``ws_handler``),
the REST routes (``rest``) and the fault operations (``faults``) work on it.

The market is driven by ONE periodic task: every ``tick_ms`` it calls
``market.advance(now_ms)`` then ``exchange.on_market_tick(now_ms)`` and hands the events to the
fan-out; frames queued during a tick go out in one write per socket right after it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from upbit_hub.actors.emulator.faults import FaultState, drop_every, error_payload
from upbit_hub.actors.emulator.limits import OffenceTracker, RestLimiter, SlidingWindow
from upbit_hub.actors.emulator.server_config import ConnectionInfo, EmulatorConfig, EmulatorStats
from upbit_hub.actors.emulator.server_fanout import Fanout, subscription_tuples
from upbit_hub.actors.emulator.server_stats import StatsRecorder
from upbit_hub.actors.emulator.ws_session import WsSession

__all__ = ["ServerCore"]

log = logging.getLogger(__name__)


class ServerCore:
    """Everything the handlers share. Create inside the running loop."""

    def __init__(self, config: EmulatorConfig, market: Any, exchange: Any, auth: Any) -> None:
        self.config = config
        self.market = market
        self.exchange = exchange
        self.auth = auth
        self.loop = asyncio.get_running_loop()
        self.stats = StatsRecorder(config.request_log_size)
        self.fault_state = FaultState()
        self.fanout = Fanout(market.markets, market.snapshot, self.stats,
                             spelling=config.spelling)
        self.sessions: dict[int, WsSession] = {}
        self.offences = OffenceTracker(60.0, config.teapot_seconds)
        self.rest_limiter = RestLimiter(
            dict(config.rest_limits) if config.rest_limits is not None else None,
            block_seconds=config.rest_block_seconds,
            max_block_seconds=config.rest_max_block_seconds,
        )
        self._connects: dict[str, SlidingWindow] = {}
        self._next_id = 1
        self._dirty: list[WsSession] = []
        self._flush_scheduled = False
        self._tick_task: asyncio.Task | None = None
        self._tick_errors = 0
        self._sim_ms = 0  # the now_ms given to the market at the last step
        self._lagging = False
        self._remove_listener = exchange.add_listener(self._on_private)
        self.stopping = asyncio.Event()  # set at shutdown: held REST answers go out now

    # ------------------------------------------------------------------ sessions

    def next_id(self) -> int:
        """A fresh connection id."""
        sid = self._next_id
        self._next_id += 1
        return sid

    def connect_window(self, ip: str) -> SlidingWindow:
        """The per-IP ``websocket-connect`` window (5/s by default)."""
        window = self._connects.get(ip)
        if window is None:
            window = self._connects[ip] = SlidingWindow(self.config.connect_limit, 1.0)
        return window

    def register(self, session: WsSession) -> None:
        """Track a freshly upgraded socket."""
        self.sessions[session.id] = session

    def unregister(self, session: WsSession) -> None:
        """Forget a socket whose handler ended."""
        self.sessions.pop(session.id, None)
        self.fanout.forget(session)

    def mark_dirty(self, session: WsSession) -> None:
        """``session`` has queued frames: flush it on the next loop iteration."""
        self._dirty.append(session)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush_dirty)

    def _flush_dirty(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, []
        for session in dirty:
            if session.dirty:
                session.flush()

    def is_stalled(self) -> bool:
        """True while the stall fault is in force."""
        until = self.fault_state.stalled_until
        return until > 0.0 and until > time.monotonic()

    def send_error(self, session: WsSession, name: str, message: str) -> None:
        """Error frame now, close 1000 after ``error_close_delay`` (protocol.md 4)."""
        session.send_now(error_payload(name, message), "error")
        session.close_soon(self.config.error_close_delay, 1000)
        self.fanout.forget(session)

    def _on_private(self, obj: dict) -> None:
        try:
            self.fanout.deliver_private(obj)
        except Exception:
            log.exception("delivering a private event failed")

    # ------------------------------------------------------------------ market tick

    def start(self) -> None:
        """Start the market tick (and the periodic drop fault when configured)."""
        self._tick_task = self.loop.create_task(self._tick_loop())
        if self.config.drop_every:
            drop_every(self, self.config.drop_every)

    async def _tick_loop(self) -> None:
        period = self.config.tick_ms / 1000.0
        loop = self.loop
        next_at = loop.time()
        while True:
            self.step()
            next_at += period
            delay = next_at - loop.time()
            if delay < -1.0:  # far behind (machine busy): do not try to catch up in a burst
                next_at = loop.time()
                delay = 0.0
            await asyncio.sleep(max(0.0, delay))

    def step(self) -> None:
        """One market step: advance, let the exchange match, fan the events out.

        Simulated time advances at most ``10 * tick_ms`` per step: when the machine cannot
        keep up with ``rate``, the market falls behind the wall clock (timestamps lag) instead
        of producing ever larger batches that would starve the loop.
        """
        now_ms = int(time.time() * 1000)
        max_step = 10 * self.config.tick_ms
        if self._sim_ms and now_ms - self._sim_ms > max_step:
            if not self._lagging and now_ms - self._sim_ms > 1000:
                self._lagging = True
                log.warning("market rate %.0f/s is more than this machine can serve; "
                            "simulated time lags the clock", self.market.rate)
            now_ms = self._sim_ms + max_step
        elif self._lagging:
            self._lagging = False
        self._sim_ms = now_ms
        try:
            events = self.market.advance(now_ms)
            self.exchange.on_market_tick(now_ms)
            self.fanout.deliver(events)
        except Exception:
            self._tick_errors += 1
            if self._tick_errors <= 5 or self._tick_errors % 1000 == 0:
                log.exception("market step failed (%d so far)", self._tick_errors)
        self.stats.ticks += 1

    # ------------------------------------------------------------------ views

    def open_connections(self) -> dict[str, int]:
        """Open sockets per endpoint."""
        out = {"public": 0, "private": 0}
        for s in self.sessions.values():
            out[s.endpoint] = out.get(s.endpoint, 0) + 1
        return out

    def snapshot_stats(self) -> EmulatorStats:
        """Frozen counters."""
        return self.stats.snapshot(self.open_connections())

    def connection_infos(self) -> list[ConnectionInfo]:
        """One record per open socket, oldest first."""
        return [
            ConnectionInfo(
                id=s.id,
                endpoint=s.endpoint,
                format=s.format,
                subscriptions=subscription_tuples(s.request),
                opened_at=s.opened_at,
                remote=s.remote,
                compressed=s.compressed,
                authenticated=s.authenticated,
            )
            for s in sorted(self.sessions.values(), key=lambda s: s.id)
        ]

    # ------------------------------------------------------------------ shutdown

    async def shutdown(self) -> None:
        """Stop the tick and the fault timers, release held answers, abort every socket."""
        self.stopping.set()
        if self._tick_task is not None:
            self._tick_task.cancel()
            try:
                await self._tick_task
            except asyncio.CancelledError:
                pass
        state = self.fault_state
        for handle in (state.drop_handle, state.reject_auth_handle):
            if handle is not None:
                handle.cancel()
        try:
            self._remove_listener()
        except Exception:
            log.debug("removing the exchange listener failed", exc_info=True)
        for session in list(self.sessions.values()):
            session.cancel_timers()
            session.abort()

"""The hub: starts and stops the actors in dependency order; the lazily started default hub.

Start order: timers, connections (public, private), registry (then each connection learns the
registry), with a ``Ping`` barrier after each. Stop order is the reverse, components first, in a
``finally``. The default hub (``get_hub()``, used by ``WebSocketClientProxy`` when no hub is
given) starts on first use with zero configuration: the file named by ``UPBIT_HUB_CONFIG`` if
set, else live Upbit public endpoints, SIMPLE format, compression on.

Hub actors run on daemon threads and an ``atexit`` hook stops the default hub, so a script that
forgets ``stop_hub()`` still exits (pykka's threads are non-daemon by default, which would keep
the process alive forever).

Runs in: the caller's thread (all functions and methods).
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

import pykka

from .component import ComponentProxyActor
from .connection import ConnectionActor
from .gapfill import TradeGapFiller
from .inbox import ComponentInbox
from .jwt_actor import JWTActor, MintToken
from .markets import MarketCatalog
from .messages import (
    PRIVATE,
    PUBLIC,
    AttachFallback,
    AttachRegistry,
    ConnectionOptions,
    DeliverEvents,
    GetStatus,
    ListSubscriptions,
    MarketsKnown,
    Ping,
)
from .private_fallback import PrivateFallbackActor
from .private_state import PrivateStateTracker
from .protocol.errors import HubError
from .ratelimit import process_connect_limiter
from .registry import SubscriptionRegistryActor
from .rest import RestClient
from .timers import TimerService

log = logging.getLogger(__name__)

_component_seq = itertools.count(1)


class Hub:
    """One running set of connection, registry and component actors."""

    def __init__(self, settings: Any, *, environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.environ = os.environ if environ is None else environ
        self.timers: TimerService | None = None
        self.clock: Any = None  # trading.clock.LiveClock once started (backtests use SimClock)
        self.connections: dict[str, pykka.ActorRef[Any]] = {}
        self.registry: pykka.ActorRef[Any] | None = None
        self.jwt: pykka.ActorRef[Any] | None = None
        self.fallback: pykka.ActorRef[Any] | None = None
        self.tracker = PrivateStateTracker()
        self.rest = RestClient(
            settings.upbit.rest_url,
            timeout=settings.hub.request_timeout_s,
            token_factory=self._rest_token,
            auth_hint=f"{settings.auth.access_key_env} / {settings.auth.secret_key_env}",
        )
        self.components: dict[str, pykka.ActorRef[Any]] = {}
        self.markets: MarketCatalog | None = None
        self._orders: Any = None  # trading.gateway.OrderGateway, started on first use
        self._lock = threading.Lock()
        self._orders_lock = threading.Lock()
        self.running = False

    # -- lifecycle ---------------------------------------------------------------------------

    def _options(self, endpoint: str, url: str) -> ConnectionOptions:
        s = self.settings
        h = s.hub
        return ConnectionOptions(
            endpoint=endpoint,
            url=url,
            fmt=s.upbit.format,
            compression=s.upbit.compression,
            ping_interval_s=h.ping_interval_s,
            stale_after_s=h.stale_after_s,
            reconnect_min_s=h.reconnect_min_s,
            reconnect_max_s=h.reconnect_max_s,
            stable_after_s=h.stable_after_s,
            messages_per_s=h.messages_per_s,
            messages_per_min=h.messages_per_min,
            connect_timeout_s=h.request_timeout_s,
            auth_hint=f"{s.auth.access_key_env} / {s.auth.secret_key_env}",
        )

    def _token(self, query: str) -> str:
        if self.jwt is None:
            raise HubError("the hub is not running")
        try:
            return self.jwt.ask(MintToken(query), timeout=self.settings.hub.request_timeout_s)
        except pykka.ActorDeadError as exc:
            raise HubError("the hub is not running") from exc

    def _rest_token(self, query: str) -> str:
        """A token for one REST call. Runs in: the caller's thread."""
        return self._token(query)

    def _private_header(self) -> list[str]:
        """A fresh JWT (new nonce) for every private handshake. Runs in: the reader thread."""
        return [f"Authorization: Bearer {self._token('')}"]

    def start(self) -> Hub:
        """Start every actor; returns self once all answer ``Ping``."""
        if self.running:
            return self
        s = self.settings
        timeout = s.hub.request_timeout_s
        try:
            self.timers = TimerService()
            call_later = self.timers.call_later
            from .trading.clock import LiveClock

            self.clock = LiveClock(call_later)
            self.jwt = JWTActor.start(s.auth, self.environ, call_later)
            self.jwt.ask(Ping(), timeout=timeout)
            rest = self.rest
            self.connections[PUBLIC] = ConnectionActor.start(
                self._options(PUBLIC, s.upbit.websocket_url),
                call_later=call_later,
                connect_limiter=process_connect_limiter(s.hub.connects_per_s, "ip"),
                gapfill=TradeGapFiller(
                    lambda code, count, cursor: rest.get_trades(code, count, cursor)
                ),
            )
            self.connections[PRIVATE] = ConnectionActor.start(
                self._options(PRIVATE, s.upbit.private_websocket_url),
                call_later=call_later,
                connect_limiter=process_connect_limiter(s.hub.connects_per_s, "account"),
                header_factory=self._private_header,
                admit=self.tracker.admit,
            )
            private = self.connections[PRIVATE]
            self.fallback = PrivateFallbackActor.start(
                self.rest,
                self.tracker,
                lambda ev: private.tell(DeliverEvents((ev,))),
                fallback_after_s=s.private.rest_fallback_after_s,
                poll_interval_s=s.private.poll_interval_s,
                call_later=call_later,
            )
            private.tell(AttachFallback(self.fallback))
            for ref in self.connections.values():
                ref.ask(Ping(), timeout=timeout)
            self.registry = SubscriptionRegistryActor.start(
                dict(self.connections),
                call_later,
                coalesce_s=s.hub.coalesce_ms / 1000.0,
            )
            self.registry.ask(Ping(), timeout=timeout)
            for ref in self.connections.values():
                ref.tell(AttachRegistry(self.registry))
                ref.ask(Ping(), timeout=timeout)
            registry = self.registry
            self.markets = MarketCatalog(
                self.rest.get_markets,
                on_update=lambda codes: _tell(registry, MarketsKnown(codes)),
            ).start()
        except BaseException:
            self.stop()
            raise
        self.running = True
        log.info(
            "hub started: %s (format %s, compression %s)",
            s.upbit.websocket_url,
            s.upbit.format,
            "on" if s.upbit.compression else "off",
        )
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop components, registry, connections, timers (reverse start order), all within
        ``timeout`` seconds in total: an actor that does not stop in time is reported and
        left behind (every hub actor runs on a daemon thread)."""
        import time

        deadline = time.monotonic() + timeout

        def left() -> float:
            return max(0.05, deadline - time.monotonic())

        self.running = False
        if self.markets is not None:
            self.markets.stop()
        try:
            orders, self._orders = self._orders, None
            if orders is not None:
                _flush_orders(orders.ref, min(2.0, left()))
                _stop(orders.ref, left())
            with self._lock:
                components = list(self.components.values())
                self.components.clear()
            for ref in components:
                ref.stop(block=False)
            for ref in components:
                _stop(ref, left())
            if self.registry is not None:
                _stop(self.registry, left())
            if self.fallback is not None:
                _stop(self.fallback, left())
            for ref in reversed(list(self.connections.values())):
                _stop(ref, left())
            if self.jwt is not None:
                _stop(self.jwt, left())
        finally:
            if self.timers is not None:
                self.timers.stop()
            self.registry = None
            self.fallback = None
            self.jwt = None
            self.connections.clear()

    # -- components --------------------------------------------------------------------------

    def create_component(
        self, component_id: str, *, error_policy: str = "continue", capacity: int | None = None
    ) -> tuple[ComponentInbox, pykka.ActorRef[Any]]:
        """Start a ComponentProxyActor for ``component_id`` and return its inbox and ref."""
        if not self.running or self.registry is None:
            raise HubError("the hub is not running; call start_hub() first")
        key = f"{component_id}#{next(_component_seq)}"
        inbox = ComponentInbox(
            key, component_id, capacity or self.settings.hub.trade_queue_size
        )
        ref = ComponentProxyActor.start(inbox, self.registry, error_policy)
        inbox.actor_ref = ref
        with self._lock:
            self.components[key] = ref
        return inbox, ref

    def order_gateway(self) -> Any:
        """The account's order gateway; starts the order actor (journal, pacer, private
        stream) on first use. Raises ``CredentialsError`` when the keys are missing and
        ``JournalError`` when another upbit-hub uses the journal. Runs in: any thread."""
        with self._orders_lock:
            if self._orders is None:
                if not self.running:
                    raise HubError("the hub is not running; call start_hub() first")
                paper = self.settings.trading.paper
                if not paper and not self.settings.private.enabled:
                    raise HubError("the order API needs the private stream (myOrder/myAsset): "
                                   "set [private] enabled = true (or trade on paper: "
                                   "[trading] paper = true, `upbit-hub run --paper`)")
                if paper:
                    from .backtest.paper import start_paper_desk

                    self._orders = start_paper_desk(self)
                else:
                    from .trading.desk import start_desk

                    self._orders = start_desk(self)
            return self._orders

    def market_problem(self, market: str) -> str | None:
        """Why ``market`` cannot be traded (Upbit does not list it), or None. Runs in: any."""
        markets = self.markets
        if markets is not None and markets.loaded and market not in markets.codes:
            from .markets import suggest_market

            hint = suggest_market(market, markets.codes)
            more = f"; did you mean {hint!r}?" if hint else ""
            return f"{market} is not listed by Upbit{more}"
        return None

    def forget_component(self, key: str) -> None:
        with self._lock:
            self.components.pop(key, None)

    # -- introspection -----------------------------------------------------------------------

    def status(self, timeout: float = 2.0) -> dict[str, Any]:
        """A snapshot of every actor's counters (for the status view and tests)."""
        if not self.running or self.registry is None:
            return {"running": False}
        out: dict[str, Any] = {"running": True, "connections": {}, "components": {}}
        for name, ref in self.connections.items():
            out["connections"][name] = _ask(ref, GetStatus(), timeout)
        out["registry"] = _ask(self.registry, GetStatus(), timeout)
        if self.fallback is not None:
            out["private_fallback"] = _ask(self.fallback, GetStatus(), timeout)
        if self.markets is not None:
            out["markets"] = self.markets.status()
        if self._orders is not None:
            out["orders"] = _ask(self._orders.ref, GetStatus(), timeout)
        with self._lock:
            components = dict(self.components)
        for key, ref in components.items():
            out["components"][key] = _ask(ref, GetStatus(), timeout)
        return out

    def connection_status(self, endpoint: str, timeout: float = 2.0) -> dict[str, Any]:
        """One connection's status (url, state, last_error, trying_for_s, ...)."""
        ref = self.connections.get(endpoint)
        if ref is None:
            return {"state": "stopped"}
        return _ask(ref, GetStatus(), timeout)

    def list_subscriptions(self, endpoint: str = PUBLIC, timeout: float = 5.0) -> Any:
        """Ask Upbit (LIST_SUBSCRIPTIONS) what this connection is subscribed to."""
        done: Future[Any] = Future()
        self.connections[endpoint].tell(ListSubscriptions(done))
        return done.result(timeout)


def _stop(ref: pykka.ActorRef[Any], timeout: float) -> None:
    try:
        ref.stop(block=True, timeout=timeout)
    except pykka.Timeout:
        log.warning("actor %s did not stop within %.1fs", ref, timeout)
    except pykka.ActorDeadError:
        pass


def _flush_orders(ref: pykka.ActorRef[Any], timeout: float) -> None:
    """Give the order actor up to ``timeout`` to send what components asked for last (the
    cancels of their ``on_stop``, say) before it stops. Runs in: the caller's thread."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _ask(ref, GetStatus(), max(0.05, deadline - time.monotonic()))
        if not isinstance(status, dict) or not status.get("calls_pending"):
            return
        time.sleep(0.05)
    log.warning("the order actor stopped with calls still pending")


def _tell(ref: pykka.ActorRef[Any], message: Any) -> None:
    try:
        ref.tell(message)
    except pykka.ActorDeadError:
        pass  # the hub is stopping


def _ask(ref: pykka.ActorRef[Any], message: Any, timeout: float) -> Any:
    try:
        return ref.ask(message, timeout=timeout)
    except (pykka.ActorDeadError, pykka.Timeout) as exc:
        return {"error": type(exc).__name__}


# -- the default hub --------------------------------------------------------------------------

_hub: Hub | None = None
_hub_lock = threading.RLock()


def start_hub(config: Any = None, *, environ: Mapping[str, str] | None = None) -> Hub:
    """Start the process's hub from a path, a Settings object, or nothing (then the file named
    by ``UPBIT_HUB_CONFIG``, else defaults). Returns the running hub. ``environ`` (default
    ``os.environ``) is where the API key variables named in ``[auth]`` are looked up.

    Calling it again with no config returns the running hub; with a config while one runs it
    raises :class:`HubError` (stop the running hub first).
    """
    global _hub
    from upbit_hub.config.loader import load_settings

    with _hub_lock:
        if _hub is not None and _hub.running:
            if config is None:
                return _hub
            raise HubError("a hub is already running; call stop_hub() before starting another")
        settings = load_settings(config, environ=os.environ if environ is None else environ)
        _hub = Hub(settings, environ=environ).start()
        return _hub


def stop_hub(timeout: float = 10.0) -> None:
    """Stop the process's hub (if any) and every component it runs, within ``timeout``."""
    global _hub
    with _hub_lock:
        hub, _hub = _hub, None
    if hub is not None:
        hub.stop(timeout)


def get_hub(start: bool = True) -> Hub:
    """The running hub; starts the default one if none runs and ``start`` is true."""
    with _hub_lock:
        if _hub is not None and _hub.running:
            return _hub
        if not start:
            raise HubError("no hub is running")
        return start_hub()


atexit.register(stop_hub)

"""The plugin SDK: :class:`Component` (what a plugin subclasses) and :class:`Context`.

A plugin is a class registered in the entry-point group ``upbit_hub.plugins``::

    import msgspec
    from upbit_hub.plugins import Component, Context, TickerEvent

    class PriceLogger(Component):
        name = "price-logger"

        class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
            symbols: list[str] = msgspec.field(default_factory=lambda: ["KRW-BTC"])

        def on_start(self, ctx: Context) -> None:
            self.log = ctx.logger
            ctx.subscribe_ticker(self.config.symbols)

        def on_ticker(self, ev: TickerEvent) -> None:
            self.log.info("%s %s", ev.symbol, ev.trade_price)

The host creates it as ``PluginClass(config)`` with the validated ``Config`` instance (None
when the plugin declares no ``Config``); the base class keeps it as ``self.config``. Each
configured instance gets its own component actor (one
:class:`~upbit_hub.actors.client.WebSocketClientProxy`): ``on_start``, every ``on_*`` handler
and ``on_stop`` run in that actor's thread, one at a time, never concurrently, so a plugin
needs no locks for its own state. Subscribing from a handler is fine (it never waits for the
network). The host that runs components is
:class:`upbit_hub.plugins.sdk_host.ComponentHost`.

Runs in: the component's thread, unless a docstring says otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from upbit_hub.actors.trading.order_api import OrderAPI
from upbit_hub.actors.trading.timers import ComponentTimers, Timer

if TYPE_CHECKING:
    from upbit_hub.actors.client import Subscription, WebSocketClientProxy
    from upbit_hub.actors.protocol.events import (
        CandleEvent,
        MyAssetEvent,
        MyOrderEvent,
        OrderbookEvent,
        TickerEvent,
        TradeEvent,
    )
    from upbit_hub.actors.trading.clock import Clock
    from upbit_hub.actors.trading.handles import ComponentOrders
    from upbit_hub.actors.trading.types import OrderUpdate

__all__ = ["HANDLERS", "Component", "Context", "HandlerCounters"]

#: Stream kind -> the Component method its events are routed to.
HANDLERS: dict[str, str] = {
    "ticker": "on_ticker",
    "trade": "on_trade",
    "orderbook": "on_orderbook",
    "candle": "on_candle",
    "myOrder": "on_my_order",
    "myAsset": "on_my_asset",
    "orderUpdate": "on_order_update",
}


class Component:
    """Base class of plugins. Override the hooks you need; all are no-ops here.

    Class attributes: ``name`` (a human name; the entry-point name is what config uses) and
    ``Config`` (a :class:`msgspec.Struct` validating ``[components.params]``, or None).
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type | None] = None

    def __init__(self, config: Any = None) -> None:
        """Keep the validated config. Runs in: the host's thread (before the actor exists)."""
        self.config = config

    def on_start(self, ctx: Context) -> None:
        """Subscribe and set up. Raising here marks the component failed (others run on)."""

    def on_ticker(self, ev: TickerEvent) -> None:
        """A ticker of a subscribed market (latest wins when the component is slow)."""

    def on_trade(self, ev: TradeEvent) -> None:
        """One trade, in order, each once (a bounded queue when slow; overflow is counted)."""

    def on_orderbook(self, ev: OrderbookEvent) -> None:
        """A full order book (latest wins when slow). ``ev.orderbook_units[0]`` is the best."""

    def on_candle(self, ev: CandleEvent) -> None:
        """The open candle so far (``ev.interval`` is e.g. ``"1m"``)."""

    def on_my_order(self, ev: MyOrderEvent) -> None:
        """One of your orders changed (private stream: needs API keys)."""

    def on_my_asset(self, ev: MyAssetEvent) -> None:
        """Your balances changed (private stream: needs API keys)."""

    def on_order_update(self, update: OrderUpdate) -> None:
        """One of this component's orders changed (``update.state``: denied, submitted, wait,
        trade, done, cancel, rejected, unknown; ``update.fill`` on a fill, each once)."""

    def on_stop(self) -> None:
        """Release resources (close files...). Called once, only after a successful on_start."""

    def status_lines(self) -> list[str]:
        """Optional lines the status view shows under this component (e.g. a ticker board).

        Runs in: the status view's thread (the main thread), concurrently with handlers: read
        only values that are replaced whole (e.g. a dict swapped on update), never mutate.
        """
        return []

    def status_line(self) -> str | None:
        """Optional one short line for the plain status line that ``upbit-hub run`` logs when
        it has no terminal (the ``nats-bridge`` gives its rates). Runs in: as
        :meth:`status_lines`."""
        return None


class HandlerCounters:
    """Events handled and handler errors of one component. Written by the component thread,
    read by anyone (plain ints: a torn read is impossible under the GIL)."""

    __slots__ = ("errors", "handled", "last_error")

    def __init__(self) -> None:
        self.handled = 0
        self.errors = 0
        self.last_error: str | None = None


class Context(OrderAPI):
    """What ``on_start`` (and later the handlers) use to reach the hub.

    ``ctx.subscribe_*`` route events to the component's matching ``on_*`` method (or to
    ``handler=`` when given) and return the :class:`~upbit_hub.actors.client.Subscription`
    handle at once. Bad input (a malformed code, a market Upbit does not list, missing API
    keys) raises :class:`~upbit_hub.actors.protocol.errors.RequestValidationError` (or
    ``CredentialsError``) before anything is registered. Otherwise the wish is registered
    whether or not the socket is up: it outlives the network, the hub keeps connecting and
    data flows once it can (the status shows "waiting for connection" until then). A later
    refusal (Upbit rejects the request, the keys are refused) is logged and counted.
    ``ctx.proxy`` is the underlying proxy for anything else it offers.
    """

    def __init__(
        self,
        component_id: str,
        component: Any,
        proxy: WebSocketClientProxy,
        counters: HandlerCounters | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.id = component_id
        self.logger = logging.getLogger(f"upbit_hub.component.{component_id}")
        self.proxy = proxy
        self.counters = counters if counters is not None else HandlerCounters()
        self._component = component
        if clock is None:
            clock = getattr(getattr(proxy, "hub", None), "clock", None)
        if clock is None:
            raise TypeError("Context needs a clock: its hub is not running")
        self.clock = clock
        self.timers = ComponentTimers(clock, self._post)

    # -- time ------------------------------------------------------------------------------

    def now(self) -> float:
        """The hub's clock in Unix seconds (simulated time in a backtest). Runs in: any."""
        return self.clock.time()

    def call_later(self, delay_s: float, fn: Callable[[], object]) -> Timer:
        """Run ``fn()`` once after ``delay_s`` seconds, in this component's thread (never at the
        same time as a handler). Returns a :class:`Timer` (``.cancel()``)."""
        return self.timers.call_later(delay_s, self._counted_call(fn))

    def every(self, interval_s: float, fn: Callable[[], object]) -> Timer:
        """Run ``fn()`` every ``interval_s`` seconds at fixed deadlines, in this component's
        thread; ticks that would pile up are skipped and counted (``timer.missed``). All timers
        are cancelled before ``on_stop``."""
        return self.timers.every(interval_s, self._counted_call(fn))

    def _post(self, fn: Callable[[], None]) -> None:
        self.proxy.post_to_component(fn)

    def _counted_call(self, fn: Callable[[], object]) -> Callable[[], None]:
        if not callable(fn):
            raise TypeError(f"fn must be callable, not {type(fn).__name__}")
        counters = self.counters
        name = getattr(fn, "__name__", "timer")

        def call() -> None:
            counters.handled += 1
            try:
                fn()
            except Exception as exc:
                counters.errors += 1
                counters.last_error = f"timer {name}: {type(exc).__name__}: {exc}"[:300]
                raise

        return call

    # -- subscriptions ---------------------------------------------------------------------

    def subscribe_ticker(
        self, symbols: Sequence[str] | str, *, handler: Callable[[Any], object] | None = None
    ) -> Subscription:
        """Route tickers of ``symbols`` (e.g. ``["KRW-BTC"]``) to ``on_ticker``."""
        return self.proxy.subscribe_ticker(symbols, self._route("ticker", handler), wait=False)

    def subscribe_trade(
        self, symbols: Sequence[str] | str, *, handler: Callable[[Any], object] | None = None
    ) -> Subscription:
        """Route every trade of ``symbols`` to ``on_trade``."""
        return self.proxy.subscribe_trade(symbols, self._route("trade", handler), wait=False)

    def subscribe_orderbook(
        self,
        symbols: Sequence[str] | str,
        depth: int | None = None,
        level: int | None = None,
        *,
        handler: Callable[[Any], object] | None = None,
    ) -> Subscription:
        """Route order books of ``symbols`` (``depth`` 1/5/15/30, ``level`` KRW grouping)."""
        return self.proxy.subscribe_orderbook(
            symbols, self._route("orderbook", handler), depth=depth, level=level, wait=False
        )

    def subscribe_candle(
        self,
        symbols: Sequence[str] | str,
        interval: str = "1m",
        *,
        handler: Callable[[Any], object] | None = None,
    ) -> Subscription:
        """Route candles of ``interval`` (1s, 1m, 3m, ..., 240m) to ``on_candle``."""
        return self.proxy.subscribe_candle(
            symbols, self._route("candle", handler), interval=interval, wait=False
        )

    def subscribe_my_order(
        self,
        symbols: Sequence[str] | str | None = None,
        *,
        handler: Callable[[Any], object] | None = None,
    ) -> Subscription:
        """Route your order events (all markets when ``symbols`` is None) to ``on_my_order``."""
        return self.proxy.subscribe_my_order(self._route("myOrder", handler), symbols=symbols,
                                             wait=False)

    def subscribe_my_asset(
        self, *, handler: Callable[[Any], object] | None = None
    ) -> Subscription:
        """Route balance changes to ``on_my_asset``."""
        return self.proxy.subscribe_my_asset(self._route("myAsset", handler), wait=False)

    def unsubscribe(self, handle: Subscription) -> None:
        """Cancel a subscription made through this context (idempotent)."""
        handle.cancel()

    @property
    def subscriptions(self) -> list[Subscription]:
        """The active subscriptions of this component. Runs in: any thread."""
        return self.proxy.subscriptions

    def detach_orders(self) -> None:
        """Stop hearing order updates (the order actor keeps them for a restart). Runs in:
        the host's thread, after ``on_stop``."""
        self.proxy.detach_orders()

    def _orders(self) -> ComponentOrders:
        """The proxy's order API, with this component's ``on_order_update`` (counted like
        every handler) as the receiver of updates."""
        orders = self.proxy.order_api()
        if orders._handler is None:
            handler = getattr(self._component, "on_order_update", None)
            if callable(handler):
                orders._handler = _counting(handler, self.counters)
        return orders

    def _halt_reason(self, reason: str) -> str:
        return f"{self.id}: {reason}"

    # -- REST snapshots --------------------------------------------------------------------

    def get_ticker_snapshot(self, symbols: Sequence[str] | str) -> list[TickerEvent]:
        """Current tickers over REST (``GET /v1/ticker``) as TickerEvent objects."""
        return self.proxy.get_ticker_snapshot(symbols)

    def __getattr__(self, name: str) -> Any:
        """Other REST snapshot helpers of the proxy (``get_*``) are offered as they are."""
        if name.startswith("get_"):
            proxy = self.__dict__.get("proxy")
            if proxy is not None and hasattr(proxy, name):
                return getattr(proxy, name)
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    # -- internals -------------------------------------------------------------------------

    def _route(
        self, kind: str, handler: Callable[[Any], object] | None
    ) -> Callable[[Any], None]:
        if handler is None:
            method = HANDLERS[kind]
            handler = getattr(self._component, method, None)
            if not callable(handler):
                raise TypeError(
                    f"component {self.id!r} subscribes to {kind} but has no {method}() method"
                )
            if getattr(type(self._component), method, None) is getattr(Component, method):
                self.logger.warning(
                    "subscribed to %s but %s() is not overridden: events are ignored",
                    kind, method,
                )  # fmt: skip
        return _counting(handler, self.counters)


def _counting(handler: Callable[[Any], object], counters: HandlerCounters) -> Callable[[Any], None]:
    """Wrap ``handler`` to count events and remember the last error; the exception still
    propagates so the component actor logs it (with the component id) and counts it."""

    def call(ev: Any) -> None:
        counters.handled += 1
        try:
            handler(ev)
        except Exception as exc:
            counters.errors += 1
            where = HANDLERS.get(str(getattr(ev, "type", "orderUpdate")).partition(".")[0],
                                 "handler")
            counters.last_error = f"{where}: {type(exc).__name__}: {exc}"[:300]
            raise

    return call

"""What a component's ``Context`` talks to in a backtest: a replay proxy instead of the hub's.

:class:`~upbit_hub.plugins.sdk.Context` only needs a *proxy* (subscriptions, a queue into the
component's thread, the order API, snapshots) and a clock. Live that is a
:class:`~upbit_hub.actors.client.WebSocketClientProxy` on a running hub; here it is a
:class:`BacktestProxy`, so the very same ``Context`` and plugin code run unchanged:

- ``subscribe_*`` validate their input as live (``RequestValidationError`` for ``"krw-btc"``)
  and register a route in the :class:`Router`; replayed events of that type and market reach
  the callback (order books sliced to the subscribed depth, as live). They return a
  :class:`ReplaySubscription` with ``cancel()``;
- ``post_to_component(fn)`` queues ``fn`` on the backtest's one FIFO queue (timers, order
  updates), run in order between events;
- ``order_api()`` is a real :class:`~upbit_hub.actors.trading.handles.ComponentOrders` on the
  backtest's :class:`~.gateway.DirectGateway`;
- ``get_*`` answer from :class:`~.state.ReplayState`; ``hub`` is a :class:`BacktestHub`
  offering ``clock``, ``settings`` and ``order_gateway()``; anything else of the live proxy or
  hub would reach the network and raises :class:`BacktestError` saying so.

Runs in: the backtest's thread (every method).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from upbit_hub.actors.protocol.errors import BacktestError, HubError, RequestValidationError
from upbit_hub.actors.protocol.fields import CANDLE_TYPES, ORDERBOOK_DEPTHS
from upbit_hub.actors.protocol.requests import validate_market_code
from upbit_hub.actors.trading.order_api import OrderAPI

__all__ = ["BacktestHub", "BacktestProxy", "ReplaySubscription", "Router"]

log = logging.getLogger(__name__)

_INTERVALS = tuple(t.split(".", 1)[1] for t in CANDLE_TYPES)


def network_error(what: str) -> BacktestError:
    """The error for a call that would leave the simulation."""
    return BacktestError(
        f"{what} would reach the network, and a backtest only replays its recording on a "
        "simulated clock: use ctx.subscribe_* and the get_* snapshots (they answer from the "
        "replay), or run it live with `upbit-hub run`")


class ReplaySubscription:
    """One subscription of a backtest component (``cancel()`` is idempotent)."""

    __slots__ = ("active", "callback", "depth", "keys", "kind", "level", "proxy", "symbols")

    def __init__(self, proxy: BacktestProxy, kind: str, symbols: tuple[str, ...],
                 keys: tuple[tuple[str, str | None], ...], callback: Callable[[Any], object],
                 depth: int | None, level: int | None) -> None:
        self.proxy = proxy
        self.kind = kind
        self.symbols = symbols
        self.keys = keys
        self.callback = callback
        self.depth = depth
        self.level = level
        self.active = True

    def cancel(self) -> None:
        if self.active:
            self.active = False
            self.proxy._drop(self)

    def __repr__(self) -> str:
        state = "active" if self.active else "cancelled"
        return f"<ReplaySubscription {self.kind} {','.join(self.symbols) or '*'} {state}>"


class Router:
    """``(type, code) -> subscriptions``: who gets which replayed event. ``on_error(proxy,
    ev, exc)`` hears about a callback that raised (the others still get the event)."""

    def __init__(self, on_error: Callable[[Any, Any, BaseException], None]) -> None:
        self.routes: dict[tuple[str, str | None], list[ReplaySubscription]] = {}
        self._on_error = on_error

    def add(self, sub: ReplaySubscription) -> None:
        for key in sub.keys:
            self.routes.setdefault(key, []).append(sub)

    def remove(self, sub: ReplaySubscription) -> None:
        for key in sub.keys:
            subs = self.routes.get(key)
            if subs and sub in subs:
                subs.remove(sub)
                if not subs:
                    del self.routes[key]

    def targets(self, ev: Any) -> list[ReplaySubscription]:
        """The subscriptions ``ev`` goes to (myOrder also to the all-markets ones)."""
        subs = self.routes.get((ev.type, getattr(ev, "code", None)))
        if ev.type == "myOrder":
            every = self.routes.get(("myOrder", None))
            if every:
                return [*(subs or ()), *every]
        return list(subs) if subs else []

    def deliver(self, sub: ReplaySubscription, ev: Any) -> None:
        """Give ``ev`` to one subscription (a book sliced to its depth, as live)."""
        if not sub.active:
            return
        if ev.type == "orderbook":
            if (sub.level or 0) != (ev.level or 0):
                return
            units = ev.orderbook_units
            if sub.depth and units and len(units) > sub.depth:
                units = units[: sub.depth]
                ev = _slice(ev, units)
        proxy = sub.proxy
        proxy.received += 1
        try:
            sub.callback(ev)
        except Exception as exc:
            proxy.errors += 1
            self._on_error(proxy, ev, exc)


def _slice(ev: Any, units: Any) -> Any:
    import msgspec

    return msgspec.structs.replace(ev, orderbook_units=units,
                                   total_ask_size=sum((u.ask_size or 0) for u in units),
                                   total_bid_size=sum((u.bid_size or 0) for u in units))


class BacktestHub:
    """The ``hub`` of a backtest proxy: the simulated ``clock``, the ``settings``, and
    ``order_gateway()``; every other hub attribute would reach the network."""

    def __init__(self, settings: Any, clock: Any, gateway: Any, state: Any,
                 recorded: Sequence[str] = ()) -> None:
        self.settings = settings
        self.clock = clock
        self.gateway = gateway
        self.state = state
        self.recorded: set[str] = set(recorded)  # market codes replayed so far

    def order_gateway(self) -> Any:
        return self.gateway

    def market_problem(self, market: str) -> str | None:
        """Why an order on ``market`` cannot be simulated (no data of it so far), or None."""
        if market in self.recorded:
            return None
        known = ", ".join(sorted(self.recorded)) or "none yet"
        return (f"the recording holds no data of {market} so far, so nothing could fill it; "
                f"record {market} or trade a market it holds ({known})")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise network_error(f"hub.{name}")


class BacktestProxy(OrderAPI):
    """A component's proxy in a backtest (see the module docstring). ``post(proxy, fn)``
    queues ``fn`` on the backtest's queue."""

    def __init__(self, component_id: str, hub: BacktestHub, router: Router,
                 post: Callable[[BacktestProxy, Callable[[], Any]], None]) -> None:
        self.component_id = component_id
        self._hub = hub
        self._router = router
        self._post = post
        self._subs: list[ReplaySubscription] = []
        self._order_api: Any = None
        self._closed = False
        self.received = 0
        self.errors = 0
        self.requested: set[tuple[str, str]] = set()  # (type, code) ever subscribed

    # -- subscriptions -------------------------------------------------------------------------

    def subscribe_ticker(self, symbols: Sequence[str] | str, callback: Callable[[Any], object],
                         **_: Any) -> ReplaySubscription:
        return self._add("ticker", _codes(symbols), callback)

    def subscribe_trade(self, symbols: Sequence[str] | str, callback: Callable[[Any], object],
                        **_: Any) -> ReplaySubscription:
        return self._add("trade", _codes(symbols), callback)

    def subscribe_orderbook(self, symbols: Sequence[str] | str,
                            callback: Callable[[Any], object], depth: int | None = None,
                            level: int | None = None, **_: Any) -> ReplaySubscription:
        if depth is not None and depth not in ORDERBOOK_DEPTHS:
            raise RequestValidationError(
                f"orderbook depth must be one of {ORDERBOOK_DEPTHS}, not {depth!r}")
        if level is not None and (not isinstance(level, int) or level < 0):
            raise RequestValidationError(f"orderbook level must be an int >= 0, not {level!r}")
        return self._add("orderbook", _codes(symbols), callback, depth=depth, level=level)

    def subscribe_candle(self, symbols: Sequence[str] | str, callback: Callable[[Any], object],
                         interval: str = "1m", **_: Any) -> ReplaySubscription:
        if interval not in _INTERVALS:
            raise RequestValidationError(
                f"candle interval must be one of {', '.join(_INTERVALS)}, not {interval!r}")
        return self._add(f"candle.{interval}", _codes(symbols), callback)

    def subscribe_my_order(self, callback: Callable[[Any], object],
                           symbols: Sequence[str] | str | None = None,
                           **_: Any) -> ReplaySubscription:
        codes: tuple[str | None, ...] = (None,) if symbols is None else _codes(symbols)
        return self._add("myOrder", codes, callback)

    def subscribe_my_asset(self, callback: Callable[[Any], object],
                           **_: Any) -> ReplaySubscription:
        return self._add("myAsset", (None,), callback)

    @property
    def subscriptions(self) -> list[ReplaySubscription]:
        return [s for s in self._subs if s.active]

    def _add(self, kind: str, codes: tuple[str | None, ...], callback: Callable[[Any], object],
             depth: int | None = None, level: int | None = None) -> ReplaySubscription:
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        self._check_open()
        self.requested.update((kind, c) for c in codes if c is not None)
        sub = ReplaySubscription(self, kind, tuple(c for c in codes if c),
                                 tuple((kind, c) for c in codes), callback, depth, level)
        self._subs.append(sub)
        self._router.add(sub)
        return sub

    def _drop(self, sub: ReplaySubscription) -> None:
        self._router.remove(sub)
        if sub in self._subs:
            self._subs.remove(sub)

    # -- the component's queue, orders ---------------------------------------------------------

    def post_to_component(self, fn: Callable[[], Any]) -> None:
        """Queue ``fn()`` to run in order with this component's events (timers, updates)."""
        if self._closed:
            raise HubError(f"component {self.component_id!r} is no longer running")
        self._post(self, fn)

    def run_in_component(self, fn: Callable[[], Any], timeout: float | None = None) -> Any:
        """Everything already runs in the component's thread in a backtest: call ``fn()``."""
        self._check_open()
        return fn()

    def order_api(self) -> Any:
        """This component's ``ComponentOrders`` on the backtest gateway (made on first use)."""
        if self._order_api is None:
            from upbit_hub.actors.trading.handles import ComponentOrders

            self._check_open()
            self._order_api = ComponentOrders(self.component_id, self._hub.order_gateway(),
                                              self.post_to_component, None)
        return self._order_api

    def on_order_update(self, callback: Callable[[Any], object]) -> None:
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        self.order_api()._handler = callback

    def detach_orders(self) -> None:
        if self._order_api is not None:
            self._order_api.detach()

    def _orders(self) -> Any:
        return self.order_api()

    def _halt_reason(self, reason: str) -> str:
        return f"{self.component_id}: {reason}"

    # -- snapshots (from the replay) ------------------------------------------------------------

    def get_ticker_snapshot(self, symbols: Sequence[str] | str) -> list[Any]:
        return self._hub.state.ticker_snapshot(_codes(symbols))

    def get_orderbook_snapshot(self, symbols: Sequence[str] | str,
                               depth: int | None = None) -> list[Any]:
        return self._hub.state.orderbook_snapshot(_codes(symbols), depth)

    def get_recent_trades(self, symbol: str, count: int = 100,
                          cursor: int | None = None) -> list[Any]:
        return self._hub.state.recent_trades(_codes([symbol])[0], count, cursor)

    def get_candles(self, symbol: str, unit: int = 1, count: int = 200) -> list[Any]:
        return self._hub.state.candles_snapshot(_codes([symbol])[0], unit, count)

    def get_accounts(self) -> list[Any]:
        return self._hub.state.accounts()

    def get_open_orders(self, market: str | None = None) -> list[Any]:
        return self._hub.state.open_orders(_codes([market])[0] if market else None)

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def hub(self) -> BacktestHub:
        return self._hub

    @property
    def is_alive(self) -> bool:
        return not self._closed

    def stats(self) -> dict[str, int]:
        return {"queued": 0, "received": self.received, "conflated": 0, "dropped": 0,
                "errors": self.errors}  # fmt: skip

    def mute(self) -> None:
        """Stop delivering events to this component (its queue still runs)."""
        for sub in list(self._subs):
            sub.cancel()

    def cleanup(self, timeout: float | None = None) -> None:
        self.mute()
        self._closed = True

    abandon = cleanup

    def _check_open(self) -> None:
        if self._closed:
            raise HubError(f"component {self.component_id!r} is no longer running")

    def __getattr__(self, name: str) -> Any:
        """A live proxy's other methods would reach the network: say so."""
        if name.startswith("_"):
            raise AttributeError(name)
        from upbit_hub.actors.client import WebSocketClientProxy

        if hasattr(WebSocketClientProxy, name):
            raise network_error(f"proxy.{name}")
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __repr__(self) -> str:
        return f"<BacktestProxy {self.component_id!r} {'closed' if self._closed else 'open'}>"


def _codes(symbols: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(symbols, str):
        symbols = [symbols]
    try:
        codes = tuple(dict.fromkeys(validate_market_code(s) for s in symbols))
    except TypeError as exc:
        raise RequestValidationError(f"symbols must be market codes like 'KRW-BTC': {exc}") from exc
    if not codes:
        raise RequestValidationError("symbols is empty: name at least one market, e.g. 'KRW-BTC'")
    return codes

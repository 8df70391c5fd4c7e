"""WebSocketClientProxy: the synchronous, one-line API a component uses.

>>> from upbit_hub.actors import WebSocketClientProxy
>>> with WebSocketClientProxy("chart") as hub:                       # doctest: +SKIP
...     sub = hub.subscribe_ticker(["KRW-BTC"], lambda ev: print(ev.trade_price))
...     ...
...     sub.cancel()

Every ``subscribe_*`` call validates its input first (a clear ``RequestValidationError``
before anything is sent: the format of each code, and that Upbit lists it, with a suggestion
such as ``BTC-KRW`` -> ``KRW-BTC``), registers the callbacks, and returns once the merged
request that includes the new wish is on the wire. Callbacks run in the component's own actor
thread, one at a time. If the request cannot be sent within ``timeout`` (default
``request_timeout_s``; for example Upbit is unreachable) the subscription is rolled back and
:class:`SubscriptionError` is raised, naming the URL, the last connect error and how long the
hub has been trying; a permanent cause (keys Upbit rejects) fails the call at once with that
error. So a failed call leaves nothing behind.

``wait=False`` registers the wish and returns at once: it outlives the network, the hub keeps
connecting with its usual backoff and data flows once the socket is up (plugins subscribing in
``on_start`` work this way). Errors then reach ``on_error``.

``cleanup()`` (or leaving the ``with`` block) cancels everything and stops the component
actor. A proxy dropped without cleanup is cleaned by a weakref finalizer once it becomes
unreachable (callbacks that reference the proxy keep it reachable: call ``cleanup()``).

Runs in: the caller's thread (any thread of a plain synchronous program; no asyncio).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from types import TracebackType
from typing import Any

import pykka

from .component import RunInThread
from .inbox import SubEntry, SubscriptionState
from .messages import PRIVATE, PUBLIC, DropComponent, Subscribe, Unsubscribe, Wish, WishKey
from .protocol.errors import HubError, RequestValidationError, SubscriptionError, UpbitHubError
from .protocol.fields import CANDLE_TYPES, ORDERBOOK_DEPTHS
from .protocol.requests import validate_market_code
from .trading.order_api import OrderAPI

log = logging.getLogger(__name__)

_sub_ids = itertools.count(1)
_INTERVALS = tuple(t.split(".", 1)[1] for t in CANDLE_TYPES)


class Subscription:
    """Handle of one ``subscribe_*`` call. ``cancel()`` is idempotent."""

    def __init__(
        self, proxy: WebSocketClientProxy, sub_id: int, kind: str, symbols: tuple[str, ...],
        states: list[SubscriptionState],
    ) -> None:
        self._proxy = weakref.ref(proxy)
        self.sub_id = sub_id
        self.kind = kind
        self.symbols = symbols
        self._states = states
        self._cancelled = False

    @property
    def active(self) -> bool:
        """False once cancelled, or once Upbit rejected it."""
        return not self._cancelled and all(s.active for s in self._states)

    @property
    def error(self) -> Exception | None:
        """The last error this subscription saw (a rejection, or a callback exception)."""
        for s in self._states:
            if s.error is not None:
                return s.error
        return None

    @property
    def delivered(self) -> int:
        """Events handed to the callback so far."""
        return sum(s.delivered for s in self._states)

    def cancel(self, timeout: float | None = None) -> None:
        """Stop deliveries now and remove the wish from the wire request."""
        if self._cancelled:
            return
        self._cancelled = True
        proxy = self._proxy()
        if proxy is not None:
            proxy._cancel(self.sub_id, timeout)

    def __repr__(self) -> str:
        state = "active" if self.active else "inactive"
        return f"<Subscription {self.kind} {','.join(self.symbols) or '*'} {state}>"


class WebSocketClientProxy(OrderAPI):
    """A component's handle on the hub. See the module docstring."""

    def __init__(
        self,
        component_id: str,
        *,
        hub: Any = None,
        error_policy: str = "continue",
        queue_size: int | None = None,
    ) -> None:
        if not isinstance(component_id, str) or not component_id.strip():
            raise ValueError("component_id must be a non-empty string")
        if hub is None:
            from .hub import get_hub

            hub = get_hub()
        self.component_id = component_id
        self._hub = hub
        self._inbox, self._ref = hub.create_component(
            component_id, error_policy=error_policy, capacity=queue_size
        )
        self._registry = hub.registry
        self._subs: dict[int, Subscription] = {}
        self._lock = threading.Lock()
        self._order_api: Any = None
        self._closed = False
        self._finalizer = weakref.finalize(
            self, _finalize, self._ref, self._inbox.component_key, weakref.ref(hub)
        )

    # -- subscribe ---------------------------------------------------------------------------

    def subscribe_ticker(
        self, symbols: Sequence[str] | str, callback: Callable[[Any], object], *,
        snapshot_only: bool = False, on_error: Callable[[Exception], object] | None = None,
        timeout: float | None = None, wait: bool = True,
    ) -> Subscription:
        """Ticker events for ``symbols`` (e.g. ``["KRW-BTC"]``); latest wins when slow."""
        return self._subscribe("ticker", symbols, callback, snapshot_only=snapshot_only,
                               on_error=on_error, timeout=timeout, wait=wait)

    def subscribe_trade(
        self, symbols: Sequence[str] | str, callback: Callable[[Any], object], *,
        snapshot_only: bool = False, on_error: Callable[[Exception], object] | None = None,
        timeout: float | None = None, wait: bool = True,
    ) -> Subscription:
        """Every trade of ``symbols``, in order, each once (bounded queue when slow)."""
        return self._subscribe("trade", symbols, callback, snapshot_only=snapshot_only,
                               on_error=on_error, timeout=timeout, wait=wait)

    def subscribe_orderbook(
        self, symbols: Sequence[str] | str, callback: Callable[[Any], object],
        depth: int | None = None, level: int | None = None, *,
        snapshot_only: bool = False, on_error: Callable[[Exception], object] | None = None,
        timeout: float | None = None, wait: bool = True,
    ) -> Subscription:
        """Full order books (``depth`` 1, 5, 15 or 30 levels; ``level`` = KRW price grouping)."""
        if depth is not None and depth not in ORDERBOOK_DEPTHS:
            raise RequestValidationError(
                f"orderbook depth must be one of {ORDERBOOK_DEPTHS}, not {depth!r}"
            )
        if level is not None and (not isinstance(level, int) or level < 0):
            raise RequestValidationError(f"orderbook level must be an int >= 0, not {level!r}")
        return self._subscribe("orderbook", symbols, callback, depth=depth, level=level,
                               snapshot_only=snapshot_only, on_error=on_error, timeout=timeout,
                               wait=wait)

    def subscribe_candle(
        self, symbols: Sequence[str] | str, callback: Callable[[Any], object],
        interval: str = "1m", *, snapshot_only: bool = False,
        on_error: Callable[[Exception], object] | None = None,
        timeout: float | None = None, wait: bool = True,
    ) -> Subscription:
        """Candles of ``interval`` (1s, 1m, 3m, 5m, 10m, 15m, 30m, 60m, 240m)."""
        if interval not in _INTERVALS:
            raise RequestValidationError(
                f"candle interval must be one of {', '.join(_INTERVALS)}, not {interval!r}"
            )
        return self._subscribe(f"candle.{interval}", symbols, callback,
                               snapshot_only=snapshot_only, on_error=on_error, timeout=timeout,
                               wait=wait)

    def subscribe_my_order(
        self, callback: Callable[[Any], object], symbols: Sequence[str] | str | None = None,
        *, on_error: Callable[[Exception], object] | None = None,
        timeout: float | None = None, wait: bool = True,
    ) -> Subscription:
        """Your own orders (all markets when ``symbols`` is None). Needs API keys (in paper
        trading: none; the paper account's orders)."""
        codes: tuple[str | None, ...] = (None,) if symbols is None else _codes(symbols)
        if self._hub.settings.trading.paper:
            return self._register_paper("myOrder", codes, callback, on_error)
        self._check_keys()
        return self._register("myOrder", PRIVATE, codes, callback, on_error=on_error,
                              timeout=timeout, wait=wait)

    def subscribe_my_asset(
        self, callback: Callable[[Any], object], *,
        on_error: Callable[[Exception], object] | None = None,
        timeout: float | None = None, wait: bool = True,
    ) -> Subscription:
        """Your balances, whenever they change. Needs API keys (in paper trading: none; the
        paper account's balances)."""
        if self._hub.settings.trading.paper:
            return self._register_paper("myAsset", (None,), callback, on_error)
        self._check_keys()
        return self._register("myAsset", PRIVATE, (None,), callback, on_error=on_error,
                              timeout=timeout, wait=wait)

    # -- REST snapshots ----------------------------------------------------------------------

    def get_ticker_snapshot(self, symbols: Sequence[str] | str) -> list[Any]:
        """Current tickers over REST (``/v1/ticker``) as TickerEvent objects."""
        self._check_open()
        return self._hub.rest.get_ticker(list(_codes(symbols)))

    def get_orderbook_snapshot(
        self, symbols: Sequence[str] | str, depth: int | None = None
    ) -> list[Any]:
        """Current order books over REST (``/v1/orderbook``) as OrderbookEvent objects."""
        self._check_open()
        return self._hub.rest.get_orderbook(list(_codes(symbols)), count=depth)

    def get_recent_trades(
        self, symbol: str, count: int = 100, cursor: int | None = None
    ) -> list[Any]:
        """Recent trades over REST (``/v1/trades/ticks``), newest first, as TradeEvent objects
        marked ``stream_type="BACKFILL"``; ``cursor`` pages back by ``sequential_id``."""
        self._check_open()
        return self._hub.rest.get_trades(_codes([symbol])[0], count, cursor)

    def get_candles(self, symbol: str, unit: int = 1, count: int = 200) -> list[Any]:
        """Minute candles over REST (``/v1/candles/minutes/{unit}``), newest first."""
        self._check_open()
        return self._hub.rest.get_candles(_codes([symbol])[0], unit, count)

    def get_accounts(self) -> list[Any]:
        """Balances over REST (``/v1/accounts``); needs API keys."""
        self._check_open()
        self._check_keys()
        return self._hub.rest.get_accounts()

    def get_open_orders(self, market: str | None = None) -> list[Any]:
        """Open orders over REST (``/v1/orders/open``); needs API keys."""
        self._check_open()
        self._check_keys()
        return self._hub.rest.get_open_orders(market)

    # -- lifecycle ---------------------------------------------------------------------------

    def run_in_component(self, fn: Callable[[], Any], timeout: float | None = None) -> Any:
        """Run ``fn()`` in this component's thread (serialised with its callbacks)."""
        self._check_open()
        return self._ref.ask(RunInThread(fn), timeout=timeout or self._timeout)

    # -- orders (the methods come from OrderAPI: submit_order, buy_limit, ...) -------------

    def order_api(self) -> Any:
        """This component's :class:`~upbit_hub.actors.trading.handles.ComponentOrders`
        (started on first use: needs API keys). Runs in: any thread."""
        with self._lock:
            orders = self._order_api
            if orders is None:
                from .trading.handles import ComponentOrders

                self._check_open()
                orders = self._order_api = ComponentOrders(
                    self.component_id, self._hub.order_gateway(), self.post_to_component, None)
        return orders

    def on_order_update(self, callback: Callable[[Any], object]) -> None:
        """Hear every change of this proxy's orders: ``callback(update)`` runs in the
        component's thread, one at a time with the other callbacks."""
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        self.order_api()._handler = callback

    def detach_orders(self) -> None:
        """Stop hearing order updates (the order actor keeps them for later)."""
        if self._order_api is not None:
            self._order_api.detach()

    def _orders(self) -> Any:
        return self.order_api()

    def _halt_reason(self, reason: str) -> str:
        return f"{self.component_id}: {reason}"

    def post_to_component(self, fn: Callable[[], Any]) -> None:
        """Run ``fn()`` in this component's thread after what is queued now, without waiting
        (timers, order updates and the plugin host's hooks use this). Runs in: any thread."""
        self._check_open()
        if not self._inbox.post(fn):
            raise HubError(f"component {self.component_id!r} is no longer running")

    def tap(self, fn: Callable[[Any], object] | None) -> None:
        """Hand every event of this proxy's subscriptions to ``fn(event)`` in the thread that
        delivers it (a connection's reader thread), before the inbox: no ticker conflation,
        no bounded trade queue, no callbacks. ``fn`` must not block (the ``nats-bridge``
        appends to its own bounded buffer). Posted functions (timers, order updates, the
        plugin host's hooks) still run in the component's thread. ``None`` restores normal
        delivery. Runs in: any thread."""
        if fn is not None and not callable(fn):
            raise TypeError(f"fn must be callable or None, not {type(fn).__name__}")
        self._inbox.tap = fn

    def stats(self) -> dict[str, int]:
        """This component's counters: queued, received, conflated, dropped, errors."""
        return self._inbox.stats()

    @property
    def hub(self) -> Any:
        """The hub this proxy's component runs on."""
        return self._hub

    @property
    def subscriptions(self) -> list[Subscription]:
        with self._lock:
            return [s for s in self._subs.values() if s.active]

    @property
    def is_alive(self) -> bool:
        return not self._closed and self._ref.is_alive()

    def cleanup(self, timeout: float | None = None) -> None:
        """Cancel every subscription and stop this component's actor. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._finalizer.detach()
        with self._lock:
            subs = list(self._subs.values())
            self._subs.clear()
        for sub in subs:
            sub._cancelled = True
            self._inbox.table.remove(sub.sub_id)
        try:
            self._ref.stop(block=True, timeout=timeout or self._timeout)
        except (pykka.ActorDeadError, pykka.Timeout):
            pass
        self._hub.forget_component(self._inbox.component_key)

    def mute(self) -> None:
        """Stop handing events to this component's callbacks (its wishes stay until
        :meth:`cleanup`): nothing runs after ``on_stop`` begins. Runs in: any thread."""
        for sub_id in self._inbox.table.sub_ids():
            self._inbox.table.remove(sub_id)

    def abandon(self) -> None:
        """Like :meth:`cleanup`, but never waits: for a component whose thread is stuck in a
        hook. Its wishes are dropped at once; its actor stops if the hook ever returns.
        Idempotent. Runs in: any thread."""
        if self._closed:
            return
        self._closed = True
        self._finalizer.detach()
        with self._lock:
            subs = list(self._subs.values())
            self._subs.clear()
        for sub in subs:
            sub._cancelled = True
            self._inbox.table.remove(sub.sub_id)
        try:
            self._registry.tell(DropComponent(self._inbox.component_key, "abandoned"))
        except pykka.ActorDeadError:
            pass
        try:
            self._ref.stop(block=False)
        except pykka.ActorDeadError:
            pass
        self._hub.forget_component(self._inbox.component_key)

    def __enter__(self) -> WebSocketClientProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<WebSocketClientProxy {self.component_id!r} {state}>"

    # -- internals ---------------------------------------------------------------------------

    @property
    def _timeout(self) -> float:
        return float(self._hub.settings.hub.request_timeout_s)

    def _check_open(self) -> None:
        if self._closed:
            raise HubError(f"component {self.component_id!r} was cleaned up")
        if not self._ref.is_alive():
            raise HubError(f"component {self.component_id!r} is no longer running")

    def _check_keys(self) -> None:
        if not self._hub.settings.private.enabled:
            raise HubError("private streams are disabled ([private] enabled = false)")
        self._hub.settings.auth.read_keys(self._hub.environ)

    def _subscribe(
        self, type_: str, symbols: Sequence[str] | str, callback: Callable[[Any], object], *,
        depth: int | None = None, level: int | None = None, snapshot_only: bool = False,
        on_error: Callable[[Exception], object] | None = None, timeout: float | None = None,
        wait: bool = True,
    ) -> Subscription:
        return self._register(type_, PUBLIC, _codes(symbols), callback, depth=depth,
                              level=level, snapshot_only=snapshot_only, on_error=on_error,
                              timeout=timeout, wait=wait)

    def _register(
        self, type_: str, endpoint: str, codes: tuple[str | None, ...],
        callback: Callable[[Any], object], *, depth: int | None = None,
        level: int | None = None, snapshot_only: bool = False,
        on_error: Callable[[Exception], object] | None = None, timeout: float | None = None,
        wait: bool = True,
    ) -> Subscription:
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, not {timeout!r}")
        self._check_open()
        wait_s = self._timeout if timeout is None else float(timeout)
        started = time.monotonic()
        self._check_markets([c for c in codes if c], wait_s if wait else 0.0)
        sub_id = next(_sub_ids)
        state = SubscriptionState()
        entry = SubEntry(sub_id, callback, level, depth, on_error, state)
        self._inbox.table.add(sub_id, [((type_, code), entry) for code in codes])
        wishes = tuple(
            Wish(WishKey(endpoint, type_, code, level), depth, snapshot_only) for code in codes
        )
        handle = Subscription(self, sub_id, type_, tuple(c for c in codes if c), [state])
        with self._lock:
            self._subs[sub_id] = handle
        done: Future[Any] | None = Future() if wait else None
        try:
            self._registry.tell(Subscribe(self._inbox, sub_id, wishes, done))
            if done is not None:
                done.result(max(0.0, wait_s - (time.monotonic() - started)))
        except pykka.ActorDeadError as exc:
            self._rollback(sub_id)
            raise HubError("the hub is not running") from exc
        except FutureTimeout as exc:
            self._cancel(sub_id, timeout=1.0)
            what = f"{type_} {','.join(c for c in codes if c) or '(all)'}"
            raise SubscriptionError(
                f"{what}: not on the wire within {wait_s:g}s: {self._link_problem(endpoint)}; "
                "the subscription was rolled back (pass a longer timeout=, or wait=False to "
                "keep the wish until the connection is up)"
            ) from exc
        except UpbitHubError:
            self._cancel(sub_id, timeout=1.0)
            raise  # a permanent cause (rejected keys...), as the hub reported it
        except Exception as exc:
            self._rollback(sub_id)
            raise SubscriptionError(f"{type_}: {exc}") from exc
        return handle

    def _register_paper(
        self, type_: str, codes: tuple[str | None, ...], callback: Callable[[Any], object],
        on_error: Callable[[Exception], object] | None,
    ) -> Subscription:
        """Paper trading: the paper desk's events, never Upbit's private stream."""
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        self._check_open()
        desk = self._hub.order_gateway().paper
        sub_id = next(_sub_ids)
        state = SubscriptionState()
        entry = SubEntry(sub_id, callback, None, None, on_error, state)
        self._inbox.table.add(sub_id, [((type_, code), entry) for code in codes])
        handle = Subscription(self, sub_id, type_, tuple(c for c in codes if c), [state])
        with self._lock:
            self._subs[sub_id] = handle
        desk.attach(self._inbox)
        return handle

    def _check_markets(self, codes: list[str], wait_s: float) -> None:
        """Refuse codes Upbit does not list. A waiting subscribe gives the hub's first fetch
        of the market list a moment (at most 2 s) so a typo fails here, not later."""
        markets = getattr(self._hub, "markets", None)
        if markets is None or not codes:
            return
        if wait_s > 0 and not markets.loaded:
            markets.first_attempt.wait(min(2.0, wait_s))
        markets.check(codes)

    def _link_problem(self, endpoint: str) -> str:
        """Why a connection is not carrying requests, in the user's terms."""
        info = self._hub.connection_status(endpoint)
        url = info.get("url", "?")
        state = info.get("state", "?")
        parts = [f"the {endpoint} connection to {url} is {state}"]
        trying = float(info.get("trying_for_s") or 0.0)
        if trying:
            parts.append(f"the hub has been trying for {trying:.0f}s")
        if info.get("last_error"):
            parts.append(f"last connect error: {info['last_error']}")
        return ", ".join(parts)

    def _rollback(self, sub_id: int) -> None:
        self._inbox.table.remove(sub_id)
        with self._lock:
            self._subs.pop(sub_id, None)

    def _cancel(self, sub_id: int, timeout: float | None) -> None:
        self._rollback(sub_id)
        done: Future[Any] = Future()
        try:
            self._registry.tell(Unsubscribe(self._inbox.component_key, sub_id, done))
        except pykka.ActorDeadError:
            return
        try:
            done.result(timeout or self._timeout)
        except FutureTimeout:
            log.warning(
                "component %s: cancel of subscription %d not on the wire yet; it will be",
                self.component_id,
                sub_id,
            )
        except Exception as exc:  # the hub stopped meanwhile: nothing left to cancel
            log.debug("cancel: %s", exc)


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


def _finalize(ref: pykka.ActorRef[Any], key: str, hub_ref: weakref.ref[Any]) -> None:
    """Weakref finalizer of a proxy dropped without cleanup. Runs in: whichever thread
    dropped the last reference (or the GC): never blocks."""
    try:
        ref.stop(block=False)
    except pykka.ActorDeadError:
        pass
    hub = hub_ref()
    if hub is not None:
        hub.forget_component(key)

"""OrderActor: one per account; runs the :class:`~.manager.OrderManager` on a pykka thread.

The actor never blocks on the network: REST calls run on a small worker pool and their
endings come back as messages. It subscribes to the private stream itself (myOrder for every
market, myAsset) through an internal component, so a plugin gets ``on_order_update`` without
``subscribe_my_order``; it subscribes to a market's order book (1 level) when a risk rule needs
its mid price. Updates go to each component through a sink (a function that posts to the
component's inbox); updates for a component that is not attached yet (after a restart the
journal's orders come back before their component starts) wait for it.

The kill switch is a file beside the journal (``<journal>.halt``, holding the reason):
``halt`` writes it, ``upbit-hub halt --reset`` removes it, and the actor looks at it every
second, so the CLI reaches a running hub and the switch survives a restart.

Runs in: the order actor's thread (all methods, unless a docstring says otherwise).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pykka

from upbit_hub.actors.messages import GetStatus, Ping
from upbit_hub.actors.timers import CallLater, tell_later

from .calls import CallResult
from .manager import OrderManager
from .types import OrderRequest, OrderUpdate

__all__ = [
    "Attach",
    "Cancel",
    "CancelAll",
    "Detach",
    "Halt",
    "OrderActor",
    "Replace",
    "ResetHalt",
    "Submit",
    "VenueEvent",
]

log = logging.getLogger(__name__)

_HALT_POLL_S = 1.0


@dataclass(frozen=True, slots=True)
class Submit:
    request: OrderRequest


@dataclass(frozen=True, slots=True)
class Cancel:
    client_id: str


@dataclass(frozen=True, slots=True)
class CancelAll:
    component_id: str | None
    market: str | None = None
    side: str | None = None


@dataclass(frozen=True, slots=True)
class Replace:
    old_client_id: str
    request: OrderRequest
    remain_only: bool = False


@dataclass(frozen=True, slots=True)
class Halt:
    reason: str


@dataclass(frozen=True, slots=True)
class ResetHalt:
    pass


@dataclass(frozen=True, slots=True)
class Attach:
    """Route a component's updates to ``sink``; the answer (ask) is its orders' current state."""

    component_id: str
    sink: Callable[[OrderUpdate], None]


@dataclass(frozen=True, slots=True)
class Detach:
    component_id: str


@dataclass(frozen=True, slots=True)
class _Event:
    """A myOrder/myAsset event (from the private stream, or a simulated venue)."""

    ev: Any


VenueEvent = _Event  # what a simulated venue tells the actor for each exchange event


@dataclass(frozen=True, slots=True)
class _Book:
    market: str
    bid: Any
    ask: Any


@dataclass(frozen=True, slots=True)
class _Done:
    result: CallResult


@dataclass(frozen=True, slots=True)
class _Wake:
    pass


class OrderActor(pykka.ThreadingActor):
    """The order manager of one account, on its own thread (see the module docstring).

    ``manager_factory(deliver, needs_book) -> OrderManager``; ``venue.execute(call)`` sends a
    call (blocking, on a worker); ``hub`` gives the private stream and order books (None in
    tests that feed events themselves); ``recovered``/``halt_file`` come from the journal.
    """

    use_daemon_thread = True

    def __init__(
        self,
        manager_factory: Callable[..., OrderManager],
        venue: Any,
        *,
        call_later: CallLater,
        hub: Any = None,
        recovered: list[tuple[OrderRequest, str, str | None]] | None = None,
        halt_file: str | os.PathLike[str] | None = None,
        workers: int = 4,
        on_stop: Callable[[], None] | None = None,
        publish: Callable[[dict[str, Any]], None] | None = None,
        private_stream: bool = True,
    ) -> None:
        super().__init__()
        self.manager = manager_factory(self._deliver, self._needs_book)
        self.venue = venue
        self.call_later = call_later
        self.hub = hub
        self.recovered = recovered or []
        self.halt_file = Path(halt_file) if halt_file is not None else None
        self.sinks: dict[str, Callable[[OrderUpdate], None]] = {}
        self.waiting: dict[str, list[OrderUpdate]] = {}
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="upbit-hub-orders")
        self.proxy: Any = None
        self.books: set[str] = set()
        self._wake_at: float | None = None
        self._on_stop = on_stop
        self._publish = publish
        self._private_stream = private_stream  # False: the venue reports fills (paper)
        self.last_error = ""

    # -- lifecycle ---------------------------------------------------------------------------

    def on_start(self) -> None:
        halted = self._read_halt_file()
        self.manager.start(self.recovered, halted=halted)
        if self.hub is not None:
            from upbit_hub.actors.client import WebSocketClientProxy

            self.proxy = WebSocketClientProxy("hub.orders", hub=self.hub)
            me = self.actor_ref
            if self._private_stream:
                self.proxy.subscribe_my_order(lambda ev: _tell(me, _Event(ev)), wait=False)
                self.proxy.subscribe_my_asset(lambda ev: _tell(me, _Event(ev)), wait=False)
        if self.halt_file is not None:
            tell_later(self.call_later, _HALT_POLL_S, self.actor_ref, _HaltPoll())
        self._pump()

    def on_stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        if self.proxy is not None:
            self.proxy.abandon()  # never wait: the hub is stopping
        if self._on_stop is not None:
            self._on_stop()

    # -- messages ------------------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        m = self.manager
        if isinstance(message, _Done):
            m.on_result(message.result)
        elif isinstance(message, _Event):
            m.on_event(message.ev)
        elif isinstance(message, _Book):
            m.on_book(message.market, message.bid, message.ask)
        elif isinstance(message, Submit):
            m.submit(message.request)
        elif isinstance(message, Cancel):
            m.cancel(message.client_id)
        elif isinstance(message, CancelAll):
            m.cancel_all(message.component_id, message.market, message.side)
        elif isinstance(message, Replace):
            m.replace(message.old_client_id, message.request, message.remain_only)
        elif isinstance(message, Halt):
            self._write_halt_file(message.reason)
            m.halt(message.reason)
        elif isinstance(message, ResetHalt):
            self._remove_halt_file()
            m.reset()
        elif isinstance(message, _HaltPoll):
            self._poll_halt_file()
        elif isinstance(message, Attach):
            self.sinks[message.component_id] = message.sink
            waiting = self.waiting.pop(message.component_id, [])
            current = m.orders_of(message.component_id)
            for update in waiting:
                message.sink(update)
            self._pump()
            return current
        elif isinstance(message, Detach):
            self.sinks.pop(message.component_id, None)
        elif isinstance(message, _Wake):
            self._wake_at = None
        elif isinstance(message, Ping):
            return True
        elif isinstance(message, GetStatus):
            return {**m.status(), "last_error": self.last_error,
                    "attached": sorted(self.sinks),
                    "paper": not self._private_stream}  # fmt: skip
        else:
            log.warning("order actor: unexpected message %r", message)
            return None
        self._pump()
        return None

    # -- plumbing ------------------------------------------------------------------------------

    def _pump(self) -> None:
        """Send what may go now; wake again when something else falls due; publish the
        balances for the components' ``ctx.balance()`` (a dict replaced whole)."""
        if self._publish is not None:
            m = self.manager
            self._publish({c: m.available(c) for c in m.balances})
        me = self.actor_ref
        for call in self.manager.due_calls():
            self.pool.submit(_execute, self.venue, call, me)
        due = self.manager.next_wakeup()
        if due is None:
            return
        if self._wake_at is not None and self._wake_at <= due + 0.001:
            return
        self._wake_at = due
        delay = max(0.0, due - time.monotonic())
        tell_later(self.call_later, delay, self.actor_ref, _Wake())

    def _deliver(self, component_id: str, update: OrderUpdate) -> None:
        sink = self.sinks.get(component_id)
        if sink is None:
            self.waiting.setdefault(component_id, []).append(update)
            return
        try:
            sink(update)
        except Exception as exc:  # the component is gone: keep its updates for a restart
            log.debug("order update for %s not delivered: %s", component_id, exc)
            self.sinks.pop(component_id, None)
            self.waiting.setdefault(component_id, []).append(update)

    def _needs_book(self, market: str) -> None:
        if market in self.books or self.proxy is None:
            return
        self.books.add(market)
        me = self.actor_ref

        def book(ev: Any) -> None:
            unit = ev.orderbook_units[0] if ev.orderbook_units else None
            if unit is not None:
                _tell(me, _Book(ev.code, unit.bid_price or None, unit.ask_price or None))

        try:
            self.proxy.subscribe_orderbook([market], book, depth=1, wait=False)
        except Exception as exc:
            self.last_error = f"order book of {market}: {exc}"
            log.warning("order actor: cannot follow the order book of %s: %s", market, exc)

    # -- kill switch file --------------------------------------------------------------------

    def _read_halt_file(self) -> str | None:
        if self.halt_file is None or not self.halt_file.exists():
            return None
        try:
            return self.halt_file.read_text(encoding="utf-8").strip() or "halted"
        except OSError as exc:
            return f"halted (the halt file could not be read: {exc})"

    def _write_halt_file(self, reason: str) -> None:
        if self.halt_file is None:
            return
        try:
            self.halt_file.parent.mkdir(parents=True, exist_ok=True)
            self.halt_file.write_text(reason + "\n", encoding="utf-8")
        except OSError as exc:
            log.error("kill switch: could not write %s (%s); it holds until this process "
                      "stops", self.halt_file, exc)  # fmt: skip

    def _remove_halt_file(self) -> None:
        if self.halt_file is not None:
            try:
                self.halt_file.unlink(missing_ok=True)
            except OSError as exc:
                log.error("kill switch: could not remove %s: %s", self.halt_file, exc)

    def _poll_halt_file(self) -> None:
        reason = self._read_halt_file()
        m = self.manager
        if reason is not None and m.halted is None:
            m.halt(f"{reason} (from {self.halt_file})")
        elif reason is None and m.halted is not None:
            m.reset()
        tell_later(self.call_later, _HALT_POLL_S, self.actor_ref, _HaltPoll())


@dataclass(frozen=True, slots=True)
class _HaltPoll:
    pass


def _tell(ref: pykka.ActorRef[Any], message: Any) -> None:
    try:
        ref.tell(message)
    except pykka.ActorDeadError:
        pass  # stopping


def _execute(venue: Any, call: Any, me: pykka.ActorRef[Any]) -> None:
    """Send one call and tell the actor how it ended. A crash of the venue (a bug) counts as
    ``unknown``: for an order that is the one safe answer. Runs in: a worker thread."""
    try:
        result = venue.execute(call)
    except Exception as exc:
        log.exception("order venue: %s %s crashed", call.kind, call.client_id or "")
        result = CallResult(call.token, call.kind, "unknown", error="internal_error",
                            message=f"{type(exc).__name__}: {exc}", client_id=call.client_id)
    _tell(me, _Done(result))

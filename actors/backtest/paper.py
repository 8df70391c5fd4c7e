"""Paper trading: the order API of a live hub, filled by the emulator's engine on live books.

``[trading] paper = true`` (``upbit-hub run --paper``) makes ``hub.order_gateway()`` start this
desk instead of the live one. Everything a component sees is the live path: the same
:class:`~upbit_hub.actors.trading.actor.OrderActor`, :class:`~...manager.OrderManager` (risk
rules, pacing, the kill switch) and :class:`~...gateway.OrderGateway`; only the venue differs:

- a :class:`PaperVenue` (a :class:`~upbit_hub.actors.trading.venue_sim.SimVenue`) runs every
  call against an in-process :class:`~upbit_hub.actors.emulator.exchange.Exchange` holding the
  paper account (``[trading] paper_balances``, or ``--balances``), Upbit's 0.05 % fee;
- the exchange matches against :class:`~.books.LatestBooks`, fed with the live order books
  (whatever Upbit, or the emulator with ``--sim``, sends) through an internal proxy
  ``hub.paper`` that follows each market an order names, before that order goes out (the
  first call of a market waits up to ``request_timeout_s`` for its first book);
- the exchange's myOrder/myAsset events go to the order actor (``VenueEvent``) and to every
  component that called ``subscribe_my_order`` / ``subscribe_my_asset`` (they get the paper
  account's events, never the real account's: in paper mode those subscriptions never reach
  Upbit, and need no API keys).

Nothing reaches an exchange, and no journal is written (the paper account lives in memory and
starts afresh each run). The kill switch is the same file the live desk uses
(``upbit-hub halt`` stops a paper strategy too) when it can be named without keys, i.e. with
``[trading] journal_path`` or the access key variable set.

Runs in: the caller's thread (``start_paper_desk``, on a component's first order); the live
books arrive on the ``hub.paper`` proxy's thread; calls run on the order actor's workers.
"""

from __future__ import annotations

import logging
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from .books import LatestBooks

__all__ = ["PaperDesk", "PaperVenue", "start_paper_desk"]

log = logging.getLogger(__name__)


def start_paper_desk(hub: Any) -> Any:
    """Start the paper order actor for ``hub``; returns its ``OrderGateway`` (with the desk as
    ``gateway.paper``). Runs in: the caller's thread."""
    return PaperDesk(hub).start()


class PaperDesk:
    """The paper account of one hub (see the module docstring)."""

    def __init__(self, hub: Any) -> None:
        from upbit_hub.actors.emulator.exchange import Exchange

        self.hub = hub
        trading = hub.settings.trading
        self.balances = {c.upper(): Decimal(v) for c, v in trading.paper_balances.items()}
        self.books = LatestBooks()
        self.exchange = Exchange(self.books, balances=self.balances, seed=1,
                                 split_probability=0)  # fmt: skip
        self.venue = PaperVenue(self, self.exchange)
        self._inboxes: list[Any] = []
        self._lock = threading.Lock()
        self._ref: Any = None
        self._proxy: Any = None
        self.gateway: Any = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Any:
        """Start the order actor (no private stream: fills come from the venue) and the
        ``hub.paper`` book proxy; returns the gateway. Runs in: the caller's thread."""
        from upbit_hub.actors.client import WebSocketClientProxy
        from upbit_hub.actors.trading.actor import OrderActor
        from upbit_hub.actors.trading.gateway import OrderGateway
        from upbit_hub.actors.trading.manager import OrderManager
        from upbit_hub.actors.trading.pacing import GroupPacer, limits_from_settings

        hub = self.hub
        trading = hub.settings.trading
        clock = hub.clock
        pacer = GroupPacer(limits_from_settings(trading))

        def manager(deliver: Any, needs_book: Any) -> OrderManager:
            return OrderManager(trading, clock=clock, pacer=pacer, deliver=deliver,
                                journal=None, market_problem=hub.market_problem,
                                needs_book=needs_book)  # fmt: skip

        self._proxy = WebSocketClientProxy("hub.paper", hub=hub)
        holder: list[Any] = []
        self._ref = OrderActor.start(
            manager, self.venue, call_later=hub.timers.call_later, hub=hub,
            halt_file=_halt_file(hub), private_stream=False,
            publish=lambda balances: holder[0].publish(balances) if holder else None,
            on_stop=self.close,
        )  # fmt: skip
        gateway = OrderGateway(self._ref, clock)
        holder.append(gateway)
        gateway.paper = self  # type: ignore[attr-defined]
        gateway.journal_path = None  # type: ignore[attr-defined]
        self.gateway = gateway
        log.info("paper trading: orders are filled by the emulator's engine on live books, "
                 "from %s", ", ".join(f"{c}={v}" for c, v in sorted(self.balances.items())))
        return gateway

    def close(self) -> None:
        """Stop following books and listening to the exchange. Runs in: the order actor's
        thread (its ``on_stop``)."""
        self.venue.close()
        if self._proxy is not None:
            self._proxy.abandon()

    # -- private events ----------------------------------------------------------------------

    def attach(self, inbox: Any) -> None:
        """Hand the paper account's myOrder/myAsset events to ``inbox`` (a component that
        subscribed to them). Runs in: the component's thread."""
        with self._lock:
            if inbox not in self._inboxes:
                self._inboxes = [*self._inboxes, inbox]

    def on_venue_event(self, ev: Any) -> None:
        """One exchange event: to the order actor, then to subscribed components. Runs in:
        the thread holding the venue's lock (a worker, or the ``hub.paper`` proxy's)."""
        from upbit_hub.actors.trading.actor import VenueEvent

        if self._ref is not None:
            try:
                self._ref.tell(VenueEvent(ev))
            except Exception:  # the actor stopped: nothing left to tell
                log.debug("paper: order actor gone", exc_info=True)
        dead = []
        for inbox in self._inboxes:
            if inbox.put(ev) and not inbox.wake():
                dead.append(inbox)
        if dead:
            with self._lock:
                self._inboxes = [i for i in self._inboxes if i not in dead]

    # -- live books --------------------------------------------------------------------------

    def follow(self, market: str, wait_s: float) -> bool:
        """Follow ``market``'s live order book (once); wait up to ``wait_s`` for its first book.
        True when a book is there. Runs in: an order actor worker."""
        venue = self.venue
        with venue.lock:
            if self.books.event(market) is not None:
                return True
            seen = venue.first_book.get(market)
            if seen is None:
                seen = venue.first_book[market] = threading.Event()
                self.books.add_market(market)
                start = True
            else:
                start = False
        if start:
            try:
                self._proxy.subscribe_orderbook([market], self._on_book, wait=False)
            except Exception as exc:
                log.warning("paper: cannot follow the order book of %s: %s", market, exc)
                return False
        return seen.wait(wait_s)

    def _on_book(self, ev: Any) -> None:
        """A live order book: the exchange's new book, and resting orders may fill. Runs in:
        the ``hub.paper`` proxy's thread."""
        venue = self.venue
        venue.market_data(lambda: self.books.update(ev), int(time.time() * 1000))
        seen = venue.first_book.get(ev.code)
        if seen is not None and not seen.is_set():
            seen.set()


class PaperVenue:
    """A :class:`~upbit_hub.actors.trading.venue_sim.SimVenue` that first makes sure the
    market a call names has a live book. Runs in: the order actor's workers (``execute``)."""

    def __init__(self, desk: PaperDesk, exchange: Any) -> None:
        from upbit_hub.actors.trading.venue_sim import SimVenue

        self.desk = desk
        self.sim = SimVenue(exchange, on_event=desk.on_venue_event)
        self.lock = self.sim.lock
        self.first_book: dict[str, threading.Event] = {}
        self.wait_s = float(desk.hub.settings.trading.request_timeout_s)

    def execute(self, call: Any) -> Any:
        market = (call.params or {}).get("market") if isinstance(call.params, dict) else None
        if market and call.kind in ("place", "replace", "chance"):
            if not self.desk.follow(market, self.wait_s):
                log.warning("paper: no order book of %s within %gs; the order is judged "
                            "against an empty book", market, self.wait_s)  # fmt: skip
        return self.sim.execute(call)

    def market_data(self, update: Any, now_ms: int) -> None:
        self.sim.market_data(update, now_ms)

    def close(self) -> None:
        self.sim.close()


def _halt_file(hub: Any) -> Path | None:
    """The live desk's kill switch file, when it can be named without reading a secret."""
    from upbit_hub.actors.protocol.errors import CredentialsError
    from upbit_hub.actors.trading.desk import default_journal_path, halt_file_of

    trading = hub.settings.trading
    if trading.journal_path:
        return halt_file_of(trading.journal_path)
    try:
        access_key, _secret = hub.settings.auth.read_keys(hub.environ)
    except CredentialsError:
        log.info("paper trading: no kill switch file (set [trading] journal_path or the key "
                 "variables for `upbit-hub halt` to reach it); ctx.halt() still works")
        return None
    return halt_file_of(default_journal_path(access_key, hub.environ))
